"""saturation: flag saturated groups and groups at the A/D floor.

For each integration, working forward through the groups:

* a group at or above the pixel's threshold (SCI of the saturation
  reference file, DN including the bias) is flagged SATURATED, and so is
  every later group of that integration;
* a group at or below 0 DN is flagged AD_FLOOR and DO_NOT_USE (that group only);
* SATURATED flags are grown by ``n_pix_grow_sat`` pixels in every direction
  (a square box), for charge spilling into neighbours.

Pixels flagged NO_SAT_CHECK in the reference file, or with a NaN
threshold, are never flagged saturated (a NaN threshold adds NO_SAT_CHECK).

With ``use_readpatt`` (the default), two more passes follow the official
ones for frame-averaged groups:

* backwards, a group whose average would reach saturation once diluted by
  the averaging (threshold times mean/last frame number of the group)
  and whose next group is saturated is flagged DO_NOT_USE (grown too);
* a second group that jumps from the first by more than the remaining
  range divided by NFRAMES, where the third group is saturated but the
  second not yet, is flagged DO_NOT_USE (the superbias, when given,
  refines the estimate from the first group).

The reference DQ is OR-ed into PIXELDQ.
"""

import numpy as np
from numba import njit, prange

from webbflow import dqflags
from webbflow.steps.detector1._common import (
    COMPLETE,
    cutout,
    merge_params,
    open_ref,
    read_pattern_last,
    read_pattern_mean,
    reference_dq,
    require_array,
    require_ramp,
    set_status,
    skip,
)

NAME = "saturation"
STATUS_KEYWORD = "S_SATURA"
REFTYPES = ("saturation", "superbias")
# The superbias only refines the second-group check; MIRI has none (CRDS: N/A).
OPTIONAL_REFTYPES = ("superbias",)
DEFAULTS = {"skip": False, "n_pix_grow_sat": 1, "use_readpatt": True}

ATOD_LIMIT = 65535.0  # the 16-bit A/D converter's ceiling

_SAT = np.uint8(dqflags.SATURATED)
_DNU = np.uint8(dqflags.DO_NOT_USE)
_FLOOR = np.uint8(dqflags.AD_FLOOR | dqflags.DO_NOT_USE)


def _grow(flags, n):
    """Dilate a boolean plane by ``n`` pixels in a (2n+1)-square box."""
    if n <= 0 or not flags.any():
        return flags
    out = np.empty(flags.shape, dtype=np.bool_)
    _dilate(np.ascontiguousarray(flags, dtype=np.bool_), int(n), out)
    return out


@njit(parallel=True, cache=True, nogil=True)
def _dilate(flags, n, out):
    """``out`` = ``flags`` dilated by a (2n+1)-square box (outside the plane counts as False)."""
    ny, nx = flags.shape
    rows = np.empty((ny, nx), dtype=np.bool_)
    for y in prange(ny):  # along x: a running count of True in the window
        count = 0
        for x in range(min(n, nx)):
            count += flags[y, x]
        for x in range(nx):
            if x + n < nx:
                count += flags[y, x + n]
            if x - n - 1 >= 0:
                count -= flags[y, x - n - 1]
            rows[y, x] = count > 0
    for y in prange(ny):  # then along y
        lo = max(0, y - n)
        hi = min(ny, y + n + 1)
        for x in range(nx):
            out[y, x] = False
        for k in range(lo, hi):
            for x in range(nx):
                if rows[k, x]:
                    out[y, x] = True


@njit(parallel=True, cache=True, nogil=True)
def _forward_plane(plane, dq, threshold, saturated):
    """One group of the forward pass: SATURATED from here on, AD_FLOOR | DO_NOT_USE at or below 0 DN."""
    ny, nx = plane.shape
    for y in prange(ny):
        for x in range(nx):
            v = plane[y, x]
            s = saturated[y, x] or v >= threshold[y, x]
            saturated[y, x] = s
            f = dq[y, x]
            if s:
                f |= _SAT
            if v <= 0:
                f |= _FLOOR
            dq[y, x] = f


def flag_saturation(data, groupdq, threshold, no_check, n_pix_grow_sat=1, nframes=None, bias=None):
    """Flag saturation and the A/D floor in ``groupdq`` (in place).

    Parameters
    ----------
    data : ndarray, float32 (nints, ngroups, ny, nx)
    groupdq : ndarray, uint8, same shape
    threshold : ndarray, float (ny, nx)
        Saturation level in DN; NO_SAT_CHECK pixels set above the A/D limit.
    no_check : ndarray, bool (ny, nx)
        Pixels never checked for saturation.
    n_pix_grow_sat : int
        Pixels to grow each saturated pixel by.
    nframes : int or None
        Frames per group; None disables the read-pattern passes.
    bias : ndarray or None
        Superbias (ny, nx), used by the second-group pass.
    """
    nints, ngroups = data.shape[:2]
    bias = 0.0 if bias is None else bias
    threshold = np.asarray(threshold)
    # the numba pass needs native float32 planes (what the pipeline gives it)
    fast = (data.dtype == np.float32 and data.dtype.isnative and groupdq.dtype == np.uint8
            and threshold.dtype == np.float32 and threshold.shape == data.shape[-2:])
    for i in range(nints):
        saturated = np.zeros(data.shape[-2:], dtype=bool)
        for g in range(ngroups):
            dq = groupdq[i, g]
            if fast:
                _forward_plane(data[i, g], dq, threshold, saturated)
            else:
                plane = data[i, g]
                np.logical_or(saturated, plane >= threshold, out=saturated)
                dq[saturated] |= _SAT
                dq[plane <= 0] |= _FLOOR
            if n_pix_grow_sat > 0:
                dq[_grow((dq & _SAT) != 0, n_pix_grow_sat)] |= _SAT
        if nframes is None:
            continue
        # backwards: saturation hidden by the averaging of frames in a group
        for g in range(ngroups - 2, -1, -1):
            dilution = read_pattern_mean(g, nframes) / read_pattern_last(g, nframes)
            if dilution == 1:
                continue
            this_dq, next_dq = groupdq[i, g], groupdq[i, g + 1]
            partial = (
                (data[i, g] >= np.where(no_check, threshold, threshold * dilution))
                & ((this_dq & (_SAT | _DNU)) == 0)
                & ((next_dq & _SAT) != 0)
            )
            if partial.any():
                this_dq[_grow(partial, n_pix_grow_sat)] |= _DNU
        # the second group of an integration that saturates within its last frames
        if ngroups > 2:
            first = data[i, 0]
            expected = (first - bias) / read_pattern_mean(0, nframes) * read_pattern_last(2, nframes) + bias
            jump = data[i, 1] - first
            suspect = (
                (expected < threshold)
                & (jump > (threshold - first) / nframes)
                & ((groupdq[i, 2] & _SAT) != 0)
                & ((groupdq[i, 1] & _SAT) == 0)
            )
            groupdq[i, 1][suspect] |= _DNU


def run(model, refs, params=None):
    """Flag saturated and A/D-floor groups.

    Parameters
    ----------
    model : RampModel
        GROUPDQ and PIXELDQ are modified in place.
    refs : dict
        ``{"saturation": path, "superbias": path}``; the superbias may be
        ``"N/A"`` or absent.
    params : dict, optional
        ``n_pix_grow_sat`` (int, 1), ``use_readpatt`` (bool, True).

    Returns
    -------
    RampModel
    """
    p = merge_params(DEFAULTS, params)
    require_ramp(model, NAME)
    ref = open_ref(refs, "saturation", NAME)
    if ref is None:
        return skip(model, STATUS_KEYWORD, NAME, "no saturation reference file (N/A)")
    require_array(ref, "sci", (2,))
    threshold = cutout(ref, "sci", model).astype(np.float32, copy=True)
    sat_dq = reference_dq(ref, model)
    if sat_dq is None:
        sat_dq = np.zeros(threshold.shape, dtype=np.uint32)
    bias = None
    if (refs or {}).get("superbias") is not None:
        bias_ref = open_ref(refs, "superbias", NAME)
        if bias_ref is not None:
            require_array(bias_ref, "sci", (2,))
            bias = cutout(bias_ref, "sci", model).astype(np.float32)

    nan = np.isnan(threshold)
    sat_dq[nan] |= np.uint32(dqflags.NO_SAT_CHECK)
    no_check = ((sat_dq & np.uint32(dqflags.NO_SAT_CHECK)) != 0) | nan
    threshold[no_check] = ATOD_LIMIT + 1

    nframes = int(model.meta.get("NFRAMES", 1)) if p["use_readpatt"] else None
    flag_saturation(model.data, model.groupdq, threshold, no_check, int(p["n_pix_grow_sat"]), nframes, bias)
    np.bitwise_or(model.pixeldq, sat_dq, out=model.pixeldq)
    return set_status(model, STATUS_KEYWORD, COMPLETE)
