"""File and product names, as the official generator makes them."""

import re
from functools import lru_cache
from pathlib import PurePath

from webbflow.associations.exptypes import EMPTY_VALUES, LEVEL2B_EXP_TYPES

__all__ = [
    "level2_suffix",
    "level3_suffix",
    "remove_suffix",
    "escaped",
    "exposure_root",
    "opt_elem_name",
    "slit_name",
    "product_name",
]

#: Product suffixes recognised at the end of a file name (``root_suffix``).
KNOWN_SUFFIXES = tuple(sorted({
    "uncal", "ramp", "rate", "rateints", "trapsfilled", "dark", "refpix", "linearity", "jump", "cal", "calints",
    "bsub", "bsubints", "crf", "crfints", "i2d", "s2d", "s3d", "x1d", "x1dints", "c1d", "cat", "segm", "whtlt",
    "psfalign", "psfstack", "psfsub", "ami", "aminorm", "amiavg", "ami-oi", "amimulti-oi", "aminorm-oi", "amilg",
    "phot", "median", "blot", "wfscmb", "flat", "photom", "assign_wcs", "flat_field", "srctype", "resample",
    "cube_build", "extract_1d", "extract_2d", "pathloss", "barshadow", "imprint", "msa_flagging", "wavecorr",
    "master_background", "background", "bkg", "outlier_detection", "outlier_i2d", "tweakreg", "skymatch",
    "straylight", "fringe", "residual_fringe", "saturation", "superbias", "dq_init", "ipc", "persistence",
    "firstframe", "lastframe", "reset", "rscd", "emicorr", "clean_flicker_noise", "charge_migration", "gain_scale",
    "group_scale", "ramp_fit", "wfss_contam", "spec2pipeline", "spec3pipeline", "image2pipeline",
    "image3pipeline", "detector1pipeline", "coron3pipeline", "ami3pipeline", "tso3pipeline", "nsclean",
    "pixel_replace", "spectral_leak", "badpix_selfcal", "ami_analyze", "ami_normalize", "stack_refs",
    "align_refs", "klip", "white_light", "source_catalog", "guider_cds", "mrs_imatch", "adaptive_trace_model",
}, key=len, reverse=True))

_SUFFIX_RE = re.compile(r"^(?P<root>.+?)((?P<sep>_|-)(" + "|".join(re.escape(s) for s in KNOWN_SUFFIXES) + "))?$")


@lru_cache(maxsize=65536)
def remove_suffix(name):
    """``name`` without a trailing ``_suffix`` (or ``-suffix``) of a known product type."""
    match = _SUFFIX_RE.match(name)
    return match.group("root") if match else name


def exposure_root(expname):
    """The exposure part of a member file name (no directory, extension or suffix)."""
    return remove_suffix(PurePath(expname).stem)


def level2_suffix(per_integration):
    """Stage-2 input of a level-2b member: ``rate``, or ``rateints`` per integration."""
    return "rateints" if per_integration else "rate"


def level3_suffix(exp_type, member_type, per_integration):
    """Stage-3 input of a level-3 member.

    ``cal`` for exposure types stage 2 calibrates, ``rate`` for the others,
    ``x1d`` for background members; ``ints`` appended for coronagraphy, AMI
    and time series.
    """
    if member_type == "background":
        suffix = "x1d"
    else:
        suffix = "cal" if exp_type in LEVEL2B_EXP_TYPES else "rate"
    return suffix + "ints" if per_integration else suffix


def escaped(value):
    """A value as it appears in level-3 product names (regex-escaped, as officially)."""
    return re.escape(value) if value else ""


def _joined(values):
    """Found values of one attribute: sorted case-insensitively and joined by ``-``."""
    return "-".join(sorted((re.escape(v) for v in values), key=str.lower))


def opt_elem_name(first, second=()):
    """The optical-element part of a level-3 product name.

    Parameters
    ----------
    first, second : iterable of str
        Values found for the first element (filter) and the second (pupil or
        grating).

    Returns
    -------
    str
        E.g. ``clear-f090w``; ``clear`` when nothing is set.
    """
    parts = [p for p in (_joined(first), _joined(second)) if p not in EMPTY_VALUES]
    name = "-".join(sorted(parts, key=str.lower))
    return name or "clear"


def slit_name(fxd_slit=(), fxd_slit_pair=()):
    """The fixed-slit part of a level-3 product name (S200A1/S200A2 are named together)."""
    names = []
    for values in (fxd_slit, fxd_slit_pair):
        joined = _joined(values)
        if joined not in EMPTY_VALUES and joined not in names:
            names.append(joined)
    return "-".join(sorted(names, key=str.lower))


def target_name(values):
    """``tNNN`` from the target values found (``t000`` if none)."""
    return "t" + f"{'-'.join(re.escape(v) for v in values):0>3s}"


def product_name(form, *, program, acid, target, instrument, opt_elem="clear", slit="", subarray="",
                 detector="", activity=""):
    """A level-3 product name.

    Parameters
    ----------
    form : str
        ``default`` (``jw{program}-{acid}_{target}_{instrument}_{opt_elem}[-slit][-subarray]``),
        ``noopt`` (MIRI MRS, no optical element), ``sources`` (MSA, one product
        per source), ``nrsfs`` (NIRSpec fixed slit), ``coronimage`` (NIRCam
        coronagraphy as imaging) or ``wfscmb`` (wavefront-sensing dither pairs).
    program, acid, target, instrument, opt_elem, slit, subarray, detector, activity : str
        The parts; empty ``slit`` and ``subarray`` (and ``full``) are omitted.

    Returns
    -------
    str
        Lower case.  ``{source_id}``, ``{slit_name}`` and ``{suffix}`` are left
        as placeholders for the stage-3 pipeline to fill, as officially.
    """
    slit = f"-{slit}" if slit else ""
    subarray = "" if subarray in ("", "full") else f"-{subarray}"
    stem = f"jw{program}-{acid}"
    if form == "default":
        name = f"{stem}_{target}_{instrument}_{opt_elem}{slit}{subarray}"
    elif form == "noopt":
        name = f"{stem}_{target}_{instrument}"
    elif form == "sources":
        name = f"{stem}_{{source_id}}_{instrument}_{opt_elem}{slit}{subarray}"
    elif form == "nrsfs":
        name = f"{stem}_{target}-{{source_id}}_{instrument}_{opt_elem}-{{slit_name}}{subarray}"
    elif form == "coronimage":
        name = f"{stem}_{target}_{instrument}_{opt_elem}{subarray}-image3"
    elif form == "wfscmb":
        name = f"{stem}_{target}_{instrument}_{opt_elem}{slit}{subarray}-{detector}_{{suffix}}-{activity:0>2s}"
    else:
        raise ValueError(f"unknown product name form {form!r}")
    return name.lower()
