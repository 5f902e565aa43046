"""ramp_fit: count rates from ramps by optimally weighted least squares.

The algorithm is the official OLS one (stcal ``OLS_C``; see the JWST
``ramp_fitting`` documentation): each integration ramp is cut into segments
of consecutive good groups (between jumps, saturation and DO_NOT_USE
groups); each segment gets a least-squares slope with the Fixsen et al.
(2000) optimal weights, a read-noise variance and a Poisson variance (from
the pixel's median first difference); segments combine into an integration
rate and integrations into the exposure rate with read-noise
inverse-variance weights, the variances combining as inverse sums. The
per-pixel work is in :mod:`webbflow.steps.detector1._ramp_kernels`.
``algorithm: LIKELY`` selects the official alternative instead, a
likelihood (generalised least-squares) fit with its own jump detection
(:mod:`webbflow.steps.detector1._likely_kernels`).

Outputs follow the official products:

* ``rate`` (:class:`~webbflow.datamodels.ImageModel`): SCI in DN/s, ERR =
  sqrt(VAR_POISSON + VAR_RNOISE), DQ = PIXELDQ | JUMP_DET, PERSISTENCE if any
  group has them | SATURATED if any group is saturated | DO_NOT_USE if no
  integration has a usable slope; SCI is NaN (variances 0) for DO_NOT_USE or
  fully saturated pixels.
* ``rateints`` (:class:`~webbflow.datamodels.CubeModel`): the same per
  integration (ERR combines the segments' total variances) + INT_TIMES.

Special cases as officially: a ramp whose first group is saturated gets NaN
and DO_NOT_USE | SATURATED; with ``suppress_one_group`` (default) a ramp with a
single good group counts as having none; otherwise a lone first group gives
value / first-group time ((NFRAMES + 1) TFRAME / 2) and other lone groups
value / TGROUP; one-group exposures use the first-group time; a gain that
is zero, negative or NaN sets NO_GAIN_VALUE | DO_NOT_USE.
"""

import logging

import numpy as np

from webbflow import dqflags
from webbflow.errors import ReferenceFileError, WebbflowError
from webbflow.refs import open_reference

from . import _ramp_kernels as kernels

log = logging.getLogger(__name__)

NAME = "ramp_fit"
STATUS_KEYWORD = "S_RAMP"
REFTYPES = ("gain", "readnoise")
DEFAULTS = {
    "algorithm": "OLS",  # the official OLS_C ("OLS_C" is a synonym), or "LIKELY" (see _likely_kernels)
    "weighting": "optimal",  # the only weighting, as officially
    "suppress_one_group": True,  # ramps with one good group get no slope
    "firstgroup": None,  # ignore groups before this one (0-based)
    "lastgroup": None,  # ignore groups after this one (0-based)
}

__all__ = ["NAME", "STATUS_KEYWORD", "REFTYPES", "DEFAULTS", "run", "fit_arrays", "reference_arrays"]


def reference_arrays(model, refs, reftypes=REFTYPES, with_headers=False):
    """Read the gain and read-noise reference images, cut to the science subarray.

    Parameters
    ----------
    model : webbflow.datamodels.RampModel
    refs : dict of str -> str
        Paths by reftype (``gain``, ``readnoise``).
    reftypes : tuple of str
    with_headers : bool
        Also return the primary headers of the reference files.

    Returns
    -------
    list of numpy.ndarray
        float32 (ny, nx) arrays in the order of ``reftypes`` (followed by the
        list of headers when ``with_headers``).

    Raises
    ------
    ReferenceFileError
        When a reference is missing, unreadable or does not match the science array.
    """
    shape = model.data.shape[-2:]
    out = []
    headers = []
    for reftype in reftypes:
        path = (refs or {}).get(reftype)
        if path is None or (isinstance(path, str) and path.strip().upper() in ("", "N/A")):
            raise ReferenceFileError(None, f"no {reftype} reference file was given; it is required")
        ref = open_reference(path)
        if ref.reftype and ref.reftype != reftype:
            raise ReferenceFileError(path, f"is a {ref.reftype!r} reference file, not {reftype!r}")
        arr = ref.cutout("sci", model.meta)
        if arr.ndim != 2 or arr.shape != shape:
            raise ReferenceFileError(path, f"{reftype} SCI has shape {arr.shape}, the science array needs {shape}")
        out.append(np.ascontiguousarray(arr, dtype=np.float32))
        headers.append(ref.meta)
    if with_headers:
        return out, headers
    return out


def _native(array, dtype):
    """``array`` as a C-contiguous native-order array of ``dtype`` (no copy when it already is one).

    One memory layout means one compiled version of each kernel.
    """
    array = np.asarray(array)
    if array.dtype != np.dtype(dtype) or not array.dtype.isnative:
        array = array.astype(dtype)
    return np.ascontiguousarray(array)


def _group_range(gdq, instrument, firstgroup, lastgroup):
    """Groups used: (g0, g1, clear_first_jump, extra_dnu).

    ``firstgroup``/``lastgroup`` mark DO_NOT_USE outside the range; for MIRI,
    leading groups that are DO_NOT_USE everywhere and a final such group are
    dropped (as the official step does).
    """
    ngroups = gdq.shape[1]
    extra = np.zeros(ngroups, dtype=np.uint8)
    if firstgroup is not None or lastgroup is not None:
        first = 0 if firstgroup is None else max(int(firstgroup), 0)
        last = ngroups - 1 if lastgroup is None else min(int(lastgroup), ngroups - 1)
        if first >= last:
            log.warning("firstgroup (%s) must be < lastgroup (%s); group selectors ignored", firstgroup, lastgroup)
            first, last = 0, ngroups - 1
        extra[:first] = dqflags.DO_NOT_USE
        extra[last + 1:] = dqflags.DO_NOT_USE
    g0, g1, clear = 0, ngroups, False
    if instrument == "MIRI" and ngroups > 1:
        from ._jump_kernels import planes_all_flagged

        all_dnu = planes_all_flagged(gdq, dqflags.DO_NOT_USE).all(axis=0) | (extra & dqflags.DO_NOT_USE).astype(bool)
        while g0 < ngroups and all_dnu[g0]:
            g0 += 1
        clear = g0 > 0
        if g0 < ngroups and g1 - g0 > 1 and all_dnu[g1 - 1]:
            g1 -= 1
        if g1 - g0 < 2:
            return None
    return g0, g1, clear, extra


def fit_arrays(data, groupdq, pixeldq, gain, readnoise, *, nframes, tgroup, tframe, instrument="NIRCAM",
               suppress_one_group=True, firstgroup=None, lastgroup=None, dark_current=None):
    """Fit ramps given as arrays.

    Parameters
    ----------
    data : ndarray (nints, ngroups, ny, nx)
        Ramps in DN (float32 is used as is, without a copy).
    groupdq : ndarray, uint8 (nints, ngroups, ny, nx)
        Group DQ (not modified).
    pixeldq : ndarray, uint32 (ny, nx)
    gain : ndarray (ny, nx)
        Gain, e-/DN.
    readnoise : ndarray (ny, nx)
        CDS read noise, DN.
    nframes : int
        Frames averaged in a group (NFRAMES).
    tgroup, tframe : float
        Group and frame times, s (TGROUP, TFRAME).
    instrument : str
        INSTRUME (MIRI drops all-DO_NOT_USE leading/final groups).
    suppress_one_group : bool
    firstgroup, lastgroup : int or None
    dark_current : ndarray (ny, nx), optional
        Average dark current, DN/s, added to the Poisson variance.

    Returns
    -------
    rate : dict
        ``slope``, ``dq``, ``var_poisson``, ``var_rnoise``, ``err`` (ny, nx).
    rateints : dict
        The same, (nints, ny, nx).
    """
    data = _native(data, np.float32)
    groupdq = _native(groupdq, np.uint8)
    pixeldq = _native(pixeldq, np.uint32)
    gain = _native(gain, np.float32)
    readnoise = _native(readnoise, np.float32)
    nints, ngroups, ny, nx = data.shape
    if groupdq.shape != data.shape:
        raise WebbflowError(None, f"GROUPDQ has shape {groupdq.shape}, SCI {data.shape}")
    if dark_current is None:
        dark_current = np.zeros((ny, nx), dtype=np.float32)
    elif np.shape(dark_current) != (ny, nx):
        dark_current = np.array(np.broadcast_to(np.asarray(dark_current, np.float32), (ny, nx)))
    dark_current = _native(dark_current, np.float32)

    rate = {
        "slope": np.empty((ny, nx), np.float32), "dq": np.empty((ny, nx), np.uint32),
        "var_poisson": np.empty((ny, nx), np.float32), "var_rnoise": np.empty((ny, nx), np.float32),
        "err": np.empty((ny, nx), np.float32),
    }
    ints = {
        "slope": np.empty((nints, ny, nx), np.float32), "dq": np.empty((nints, ny, nx), np.uint32),
        "var_poisson": np.empty((nints, ny, nx), np.float32), "var_rnoise": np.empty((nints, ny, nx), np.float32),
        "err": np.empty((nints, ny, nx), np.float32),
    }
    selection = _group_range(groupdq, instrument, firstgroup, lastgroup)
    if selection is None:
        log.warning("no usable groups remain after dropping all-DO_NOT_USE groups; every slope is NaN")
        _all_unusable(rate, ints, pixeldq)
        return rate, ints
    g0, g1, clear_first_jump, extra = selection
    suppress = bool(suppress_one_group) and ngroups > 1
    one_group_time = (nframes + 1) * float(tframe) / 2.0
    from ._jump_kernels import count_flag

    do_chargeloss = count_flag(groupdq, dqflags.CHARGELOSS) > 0
    kernels.fit_ramps(
        data, groupdq, pixeldq, gain, readnoise, dark_current, g0, g1, clear_first_jump, extra,
        int(nframes), float(tgroup), float(one_group_time), suppress, bool(do_chargeloss),
        rate["slope"], rate["dq"], rate["var_poisson"], rate["var_rnoise"], rate["err"],
        ints["slope"], ints["dq"], ints["var_poisson"], ints["var_rnoise"], ints["err"],
    )
    return rate, ints


def _all_unusable(rate, ints, pixeldq):
    flags = np.uint32(dqflags.DO_NOT_USE)
    for out in (rate, ints):
        out["slope"][...] = np.nan
        out["dq"][...] = pixeldq | flags
        for key in ("var_poisson", "var_rnoise", "err"):
            out[key][...] = 0.0


def run(model, refs, params):
    """Fit the ramps of an exposure.

    Parameters
    ----------
    model : webbflow.datamodels.RampModel
        Ramps in DN with GROUPDQ (jumps flagged) and PIXELDQ; not modified.
        An attribute ``average_dark_current`` (DN/s, 2-D), when present, is
        added to the Poisson variance as officially.
    refs : dict
        ``{"gain": path, "readnoise": path}``; full-frame references are cut
        to the science subarray.
    params : dict
        :data:`DEFAULTS` updated by the user's settings.

    Returns
    -------
    rate : webbflow.datamodels.ImageModel
        Exposure count rate, DN/s.
    rateints : webbflow.datamodels.CubeModel
        Per-integration count rates, DN/s, with INT_TIMES.

    Raises
    ------
    ReferenceFileError
        A reference file is missing or does not cover the science array.
    WebbflowError
        An unsupported algorithm or weighting was asked for.
    """
    from webbflow.datamodels import CubeModel, ImageModel

    settings = dict(DEFAULTS)
    settings.update(params or {})
    algorithm = str(settings["algorithm"]).upper()
    if algorithm not in ("OLS", "OLS_C", "LIKELY"):
        raise WebbflowError(None, f"ramp_fit algorithm {settings['algorithm']!r} is unknown; use 'OLS' or 'LIKELY'")
    fit = fit_arrays
    if algorithm == "LIKELY":
        from . import _likely_kernels as likely

        if model.data.shape[1] >= likely.MIN_GROUPS:
            fit = likely.fit_arrays
        else:  # as the official step does
            log.warning("LIKELY needs at least %d groups, this exposure has %d: using OLS",
                        likely.MIN_GROUPS, model.data.shape[1])
    if str(settings["weighting"]).lower() not in ("optimal", "optim"):
        raise WebbflowError(None, f"ramp_fit weighting {settings['weighting']!r} is not supported; only 'optimal'")
    (gain, readnoise), (gain_header, _) = reference_arrays(model, refs, with_headers=True)
    meta = model.meta
    gain_factor = gain_header.get("GAINFACT")
    rate, ints = fit(
        model.data, model.groupdq, model.pixeldq, gain, readnoise,
        nframes=int(meta.get("NFRAMES", 1)), tgroup=float(meta["TGROUP"]), tframe=float(meta["TFRAME"]),
        instrument=str(meta.get("INSTRUME", "")).strip().upper(),
        suppress_one_group=settings["suppress_one_group"],
        firstgroup=settings.get("firstgroup"), lastgroup=settings.get("lastgroup"),
        dark_current=getattr(model, "average_dark_current", None),
    )
    outputs = []
    for cls, arrays, int_times in ((ImageModel, rate, None), (CubeModel, ints, model.int_times)):
        product = cls(
            meta=meta.copy(), sci_meta=model.sci_meta.copy(),
            int_times=None if int_times is None else np.array(int_times, copy=True),
            data=arrays["slope"], dq=arrays["dq"], err=arrays["err"],
            var_poisson=arrays["var_poisson"], var_rnoise=arrays["var_rnoise"],
        )
        product.sci_meta["BUNIT"] = "DN/s"
        if gain_factor is not None:
            product.meta["GAINFACT"] = gain_factor
        outputs.append(product)
    return outputs[0], outputs[1]
