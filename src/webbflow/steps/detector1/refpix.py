"""refpix: remove bias drifts measured in the reference pixels.

NIR detectors (NIRCam, NIRISS, NIRSpec, FGS)
    The data are viewed in the detector frame (fast-read direction along
    rows, amplifiers side by side), using FASTAXIS/SLOWAXIS. For every
    group of every integration:

    1. for each of the 4 amplifiers (512 columns each), the clipped mean
       (``siglimit``-sigma, iterated) of the good reference pixels in the
       4 bottom and the 4 top rows, for even and odd detector columns
       separately (``odd_even_columns``); top and bottom are averaged and
       subtracted from the amplifier's columns of that parity;
    2. with ``use_side_ref_pixels``, a running median of height
       ``side_smoothing_length`` rows (mirrored at the frame edges) over
       the 4 left and the 4 right reference columns; left and right are
       averaged and ``side_gain`` times that signal is subtracted row by row.

    Subarrays read through 4 outputs (NOUTPUTS=4) are treated the same way,
    with whatever reference rows/columns they contain. Subarrays read
    through one output use all good pixels flagged REFERENCE_PIXEL in
    PIXELDQ: one clipped mean (or one per column parity) per group,
    subtracted from every pixel; the step is skipped when there are none.
    With ``subarray_side_columns_only`` (webbflow's own option, off by
    default as officially), a subarray holding side reference columns
    (detector frame) takes that mean from those columns alone: they are
    read a few pixels into every line, interleaved with the science
    pixels, so their mean samples the 1/f noise at the times the science
    pixels are read, whereas the top/bottom rows, read in a burst at one
    end of the frame, carry the 1/f offset of that moment into every pixel
    (a slope offset common to the exposure, 0.1-0.2 sigma per exposure for
    the 128-160 pixel NIRCam/NIRISS corner subarrays).
    NIRSpec SUB512, SUB512S and SUB32 have no reference pixels: their first
    and last 4 columns are used instead, as the official pipeline does.

MIRI
    Full frame only (subarrays are skipped). Within each integration, for
    each group after the first, the differences from the first group are
    taken in the reference columns of each amplifier (columns k and 1028+k
    for amplifier k of the 4 interleaved ones); their clipped means, for
    odd and even rows separately (``odd_even_rows``), left and right
    averaged, are subtracted from every fourth column of that amplifier.

Pixels flagged DO_NOT_USE are never used as reference pixels.
"""

import numpy as np
from numba import njit

from webbflow import dqflags
from webbflow.errors import InputError
from webbflow.steps.detector1._common import (
    COMPLETE,
    NIR_FULL_SHAPE,
    detector_window,
    is_miri,
    is_subarray,
    log,
    merge_params,
    require_ramp,
    set_status,
    skip,
    to_detector,
)

NAME = "refpix"
STATUS_KEYWORD = "S_REFPIX"
REFTYPES = ()
DEFAULTS = {
    "skip": False,
    "odd_even_columns": True,
    "use_side_ref_pixels": True,
    "side_smoothing_length": 11,
    "side_gain": 1.0,
    "odd_even_rows": True,
    "siglimit": 3.0,
    "subarray_side_columns_only": False,
}

NIR_AMPLIFIERS = 4
NIR_AMPLIFIER_WIDTH = 512
NREF = 4  # reference rows/columns on each edge
MIRI_REF_RIGHT = 1028  # first right-hand reference column of MIRI
EDGELESS_SUBARRAYS = ("SUB512", "SUB512S", "SUB32")

_DNU = np.uint32(dqflags.DO_NOT_USE)
_REF = np.uint32(dqflags.REFERENCE_PIXEL)


# -- numba kernels ----------------------------------------------------------------

@njit(cache=True)
def _clipped_mean(values, n, siglimit):
    """Mean of ``values[:n]`` after iterative sigma clipping (as scipy.stats.sigmaclip).

    Values outside mean +- siglimit*std are dropped until none is; a set
    with zero scatter gives its plain mean. ``values`` is reordered.
    """
    if n == 0:
        return np.nan
    total = 0.0
    for k in range(n):
        total += values[k]
    mean = total / n
    var = 0.0
    for k in range(n):
        d = values[k] - mean
        var += d * d
    if var == 0.0:
        return mean
    while True:
        total = 0.0
        for k in range(n):
            total += values[k]
        mean = total / n
        var = 0.0
        for k in range(n):
            d = values[k] - mean
            var += d * d
        std = np.sqrt(var / n)
        low = mean - siglimit * std
        high = mean + siglimit * std
        kept = 0
        for k in range(n):
            v = values[k]
            if v >= low and v <= high:
                values[kept] = v
                kept += 1
        if kept == n or kept == 0:
            break
        n = kept
    if kept == 0:
        return np.nan
    return mean


@njit(cache=True)
def _average(a, b):
    """Mean of two values ignoring NaNs (NaN when both are NaN)."""
    if np.isnan(a):
        return b
    if np.isnan(b):
        return a
    return 0.5 * (a + b)


@njit(cache=True)
def _nir_column_offsets(group, dq, row0, col0, full_rows, odd_even, siglimit, namps, amp_width, colcorr, buf):
    """Per-column top/bottom reference offsets of one group (detector frame).

    ``group`` and ``dq`` cover detector rows row0.. and columns col0.. of
    the full frame. ``colcorr`` receives the offset for each column (0 where
    an amplifier has no usable reference pixels).
    """
    ny, nx = group.shape
    colcorr[:] = 0.0
    nparity = 2 if odd_even else 1
    means = np.empty((2, 2))
    for amp in range(namps):
        a0 = amp * amp_width
        a1 = a0 + amp_width
        c_lo = max(a0, col0) - col0
        c_hi = min(a1, col0 + nx) - col0
        if c_lo >= c_hi:
            continue
        for edge in range(2):
            first = 0 if edge == 0 else full_rows - NREF
            r_lo = max(first, row0) - row0
            r_hi = min(first + NREF, row0 + ny) - row0
            for parity in range(nparity):
                n = 0
                for r in range(r_lo, r_hi):
                    for c in range(c_lo, c_hi):
                        if odd_even and (col0 + c) % 2 != parity:
                            continue
                        if dq[r, c] & 1:
                            continue
                        buf[n] = group[r, c]
                        n += 1
                means[edge, parity] = _clipped_mean(buf, n, siglimit)
        if odd_even:
            even = _average(means[0, 0], means[1, 0])
            odd = _average(means[0, 1], means[1, 1])
            if np.isnan(even) or np.isnan(odd):
                continue
            for c in range(c_lo, c_hi):
                colcorr[c] = even if (col0 + c) % 2 == 0 else odd
        else:
            value = _average(means[0, 0], means[1, 0])
            if np.isnan(value):
                continue
            for c in range(c_lo, c_hi):
                colcorr[c] = value


@njit(cache=True)
def _nir_side_signal(group, dq, colcorr, row0, col0, full_rows, full_cols, length, gain, rowcorr, buf):
    """Running-median side reference signal per row (detector frame), times ``gain``.

    The window of ``length`` rows is mirrored at the full-frame edges;
    pixels outside the data or flagged DO_NOT_USE are left out. The values
    are taken after the column offsets ``colcorr``.
    """
    ny, nx = group.shape
    half = length // 2
    for r in range(ny):
        frame_row = row0 + r
        left_right = np.empty(2)
        for side in range(2):
            first = 0 if side == 0 else full_cols - NREF
            c_lo = max(first, col0) - col0
            c_hi = min(first + NREF, col0 + nx) - col0
            n = 0
            if c_lo < c_hi:
                for k in range(frame_row - half, frame_row + half + 1):
                    kk = k
                    if kk < 0:
                        kk = -kk
                    elif kk >= full_rows:
                        kk = 2 * full_rows - 2 - kk
                    rr = kk - row0
                    if rr < 0 or rr >= ny:
                        continue
                    for c in range(c_lo, c_hi):
                        if dq[rr, c] & 1:
                            continue
                        buf[n] = group[rr, c] - colcorr[c]
                        n += 1
            left_right[side] = np.median(buf[:n]) if n > 0 else np.nan
        value = _average(left_right[0], left_right[1])
        rowcorr[r] = 0.0 if np.isnan(value) else gain * value


@njit(cache=True)
def _subtract(plane, colcorr, rowcorr):
    """plane[r, c] -= colcorr[c] + rowcorr[r], in place."""
    ny, nx = plane.shape
    for r in range(ny):
        rc = rowcorr[r]
        for c in range(nx):
            plane[r, c] = plane[r, c] - (colcorr[c] + rc)


@njit(cache=True)
def _miri_refpix(data, dq, odd_even_rows, siglimit, ref_right):
    """MIRI full-frame correction, in place; returns False when reference pixels ran out."""
    nints, ngroups, ny, nx = data.shape
    buf = np.empty(ny)
    nparity = 2 if odd_even_rows else 1
    step_rows = 2 if odd_even_rows else 1
    signal = np.empty((4, 2))
    for i in range(nints):
        for g in range(1, ngroups):
            for amp in range(4):
                for parity in range(nparity):
                    sides = np.empty(2)
                    for side in range(2):
                        col = amp if side == 0 else ref_right + amp
                        n = 0
                        for r in range(parity, ny, step_rows):
                            if dq[r, col] & 1:
                                continue
                            buf[n] = np.float64(data[i, g, r, col]) - np.float64(data[i, 0, r, col])
                            n += 1
                        sides[side] = _clipped_mean(buf, n, siglimit)
                        if np.isnan(sides[side]):
                            return False
                    signal[amp, parity] = 0.5 * (sides[0] + sides[1])
            for amp in range(4):
                for parity in range(nparity):
                    value = signal[amp, parity]
                    for r in range(parity, ny, step_rows):
                        for c in range(amp, nx, 4):
                            data[i, g, r, c] = data[i, g, r, c] - value
    return True


# -- drivers -------------------------------------------------------------------

def _subtract_view(plane, colcorr, rowcorr):
    """Subtract column and row offsets from a (possibly transposed) view, cache-friendly."""
    if abs(plane.strides[0]) < abs(plane.strides[1]):
        _subtract(plane.T, rowcorr, colcorr)
    else:
        _subtract(plane, colcorr, rowcorr)


def _nir_readout(model):
    """Number of outputs used: 4 for full frame, else NOUTPUTS (1 when absent)."""
    if not is_subarray(model):
        return 4
    return int(model.meta.get("NOUTPUTS", 1) or 1)


def _correct_nir_four_outputs(model, p):
    fast, slow = int(model.meta.get("FASTAXIS", 1)), int(model.meta.get("SLOWAXIS", 2))
    row0, col0, full_rows, full_cols = detector_window(model, NIR_FULL_SHAPE)
    dq = np.ascontiguousarray(to_detector(model.pixeldq, fast, slow))
    ny, nx = dq.shape
    length = int(p["side_smoothing_length"])
    if length % 2 == 0:
        length += 1
    colcorr = np.zeros(nx)
    rowcorr = np.zeros(ny)
    buf = np.empty(max(2 * NREF * NIR_AMPLIFIER_WIDTH, 2 * NREF * (length + 1), 16))
    odd_even = bool(p["odd_even_columns"])
    use_side = bool(p["use_side_ref_pixels"])
    gain = float(p["side_gain"])
    siglimit = float(p["siglimit"])
    nints, ngroups = model.data.shape[:2]
    for i in range(nints):
        for g in range(ngroups):
            group = to_detector(model.data[i, g], fast, slow)
            _nir_column_offsets(group, dq, row0, col0, full_rows, odd_even, siglimit,
                                NIR_AMPLIFIERS, NIR_AMPLIFIER_WIDTH, colcorr, buf)
            if use_side:
                _nir_side_signal(group, dq, colcorr, row0, col0, full_rows, full_cols, length, gain, rowcorr, buf)
            _subtract_view(group, colcorr, rowcorr)
    return set_status(model, STATUS_KEYWORD, COMPLETE)


def _side_columns_only(rows, cols, row0, col0, full_rows, full_cols):
    """Keep the reference pixels of the side columns (detector frame), without the top/bottom rows.

    The side columns are read a few pixels into every line, interleaved
    with the science pixels, so their mean over a group samples the 1/f
    noise at the times the science pixels are read; the top/bottom rows
    are read in a burst at one end of the frame and carry the 1/f offset of
    that moment into every pixel. Without side columns, all pixels are kept.
    """
    frame_rows, frame_cols = row0 + rows, col0 + cols
    side = (frame_cols < NREF) | (frame_cols >= full_cols - NREF)
    side &= (frame_rows >= NREF) & (frame_rows < full_rows - NREF)
    if not side.any():
        return rows, cols
    return rows[side], cols[side]


def _correct_nir_one_output(model, p):
    fast, slow = int(model.meta.get("FASTAXIS", 1)), int(model.meta.get("SLOWAXIS", 2))
    row0, col0, full_rows, full_cols = detector_window(model, NIR_FULL_SHAPE)
    pixeldq = model.pixeldq
    subarray = str(model.meta.get("SUBARRAY", "")).strip().upper()
    if subarray in EDGELESS_SUBARRAYS:
        log.info("subarray %s has no reference pixels: using its first and last %d columns", subarray, NREF)
        pixeldq = pixeldq.copy()
        pixeldq[:, :NREF] |= _REF
        pixeldq[:, -NREF:] |= _REF
    dq = to_detector(pixeldq, fast, slow)
    rows, cols = np.nonzero(((dq & _REF) != 0) & ((dq & _DNU) == 0))
    if p["subarray_side_columns_only"]:
        rows, cols = _side_columns_only(rows, cols, row0, col0, full_rows, full_cols)
    if rows.size == 0:
        return skip(model, STATUS_KEYWORD, NAME, "the subarray has no good reference pixels")
    odd_even = bool(p["odd_even_columns"])
    even = (col0 + cols) % 2 == 0
    siglimit = float(p["siglimit"])
    ny, nx = dq.shape
    colcorr = np.zeros(nx)
    rowcorr = np.zeros(ny)
    column_even = (col0 + np.arange(nx)) % 2 == 0
    nints, ngroups = model.data.shape[:2]
    for i in range(nints):
        for g in range(ngroups):
            group = to_detector(model.data[i, g], fast, slow)
            values = group[rows, cols].astype(np.float64)
            if odd_even:
                even_mean = _clipped_mean(values[even].copy(), int(even.sum()), siglimit)
                odd_mean = _clipped_mean(values[~even].copy(), int((~even).sum()), siglimit)
                # a parity without reference pixels borrows the other parity's mean
                if np.isnan(even_mean):
                    even_mean = odd_mean
                if np.isnan(odd_mean):
                    odd_mean = even_mean
                colcorr[:] = np.where(column_even, even_mean, odd_mean)
            else:
                colcorr[:] = _clipped_mean(values, values.size, siglimit)
            if np.isnan(colcorr).any():
                continue
            _subtract_view(group, colcorr, rowcorr)
    return set_status(model, STATUS_KEYWORD, COMPLETE)


def _correct_miri(model, p):
    if is_subarray(model):
        return skip(model, STATUS_KEYWORD, NAME, "MIRI subarray data are not corrected")
    ok = _miri_refpix(model.data, np.ascontiguousarray(model.pixeldq), bool(p["odd_even_rows"]),
                      float(p["siglimit"]), MIRI_REF_RIGHT)
    if not ok:
        log.warning("refpix: no valid MIRI reference pixels in some group; later groups are not corrected")
    return set_status(model, STATUS_KEYWORD, COMPLETE)


def run(model, refs=None, params=None):
    """Apply the reference pixel correction.

    Parameters
    ----------
    model : RampModel
        Modified in place; PIXELDQ (from dq_init) says which pixels are
        reference pixels and which are DO_NOT_USE.
    refs : dict, optional
        Unused (the official reference files are only for NIRSpec IRS2 and
        the optional SIRS kernels, which are not supported here).
    params : dict, optional
        ``odd_even_columns`` (True), ``use_side_ref_pixels`` (True),
        ``side_smoothing_length`` (11), ``side_gain`` (1.0),
        ``odd_even_rows`` (True, MIRI), ``siglimit`` (3.0),
        ``subarray_side_columns_only`` (False; one-output subarrays, see the module notes).

    Returns
    -------
    RampModel

    Raises
    ------
    InputError
        For NIRSpec IRS2 readouts, which need the IRS2 algorithm.
    """
    p = merge_params(DEFAULTS, params)
    require_ramp(model, NAME)
    if is_miri(model):
        return _correct_miri(model, p)
    readpatt = str(model.meta.get("READPATT", "")).upper()
    if "IRS2" in readpatt or model.data.shape[-1] == 3200:
        raise InputError(model.path, f"refpix: the IRS2 readout ({readpatt}) is not supported")
    row0, col0, ny, nx = (int(model.meta.get("SUBSTRT2", 1)) - 1, int(model.meta.get("SUBSTRT1", 1)) - 1,
                          *model.data.shape[-2:])
    if row0 < 0 or col0 < 0 or row0 + ny > NIR_FULL_SHAPE[0] or col0 + nx > NIR_FULL_SHAPE[1]:
        return skip(model, STATUS_KEYWORD, NAME, "the subarray does not fit in the full frame")
    if _nir_readout(model) == 4:
        return _correct_nir_four_outputs(model, p)
    return _correct_nir_one_output(model, p)
