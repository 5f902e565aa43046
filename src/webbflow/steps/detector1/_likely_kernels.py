"""The LIKELY ramp fit: generalised least squares on resultant differences, with jump detection.

The method is Brandt (2024, PASP 136, 045004 and 045005), which the official
pipeline offers as ``ramp_fit.algorithm = "LIKELY"``. Our implementation:

* The ramp of an integration becomes differences of consecutive resultants
  (groups) divided by the time between their mean read times,
  ``d_k = (x_{k+1} - x_k) / dt_k``. Every ``d_k`` estimates the count rate.
* Their covariance is tridiagonal: read noise (per read ``sigma``, a group
  averaging ``N`` reads) gives ``2 sigma**2 / (N dt_k**2)`` on the diagonal
  and ``-sigma**2 / (N dt_k dt_{k+1})`` beside it; Poisson noise at a rate
  ``c`` (DN/s, gain ``g``) gives ``(c / g) (tau_k + tau_{k+1} - 2 t_k) / dt_k**2``
  and ``(c / g) (t_{k+1} - tau_{k+1}) / (dt_k dt_{k+1})``, with ``t_k`` the
  mean read time of group ``k`` and ``tau_k`` its variance-weighted time
  (``sum_j (2N + 1 - 2j) t_j / N**2`` over its reads).
* The slope is the GLS mean of the differences, ``1' C^-1 d / 1' C^-1 1``,
  with variance ``1 / 1' C^-1 1``; ``C^-1 1`` and ``C^-1 d`` come from an
  O(n) LDL' factorisation of the tridiagonal matrix, so a pixel costs a few
  passes over its groups.
* ``c`` in the covariance is first the median difference, then the GLS
  slope found with it (two passes, as in the official implementation); the
  dark current is added to it.
* Jumps: with the first-pass covariance, the chi-squared of the fit is
  compared with the chi-squared when one difference (a jump between two
  groups) or two adjacent differences (a jump inside a multi-read group;
  only when NFRAMES > 1) get a free value of their own. These come in closed
  form from the diagonal and first off-diagonal of ``C^-1`` (from the
  forward and backward pivots). If the best improvement passes the
  threshold (``t**2`` for one, the 2-degree-of-freedom chi-squared of the
  same tail probability for two; t = 4.5 as officially) the difference(s)
  are dropped, the group after each is flagged JUMP_DET, and the search
  repeats while more than three differences remain.
* A dropped or unusable difference is removed from the system; the ramp
  pieces on either side stay in one fit with one slope (their covariance
  is block diagonal), which is how a jump splits the ramp here.

Flags: a group flagged with anything but JUMP_DET and PERSISTENCE
(DO_NOT_USE, SATURATED, ...) removes the differences on both sides of it; a
group flagged JUMP_DET by the jump step removes only the difference that
ends on it (the jump happened between it and the previous group).

Where this differs from the official code (docs/detector1.md): the first
rate is the median of the usable differences only; ramps with fewer than
three usable differences are not searched for jumps; PERSISTENCE groups
stay usable; the dark current is in the Poisson term from the start.
"""

import math

import numpy as np
from numba import njit, prange

from ._ramp_kernels import nan_median

DNU = 1
SAT = 2
JUMP = 4
PERS = 32
NO_GAIN = 1 << 19
# group flags that do not make a group unusable
SOFT = JUMP | PERS


def covariance_coefficients(ngroups, nframes, tgroup, tframe):
    """Time coefficients of the covariance of the resultant differences.

    Group ``k`` averages the reads at ``tframe * j + tgroup * k``,
    ``j = 1 .. nframes`` (the reads dropped between groups only shift it).

    Parameters
    ----------
    ngroups, nframes : int
        Groups and reads averaged per group.
    tgroup, tframe : float
        Group and frame (read) times, s.

    Returns
    -------
    dt : ndarray (ngroups - 1,)
        Time between mean read times of consecutive groups, s.
    a_read, b_read : ndarray (ngroups - 1,), (ngroups - 2,)
        Diagonal and off-diagonal read-noise covariance per unit read variance, s**-2.
    a_phot, b_phot : ndarray (ngroups - 1,), (ngroups - 2,)
        Diagonal and off-diagonal Poisson covariance per unit (rate / gain), s**-1.
    """
    reads = np.arange(1, nframes + 1, dtype=np.float64)
    times = reads[None, :] * float(tframe) + np.arange(ngroups, dtype=np.float64)[:, None] * float(tgroup)
    mean_t = times.mean(axis=1)
    tau = ((2 * nframes + 1 - 2 * reads)[None, :] * times).sum(axis=1) / nframes ** 2
    dt = np.diff(mean_t)
    a_read = (2.0 / nframes) / dt ** 2
    b_read = (-1.0 / nframes) / (dt[1:] * dt[:-1])
    a_phot = (tau[:-1] + tau[1:] - 2.0 * mean_t[:-1]) / dt ** 2
    b_phot = (mean_t[1:-1] - tau[1:-1]) / (dt[1:] * dt[:-1])
    return dt, a_read, b_read, a_phot, b_phot


@njit(cache=True, nogil=True, error_model="numpy")
def _build(m, idx, c_read, c_phot, a_read, b_read, a_phot, b_phot, a, b):
    """Tridiagonal covariance of the ``m`` used differences ``idx[:m]`` (zero between non-neighbours)."""
    for j in range(m):
        k = idx[j]
        a[j] = c_read * a_read[k] + c_phot * a_phot[k]
        if j + 1 < m and idx[j + 1] == k + 1:
            b[j] = c_read * b_read[k] + c_phot * b_phot[k]
        else:
            b[j] = 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def _gls(m, d, a, b, p, u, v):
    """Solve ``C u = 1`` and ``C v = d`` (LDL', forward pivots in ``p``); return (d'C^-1 d, 1'C^-1 d, 1'C^-1 1)."""
    p[0] = a[0]
    u[0] = 1.0
    v[0] = d[0]
    for j in range(1, m):
        ell = b[j - 1] / p[j - 1]
        p[j] = a[j] - ell * b[j - 1]
        u[j] = 1.0 - ell * u[j - 1]
        v[j] = d[j] - ell * v[j - 1]
    u[m - 1] /= p[m - 1]
    v[m - 1] /= p[m - 1]
    for j in range(m - 2, -1, -1):
        u[j] = (u[j] - b[j] * u[j + 1]) / p[j]
        v[j] = (v[j] - b[j] * v[j + 1]) / p[j]
    big_a = 0.0
    big_b = 0.0
    big_c = 0.0
    for j in range(m):
        big_a += d[j] * v[j]
        big_b += v[j]
        big_c += u[j]
    return big_a, big_b, big_c


@njit(cache=True, nogil=True, error_model="numpy")
def _best_drop(m, idx, a, b, p, q, u, v, big_a, big_b, big_c, two_omit, th1, th2):
    """The drop the chi-squared asks for: (first difference index in idx, 1 or 2) or (-1, 0).

    Omitting difference ``j`` is fitting ``d = s 1 + e e_j``: a 2x2 system in
    (s, e) built from ``1'C^-1 1``, ``(C^-1 1)_j``, ``(C^-1)_jj``... whose
    minimum chi-squared is ``A - s B - e (C^-1 d)_j``; two adjacent
    differences give a 3x3 system the same way.
    """
    # backward pivots: (C^-1)_jj = 1 / (p_j + q_j - a_j), (C^-1)_j,j+1 = -b_j (C^-1)_jj / q_{j+1}
    q[m - 1] = a[m - 1]
    for j in range(m - 2, -1, -1):
        q[j] = a[j] - b[j] * b[j] / q[j + 1]
    chi2 = big_a - big_b * big_b / big_c
    best1 = 0.0
    j1 = -1
    best2 = 0.0
    j2 = -1
    for j in range(m):
        cjj = 1.0 / (p[j] + q[j] - a[j])
        det = big_c * cjj - u[j] * u[j]
        if not (det > 1e-12 * big_c * cjj):
            continue
        s = (cjj * big_b - v[j] * u[j]) / det
        e = (v[j] - s * u[j]) / cjj
        gain = chi2 - (big_a - s * big_b - e * v[j])
        if gain > best1:
            best1 = gain
            j1 = j
        if two_omit and j + 1 < m and idx[j + 1] == idx[j] + 1:
            ckk = 1.0 / (p[j + 1] + q[j + 1] - a[j + 1])
            cjk = -b[j] * cjj / q[j + 1]
            # normal equations M (s, e1, e2) = (B, v_j, v_k), M symmetric
            m00 = big_c
            m01 = u[j]
            m02 = u[j + 1]
            m11 = cjj
            m12 = cjk
            m22 = ckk
            c00 = m11 * m22 - m12 * m12
            c01 = m02 * m12 - m01 * m22
            c02 = m01 * m12 - m02 * m11
            det3 = m00 * c00 + m01 * c01 + m02 * c02
            if not (det3 > 1e-12 * m00 * c00):
                continue
            c11 = m00 * m22 - m02 * m02
            c12 = m01 * m02 - m00 * m12
            c22 = m00 * m11 - m01 * m01
            r0 = big_b
            r1 = v[j]
            r2 = v[j + 1]
            s = (c00 * r0 + c01 * r1 + c02 * r2) / det3
            e1 = (c01 * r0 + c11 * r1 + c12 * r2) / det3
            e2 = (c02 * r0 + c12 * r1 + c22 * r2) / det3
            gain = chi2 - (big_a - s * r0 - e1 * r1 - e2 * r2)
            if gain > best2:
                best2 = gain
                j2 = j
    # a double drop always gains more: compare the excesses over the thresholds
    if best1 - th1 > best2 - th2:
        if best1 > th1:
            return j1, 1
    elif best2 > th2:
        return j2, 2
    return -1, 0


@njit(cache=True, nogil=True, error_model="numpy")
def _fit_ramp(x, fl, ng, gain, sigma2, dark, dt, a_read, b_read, a_phot, b_phot, detect, two_omit, th1, th2,
              idx, d, a, b, p, q, u, v, buf, out):
    """GLS slope of one integration ramp; ``out`` = (slope, var_poisson, var_rnoise, jump found).

    ``fl`` holds the group flags; groups where a jump is found get JUMP_DET in it.
    """
    m = 0
    for k in range(ng - 1):
        f0 = fl[k]
        f1 = fl[k + 1]
        if (f0 & ~SOFT) or (f1 & ~SOFT) or (f1 & JUMP):
            continue
        val = (x[k + 1] - x[k]) / dt[k]
        if math.isnan(val):
            continue
        idx[m] = k
        d[m] = val
        m += 1
    out[3] = 0.0
    if m == 0:
        out[0] = np.nan
        out[1] = 0.0
        out[2] = 0.0
        return
    guess = nan_median(d, m, buf)
    c_phot = (max(guess, 0.0) + dark) / gain
    searching = detect and m >= 3
    while True:
        _build(m, idx, sigma2, c_phot, a_read, b_read, a_phot, b_phot, a, b)
        big_a, big_b, big_c = _gls(m, d, a, b, p, u, v)
        if not searching:
            break
        j, n_drop = _best_drop(m, idx, a, b, p, q, u, v, big_a, big_b, big_c, two_omit, th1, th2)
        if n_drop == 0:
            break
        for t in range(n_drop):
            fl[idx[j + t] + 1] |= JUMP
        out[3] = 1.0
        for t in range(j, m - n_drop):
            idx[t] = idx[t + n_drop]
            d[t] = d[t + n_drop]
        m -= n_drop
        searching = m > 3
    rate = big_b / big_c
    if not (big_c > 0.0) or math.isnan(rate):
        out[0] = np.nan
        out[1] = 0.0
        out[2] = 0.0
        return
    # second pass: the covariance at the fitted rate
    c_phot = (max(rate, 0.0) + dark) / gain
    _build(m, idx, sigma2, c_phot, a_read, b_read, a_phot, b_phot, a, b)
    big_a, big_b, big_c = _gls(m, d, a, b, p, u, v)
    # variance split from the weights w = C^-1 1 / 1'C^-1 1
    vr = 0.0
    vp = 0.0
    for j in range(m):
        w = u[j] / big_c
        k = idx[j]
        vr += w * w * a_read[k]
        vp += w * w * a_phot[k]
        if j + 1 < m and idx[j + 1] == k + 1:
            w2 = 2.0 * w * u[j + 1] / big_c
            vr += w2 * b_read[k]
            vp += w2 * b_phot[k]
    out[0] = big_b / big_c
    out[1] = vp * c_phot
    out[2] = vr * sigma2


@njit(cache=True, nogil=True, error_model="numpy")
def _fit_row(r, data, gdq, pixeldq, gain_a, rn_a, dark_a, extra_dnu, dt, a_read, b_read, a_phot, b_phot,
             detect, two_omit, th1, th2, x, fl, idx, d, a, b, p, q, u, v, buf, out, s_i, vp_i, vr_i,
             rate_sci, rate_dq, rate_vp, rate_vr, rate_err, int_sci, int_dq, int_vp, int_vr, int_err):
    """Fit all ramps of row ``r`` and combine the integrations."""
    nints = data.shape[0]
    ng = data.shape[1]
    nx = data.shape[3]
    for c in range(nx):
        pdq = np.uint32(pixeldq[r, c])
        gain = float(gain_a[r, c])
        bad_gain = not (gain > 0.0)
        if bad_gain:
            pdq |= np.uint32(DNU | NO_GAIN)
        rn = float(rn_a[r, c])
        sigma2 = 0.5 * rn * rn  # the reference is the CDS noise; one read has half its variance
        dark = float(dark_a[r, c])
        n_dnu = 0
        rdq = pdq
        for i in range(nints):
            nbad = 0
            nsat = 0
            jump = False
            pers = False
            for k in range(ng):
                f = np.uint8(gdq[i, k, r, c] | extra_dnu[k])
                fl[k] = f
                x[k] = data[i, k, r, c]
                if f & (DNU | SAT):
                    nbad += 1
                if f & SAT:
                    nsat += 1
                if f & JUMP:
                    jump = True
                if f & PERS:
                    pers = True
            if bad_gain or nbad == ng:
                out[0] = np.nan
                out[3] = 0.0
            else:
                _fit_ramp(x, fl, ng, gain, sigma2, dark, dt, a_read, b_read, a_phot, b_phot, detect, two_omit,
                          th1, th2, idx, d, a, b, p, q, u, v, buf, out)
            idq = pdq
            if jump or out[3] > 0.0:
                idq |= np.uint32(JUMP)
            if pers:
                idq |= np.uint32(PERS)
            if nsat > 0:
                idq |= np.uint32(SAT)
            if math.isnan(out[0]):
                idq |= np.uint32(DNU)
                n_dnu += 1
                s_i[i] = np.nan
                vp_i[i] = 0.0
                vr_i[i] = 0.0
            else:
                s_i[i] = out[0]
                vp_i[i] = out[1]
                vr_i[i] = out[2]
            rdq |= idq & ~np.uint32(DNU)
            int_dq[i, r, c] = idq
            int_sci[i, r, c] = s_i[i]
            int_vp[i, r, c] = vp_i[i]
            int_vr[i, r, c] = vr_i[i]
            int_err[i, r, c] = math.sqrt(vp_i[i] + vr_i[i])
        if n_dnu == nints:
            rate_sci[r, c] = np.nan
            rate_dq[r, c] = rdq | np.uint32(DNU)
            rate_vp[r, c] = 0.0
            rate_vr[r, c] = 0.0
            rate_err[r, c] = 0.0
            continue
        if nints == 1:
            slope, vp, vr = s_i[0], vp_i[0], vr_i[0]
        else:
            slope, vp, vr = _combine(nints, s_i, vp_i, vr_i, buf)
        rate_sci[r, c] = slope
        rate_dq[r, c] = rdq
        rate_vp[r, c] = vp
        rate_vr[r, c] = vr
        rate_err[r, c] = math.sqrt(vp + vr)


@njit(cache=True, nogil=True, error_model="numpy")
def _combine(nints, s_i, vp_i, vr_i, buf):
    """Integrations into one rate, as the official LIKELY code combines them.

    Starting from the median, twice: each integration's Poisson variance is
    rescaled to the current rate (its own slope being noisy), the weights are
    the inverse total variances, the rate their weighted mean.
    """
    slope = nan_median(s_i, nints, buf)
    vp = 0.0
    vr = 0.0
    for _ in range(2):
        wsum = 0.0
        num = 0.0
        for i in range(nints):
            s = s_i[i]
            if math.isnan(s):
                continue
            scale = slope / s
            if not (scale >= 0.0) or math.isinf(scale):
                scale = 0.0
            var = vp_i[i] * scale + vr_i[i]
            if var > 0.0:
                wsum += 1.0 / var
                num += s / var
        slope = num / wsum
    vp = 0.0
    vr = 0.0
    for i in range(nints):
        s = s_i[i]
        if math.isnan(s):
            continue
        scale = slope / s
        if not (scale >= 0.0) or math.isinf(scale):
            scale = 0.0
        var = vp_i[i] * scale + vr_i[i]
        if var > 0.0:
            w = 1.0 / var / wsum
            vp += w * w * vp_i[i] * scale
            vr += w * w * vr_i[i]
    return slope, vp, vr


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def fit_ramps(data, gdq, pixeldq, gain, rnoise, dark, extra_dnu, dt, a_read, b_read, a_phot, b_phot,
              detect, two_omit, th1, th2,
              rate_sci, rate_dq, rate_vp, rate_vr, rate_err, int_sci, int_dq, int_vp, int_vr, int_err):
    """Fit every ramp of an exposure with LIKELY, rows in parallel.

    Parameters
    ----------
    data : ndarray, float32 (nints, ngroups, ny, nx)
        Ramps in DN.
    gdq : ndarray, uint8 (nints, ngroups, ny, nx)
        Group DQ (not modified).
    pixeldq : ndarray, uint32 (ny, nx)
    gain, rnoise, dark : ndarray, float32 (ny, nx)
        Gain (e-/DN), CDS read noise (DN), dark current (DN/s).
    extra_dnu : ndarray, uint8 (ngroups,)
        Flags OR-ed into every pixel's group DQ.
    dt, a_read, b_read, a_phot, b_phot : ndarray, float64
        From :func:`covariance_coefficients`.
    detect, two_omit : bool
        Search for jumps; also try dropping two adjacent differences.
    th1, th2 : float
        Chi-squared improvements needed to drop one or two differences.
    rate_*, int_* : ndarray
        Outputs (SCI, DQ, VAR_POISSON, VAR_RNOISE, ERR) of rate (ny, nx) and rateints (nints, ny, nx).
    """
    nints = data.shape[0]
    ng = data.shape[1]
    ny = data.shape[2]
    for r in prange(ny):
        x = np.empty(ng, np.float64)
        fl = np.empty(ng, np.uint8)
        idx = np.empty(ng, np.int64)
        d = np.empty(ng, np.float64)
        a = np.empty(ng, np.float64)
        b = np.empty(ng, np.float64)
        p = np.empty(ng, np.float64)
        q = np.empty(ng, np.float64)
        u = np.empty(ng, np.float64)
        v = np.empty(ng, np.float64)
        buf = np.empty(max(ng, nints) + 2, np.float64)
        out = np.empty(4, np.float64)
        s_i = np.empty(nints, np.float64)
        vp_i = np.empty(nints, np.float64)
        vr_i = np.empty(nints, np.float64)
        _fit_row(r, data, gdq, pixeldq, gain, rnoise, dark, extra_dnu, dt, a_read, b_read, a_phot, b_phot,
                 detect, two_omit, th1, th2, x, fl, idx, d, a, b, p, q, u, v, buf, out, s_i, vp_i, vr_i,
                 rate_sci, rate_dq, rate_vp, rate_vr, rate_err, int_sci, int_dq, int_vp, int_vr, int_err)


# ----------------------------------------------------------------------------- array interface

MIN_GROUPS = 4  # fewer groups: the official step falls back to OLS, and so does ramp_fit.run
REJECTION_THRESHOLD = 4.5  # sigma; the official LIKELY default (chi-squared 20.25 for one difference)


def _native(array, dtype):
    array = np.asarray(array)
    if array.dtype != np.dtype(dtype) or not array.dtype.isnative:
        array = array.astype(dtype)
    return np.ascontiguousarray(array)


def thresholds(rejection_threshold):
    """Chi-squared improvements needed to drop one difference and two adjacent ones.

    One difference: ``t**2``. Two: the chi-squared with 2 degrees of freedom
    whose tail probability is that of a ``t``-sigma two-sided Gaussian
    deviation, ``-2 ln erfc(t / sqrt(2))``.
    """
    t = float(rejection_threshold)
    tail = math.erfc(t / math.sqrt(2.0))
    two = -2.0 * math.log(tail) if tail > 0.0 else t * t + 10.0
    return t * t, two


def fit_arrays(data, groupdq, pixeldq, gain, readnoise, *, nframes, tgroup, tframe, firstgroup=None,
               lastgroup=None, dark_current=None, rejection_threshold=REJECTION_THRESHOLD, detect_jumps=True,
               **_ignored):
    """Fit ramps given as arrays with the LIKELY algorithm.

    Parameters
    ----------
    data : ndarray (nints, ngroups, ny, nx)
        Ramps in DN; ``ngroups`` >= :data:`MIN_GROUPS`.
    groupdq : ndarray, uint8 (nints, ngroups, ny, nx)
        Group DQ (not modified; jumps found here are reported in the output DQ).
    pixeldq : ndarray, uint32 (ny, nx)
    gain : ndarray (ny, nx)
        Gain, e-/DN.
    readnoise : ndarray (ny, nx)
        CDS read noise, DN.
    nframes : int
        Reads averaged in a group (NFRAMES).
    tgroup, tframe : float
        Group and frame times, s.
    firstgroup, lastgroup : int or None
        Groups outside this range (0-based) are not used.
    dark_current : ndarray (ny, nx), optional
        Dark current, DN/s, added to the rate in the Poisson covariance.
    rejection_threshold : float
        Jump threshold in sigma.
    detect_jumps : bool
        Search the ramps for jumps (on top of the JUMP_DET flags given).
    **_ignored
        Options of the OLS fit that do not apply (``instrument``, ``suppress_one_group``).

    Returns
    -------
    rate : dict
        ``slope``, ``dq``, ``var_poisson``, ``var_rnoise``, ``err`` (ny, nx), float32 / uint32.
    rateints : dict
        The same, (nints, ny, nx).
    """
    from webbflow.errors import WebbflowError

    data = _native(data, np.float32)
    groupdq = _native(groupdq, np.uint8)
    nints, ngroups, ny, nx = data.shape
    if groupdq.shape != data.shape:
        raise WebbflowError(None, f"GROUPDQ has shape {groupdq.shape}, SCI {data.shape}")
    if ngroups < MIN_GROUPS:
        raise WebbflowError(None, f"the LIKELY ramp fit needs at least {MIN_GROUPS} groups, this exposure has {ngroups}")
    pixeldq = _native(pixeldq, np.uint32)
    gain = _native(gain, np.float32)
    readnoise = _native(readnoise, np.float32)
    dark = np.zeros((ny, nx), np.float32) if dark_current is None else np.broadcast_to(
        np.asarray(dark_current, np.float32), (ny, nx))
    dark = _native(dark, np.float32)
    extra = np.zeros(ngroups, np.uint8)
    if firstgroup is not None:
        extra[:max(int(firstgroup), 0)] = DNU
    if lastgroup is not None:
        extra[int(lastgroup) + 1:] = DNU
    coefficients = covariance_coefficients(ngroups, int(nframes), float(tgroup), float(tframe))
    th1, th2 = thresholds(rejection_threshold)
    rate = {key: np.empty((ny, nx), np.float32) for key in ("slope", "var_poisson", "var_rnoise", "err")}
    rate["dq"] = np.empty((ny, nx), np.uint32)
    ints = {key: np.empty((nints, ny, nx), np.float32) for key in ("slope", "var_poisson", "var_rnoise", "err")}
    ints["dq"] = np.empty((nints, ny, nx), np.uint32)
    fit_ramps(data, groupdq, pixeldq, gain, readnoise, dark, extra, *coefficients,
              bool(detect_jumps), int(nframes) > 1, th1, th2,
              rate["slope"], rate["dq"], rate["var_poisson"], rate["var_rnoise"], rate["err"],
              ints["slope"], ints["dq"], ints["var_poisson"], ints["var_rnoise"], ints["err"])
    return rate, ints
