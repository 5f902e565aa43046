"""Make up-the-ramp data from a true count-rate image.

Every read frame of an integration is simulated (frames dropped in group
gaps only accumulate charge); the frames of a group are averaged. In a
read frame, in this order:

1. charge: Poisson electrons from the true rate (``rate * gain * dt``),
   cosmic-ray hits, and dark current whose mean is exactly the dark
   reference (Poisson increments of the reference's frame differences);
2. non-linearity: the numerical inverse of the linearity reference's
   correction polynomial (NIR: applied to the signal above the bias
   including the kTC offset; MIRI: to the whole signal, bias included,
   because MIRI data are linearity-corrected without a superbias step);
   the output plateaus 6 % above the saturation reference;
3. IPC: the measured signal of the light-sensitive pixels is spread by the
   coupling kernel whose 3x3 inverse is the IPC reference (the official
   pipeline undoes IPC before the linearity correction, as here);
4. bias: the superbias reference (NIR) plus per-amplifier offsets that
   drift linearly in time and odd/even column offsets (in read-out
   coordinates), common to reference and light-sensitive pixels so the
   reference pixels measure them; MIRI: a per-amplifier offset and a
   frame-to-frame per-amplifier jitter, 0.5 DN rms in full frame (where
   the reference columns measure it) and 0.1 DN rms in subarrays (which
   have no reference pixels: the official refpix step skips them, so the
   jitter stays in the slopes);
5. MIRI only: the reset anomaly of the reset reference (raw DN, first
   groups); a first-frame offset in group 0 and an RSCD transient in the
   first groups of later integrations, both in the groups the RSCD
   reference tells the pipeline to skip (the rscd step flags them; the
   deprecated firstframe step is skipped by default) -- except in pixels
   saturating so early that skipping them would leave fewer than two
   unsaturated groups: the official rscd step then flags fewer groups and
   marks the pixel FLUX_ESTIMATED, and the transient (~1 % of the previous
   integration's signal) biases those slopes by ~2 %; and a last-frame
   offset (the lastframe step flags the last group);
6. noise: white read noise (``readnoise_white``, a CDS value: one frame
   has readnoise_white / sqrt(2)) and, for NIR detectors, 1/f noise: a
   pink time series along the read-out order (rows of the read-out frame
   with 12 pixel times of row overhead), common to all amplifiers, drawn
   anew for every frame with ``spec.one_over_f`` rms per pixel. The
   READNOISE reference, like a real one measured from CDS differences of
   darks, is the total: sqrt(readnoise_white**2 + 2 * one_over_f**2) (see
   :func:`one_over_f_cds_variance`).

All values are in DN; ``data`` is float32 before the uint16 rounding of
the ``_uncal`` file.
"""

from dataclasses import dataclass

import numpy as np
from numba import njit

from webbflow.simulate.detector import readout_shape, to_science

__all__ = ["Effects", "simulate_exposure", "invert_polynomial", "convolve", "rscd_skip_groups", "CR_DTYPE",
           "SAT_DTYPE", "one_over_f_cds_variance", "miri_amplifier_jitter"]

CR_DTYPE = np.dtype([("integration", "i4"), ("group", "i4"), ("frame", "i4"), ("y", "i4"), ("x", "i4"),
                     ("amplitude", "f4"), ("fraction", "f4")])
SAT_DTYPE = np.dtype([("integration", "i4"), ("y", "i4"), ("x", "i4"), ("group", "i4")])

# The detector output stops rising 6 % above the saturation reference level (signal above bias for
# NIR detectors, raw signal for MIRI): far enough that IPC, which takes a few per cent of a pixel's
# signal, still leaves a plateaued pixel above the reference.
_PLATEAU = 1.06

# MIRI per-amplifier frame-to-frame jitter (DN rms): full frame, where the reference columns measure and the
# refpix step removes it, and subarrays, which have no reference pixels (refpix is skipped there).
_MIRI_JITTER_FULL = 0.5
_MIRI_JITTER_SUBARRAY = 0.1


@dataclass(frozen=True)
class Effects:
    """Switches and rates of the simulated effects.

    Attributes
    ----------
    poisson, read_noise, ktc, one_over_f, drifts, cosmic_rays : bool
        Turn individual effects on or off. With all off (see
        :meth:`noiseless`) a ramp is deterministic and a perfect pipeline
        recovers the true rate up to the uint16 rounding.
    miri_anomalies : bool
        MIRI first/last-frame offsets and the RSCD transient (in the groups
        the pipeline flags, except the first groups of early-saturating
        pixels, which the rscd step keeps and flags FLUX_ESTIMATED). The reset anomaly is
        always applied: its reference removes it.
    cr_rate : float
        Cosmic-ray hits per pixel per second.
    cr_min, cr_max : float
        Hit amplitudes are log-uniform between these multiples of the
        pixel's CDS read noise (its READNOISE reference value, 1/f included).
    """

    poisson: bool = True
    read_noise: bool = True
    ktc: bool = True
    one_over_f: bool = True
    drifts: bool = True
    cosmic_rays: bool = True
    miri_anomalies: bool = True
    cr_rate: float = 3e-4
    cr_min: float = 10.0
    cr_max: float = 2000.0

    @classmethod
    def noiseless(cls):
        """Every random and drifting effect off (detector response, bias, dark, IPC and anomalies stay)."""
        return cls(poisson=False, read_noise=False, ktc=False, one_over_f=False, drifts=False, cosmic_rays=False)


@njit(cache=True, inline="always")
def _invert_one(coeffs, y, x, t):
    """Newton's method for one pixel: the s with sum_j coeffs[j, y, x] * s**j == t."""
    nc = coeffs.shape[0]
    s = t - coeffs[0, y, x]
    for _ in range(40):
        p = coeffs[nc - 1, y, x]
        dp = 0.0
        for j in range(nc - 2, -1, -1):
            dp = dp * s + p
            p = p * s + coeffs[j, y, x]
        if dp <= 0.0:
            break
        step = (p - t) / dp
        s -= step
        if abs(step) < 1e-9 * (1.0 + abs(s)):
            break
    return s


@njit(cache=True)
def _invert_kernel(coeffs, target, out):
    ny, nx = target.shape
    for y in range(ny):
        for x in range(nx):
            out[y, x] = _invert_one(coeffs, y, x, target[y, x])


@njit(cache=True)
def _detector_kernel(charge, dark_e, gain, live, offset, coeffs, hard, signal, plateau):
    """Linear signal -> measured signal: (charge + dark) / gain + offset, inverted non-linearity, plateau."""
    ny, nx = charge.shape
    for y in range(ny):
        for x in range(nx):
            linear = (charge[y, x] + dark_e[y, x]) / gain[y, x] if live[y, x] else 0.0
            s = _invert_one(coeffs, y, x, offset[y, x] + linear)
            if s >= hard[y, x]:
                s = hard[y, x]
                plateau[y, x] = True
            signal[y, x] = s


@njit(cache=True)
def _convolve_kernel(image, skip, kernel, out):
    """out = kernel * image over the pixels not in ``skip`` (zero outside); ``skip`` pixels copy ``image``."""
    ny, nx = image.shape
    k = kernel.shape[0]
    c = k // 2
    padded = np.zeros((ny + 2 * c, nx + 2 * c))
    for y in range(ny):
        for x in range(nx):
            if not skip[y, x]:
                padded[y + c, x + c] = image[y, x]
    flipped = kernel[::-1, ::-1].copy()
    for y in range(ny):
        for x in range(nx):
            total = 0.0
            for i in range(k):
                for j in range(k):
                    total += flipped[i, j] * padded[y + i, x + j]
            out[y, x] = total
    for y in range(ny):
        for x in range(nx):
            if skip[y, x]:
                out[y, x] = image[y, x]


def invert_polynomial(coeffs, target):
    """Solve ``sum_i coeffs[i] * s**i = target`` for ``s`` pixel by pixel (Newton's method).

    Parameters
    ----------
    coeffs : numpy.ndarray, (ncoeff, ny, nx)
        A monotonic correction polynomial (constant term first, as the
        official linearity reference).
    target : numpy.ndarray, (ny, nx)
        The linear signal.

    Returns
    -------
    numpy.ndarray, float64, (ny, nx)
        The measured (non-linear) signal.
    """
    coeffs = np.ascontiguousarray(coeffs, dtype=np.float64)
    target = np.ascontiguousarray(target, dtype=np.float64)
    out = np.empty(target.shape, dtype=np.float64)
    _invert_kernel(coeffs, target, out)
    return out


def convolve(image, kernel, skip=None):
    """``out[y, x] = sum kernel[c + dy, c + dx] * image[y - dy, x - dx]`` (odd square kernel, zero outside).

    Parameters
    ----------
    image : numpy.ndarray, (ny, nx)
    kernel : numpy.ndarray, (k, k), k odd
    skip : numpy.ndarray of bool, optional
        Pixels that neither receive nor give signal (reference pixels):
        they keep their value.

    Returns
    -------
    numpy.ndarray, float64
    """
    image = np.ascontiguousarray(image, dtype=np.float64)
    skip = np.zeros(image.shape, dtype=np.bool_) if skip is None else np.ascontiguousarray(skip, dtype=np.bool_)
    out = np.empty(image.shape, dtype=np.float64)
    _convolve_kernel(image, skip, np.ascontiguousarray(kernel, dtype=np.float64), out)
    return out


def rscd_skip_groups(ngroups, nints, skip_int1, skip_int2p):
    """Groups at the start of integration 1 and of later ones that the RSCD step flags.

    Follows the documented rules of the official step: at most 5 groups
    flag one group; otherwise at least 3 groups are kept.
    """
    if ngroups < 3:
        return 0, 0
    if ngroups <= 5:
        skip_int1 = skip_int2p = 1
    if ngroups < skip_int1 + 3:
        skip_int1 = max(0, ngroups - 3)
    if nints > 1 and ngroups < skip_int2p + 3:
        skip_int2p = max(0, ngroups - 3)
    return skip_int1, skip_int2p


def one_over_f_cds_variance(amplitude):
    """The variance (DN**2) that the simulated 1/f noise adds to a CDS difference of two frames, per pixel.

    Each frame draws an independent 1/f series, a circular filter of white
    noise (so its statistics do not depend on the position along the
    series) scaled to an rms of ``amplitude`` over the series: every pixel
    of a frame has a 1/f variance of ``amplitude**2``, and a difference of
    two frames twice that. This is what a READNOISE reference measured
    from CDS differences of darks holds on top of the white read noise.

    Parameters
    ----------
    amplitude : float
        ``DetectorSpec.one_over_f`` (rms per frame, DN).

    Returns
    -------
    float
    """
    return 2.0 * float(amplitude) ** 2


def miri_amplifier_jitter(subarray_name):
    """rms (DN) of the MIRI per-amplifier frame-to-frame jitter for a subarray (``FULL`` or another)."""
    return _MIRI_JITTER_FULL if subarray_name == "FULL" else _MIRI_JITTER_SUBARRAY


def _one_over_f(rng, nslow, nfast, noutputs, amplitude, fastaxis, slowaxis):
    """One frame of 1/f noise in the science frame (DN): rms ``amplitude`` per pixel (one_over_f_cds_variance)."""
    width = nfast // noutputs + 12
    n = nslow * width
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freq = np.arange(spectrum.size, dtype=np.float64)
    freq[0] = 1.0
    spectrum /= np.sqrt(freq)
    spectrum[0] = 0.0
    series = np.fft.irfft(spectrum, n)
    series *= amplitude / series.std()
    block = series.reshape(nslow, width)[:, : width - 12]
    return to_science(np.tile(block, (1, noutputs)), fastaxis, slowaxis)


def _readout_maps(spec, sub):
    """Amplifier index and column parity of every pixel (science frame), from read-out coordinates."""
    nslow, nfast = readout_shape(spec, sub)
    fast = np.broadcast_to(np.arange(nfast), (nslow, nfast))
    if spec.is_miri:
        amp = (fast + sub.xstart - 1) % 4
    elif sub.noutputs > 1:
        amp = fast // (nfast // sub.noutputs)
    else:
        amp = np.zeros((nslow, nfast), dtype=np.int64)
    parity = fast % 2
    return (np.ascontiguousarray(to_science(amp, spec.fastaxis, spec.slowaxis)),
            np.ascontiguousarray(to_science(parity, spec.fastaxis, spec.slowaxis)))


def simulate_exposure(exp, refs, rate, rng, effects=None):
    """Simulate the ramps of one exposure.

    Parameters
    ----------
    exp : Exposure
    refs : SubarrayRefs
        The detector as described by its reference files, cut to the subarray.
    rate : numpy.ndarray, (ny, nx)
        True count rate in DN/s (before IPC), zero on reference pixels.
    rng : numpy.random.Generator
    effects : Effects, optional

    Returns
    -------
    data : numpy.ndarray, float32, (nints, ngroups, ny, nx)
        Raw DN.
    truth : dict
        ``rate`` (DN/s, NaN on dead pixels, 0 on reference pixels),
        ``rate_ipc`` (the same seen through IPC, what a pipeline without
        the ipc step recovers), ``crs`` (CR_DTYPE rows), ``saturated``
        (SAT_DTYPE rows: the first group whose noise-free value reaches
        the saturation reference or that holds a frame on the plateau),
        ``dq`` (the mask cut to the subarray).
    """
    effects = Effects() if effects is None else effects
    spec, sub = exp.spec, exp.sub
    ny, nx = sub.ysize, sub.xsize
    nints, ngroups, nframes, gap = exp.nints, exp.ngroups, exp.nframes, exp.groupgap
    tframe = exp.tframe
    if abs(tframe - refs.dark_tframe) > 1e-9:
        raise ValueError(f"{exp.basename}: dark made for TFRAME={refs.dark_tframe}, exposure has {tframe}")
    cycle = nframes + gap
    read_frames = np.array([g * cycle + j for g in range(ngroups) for j in range(nframes)])
    t_read = (read_frames + 1.0) * tframe
    if refs.dark.shape[1] < read_frames[-1] + 1:
        raise ValueError(f"{exp.basename}: dark has {refs.dark.shape[1]} frames, exposure needs {read_frames[-1] + 1}")

    live = ~(refs.refmask | refs.dead)
    gain = refs.gain.astype(np.float64)
    rate = np.where(live, rate, 0.0)
    rate_e = rate * gain
    coupling = refs.coupling
    coeffs = np.ascontiguousarray(refs.coeffs, dtype=np.float64)
    saturation = refs.saturation.astype(np.float64)
    if spec.is_miri:
        hard = saturation * _PLATEAU
        raw_bias = refs_bias_raw = invert_polynomial(coeffs, refs.bias_lin)
    else:
        superbias = refs.superbias.astype(np.float64)
        hard = (saturation - superbias) * _PLATEAU
        refs_bias_raw = superbias
    rn_frame = refs.readnoise_white.astype(np.float64) / np.sqrt(2.0)
    jitter = miri_amplifier_jitter(sub.name) if spec.is_miri else 0.0
    amp_map, parity_map = _readout_maps(spec, sub)
    nslow, nfast = readout_shape(spec, sub)

    skip1, skip2 = (0, 0)
    if spec.is_miri:
        table = refs.rscd_skip.get(exp.readpatt, (1, 1))
        skip1, skip2 = rscd_skip_groups(ngroups, nints, *table)
    live_index = np.flatnonzero(live)
    refmask = np.ascontiguousarray(refs.refmask, dtype=np.bool_)
    live = np.ascontiguousarray(live, dtype=np.bool_)
    coupling = np.ascontiguousarray(coupling, dtype=np.float64)
    bias_lin = None if refs.bias_lin is None else np.ascontiguousarray(refs.bias_lin, dtype=np.float64)
    signal = np.empty((ny, nx), dtype=np.float64)
    coupled = np.empty((ny, nx), dtype=np.float64)

    data = np.empty((nints, ngroups, ny, nx), dtype=np.float32)
    sat_group = np.full((nints, ny, nx), -1, dtype=np.int32)
    cr_rows = []
    last_signal = None
    for i in range(nints):
        charge = np.zeros((ny, nx), dtype=np.float64)
        dark_e = np.zeros((ny, nx), dtype=np.float64)
        ktc = rng.standard_normal((ny, nx)) * spec.ktc if effects.ktc else 0.0
        ktc_map = np.ascontiguousarray(np.broadcast_to(ktc, (ny, nx)), dtype=np.float64)
        if spec.is_miri:
            offsets = rng.standard_normal(4) * 5.0 if effects.drifts else np.zeros(4)
        else:
            offsets = rng.standard_normal((4, 2)) * 15.0 if effects.drifts else np.zeros((4, 2))
            slopes = rng.standard_normal(4) * 1.5 if effects.drifts else np.zeros(4)
            offset_map = offsets[amp_map, parity_map]
            slope_map = slopes[amp_map]
        dark_i = refs.dark[min(i, refs.dark.shape[0] - 1)]

        # cosmic rays of this integration: pixel, read frame of arrival, amplitude
        hits = {}
        if effects.cosmic_rays and live_index.size:
            n_cr = rng.poisson(effects.cr_rate * live_index.size * t_read[-1])
            pix = rng.choice(live_index, size=n_cr, replace=True) if n_cr else np.zeros(0, dtype=np.int64)
            times = rng.uniform(0.0, t_read[-1], n_cr)
            amps = refs.readnoise.ravel()[pix].astype(np.float64) * 10 ** rng.uniform(
                np.log10(effects.cr_min), np.log10(effects.cr_max), n_cr)
            arrival = np.searchsorted(t_read, times)
            for p, r, a in zip(pix, arrival, amps, strict=True):
                hits.setdefault(int(r), []).append((int(p), float(a)))
                frame = int(read_frames[r])
                within = frame % cycle
                cr_rows.append((i, frame // cycle, frame, p // nx, p % nx, a, (nframes - within) / nframes))

        prev_t = 0.0
        prev_dark = np.zeros((ny, nx), dtype=np.float64)
        group_sum = np.zeros((ny, nx), dtype=np.float64)
        clean_sum = np.zeros((ny, nx), dtype=np.float64)
        plateau_any = np.zeros((ny, nx), dtype=bool)
        for r, frame in enumerate(read_frames):
            t = t_read[r]
            g = frame // cycle
            lam = rate_e * (t - prev_t)
            charge += rng.poisson(lam) if effects.poisson else lam
            dark_mean = dark_i[frame].astype(np.float64)
            increment = np.clip(dark_mean - prev_dark, 0.0, None) * gain
            dark_e += rng.poisson(increment) if effects.poisson else increment
            prev_t, prev_dark = t, dark_mean
            for p, a in hits.get(r, ()):
                charge.flat[p] += a * gain.flat[p]
            if spec.is_miri:
                drift = offsets[amp_map] + (rng.standard_normal(4)[amp_map] * jitter if effects.drifts else 0.0)
                offset = bias_lin + ktc + drift
            else:
                offset = ktc_map
            _detector_kernel(charge, dark_e, gain, live, offset, coeffs, hard, signal, plateau_any)
            _convolve_kernel(signal, refmask, coupling, coupled)
            if spec.is_miri:
                clean = coupled + _miri_anomalies(exp, refs, i, g, signal - raw_bias, last_signal, skip1, skip2,
                                                  effects.miri_anomalies)
            else:
                drift = offset_map + slope_map * t if effects.drifts else 0.0
                clean = superbias + drift + coupled
            raw = clean
            if effects.read_noise:
                raw = raw + rn_frame * rng.standard_normal((ny, nx))
            if effects.one_over_f and spec.one_over_f > 0:
                raw = raw + _one_over_f(rng, nslow, nfast, sub.noutputs, spec.one_over_f, spec.fastaxis, spec.slowaxis)
            group_sum += raw
            clean_sum += clean
            if (frame % cycle) == nframes - 1:
                data[i, g] = group_sum / nframes
                newly = ((clean_sum / nframes >= saturation) | plateau_any) & (sat_group[i] < 0)
                sat_group[i][newly] = g
                group_sum[:] = 0.0
                clean_sum[:] = 0.0
                plateau_any[:] = False
        last_signal = (signal - refs_bias_raw) if spec.is_miri else None

    crs = np.array(cr_rows, dtype=CR_DTYPE) if cr_rows else np.zeros(0, dtype=CR_DTYPE)
    ii, yy, xx = np.nonzero(sat_group >= 0)
    saturated = np.zeros(ii.size, dtype=SAT_DTYPE)
    saturated["integration"], saturated["y"], saturated["x"] = ii, yy, xx
    saturated["group"] = sat_group[ii, yy, xx]
    truth_rate = rate.copy()
    rate_ipc = convolve(rate, coupling, skip=refs.refmask)
    truth_rate[refs.dead] = np.nan
    rate_ipc[refs.dead] = np.nan
    truth = {"rate": truth_rate.astype(np.float32), "rate_ipc": rate_ipc.astype(np.float32), "crs": crs,
             "saturated": saturated, "dq": refs.mask_dq.copy()}
    return data, truth


def _miri_anomalies(exp, refs, i, g, signal, last_signal, skip1, skip2, enabled):
    """MIRI raw-domain additions: reset anomaly, RSCD transient, first- and last-frame offsets."""
    out = np.zeros(signal.shape, dtype=np.float64)
    reset = refs.reset
    if reset is not None and g < reset.shape[1]:
        out += reset[min(i, reset.shape[0] - 1), g]
    if not enabled:
        return out
    skip = skip1 if i == 0 else skip2
    if g == 0 and skip >= 1:
        out += 12.0 + 0.002 * signal  # first frame
    if i > 0 and g < skip and last_signal is not None:
        out -= 0.01 * np.clip(last_signal, 0.0, None) * np.exp(-g / 1.2)  # reset switch charge decay
    if exp.ngroups > 2 and g == exp.ngroups - 1:
        rows = np.arange(signal.shape[0]) % 2
        out -= 6.0 + 0.003 * signal + 4.0 * rows[:, None]  # last frame
    return out
