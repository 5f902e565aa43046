"""linearity: correct each group for the detector's non-linear response.

The linearity reference file holds, per pixel, the coefficients of a
polynomial (COEFFS, shape (ncoeffs, ny, nx)) giving the linearised signal
from the measured one::

    corrected = c0 + c1*S + c2*S**2 + ...

Groups flagged SATURATED are left as they are. Pixels flagged NO_LIN_CORR
in the reference DQ, or with a NaN coefficient or a zero linear term, are
not corrected; the last two are flagged NO_LIN_CORR in PIXELDQ. The
reference DQ is OR-ed into PIXELDQ.

For frame-averaged groups (NFRAMES > 1) with inverse coefficients in the
reference file (INV_COEFFS), the correction is done per frame as the
official pipeline does: a linear ramp through the corrected first and
second-to-last unsaturated groups is made non-linear again frame by frame
with the inverse polynomial, shifted to match each measured group, then
each frame is linearised and the frames of a group averaged.
"""

import numpy as np
from numba import njit, prange

from webbflow import dqflags
from webbflow.errors import ReferenceFileError
from webbflow.steps.detector1._common import (
    COMPLETE,
    cutout,
    log,
    merge_params,
    open_ref,
    reference_dq,
    require_array,
    require_ramp,
    set_status,
    skip,
)

NAME = "linearity"
STATUS_KEYWORD = "S_LINEAR"
REFTYPES = ("linearity",)
DEFAULTS = {"skip": False}

_SAT = np.uint8(dqflags.SATURATED)


@njit(cache=True, inline="always")
def _poly(coeffs, y, x, value):
    """c0 + c1*v + ... evaluated by Horner's rule in float64."""
    n = coeffs.shape[0]
    result = np.float64(coeffs[n - 1, y, x]) * value
    for j in range(n - 2, 0, -1):
        result = (result + coeffs[j, y, x]) * value
    return result + coeffs[0, y, x]


@njit(cache=True, parallel=True)
def _correct_groups(data, groupdq, coeffs, apply, sat_flag):
    """Group-by-group polynomial correction, in place (rows in parallel)."""
    nints, ngroups, ny, nx = data.shape
    for y in prange(ny):
        for i in range(nints):
            for g in range(ngroups):
                for x in range(nx):
                    if not apply[y, x] or (groupdq[i, g, y, x] & sat_flag):
                        continue
                    data[i, g, y, x] = _poly(coeffs, y, x, np.float64(data[i, g, y, x]))


@njit(cache=True, parallel=True)
def _correct_frames(data, groupdq, coeffs, inv_coeffs, lin_ok, inv_ok, nframes, sat_flag):
    """Frame-level correction of frame-averaged groups, in place (rows in parallel).

    Frame numbers follow the official read pattern: group g holds frames
    g*nframes+1 ... g*nframes+nframes.
    """
    nints, ngroups, ny, nx = data.shape
    mean0 = (nframes + 1) / 2.0
    for y in prange(ny):
        for i in range(nints):
            for x in range(nx):
                if not lin_ok[y, x] and not inv_ok[y, x]:
                    continue
                unsat = 0
                for g in range(ngroups):
                    if not (groupdq[i, g, y, x] & sat_flag):
                        unsat += 1
                last = max(unsat - 1, 2) - 1
                if last >= ngroups:
                    last = ngroups - 1
                v0 = np.float64(data[i, 0, y, x])
                if groupdq[i, 0, y, x] & sat_flag or not lin_ok[y, x]:
                    first_lin = v0
                else:
                    first_lin = _poly(coeffs, y, x, v0)
                vl = np.float64(data[i, last, y, x])
                if groupdq[i, last, y, x] & sat_flag or not lin_ok[y, x]:
                    last_lin = vl
                else:
                    last_lin = _poly(coeffs, y, x, vl)
                d_reads = last * nframes
                rate = (last_lin - first_lin) / d_reads if d_reads != 0 else 0.0
                for g in range(ngroups):
                    if groupdq[i, g, y, x] & sat_flag:
                        continue
                    # the frames of this group, made non-linear again
                    predicted = 0.0
                    for f in range(nframes):
                        t = g * nframes + f + 1 - mean0
                        lin = first_lin + rate * t
                        predicted += _poly(inv_coeffs, y, x, lin) if inv_ok[y, x] else lin
                    predicted /= nframes
                    offset = np.float64(data[i, g, y, x]) - predicted
                    total = 0.0
                    for f in range(nframes):
                        t = g * nframes + f + 1 - mean0
                        lin = first_lin + rate * t
                        raw = (_poly(inv_coeffs, y, x, lin) if inv_ok[y, x] else lin) + offset
                        total += _poly(coeffs, y, x, raw) if lin_ok[y, x] else raw
                    data[i, g, y, x] = total / nframes


def usable_coefficients(coeffs, ref_dq):
    """Which pixels have a usable polynomial.

    Parameters
    ----------
    coeffs : ndarray (ncoeffs, ny, nx)
    ref_dq : ndarray (ny, nx) uint32
        Reference DQ in standard bits.

    Returns
    -------
    ok : ndarray of bool (ny, nx)
        False for NO_LIN_CORR in the reference, NaN coefficients or a zero linear term.
    newly_flagged : ndarray of bool (ny, nx)
        The NaN / zero-linear-term pixels (to flag NO_LIN_CORR in PIXELDQ).
    """
    flagged = (ref_dq & np.uint32(dqflags.NO_LIN_CORR)) != 0
    bad_nan = np.isnan(coeffs).any(axis=0)
    bad_zero = coeffs[1] == 0 if coeffs.shape[0] > 1 else np.ones(coeffs.shape[1:], dtype=bool)
    newly = bad_nan | bad_zero
    return ~(flagged | newly), newly


def run(model, refs, params=None):
    """Apply the linearity correction.

    Parameters
    ----------
    model : RampModel
        Modified in place.
    refs : dict
        ``{"linearity": path}``.
    params : dict, optional
        Unused.

    Returns
    -------
    RampModel
    """
    merge_params(DEFAULTS, params)
    require_ramp(model, NAME)
    ref = open_ref(refs, "linearity", NAME)
    if ref is None:
        return skip(model, STATUS_KEYWORD, NAME, "no linearity reference file (N/A)")
    require_array(ref, "coeffs", (3,))
    coeffs = np.ascontiguousarray(cutout(ref, "coeffs", model), dtype=np.float32)
    if coeffs.shape[0] < 2:
        raise ReferenceFileError(ref.path, f"COEFFS has {coeffs.shape[0]} coefficient planes; at least 2 are needed")
    ref_dq = reference_dq(ref, model)
    if ref_dq is None:
        ref_dq = np.zeros(coeffs.shape[1:], dtype=np.uint32)
    lin_ok, lin_new = usable_coefficients(coeffs, ref_dq)
    np.bitwise_or(model.pixeldq, ref_dq, out=model.pixeldq)

    nframes = int(model.meta.get("NFRAMES", 1))
    inverse = None
    if "inv_coeffs" in ref.arrays and nframes > 1 and model.data.shape[1] > 1:
        inverse = np.ascontiguousarray(cutout(ref, "inv_coeffs", model), dtype=np.float32)
        if inverse.ndim != 3 or inverse.shape[0] < 2:
            raise ReferenceFileError(ref.path, f"INV_COEFFS has shape {inverse.shape}; expected (ncoeffs, ny, nx)")
    if inverse is None:
        model.pixeldq[lin_new] |= np.uint32(dqflags.NO_LIN_CORR)
        _correct_groups(model.data, model.groupdq, coeffs, lin_ok, _SAT)
    else:
        inv_ok, inv_new = usable_coefficients(inverse, ref_dq)
        model.pixeldq[lin_new | inv_new] |= np.uint32(dqflags.NO_LIN_CORR)
        log.info("linearity: frame-level correction of %d-frame groups with inverse coefficients", nframes)
        _correct_frames(model.data, model.groupdq, coeffs, inverse, lin_ok, inv_ok, nframes, _SAT)
    return set_status(model, STATUS_KEYWORD, COMPLETE)
