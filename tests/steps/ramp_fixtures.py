"""Synthetic ramps with known truth for the ramp_fit and jump tests.

A plain module (not a conftest) imported by the tests. The noise model is
the one the official pipeline assumes:

* charge accumulates as a Poisson process at ``rate * gain`` electrons per
  second, read non-destructively every frame; a group is the mean of
  ``nframes`` frames (``groupgap`` frames dropped between groups);
* every frame read adds Gaussian read noise of ``readnoise / sqrt(2)`` DN,
  the reference ``readnoise`` being the CDS noise (of a difference of two
  frames) as in the official READNOISE reference files.
"""

from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits

DNU = 1
SAT = 2
JUMP = 4

NIRCAM_TFRAME = 10.73677


@dataclass
class Ramps:
    """Ramps and their truth.

    Attributes
    ----------
    data : ndarray float32 (nints, ngroups, ny, nx)
        DN.
    groupdq : ndarray uint8
        SATURATED where the signal passed ``sat_level``; nothing else.
    pixeldq : ndarray uint32 (ny, nx)
    gain, readnoise : ndarray float32 (ny, nx)
        e-/DN and CDS read noise in DN.
    rate : ndarray float64 (ny, nx)
        True count rate, DN/s.
    jumps : ndarray bool (nints, ngroups, ny, nx)
        True where a jump was injected before that group.
    jump_amp : ndarray float64 (nints, ngroups, ny, nx)
        The injected amplitude (DN), 0 elsewhere.
    meta : dict
        NFRAMES, GROUPGAP, TFRAME, TGROUP, NGROUPS, NINTS.
    """

    data: np.ndarray
    groupdq: np.ndarray
    pixeldq: np.ndarray
    gain: np.ndarray
    readnoise: np.ndarray
    rate: np.ndarray
    jumps: np.ndarray
    jump_amp: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def tgroup(self):
        return self.meta["TGROUP"]

    def diff_sigma(self):
        """Noise (DN) of one group difference of each pixel, from the noise model."""
        nframes = self.meta["NFRAMES"]
        poisson = self.rate * self.tgroup / self.gain  # DN^2 (variance of the accumulated charge, in DN)
        return np.sqrt(self.readnoise.astype(float) ** 2 / nframes + poisson)


def default_rates(ny, nx, rng, faint=0.6, lo=0.5, hi=5.0, bright_hi=500.0):
    """A mix of faint (sky-like, uniform lo..hi DN/s) and bright (log-uniform hi..bright_hi) pixels."""
    rates = rng.uniform(lo, hi, size=(ny, nx))
    bright = rng.random((ny, nx)) > faint
    rates[bright] = np.exp(rng.uniform(np.log(hi), np.log(bright_hi), size=int(bright.sum())))
    return rates


def make_ramps(ny=200, nx=200, nints=1, ngroups=10, nframes=1, groupgap=0, tframe=NIRCAM_TFRAME,
               gain=2.0, readnoise=10.0, rates=None, bias=5000.0, jump_fraction=0.0,
               jump_sigma=(10.0, 50.0), sat_level=None, seed=1):
    """Simulate ramps.

    Parameters
    ----------
    ny, nx, nints, ngroups, nframes, groupgap : int
    tframe : float
        Frame time, s.
    gain, readnoise : float or ndarray
        e-/DN and CDS read noise (DN); scalars get a +-10 % pixel-to-pixel scatter.
    rates : ndarray, optional
        True rates (DN/s); :func:`default_rates` when None.
    bias : float
        Constant offset, DN (the fit must ignore it).
    jump_fraction : float
        Fraction of pixels given one jump per integration.
    jump_sigma : (float, float)
        Jump amplitudes are uniform in this range, in units of the pixel's
        group-difference noise (:meth:`Ramps.diff_sigma`).
    sat_level : float, optional
        Signal (DN, including bias) at which a group is flagged SATURATED and
        clipped, with all later groups.
    seed : int

    Returns
    -------
    Ramps
    """
    rng = np.random.default_rng(seed)
    if np.isscalar(gain):
        gain = gain * rng.uniform(0.9, 1.1, size=(ny, nx))
    if np.isscalar(readnoise):
        readnoise = readnoise * rng.uniform(0.9, 1.1, size=(ny, nx))
    gain = np.asarray(gain, dtype=np.float32)
    readnoise = np.asarray(readnoise, dtype=np.float32)
    if rates is None:
        rates = default_rates(ny, nx, rng)
    rates = np.asarray(rates, dtype=float)
    tgroup = tframe * (nframes + groupgap)
    per_group = nframes + groupgap
    nfr = ngroups * per_group
    read_sigma = readnoise.astype(float) / np.sqrt(2.0)
    data = np.empty((nints, ngroups, ny, nx), dtype=np.float32)
    lam = rates * gain * tframe  # electrons per frame
    for i in range(nints):
        electrons = np.zeros((ny, nx))
        groups = np.zeros((ngroups, ny, nx))
        for f in range(nfr):
            electrons += rng.poisson(lam)
            g, j = divmod(f, per_group)
            if j < nframes:
                groups[g] += electrons / gain + rng.normal(0.0, 1.0, (ny, nx)) * read_sigma
        data[i] = bias + groups / nframes
    groupdq = np.zeros(data.shape, dtype=np.uint8)
    jumps = np.zeros(data.shape, dtype=bool)
    jump_amp = np.zeros(data.shape)
    ramps = Ramps(data, groupdq, np.zeros((ny, nx), np.uint32), gain, readnoise, rates, jumps, jump_amp,
                  {"NFRAMES": nframes, "GROUPGAP": groupgap, "TFRAME": tframe, "TGROUP": tgroup,
                   "NGROUPS": ngroups, "NINTS": nints})
    if jump_fraction > 0:
        sigma = ramps.diff_sigma()
        for i in range(nints):
            hit = rng.random((ny, nx)) < jump_fraction
            yy, xx = np.nonzero(hit)
            gg = rng.integers(1, ngroups, size=yy.size)
            amp = rng.uniform(*jump_sigma, size=yy.size) * sigma[yy, xx]
            for y, x, g, a in zip(yy, xx, gg, amp, strict=True):
                data[i, g:, y, x] += a
                jumps[i, g, y, x] = True
                jump_amp[i, g, y, x] = a
    if sat_level is not None:
        over = data >= sat_level
        over = np.maximum.accumulate(over, axis=1)
        data[over] = sat_level
        groupdq[over] |= SAT
    return ramps


# ---------------------------------------------------------------- models and files

def ramp_header(ramps, instrument="NIRCAM", detector="NRCA1", substrt=(1, 1)):
    """A primary header with the keywords detector1 needs."""
    nints, ngroups, ny, nx = ramps.data.shape
    hdr = fits.Header()
    hdr["INSTRUME"] = instrument
    hdr["DETECTOR"] = detector
    hdr["EXP_TYPE"] = "MIR_IMAGE" if instrument == "MIRI" else "NRC_IMAGE"
    hdr["READPATT"] = "FASTR1" if instrument == "MIRI" else "RAPID"
    hdr["SUBARRAY"] = "FULL" if (ny, nx) == (2048, 2048) else "SUB200"
    hdr["NINTS"] = nints
    hdr["NGROUPS"] = ngroups
    hdr["NFRAMES"] = ramps.meta["NFRAMES"]
    hdr["GROUPGAP"] = ramps.meta["GROUPGAP"]
    hdr["TFRAME"] = ramps.meta["TFRAME"]
    hdr["TGROUP"] = ramps.meta["TGROUP"]
    hdr["SUBSTRT1"] = substrt[0]
    hdr["SUBSTRT2"] = substrt[1]
    hdr["SUBSIZE1"] = nx
    hdr["SUBSIZE2"] = ny
    hdr["FASTAXIS"] = 1
    hdr["SLOWAXIS"] = 2
    hdr["DATE-OBS"] = "2024-01-01"
    hdr["TIME-OBS"] = "00:00:00"
    return hdr


def ramp_model(ramps, **header_kw):
    """A :class:`webbflow.datamodels.RampModel` holding copies of the ramps."""
    from webbflow.datamodels import INT_TIMES_DTYPE, RampModel

    nints = ramps.data.shape[0]
    int_times = np.zeros(nints, dtype=INT_TIMES_DTYPE)
    int_times["integration_number"] = np.arange(1, nints + 1)
    int_times["int_mid_MJD_UTC"] = 60000.0 + np.arange(nints) * 0.01
    return RampModel(meta=ramp_header(ramps, **header_kw), data=ramps.data.copy(),
                     groupdq=ramps.groupdq.copy(), pixeldq=ramps.pixeldq.copy(), int_times=int_times)


def write_reference(path, reftype, image, instrument="NIRCAM", detector="NRCA1", substrt=(1, 1), extra=None):
    """Write a gain/readnoise reference file (primary header + SCI float32)."""
    ny, nx = image.shape
    hdr = fits.Header()
    hdr["REFTYPE"] = reftype.upper()
    hdr["INSTRUME"] = instrument
    hdr["DETECTOR"] = detector
    hdr["SUBARRAY"] = "GENERIC"
    hdr["SUBSTRT1"] = substrt[0]
    hdr["SUBSTRT2"] = substrt[1]
    hdr["SUBSIZE1"] = nx
    hdr["SUBSIZE2"] = ny
    hdr["FASTAXIS"] = 1
    hdr["SLOWAXIS"] = 2
    for key, value in (extra or {}).items():
        hdr[key] = value
    fits.HDUList([fits.PrimaryHDU(header=hdr), fits.ImageHDU(np.asarray(image, np.float32), name="SCI")]).writeto(path)
    return str(path)


def reference_files(tmp_path, ramps, pad=(7, 5)):
    """Gain and readnoise references larger than the science array (a cutout is needed).

    The science array sits at offset ``pad`` (y, x) inside the reference;
    returns (refs dict, science SUBSTRT1/2).
    """
    ny, nx = ramps.gain.shape
    py, px = pad
    gain = np.full((ny + 2 * py, nx + 2 * px), 99.0, np.float32)
    rn = np.full_like(gain, 99.0)
    gain[py:py + ny, px:px + nx] = ramps.gain
    rn[py:py + ny, px:px + nx] = ramps.readnoise
    refs = {
        "gain": write_reference(tmp_path / "gain.fits", "gain", gain, extra={"GAINFACT": 1.0}),
        "readnoise": write_reference(tmp_path / "readnoise.fits", "readnoise", rn),
    }
    return refs, (px + 1, py + 1)
