"""Numba kernels of the ramp_fit step (ordinary least squares, optimal weighting).

One pixel at a time, all integrations of a pixel together, rows in parallel.
All arithmetic is in float64 on per-thread scratch buffers of a few groups;
nothing the size of the exposure is allocated here. The outputs are written
straight into the float32 rate/rateints arrays given by the caller.

The algorithm follows the official description (stcal OLS_C, the JWST
``ramp_fitting`` step documentation):

* A *segment* is a run of consecutive good groups (group DQ zero, ignoring
  PERSISTENCE); a group flagged only JUMP_DET starts the next segment (the
  jump happened before it). If a ramp has any segment longer than one group,
  one-group segments are dropped; if all are one group long only the first is
  kept.
* Segment slope: least squares with the Fixsen et al. (2000) optimal weights
  ``w_i = |(i - m)/m|**P / R**2`` (``m`` the segment mid-point), ``P`` taken
  from the segment signal-to-noise; two-group segments use the difference of
  the two groups; a one-group segment uses the group value divided by the
  group time (the first-group time when it is the only good group and the
  one-group suppression is off).
* Read-noise variance ``12 R**2 / ((n**3 - n) tgroup**2 gain**2)`` (n = 2 for
  one- and two-group segments) and Poisson variance
  ``(median rate + dark) / (tgroup gain (n - 1))``, the median rate being the
  mean over integrations of the median first difference of unflagged groups.
* Segments are combined into an integration, and integrations into the
  exposure, with read-noise inverse-variance weights (the current official
  behaviour, JP-4318: Poisson-dependent weights bias the mean low); the
  variances combine as inverse sums.
"""

import math

import numpy as np
from numba import njit, prange

DNU = 1
SAT = 2
JUMP = 4
PERS = 32
CHARGELOSS = 128
NO_GAIN = 1 << 19
INVALID = DNU | SAT
# Variances at or above this are treated as "no information" and set to zero.
LARGE_VARIANCE = 1.0e6


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def snr_power(snr):
    """The optimal-weighting exponent for a segment signal-to-noise ratio (Fixsen et al. 2000)."""
    if snr < 5.0:
        return 0.0
    if snr < 10.0:
        return 0.4
    if snr < 20.0:
        return 1.0
    if snr < 50.0:
        return 3.0
    if snr < 100.0:
        return 6.0
    return 10.0


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _weight(a, power):
    """``a ** power`` for the exponents of the weighting table (integer powers by multiplication)."""
    if power == 1.0:
        return a
    if power == 3.0:
        return a * a * a
    if power == 6.0:
        a3 = a * a * a
        return a3 * a3
    if power == 10.0:
        a2 = a * a
        a4 = a2 * a2
        return a4 * a4 * a2
    return a ** power


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def nan_median(values, n, buf):
    """Median of the finite entries among ``values[:n]`` (NaN if none); ``buf`` is scratch."""
    m = 0
    for k in range(n):
        v = values[k]
        if not math.isnan(v):
            # insertion sort into buf[:m]
            j = m
            while j > 0 and buf[j - 1] > v:
                buf[j] = buf[j - 1]
                j -= 1
            buf[j] = v
            m += 1
    if m == 0:
        return np.nan
    half = m // 2
    if m % 2 == 1:
        return buf[half]
    return 0.5 * (buf[half - 1] + buf[half])


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def find_segments(flags, off, ng, seg_start, seg_len):
    """Segments of one integration ramp: fill ``seg_start``/``seg_len``; return their number.

    ``flags[off:off + ng]`` are the group flags of the ramp.
    """
    nseg = 0
    in_seg = False
    start = 0
    maxlen = 0
    for idx in range(ng + 1):
        good = False
        if idx < ng:
            good = (flags[off + idx] & ~PERS) == 0
        if good:
            if not in_seg:
                start = idx
                if idx > 0 and (flags[off + idx - 1] & ~PERS) == JUMP:
                    start = idx - 1
                in_seg = True
        elif in_seg:
            length = idx - start
            in_seg = False
            if length == 1 and maxlen > 1:
                continue
            seg_start[nseg] = start
            seg_len[nseg] = length
            nseg += 1
            if length > maxlen:
                maxlen = length
    if nseg < 2:
        return nseg
    if maxlen < 2:
        return 1
    kept = 0
    for s in range(nseg):
        if seg_len[s] > 1:
            seg_start[kept] = seg_start[s]
            seg_len[kept] = seg_len[s]
            kept += 1
    return kept


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _rnoise_var(rnoise, gain, timing, length):
    """Read-noise variance of a segment slope, (DN/s)**2."""
    n = float(length)
    if length < 3:
        n = 2.0
    elif not (gain > 0.0):
        return 0.0
    r = rnoise / timing
    return 12.0 * r * r / ((n * n * n - n) * gain * gain)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _poisson_var(median_rate, dark, timing, gain, length):
    """Poisson variance of a segment slope, (DN/s)**2."""
    nm1 = float(max(length - 1, 1))
    den = timing * gain * nm1
    if median_rate > 0.0:
        return (median_rate + dark) / den
    return dark / den


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _fit_segment(x, base, length, start, rnoise, gain, tgroup, wbuf):
    """Optimally weighted least-squares slope (DN/s) of a segment of three or more groups."""
    diff = x[base + length - 1] - x[base]
    den = rnoise * rnoise + diff * gain
    snr = 0.0
    if den > 0.0 and gain != 0.0:
        snr = diff * gain / math.sqrt(den)
        if snr < 0.0:
            snr = 0.0
    elif not (den <= 0.0) and gain != 0.0:
        snr = np.nan  # NaN data: the table gives the largest exponent, as officially
    power = snr_power(snr)
    mid = (length - 1) / 2.0
    invmid = 1.0 / mid
    invrn2 = 1.0 / (rnoise * rnoise)
    sumw = 0.0
    sumx = 0.0
    sumxx = 0.0
    sumy = 0.0
    sumxy = 0.0
    for j in range(length):
        if power == 0.0:
            w = invrn2
        elif 2 * j < length:
            w = _weight(abs((j - mid) * invmid), power) * invrn2
            wbuf[j] = w
        else:
            w = wbuf[length - 1 - j]  # the weights are symmetric about the mid-point
        xv = float(j + start)
        y = x[base + j]
        if math.isnan(y):
            y = 0.0
        xw = xv * w
        sumw += w
        sumx += xw
        sumxx += xv * xw
        sumy += y * w
        sumxy += y * xw
    d = sumw * sumxx - sumx * sumx
    num = sumw * sumxy - sumx * sumy
    return num / d / tgroup


@njit(cache=True, nogil=True, error_model="numpy")
def _fit_row(r, data, gdq, pixeldq, gain_a, rn_a, dark_a, g0, ng, clear_first_jump, extra_dnu,
             nframes, tgroup, one_group_time, suppress, do_chargeloss,
             x, fl, buf, cnt_dnusat, seg_start, seg_len, is0, cnt_sat, chg,
             rate_sci, rate_dq, rate_vp, rate_vr, rate_err,
             int_sci, int_dq, int_vp, int_vr, int_err):
    """Fit the ramps of all pixels of row ``r`` (called once per row: argument passing is costly)."""
    nints = data.shape[0]
    nx = data.shape[3]
    for c in range(nx):
        pdq = np.uint32(pixeldq[r, c])
        gain = float(gain_a[r, c])
        if not (gain > 0.0):
            pdq |= np.uint32(DNU | NO_GAIN)
        # readnoise reference: CDS noise in DN; per group read, in electrons
        rnoise = float(rn_a[r, c]) * gain / math.sqrt(2.0 * nframes)
        dark = float(dark_a[r, c])

        any_jump = False
        any_pers = False
        # ---- load the ramps and per-integration statistics
        for i in range(nints):
            off = i * ng
            ngood = 0
            for k in range(ng):
                f = np.uint8(gdq[i, g0 + k, r, c] | extra_dnu[g0 + k])
                fl[off + k] = f
                if (f & ~PERS) == 0:
                    ngood += 1
            if suppress and ngood == 1:
                for k in range(ng):
                    fl[off + k] |= DNU
            if clear_first_jump and (fl[off] & JUMP):
                fl[off] &= ~np.uint8(JUMP)
            cgood = 0
            csat = 0
            cdnusat = 0
            jump = False
            pers = False
            cl = False
            for k in range(ng):
                f = fl[off + k]
                if f == 0:
                    cgood += 1
                if f & INVALID:
                    cdnusat += 1
                if f & SAT:
                    csat += 1
                    x[off + k] = np.nan
                else:
                    x[off + k] = data[i, g0 + k, r, c]
                if f & JUMP:
                    jump = True
                if f & PERS:
                    pers = True
                if f & CHARGELOSS:
                    cl = True
            is0[i] = (not suppress) and cgood == 1 and fl[off] == 0
            cnt_sat[i] = csat
            cnt_dnusat[i] = cdnusat
            chg[i] = cl
            idq = pdq
            if jump:
                idq |= np.uint32(JUMP)
                any_jump = True
            if pers:
                idq |= np.uint32(PERS)
                any_pers = True
            int_dq[i, r, c] = idq

        # ---- median rate of the pixel (mean over integrations of the median first difference)
        if ng == 1:
            acc = 0.0
            for i in range(nints):
                acc += x[i * ng] / one_group_time
            median_rate = acc / nints
        else:
            acc = 0.0
            for i in range(nints):
                off = i * ng
                if is0[i]:
                    m = x[off] / one_group_time
                else:
                    nfin = 0
                    for k in range(ng - 1):
                        if fl[off + k + 1] & JUMP or fl[off + k] & DNU or fl[off + k + 1] & DNU:
                            seg = np.nan
                        else:
                            seg = x[off + k + 1] - x[off + k]
                        buf[k] = seg
                        if not math.isnan(seg):
                            nfin += 1
                    if nfin == 0:
                        m = np.nan if fl[off] & DNU else x[off] / tgroup
                    else:
                        m = nan_median(buf, ng - 1, buf[ng:]) / tgroup
                if math.isnan(m):
                    m = 0.0
                acc += m
            median_rate = acc / nints

        # ---- per-integration fits
        racc_p = 0.0
        racc_r = 0.0
        racc_num = 0.0
        n_dnu = 0
        n_sat = 0
        rate_sat = False
        for i in range(nints):
            off = i * ng
            idq = int_dq[i, r, c]
            islope = 0.0
            ivp = 0.0
            ivr = 0.0
            ierr = 0.0
            nseg = 0
            if fl[off] & SAT:
                idq |= np.uint32(DNU | SAT)
                islope = np.nan
            else:
                nseg = find_segments(fl, off, ng, seg_start, seg_len)
            if cnt_dnusat[i] == ng:
                idq |= np.uint32(DNU)
                if cnt_sat[i] == ng:
                    idq |= np.uint32(SAT)
            elif nseg > 0:
                inv_r = 0.0
                inv_p = 0.0
                inv_e = 0.0
                num = 0.0
                for s in range(nseg):
                    st = seg_start[s]
                    ln = seg_len[s]
                    base = off + st
                    if ln == 1:
                        timing = tgroup
                        if (not suppress) and is0[i]:
                            timing = one_group_time
                        sl = x[base] / timing
                        vp = _poisson_var(median_rate, dark, timing, gain, 1)
                        vr = _rnoise_var(rnoise, gain, timing, 1)
                    elif ln == 2:
                        sl = (x[base + 1] - x[base]) / tgroup
                        vp = _poisson_var(median_rate, dark, tgroup, gain, 1)
                        vr = _rnoise_var(rnoise, gain, tgroup, 2)
                    else:
                        sl = _fit_segment(x, base, ln, st, rnoise, gain, tgroup, buf)
                        vp = _poisson_var(median_rate, dark, tgroup, gain, ln)
                        vr = _rnoise_var(rnoise, gain, tgroup, ln)
                    inv_r += 1.0 / vr
                    if vp > 0.0:
                        inv_p += 1.0 / vp
                    inv_e += 1.0 / (vp + vr)
                    num += sl / vr
                if inv_p > 0.0:
                    ivp = 1.0 / inv_p
                if ivp >= LARGE_VARIANCE:
                    ivp = 0.0
                ivr = 1.0 / inv_r
                if ivr >= LARGE_VARIANCE:
                    ivr = 0.0
                if idq & INVALID:
                    islope = np.nan
                    ivp = 0.0
                    ivr = 0.0
                    ierr = 0.0
                else:
                    var_e = 1.0 / inv_e
                    islope = num * ivr
                    ierr = 0.0 if var_e > LARGE_VARIANCE else math.sqrt(var_e)
                if inv_p > 0.0:
                    racc_p += inv_p
                racc_r += inv_r
                racc_num += num
            if idq & DNU:
                n_dnu += 1
                islope = np.nan
            if idq & SAT:
                n_sat += 1
                islope = np.nan
            if cnt_sat[i] > 0:
                idq |= np.uint32(SAT)
                rate_sat = True
            int_dq[i, r, c] = idq
            int_sci[i, r, c] = islope
            int_vp[i, r, c] = ivp
            int_vr[i, r, c] = ivr
            int_err[i, r, c] = ierr

        # ---- exposure level
        rdq = pdq
        if any_jump:
            rdq |= np.uint32(JUMP)
        if any_pers:
            rdq |= np.uint32(PERS)
        if n_dnu == nints:
            rdq |= np.uint32(DNU)
        if n_sat == nints:
            rdq |= np.uint32(SAT)
        vp = 1.0 / racc_p if racc_p > 0.0 else 0.0
        if vp >= LARGE_VARIANCE or vp < 0.0:
            vp = 0.0
        vr = 1.0 / racc_r if racc_r > 0.0 else 0.0
        if vr >= LARGE_VARIANCE:
            vr = 0.0
        err = math.sqrt(vp + vr)
        slope = racc_num
        if rdq & INVALID:
            slope = np.nan
            vp = 0.0
            vr = 0.0
            err = 0.0
        if rate_sat:
            rdq |= np.uint32(SAT)
        if not math.isnan(slope):
            slope *= vr

        # ---- CHARGELOSS: read-noise variance recomputed as if the flagged groups were usable
        if do_chargeloss:
            is_cl = False
            evar_r = 0.0
            for i in range(nints):
                if not chg[i]:
                    v = float(int_vr[i, r, c])
                    if v > 0.0:
                        evar_r += 1.0 / v
                    continue
                is_cl = True
                off = i * ng
                for k in range(ng):
                    f = np.uint8(gdq[i, g0 + k, r, c] | extra_dnu[g0 + k])
                    if f & CHARGELOSS:
                        f &= ~np.uint8(DNU | CHARGELOSS)
                    fl[off + k] = f
                nseg = find_segments(fl, off, ng, seg_start, seg_len)
                inv_r = 0.0
                for s in range(nseg):
                    ln = seg_len[s]
                    timing = tgroup
                    if ln == 1 and (not suppress) and is0[i]:
                        timing = one_group_time
                    v = _rnoise_var(rnoise, gain, timing, ln)
                    if v > 0.0:
                        inv_r += 1.0 / v
                v = 1.0 / inv_r if inv_r > 0.0 else np.inf
                int_vr[i, r, c] = 0.0 if v >= LARGE_VARIANCE else v
                evar_r += inv_r
            if is_cl:
                if evar_r > 0.0:
                    vr = 1.0 / evar_r
                if vr >= LARGE_VARIANCE:
                    vr = 0.0

        rate_sci[r, c] = slope
        rate_dq[r, c] = rdq
        rate_vp[r, c] = vp
        rate_vr[r, c] = vr
        rate_err[r, c] = err


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def fit_ramps(data, gdq, pixeldq, gain, rnoise, dark, g0, g1, clear_first_jump, extra_dnu,
              nframes, tgroup, one_group_time, suppress, do_chargeloss,
              rate_sci, rate_dq, rate_vp, rate_vr, rate_err,
              int_sci, int_dq, int_vp, int_vr, int_err):
    """Fit every ramp of an exposure.

    Parameters
    ----------
    data : ndarray, float32 (nints, ngroups, ny, nx)
        Ramps in DN.
    gdq : ndarray, uint8 (nints, ngroups, ny, nx)
        Group DQ flags (not modified).
    pixeldq : ndarray, uint32 (ny, nx)
    gain, rnoise, dark : ndarray, float32 (ny, nx)
        Gain (e-/DN), CDS read noise (DN), dark current (DN/s).
    g0, g1 : int
        The groups used are ``g0 <= g < g1`` (leading/trailing all-DO_NOT_USE groups dropped).
    clear_first_jump : bool
        Ignore JUMP_DET on group ``g0`` (set when leading groups were dropped).
    extra_dnu : ndarray, uint8 (ngroups,)
        Flags OR-ed into every pixel's group DQ (DO_NOT_USE outside firstgroup..lastgroup).
    nframes : int
    tgroup, one_group_time : float
        Group time and the effective time of a ramp whose only good group is the first.
    suppress : bool
        Treat ramps with a single good group as having none.
    do_chargeloss : bool
        Recompute read-noise variances of ramps with CHARGELOSS groups.
    rate_* : ndarray (ny, nx)
        Outputs: SCI, DQ, VAR_POISSON, VAR_RNOISE, ERR of the rate.
    int_* : ndarray (nints, ny, nx)
        Outputs: the same per integration.
    """
    nints = data.shape[0]
    ny = data.shape[2]
    ng = g1 - g0
    for r in prange(ny):
        x = np.empty(nints * ng, dtype=np.float64)
        fl = np.empty(nints * ng, dtype=np.uint8)
        buf = np.empty(2 * ng + 2, dtype=np.float64)
        cnt_dnusat = np.empty(nints, dtype=np.int64)
        seg_start = np.empty(ng + 1, dtype=np.int64)
        seg_len = np.empty(ng + 1, dtype=np.int64)
        is0 = np.empty(nints, dtype=np.bool_)
        cnt_sat = np.empty(nints, dtype=np.int64)
        chg = np.empty(nints, dtype=np.bool_)
        _fit_row(r, data, gdq, pixeldq, gain, rnoise, dark, g0, ng, clear_first_jump, extra_dnu,
                 nframes, tgroup, one_group_time, suppress, do_chargeloss,
                 x, fl, buf, cnt_dnusat, seg_start, seg_len, is0, cnt_sat, chg,
                 rate_sci, rate_dq, rate_vp, rate_vr, rate_err,
                 int_sci, int_dq, int_vp, int_vr, int_err)
