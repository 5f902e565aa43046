"""Helpers shared by the image2 steps: ASDF reference files, keywords, invalid pixels."""

import logging
import os
import warnings

import numpy as np

from webbflow import dqflags
from webbflow.errors import InputError, ReferenceFileError
from webbflow.steps.detector1._common import reference_path

log = logging.getLogger("webbflow.steps.image2")

#: Exposure types with an imaging WCS built from a distortion reference file.
IMAGING_EXP_TYPES = frozenset({
    "NRC_IMAGE", "NRC_TSIMAGE", "NRC_TACQ", "NRC_TACONFIRM", "NRC_CORON", "NRC_FOCUS",
    "NIS_IMAGE", "NIS_AMI", "NIS_TACQ", "NIS_TACONFIRM", "NIS_FOCUS",
    "MIR_IMAGE", "MIR_TACQ", "MIR_LYOT", "MIR_4QPM", "MIR_CORONCAL", "MIR_TACONFIRM",
    "FGS_IMAGE", "FGS_FOCUS",
})

_INVALID_ARRAYS = ("data", "err", "var_poisson", "var_rnoise", "var_flat")


def keyword(model, key, default=None):
    """A keyword from the SCI header (where the official files keep WCS and photometry keys), else the primary."""
    if key in model.sci_meta:
        return model.sci_meta[key]
    return model.meta.get(key, default)


def text_keyword(model, key):
    """A keyword as upper-case text ('' when absent)."""
    value = keyword(model, key)
    return "" if value is None else str(value).strip().upper()


def exp_type(model):
    """EXP_TYPE, upper case."""
    return text_keyword(model, "EXP_TYPE")


def require_image(model, name):
    """Check that ``model`` holds 2-D (rate) or 3-D (rateints) count rates of its subarray's size."""
    data = getattr(model, "data", None)
    if data is None or data.ndim not in (2, 3):
        shape = None if data is None else data.shape
        raise InputError(getattr(model, "path", None), f"step {name} needs a 2-D or 3-D image, got shape {shape}")
    check_subarray_size(model)


def check_subarray_size(model):
    """Check that the image is SUBSIZE1 x SUBSIZE2 pixels (when the header gives them).

    Raises
    ------
    InputError
        Naming the file, when the SCI array and the keywords disagree.
    """
    ny, nx = model.data.shape[-2:]
    sizes = [model.meta.get(key) for key in ("SUBSIZE1", "SUBSIZE2")]
    if any(isinstance(size, bool) or not isinstance(size, (int, np.integer)) for size in sizes):
        return  # absent or malformed: the subarray placement reports it where it is needed
    if (nx, ny) != tuple(sizes):
        raise InputError(getattr(model, "path", None),
                         f"SCI is {nx}x{ny} pixels but SUBSIZE1 x SUBSIZE2 = {sizes[0]}x{sizes[1]}")


def check_imaging(model):
    """Check that EXP_TYPE is a JWST imaging exposure type (the only kind image2 calibrates here).

    Raises
    ------
    InputError
        Naming the file, for a missing, unknown or non-imaging EXP_TYPE.
    """
    from webbflow.associations.exptypes import KNOWN_EXP_TYPES

    kind = exp_type(model)
    path = getattr(model, "path", None)
    if not kind:
        raise InputError(path, "missing required keyword EXP_TYPE")
    if kind.lower() not in KNOWN_EXP_TYPES or kind in ("ANY", "N/A"):
        raise InputError(path, f"unknown EXP_TYPE={kind!r} (not a JWST exposure type)")
    if kind not in IMAGING_EXP_TYPES:
        raise InputError(path, f"EXP_TYPE={kind} is not an imaging exposure type; image2 here calibrates "
                               "imaging exposures only")


def open_asdf_reference(refs, reftype, name):
    """Open an ASDF reference file (distortion, filteroffset) and return its tree (None for N/A).

    Raises
    ------
    ReferenceFileError
        When the file is missing, not ASDF, or declares another REFTYPE.
    """
    import asdf

    path = reference_path(refs, reftype, name)
    if path is None:
        return None
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ReferenceFileError(path, "reference file does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tags of the jwst extensions we do not need
            with asdf.open(path, lazy_load=False, memmap=False) as af:
                tree = {key: value for key, value in af.tree.items() if key not in ("asdf_library", "history")}
    except Exception as exc:
        text = str(exc).strip().splitlines()
        raise ReferenceFileError(path, f"is not a readable ASDF {reftype} reference file "
                                       f"({text[0] if text else type(exc).__name__})") from None
    meta = tree.get("meta") if isinstance(tree.get("meta"), dict) else {}
    declared = str(meta.get("reftype", "")).strip().lower()
    if declared and declared != reftype:
        raise ReferenceFileError(path, f"is a {declared!r} reference file; step {name} needs {reftype!r}")
    tree["path"] = path
    return tree


def match_invalid(model):
    """Make NaN and DO_NOT_USE agree, as the official products do.

    A pixel NaN in SCI, ERR or a variance array, or flagged DO_NOT_USE,
    becomes NaN in all of them and DO_NOT_USE in DQ.
    """
    shape = model.data.shape
    arrays = [getattr(model, a, None) for a in _INVALID_ARRAYS]
    arrays = [a for a in arrays if a is not None and a.shape == shape]
    invalid = (model.dq & np.uint32(dqflags.DO_NOT_USE)) != 0
    for array in arrays:
        invalid |= np.isnan(array)
    if not invalid.any():
        return model
    model.dq[invalid] |= np.uint32(dqflags.DO_NOT_USE)
    for array in arrays:
        array[invalid] = np.nan
    return model
