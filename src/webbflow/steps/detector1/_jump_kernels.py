"""Numba kernels of the jump step (two-point difference cosmic-ray detection).

Every pixel is handled on its own (all integrations pooled, as officially),
rows in parallel, with per-thread scratch buffers of ``nints * (ngroups - 1)``
differences: no array the size of the exposure is allocated. Differences are
in electrons (DN times the gain) and the noise of a difference is
``sqrt(|median difference| + (gain * readnoise)**2 / nframes)``, the
readnoise reference being the CDS noise in DN.

Three detection modes, chosen by the caller as the official step does:

``ITERATIVE`` (fewer than ``min_diffs_single_pass`` usable differences)
    Repeatedly flag the largest outlier among the absolute differences: its
    distance to the median of the remaining absolute differences (the
    largest one left out when four or more remain; the smaller of two when
    only two remain) divided by the noise must exceed the threshold for the
    number of usable differences (``rejection_threshold`` for four or more,
    ``four_group_rejection_threshold`` for three, i.e. four groups,
    ``three_group_rejection_threshold`` for two); flagged differences are
    removed and the median recomputed until nothing exceeds.
``SINGLE_PASS``
    Every difference farther than ``rejection_threshold`` sigma from the
    median difference is flagged at once.
``SIGMA_CLIP`` (many integrations)
    Iterative median/standard-deviation clipping of each difference across
    integrations (or of all differences of the pixel).
"""

import math

import numpy as np
from numba import njit, prange

from webbflow.steps.detector1._ramp_kernels import nan_median

DNU = 1
SAT = 2
JUMP = 4
BAD = DNU | SAT

ITERATIVE = 0
SINGLE_PASS = 1
SIGMA_CLIP = 2


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _select(buf, m, k):
    """The ``k``-th smallest of ``buf[:m]`` (partially reordering it; Hoare's quickselect)."""
    lo = 0
    hi = m - 1
    while lo < hi:
        pivot = buf[(lo + hi) // 2]
        i = lo
        j = hi
        while i <= j:
            while buf[i] < pivot:
                i += 1
            while buf[j] > pivot:
                j -= 1
            if i <= j:
                t = buf[i]
                buf[i] = buf[j]
                buf[j] = t
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break
    return buf[k]


@njit(cache=True, nogil=True, error_model="numpy")
def fast_nan_median(values, n, buf):
    """Median of the finite entries among ``values[:n]`` (NaN if none), in linear time.

    The same value as :func:`webbflow.steps.detector1._ramp_kernels.nan_median`
    (the middle value, or the mean of the two middle values); for long ramps
    where insertion sorting costs O(n**2).
    """
    if n <= 16:
        return nan_median(values, n, buf)
    m = 0
    for k in range(n):
        v = values[k]
        if not math.isnan(v):
            buf[m] = v
            m += 1
    if m == 0:
        return np.nan
    half = m // 2
    upper = _select(buf, m, half)
    if m % 2 == 1:
        return upper
    lower = buf[0]  # the largest of buf[:half], all <= upper after the selection
    for k in range(1, half):
        if buf[k] > lower:
            lower = buf[k]
    return 0.5 * (lower + upper)


@njit(cache=True, nogil=True, error_model="numpy")
def _clipped_abs_median(a, n, tmp, buf):
    """Median of the absolute differences used by the iterative search.

    Four or more usable: the largest value(s) are left out; three: the
    median; two: the smaller one; fewer: NaN. Returns (median, number usable).
    """
    nfin = 0
    amax = -np.inf
    amin = np.inf
    for k in range(n):
        v = a[k]
        if not math.isnan(v):
            nfin += 1
            if v > amax:
                amax = v
            if v < amin:
                amin = v
    if nfin < 2:
        return np.nan, nfin
    if nfin == 2:
        return amin, nfin
    if nfin == 3:
        return nan_median(a, n, buf), nfin
    for k in range(n):
        v = a[k]
        tmp[k] = np.nan if (math.isnan(v) or v == amax) else v
    return nan_median(tmp, n, buf), nfin


@njit(cache=True, nogil=True, error_model="numpy")
def _sigma_clip_mask(vals, n, sigma, maxiters, keep, buf, out):
    """Mark in ``out[:n]`` the entries rejected by median/std sigma clipping (non-finite included)."""
    m = 0
    for k in range(n):
        keep[k] = not math.isnan(vals[k])
    lo = np.nan
    hi = np.nan
    for _ in range(maxiters):
        # median and (population) standard deviation of the kept values
        s = 0.0
        cnt = 0
        for k in range(n):
            if keep[k]:
                buf[cnt] = vals[k]
                cnt += 1
        if cnt == 0:
            lo = np.nan
            hi = np.nan
            break
        for k in range(cnt):
            s += buf[k]
        mean = s / cnt
        ss = 0.0
        for k in range(cnt):
            ss += (buf[k] - mean) ** 2
        std = math.sqrt(ss / cnt)
        # median of buf[:cnt] (selection in place, linear time)
        half = cnt // 2
        med = _select(buf, cnt, half)
        if cnt % 2 == 0:
            lower = buf[0]
            for k in range(1, half):
                if buf[k] > lower:
                    lower = buf[k]
            med = 0.5 * (lower + med)
        lo = med - sigma * std
        hi = med + sigma * std
        changed = 0
        for k in range(n):
            if keep[k] and (vals[k] < lo or vals[k] > hi):
                keep[k] = False
                changed += 1
        m += changed
        if changed == 0:
            break
    for k in range(n):
        v = vals[k]
        out[k] = math.isnan(v) or v < lo or v > hi
    return m


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def detect(data, gdq, gain, readnoise, nframes, mode, thresh, thresh_3diff, thresh_2diff,
           only_use_ints, med0, sig0):
    """Flag jumps (JUMP_DET in ``gdq`` of the group after the jump) in place.

    Parameters
    ----------
    data : ndarray, float32 (nints, ngroups, ny, nx)
        Ramps in DN.
    gdq : ndarray, uint8 (nints, ngroups, ny, nx)
        Group DQ, updated in place.
    gain, readnoise : ndarray (ny, nx)
        Gain (e-/DN) and CDS read noise (DN).
    nframes : int
        Frames averaged per group.
    mode : int
        ``ITERATIVE``, ``SINGLE_PASS`` or ``SIGMA_CLIP``.
    thresh, thresh_3diff, thresh_2diff : float
        Rejection thresholds (sigma) for >= 4, 3 and 2 usable differences.
    only_use_ints : bool
        Sigma clipping compares each difference across integrations only.
    med0, sig0 : ndarray, float32 (ny, nx)
        Outputs: the median difference (e-) of each pixel and its noise,
        used later for neighbour and after-jump flagging.
    """
    nints, ngroups, ny, nx = data.shape
    nd = ngroups - 1
    n = nints * nd
    for r in prange(ny):
        d = np.empty(n, dtype=np.float64)
        a = np.empty(n, dtype=np.float64)
        tmp = np.empty(n, dtype=np.float64)
        buf = np.empty(n + 1, dtype=np.float64)
        keep = np.empty(n, dtype=np.bool_)
        rej = np.empty(n, dtype=np.bool_)
        col = np.empty(nints, dtype=np.float64)
        colrej = np.empty(nints, dtype=np.bool_)
        colkeep = np.empty(nints, dtype=np.bool_)
        for c in range(nx):
            g = float(gain[r, c])
            rn = float(readnoise[r, c]) * g
            var_rn = rn * rn / nframes
            for i in range(nints):
                for k in range(nd):
                    if (gdq[i, k, r, c] | gdq[i, k + 1, r, c]) & BAD:
                        d[i * nd + k] = np.nan
                    else:
                        d[i * nd + k] = (float(data[i, k + 1, r, c]) - float(data[i, k, r, c])) * g
            m0 = fast_nan_median(d, n, buf)
            s0 = math.sqrt(abs(m0) + var_rn)
            if s0 == 0.0:
                s0 = np.nan
            med0[r, c] = m0
            sig0[r, c] = s0
            if mode == SINGLE_PASS:
                for k in range(n):
                    v = d[k]
                    if not math.isnan(v) and abs(v - m0) / s0 > thresh:
                        i = k // nd
                        gdq[i, k - i * nd + 1, r, c] |= JUMP
            elif mode == SIGMA_CLIP:
                if only_use_ints:
                    for k in range(nd):
                        for i in range(nints):
                            col[i] = d[i * nd + k]
                        _sigma_clip_mask(col, nints, thresh, 5, colkeep, buf, colrej)
                        for i in range(nints):
                            if colrej[i] and not math.isnan(col[i]) and not (gdq[i, k + 1, r, c] & BAD):
                                gdq[i, k + 1, r, c] |= JUMP
                else:
                    _sigma_clip_mask(d, n, thresh, 5, keep, buf, rej)
                    for k in range(n):
                        i = k // nd
                        if rej[k] and not math.isnan(d[k]) and not (gdq[i, k - i * nd + 1, r, c] & BAD):
                            gdq[i, k - i * nd + 1, r, c] |= JUMP
            else:
                for k in range(n):
                    a[k] = abs(d[k])
                for _ in range(n):
                    med, nfin = _clipped_abs_median(a, n, tmp, buf)
                    if nfin >= 4:
                        th = thresh
                    elif nfin == 3:
                        th = thresh_3diff
                    elif nfin == 2:
                        th = thresh_2diff
                    else:
                        break
                    sig = math.sqrt(abs(med) + var_rn)
                    if not (sig > 0.0):
                        break
                    rmax = -1.0
                    for k in range(n):
                        v = a[k]
                        if not math.isnan(v):
                            tmp[k] = abs(v - med) / sig
                            if tmp[k] > rmax:
                                rmax = tmp[k]
                        else:
                            tmp[k] = np.nan
                    if not (rmax > th):
                        break
                    for k in range(n):
                        if tmp[k] == rmax:
                            i = k // nd
                            gdq[i, k - i * nd + 1, r, c] |= JUMP
                            a[k] = np.nan


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def flag_neighbours(data, gdq, gain, med0, sig0, lo, hi, trig):
    """Flag JUMP_DET on the four neighbours of jumps between ``lo`` and ``hi`` sigma.

    The significance is that of the difference against the pixel's median
    difference. Saturated or DO_NOT_USE neighbours are not flagged.
    ``trig`` is a (ny, nx) boolean scratch plane.
    """
    nints, ngroups, ny, nx = data.shape
    for i in range(nints):
        for gi in range(1, ngroups):
            for r in prange(ny):
                for c in range(nx):
                    t = False
                    f = gdq[i, gi, r, c]
                    if f & JUMP and not ((f | gdq[i, gi - 1, r, c]) & BAD):
                        dv = (float(data[i, gi, r, c]) - float(data[i, gi - 1, r, c])) * float(gain[r, c])
                        ratio = abs(dv - med0[r, c]) / sig0[r, c]
                        t = ratio < hi and ratio > lo
                    trig[r, c] = t
            for r in prange(ny):
                for c in range(nx):
                    hit = trig[r, c]
                    if not hit and r > 0:
                        hit = trig[r - 1, c]
                    if not hit and r < ny - 1:
                        hit = trig[r + 1, c]
                    if not hit and c > 0:
                        hit = trig[r, c - 1]
                    if not hit and c < nx - 1:
                        hit = trig[r, c + 1]
                    if hit and not (gdq[i, gi, r, c] & BAD):
                        gdq[i, gi, r, c] |= JUMP


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def flag_after_jumps(data, gdq, gain, med0, e1, n1, e2, n2):
    """Flag the ``n1`` (``n2``) groups after jumps larger than ``e1`` (``e2``) electrons."""
    nints, ngroups, ny, nx = data.shape
    for r in prange(ny):
        add = np.empty(ngroups, dtype=np.bool_)
        for c in range(nx):
            g = float(gain[r, c])
            for i in range(nints):
                for gi in range(ngroups):
                    add[gi] = False
                for gi in range(1, ngroups):
                    f = gdq[i, gi, r, c]
                    if not (f & JUMP):
                        continue
                    if (f | gdq[i, gi - 1, r, c]) & BAD:
                        continue
                    ej = (float(data[i, gi, r, c]) - float(data[i, gi - 1, r, c])) * g - med0[r, c]
                    nflag = 0
                    if n1 > 0 and ej >= e1:
                        nflag = n1
                    if n2 > 0 and ej >= e2 and n2 > nflag:
                        nflag = n2
                    for k in range(gi + 1, min(gi + nflag + 1, ngroups)):
                        add[k] = True
                for gi in range(ngroups):
                    if add[gi] and not (gdq[i, gi, r, c] & BAD):
                        gdq[i, gi, r, c] |= JUMP


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def drop_redundant_jumps(gdq):
    """Clear JUMP_DET where the group is already DO_NOT_USE or SATURATED."""
    nints, ngroups, ny, nx = gdq.shape
    for r in prange(ny):
        for i in range(nints):
            for gi in range(ngroups):
                for c in range(nx):
                    f = gdq[i, gi, r, c]
                    if f & JUMP and f & BAD:
                        gdq[i, gi, r, c] = f & ~np.uint8(JUMP)


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def count_flag(gdq, flag):
    """Number of group DQ values with ``flag`` set."""
    nints, ngroups, ny, nx = gdq.shape
    total = 0
    for r in prange(ny):
        cnt = 0
        for i in range(nints):
            for gi in range(ngroups):
                for c in range(nx):
                    if gdq[i, gi, r, c] & flag:
                        cnt += 1
        total += cnt
    return total


@njit(cache=True, nogil=True, error_model="numpy")
def planes_all_flagged(gdq, flag):
    """Boolean (nints, ngroups): every pixel of the group has ``flag`` set."""
    nints, ngroups, ny, nx = gdq.shape
    out = np.ones((nints, ngroups), dtype=np.bool_)
    for i in range(nints):
        for gi in range(ngroups):
            done = False
            for r in range(ny):
                for c in range(nx):
                    if not (gdq[i, gi, r, c] & flag):
                        out[i, gi] = False
                        done = True
                        break
                if done:
                    break
    return out
