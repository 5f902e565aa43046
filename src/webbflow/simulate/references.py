"""Synthetic reference files in the official CRDS formats, and the detector they describe.

One :class:`DetectorModel` per detector holds full-frame maps drawn from a
seeded generator: bias, gain, read noise, linearity, saturation, dark
current, dead and hot pixels, IPC. The reference files are written from
these maps (as float32, exactly what the pipeline reads) and the simulator
makes its ramps from the same float32 values, so a perfect pipeline undoes
the detector exactly.

Files, named ``jwst_<instrument>_<reftype>_NNNN.fits`` (HDU layout of the
official reference models):

=========  ===================================================  ===============
reftype    extensions                                           model (DATAMODL)
=========  ===================================================  ===============
mask       DQ uint32, DQ_DEF                                    MaskModel
saturation SCI f32 (raw DN incl. bias), DQ, DQ_DEF              SaturationModel
superbias  SCI, ERR f32, DQ, DQ_DEF (NIR only)                  SuperBiasModel
linearity  COEFFS f32 (ncoeff, ny, nx), DQ, DQ_DEF              LinearityModel
dark       SCI, ERR f32 (ngroups, ny, nx), DQ 2-D, DQ_DEF (NIR) DarkModel
           SCI, ERR, DQ (nints, ngroups, ny, nx), DQ_DEF (MIRI) DarkMIRIModel
gain       SCI f32 (e-/DN)                                      GainModel
readnoise  SCI f32 (CDS read noise, DN, 1/f included)          ReadnoiseModel
ipc        SCI f32 3x3 deconvolution kernel                     IPCModel
reset      SCI, ERR f32 (nints, ngroups, ny, nx), DQ, DQ_DEF    ResetModel
rscd       RSCD_GROUP_SKIP table                                RSCDModel
=========  ===================================================  ===============

Darks and MIRI resets must match the science subarray (the official steps
do not cut them), so one is written per (detector, subarray) used, with
NFRAMES=1 and GROUPGAP=0 and enough frames for every exposure. The other
types are full frame (``SUBARRAY='FULL'``, selected for every subarray with
the CRDS match value ``GENERIC``) unless ``full_frame_refs=False``, which
writes them cut to each subarray used (smaller and faster; selected by
SUBARRAY).

The linearity COEFFS are the *correction* polynomial, applied by the
pipeline to the bias-subtracted signal (NIR) or to the raw signal (MIRI,
which has no superbias step); the simulator applies its numerical inverse.

The READNOISE reference is what a real one measured from CDS differences
of darks holds: the white read noise and the 1/f noise's share of a frame
difference, sqrt(white**2 + 2 * one_over_f**2) (NIR; MIRI has no 1/f
noise here). The simulator injects the white part and the 1/f noise
separately.
"""

import os
import tempfile
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits

from webbflow import dqflags
from webbflow.atomic import publish
from webbflow.simulate.detector import DETECTORS, get_subarray, reference_pixel_mask
from webbflow.simulate.program import set_card, subarray_cards
from webbflow.simulate.ramps import one_over_f_cds_variance

__all__ = ["DetectorModel", "SubarrayRefs", "write_references", "iter_references", "USEAFTER", "NOT_APPLICABLE", "ipc_kernels"]

USEAFTER = "2022-01-01T00:00:00"
_DATE = "2024-03-01T00:00:00.000"
AUTHOR = "webbflow simulator"

#: Reference types that detector1 steps (the official pipeline asks for every
#: type of every step it runs, whatever the instrument) get "not applicable"
#: for: the steps then skip themselves or, for refpix, use their default
#: algorithm (sirskernel, refpix: IRS2 only).
NOT_APPLICABLE = {
    "NIR": ("refpix", "sirskernel", "rscd", "reset", "emicorr", "persat", "trapdensity", "trappars",
            "pictureframe"),
    "MIRI": ("superbias", "refpix", "sirskernel", "emicorr", "persat", "trapdensity", "trappars", "pictureframe"),
}

# Linearity correction polynomial terms (c2, c3) and IPC nearest-neighbour coupling.
_LINEARITY = {"NIR": (1.5e-6, 1.0e-11), "MIRI": (6.0e-7, 3.0e-12)}
_IPC_ALPHA = {"NRCB1": 0.0060, "NRCBLONG": 0.0055, "NIS": 0.0065, "NRS1": 0.0050, "MIRIMAGE": 0.0080}

# RSCD groups to skip (integration 1, integrations 2+) per readout pattern.
_RSCD_SKIP = {"FASTR1": (1, 3), "FAST": (1, 3), "SLOWR1": (1, 1), "SLOW": (1, 1)}
_RSCD_SUBARRAYS = ("FULL", "BRIGHTSKY", "SUB256", "SUB128", "SUB64", "SLITLESSPRISM", "MASK1065", "MASK1140",
                   "MASK1550", "MASKLYOT")

# The one-frame-per-group pattern of each NIR instrument (the readout of NIR darks).


def ipc_kernels(alpha):
    """The IPC reference kernel and the coupling the detector applies.

    Parameters
    ----------
    alpha : float
        Fraction of a pixel's signal that IPC moves into each of its 4
        nearest neighbours (a tenth of that into each diagonal one).

    Returns
    -------
    coupling : numpy.ndarray, float64 (5, 5)
        What the detector applies: the inverse of ``deconvolution``
        (truncated at 5 x 5, where the next terms are ~alpha**3).
    deconvolution : numpy.ndarray, float64 (3, 3)
        The IPC reference (the official ipc step convolves the data with
        it): sum 1, centre 1 + 4.4 alpha, neighbours -alpha, diagonals
        -alpha / 10. Defining the reference first and the coupling as its
        inverse makes the deconvolution exact.
    """
    deconvolution = np.array([[-alpha / 10, -alpha, -alpha / 10],
                              [-alpha, 1.0 + 4.4 * alpha, -alpha],
                              [-alpha / 10, -alpha, -alpha / 10]])
    n = 32
    grid = np.zeros((n, n))
    grid[:3, :3] = deconvolution
    grid = np.roll(grid, (-1, -1), axis=(0, 1))
    inverse = np.real(np.fft.ifft2(1.0 / np.fft.fft2(grid)))
    coupling = np.roll(inverse, (2, 2), axis=(0, 1))[:5, :5]
    return coupling / coupling.sum(), deconvolution


@dataclass
class SubarrayRefs:
    """What the simulator needs for one (detector, subarray): float32 arrays as the pipeline reads them.

    Attributes
    ----------
    superbias : numpy.ndarray or None
        NIR superbias (DN); None for MIRI.
    bias_lin : numpy.ndarray or None
        MIRI: the bias level in the linearised domain (raw bias = its inverse).
    gain, readnoise, saturation : numpy.ndarray
        ``readnoise`` is the READNOISE reference (CDS, 1/f included).
    readnoise_white : numpy.ndarray
        The white part of the CDS read noise, what the simulator draws
        per frame (divided by sqrt(2)); the 1/f noise comes on top.
    coeffs : numpy.ndarray
        Linearity correction coefficients (ncoeff, ny, nx).
    dark : numpy.ndarray
        Dark signal per frame, (nints, nframes, ny, nx), linear DN (nints=1 for NIR).
    dark_tframe : float
        TFRAME the dark was made for.
    reset : numpy.ndarray or None
        MIRI reset anomaly (nints, ngroups, ny, nx), raw DN.
    rscd_skip : dict
        MIRI: readpatt -> (groups to skip in integration 1, in later integrations).
    coupling : numpy.ndarray
        The 5x5 IPC coupling kernel the detector applies.
    refmask, dead, hot : numpy.ndarray of bool
    mask_dq : numpy.ndarray of uint32
        The mask reference cut to the subarray.
    paths : dict
        reftype -> reference file path selected for this subarray.
    """

    superbias: np.ndarray
    bias_lin: np.ndarray
    gain: np.ndarray
    readnoise: np.ndarray
    readnoise_white: np.ndarray
    saturation: np.ndarray
    coeffs: np.ndarray
    dark: np.ndarray
    dark_tframe: float
    reset: np.ndarray
    rscd_skip: dict
    coupling: np.ndarray
    refmask: np.ndarray
    dead: np.ndarray
    hot: np.ndarray
    mask_dq: np.ndarray
    paths: dict = field(default_factory=dict)


_TILE = 128


class _TiledField:
    """Per-pixel random numbers that do not depend on which part of the detector is asked for.

    The full frame is cut into 128 x 128 tiles, each drawn from its own
    stream seeded by (seed, detector, map, tile), so a subarray's values are
    those of the full frame at the same pixels.
    """

    def __init__(self, seed, det_index, map_index, kind="normal"):
        self.key = (int(seed), 7919, int(det_index), int(map_index))
        self.kind = kind

    def region(self, ys, xs):
        out = np.empty((ys.stop - ys.start, xs.stop - xs.start), dtype=np.float32)
        for ty in range(ys.start // _TILE, (ys.stop - 1) // _TILE + 1):
            for tx in range(xs.start // _TILE, (xs.stop - 1) // _TILE + 1):
                rng = np.random.default_rng(self.key + (ty, tx))
                if self.kind == "normal":
                    tile = rng.standard_normal((_TILE, _TILE), dtype=np.float32)
                else:
                    tile = rng.random((_TILE, _TILE), dtype=np.float32)
                y0, y1 = max(ys.start, ty * _TILE), min(ys.stop, (ty + 1) * _TILE)
                x0, x1 = max(xs.start, tx * _TILE), min(xs.stop, (tx + 1) * _TILE)
                out[y0 - ys.start:y1 - ys.start, x0 - xs.start:x1 - xs.start] = \
                    tile[y0 - ty * _TILE:y1 - ty * _TILE, x0 - tx * _TILE:x1 - tx * _TILE]
        return out


def readout_coordinates(spec, ys, xs):
    """Full-frame read-out indices of the science-frame region ``ys, xs``.

    Returns
    -------
    slow, fast : numpy.ndarray
        Broadcastable index arrays: one is a column (varies along y), the
        other a row (varies along x).
    """
    ny, nx = spec.shape
    y = np.arange(ys.start, ys.stop)[:, None]
    x = np.arange(xs.start, xs.stop)[None, :]
    if abs(spec.fastaxis) == 1:
        slow = y if spec.slowaxis > 0 else ny - 1 - y
        fast = x if spec.fastaxis > 0 else nx - 1 - x
    else:
        slow = x if spec.slowaxis > 0 else nx - 1 - x
        fast = y if spec.fastaxis > 0 else ny - 1 - y
    return slow, fast


@dataclass
class DetectorMaps:
    """Per-pixel properties of a region of a detector (float32, as written to the references).

    ``readnoise`` is the READNOISE reference (white and 1/f CDS noise),
    ``readnoise_white`` its white part.
    """

    bias: np.ndarray
    gain: np.ndarray
    readnoise: np.ndarray
    readnoise_white: np.ndarray
    coeffs: np.ndarray
    saturation: np.ndarray
    dark_rate: np.ndarray
    refmask: np.ndarray
    dead: np.ndarray
    hot: np.ndarray
    mask: np.ndarray
    reset_amplitude: np.ndarray


class DetectorModel:
    """The detector behind the reference files: per-pixel maps for any region.

    Parameters
    ----------
    name : str
        DETECTOR value.
    seed : int
    """

    def __init__(self, name, seed):
        spec = DETECTORS[name]
        self.spec = spec
        self.family = "MIRI" if spec.is_miri else "NIR"
        det_index = sorted(DETECTORS).index(name)
        rng = np.random.default_rng([int(seed), 7919, det_index])
        self.amp_bias = rng.standard_normal(4) * 150.0
        self.parity_bias = rng.standard_normal() * 12.0
        kinds = [("bias", "normal"), ("gain", "normal"), ("rn", "normal"), ("nonlin", "normal"),
                 ("sat", "normal"), ("pixels", "uniform"), ("dark", "normal")]
        if spec.is_miri:
            kinds.append(("reset", "normal"))
        self._fields = {key: _TiledField(seed, det_index, i, kind) for i, (key, kind) in enumerate(kinds)}
        self.alpha = _IPC_ALPHA[name]
        self.coupling, self.deconvolution = ipc_kernels(self.alpha)

    def maps(self, ys, xs):
        """The :class:`DetectorMaps` of the science-frame region ``ys, xs`` (0-based slices)."""
        spec = self.spec
        f32 = np.float32
        draw = {key: field.region(ys, xs) for key, field in self._fields.items()}
        refmask = reference_pixel_mask(spec)[ys, xs]
        ny_full, nx_full = spec.shape
        nfast = nx_full if abs(spec.fastaxis) == 1 else ny_full
        slow, fast = readout_coordinates(spec, ys, xs)
        # amplifiers: 4 blocks along the fast axis (NIR) or 4 interleaved columns (MIRI)
        amp = fast % 4 if spec.is_miri else fast // (nfast // 4)
        along_fast = (self.amp_bias[amp] + (fast % 2) * self.parity_bias).astype(f32)
        along_slow = (spec.bias + 40.0 * np.sin(slow / 300.0)).astype(f32)
        bias = along_fast + along_slow + 25.0 * draw["bias"]
        gain = (spec.gain * (1.0 + 0.03 * draw["gain"])).astype(f32)
        readnoise_white = (spec.readnoise * np.clip(1.0 + 0.12 * draw["rn"], 0.5, None)).astype(f32)
        # the reference is measured from CDS differences of darks: the 1/f noise is in it
        readnoise = np.sqrt(readnoise_white.astype(np.float64) ** 2
                            + one_over_f_cds_variance(spec.one_over_f)).astype(f32)
        c2, c3 = _LINEARITY[self.family]
        coeffs = np.zeros((4,) + bias.shape, dtype=f32)
        coeffs[1] = 1.0
        coeffs[2] = c2 * (1.0 + 0.05 * draw["nonlin"])
        coeffs[3] = c3 * (1.0 + 0.04 * draw["nonlin"])
        sat = spec.saturation * (1.0 + 0.025 * draw["sat"])
        if not spec.is_miri:
            sat = sat + bias
        saturation = np.clip(sat, None, 60000.0).astype(f32)
        dead = (draw["pixels"] < 2e-4) & ~refmask
        hot = (draw["pixels"] > 1.0 - 6e-4) & ~refmask
        # amplifier glow: brightest where each amplifier starts reading
        glow = np.exp(-slow / 200.0).astype(f32) * np.exp(-(fast % (nfast // 4)) / 120.0).astype(f32)
        dark_rate = np.float32(spec.dark_rate) * (np.clip(1.0 + 0.3 * draw["dark"], 0.0, None) + 40.0 * glow)
        hot_level = (draw["pixels"][hot] - np.float32(1.0 - 6e-4)) / np.float32(6e-4)  # uniform in [0, 1)
        dark_rate[hot] = 10 ** (0.5 + hot_level)  # hot pixels: 3 - 30 DN/s
        dark_rate[refmask | dead] = 0.0
        mask = np.zeros(bias.shape, dtype=np.uint32)
        mask[refmask] |= dqflags.REFERENCE_PIXEL
        mask[dead] |= dqflags.PIXEL["DO_NOT_USE"] | dqflags.PIXEL["DEAD"]
        mask[hot] |= dqflags.PIXEL["HOT"]
        reset_amplitude = (45.0 + 8.0 * draw["reset"]).astype(f32) if spec.is_miri else None
        return DetectorMaps(bias, gain, readnoise, readnoise_white, coeffs, saturation, dark_rate.astype(f32), refmask, dead, hot,
                            mask, reset_amplitude)

    @staticmethod
    def dark_ramp(maps, nframes_total, tframe, nints=1):
        """Dark signal per frame (nints, nframes_total, ny, nx), linear DN, non-decreasing in time."""
        rate = maps.dark_rate
        t = (np.arange(nframes_total) + 1.0) * tframe
        transient = 2.0 * (1.0 - np.exp(-(np.arange(nframes_total) + 1.0) / 3.0))
        out = np.empty((nints, nframes_total) + rate.shape, dtype=np.float32)
        live = ~(maps.refmask | maps.dead)
        for i in range(nints):
            factor = 1.0 if i == 0 else 0.85
            out[i] = factor * rate[None] * t[:, None, None] + (transient * factor)[:, None, None] * live[None]
        return out

    @staticmethod
    def reset_ramp(maps, ngroups, nints=2):
        """MIRI reset anomaly (nints, ngroups, ny, nx), raw DN."""
        decay = np.exp(-np.arange(ngroups) / 1.6)
        out = np.empty((nints, ngroups) + maps.reset_amplitude.shape, dtype=np.float32)
        for i in range(nints):
            out[i] = maps.reset_amplitude[None] * decay[:, None, None] * (1.0 if i == 0 else 0.55)
        return out


# ---------------------------------------------------------------------------
# FITS writing
# ---------------------------------------------------------------------------
def _dq_def(names):
    rows = np.zeros(len(names), dtype=[("BIT", ">i4"), ("VALUE", ">u4"), ("NAME", "S40"), ("DESCRIPTION", "S80")])
    for i, name in enumerate(names):
        value = dqflags.PIXEL[name]
        rows[i] = (value.bit_length() - 1, value, name, name.replace("_", " ").capitalize())
    return fits.BinTableHDU(rows, name="DQ_DEF")


_DQ_NAMES = ("DO_NOT_USE", "DEAD", "HOT", "NO_SAT_CHECK", "NO_LIN_CORR", "REFERENCE_PIXEL")


def _header(spec, reftype, datamodl, descrip, sub, filename, extra=()):
    h = fits.Header()
    for key, value, comment in [
        ("DATE", _DATE, "UTC date file created"),
        ("ORIGIN", "webbflow", "organization responsible for creating file"),
        ("TIMESYS", "UTC", "principal time system for time-related keywords"),
        ("FILENAME", filename, "name of the file"),
        ("FILETYPE", reftype.upper(), "type of data in the file"),
        ("DATAMODL", datamodl, "type of data model"),
        ("TELESCOP", "JWST", "telescope used to acquire the data"),
        ("INSTRUME", spec.instrument, "instrument used to acquire the data"),
        ("DETECTOR", spec.name, "name of detector used to acquire the data"),
        ("REFTYPE", reftype.upper(), "reference file type"),
        ("AUTHOR", AUTHOR, "author of the reference file"),
        ("PEDIGREE", "DUMMY", "the pedigree of the reference file"),
        ("DESCRIP", descrip, "description of the reference file"),
        ("USEAFTER", USEAFTER, "use after date of the reference file"),
        *subarray_cards(spec, sub),
    ]:
        set_card(h, key, value, comment)
    for key, value in extra:
        h[key] = value
    h["HISTORY"] = "Synthetic reference file made by the webbflow simulator; not for real data."
    return h


def _image(data, name, **keys):
    hdu = fits.ImageHDU(np.ascontiguousarray(data), name=name)
    for key, value in keys.items():
        hdu.header[key] = value
    return hdu


def _write(path, primary, hdus):
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=".fits", dir=directory)
    os.close(fd)
    try:
        fits.HDUList([fits.PrimaryHDU(header=primary)] + hdus).writeto(tmp, overwrite=True)
        publish(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


class _Namer:
    """Hands out jwst_<instrument>_<reftype>_NNNN.fits names in order."""

    def __init__(self):
        self.counts = {}

    def __call__(self, instrument, reftype):
        key = (instrument.lower(), reftype)
        self.counts[key] = self.counts.get(key, 0) + 1
        return f"jwst_{instrument.lower()}_{reftype}_{self.counts[key]:04d}.fits"


def _static_refs(model, maps, sub, directory, namer, rules):
    """Write mask, saturation, superbias, linearity, gain, readnoise, ipc (and rscd) for ``sub``."""
    spec = model.spec
    match_sub = "GENERIC" if sub.name == "FULL" else sub.name
    written = {}

    def add(reftype, datamodl, descrip, hdus, extra=(), readpatt="ANY", match_readpatt="ANY"):
        name = namer(spec.instrument, reftype)
        path = os.path.join(directory, name)
        extra = ((("READPATT", readpatt),) if readpatt else ()) + tuple(extra)
        _write(path, _header(spec, reftype, datamodl, descrip, sub, name, extra), hdus)
        rules.setdefault(spec.instrument, {}).setdefault(reftype, []).append(
            ((spec.name, match_readpatt, match_sub), USEAFTER, path))
        written[reftype] = path

    add("mask", "MaskModel", "Bad pixel mask: reference, dead and hot pixels",
        [_image(maps.mask, "DQ"), _dq_def(("DO_NOT_USE", "DEAD", "HOT", "REFERENCE_PIXEL"))],
        extra=(("EXP_TYPE", "ANY"),))
    zero_dq = np.zeros(maps.bias.shape, dtype=np.uint32)
    add("saturation", "SaturationModel", "Saturation level, raw DN including the bias",
        [_image(maps.saturation, "SCI", BUNIT="DN"), _image(zero_dq, "DQ"), _dq_def(_DQ_NAMES)], readpatt=None)
    if not spec.is_miri:
        add("superbias", "SuperBiasModel", "Mean bias level",
            [_image(maps.bias, "SCI", BUNIT="DN"), _image(np.full(zero_dq.shape, 2.0, np.float32), "ERR"),
             _image(zero_dq, "DQ"), _dq_def(_DQ_NAMES)],
            extra=(("NOUTPUTS", sub.noutputs), ("BUNIT", "DN")))
    add("linearity", "LinearityModel", "Linearity correction polynomial for the measured signal",
        [_image(maps.coeffs, "COEFFS"), _image(zero_dq, "DQ"), _dq_def(_DQ_NAMES)], readpatt=None)
    add("gain", "GainModel", "Gain, electrons per DN",
        [_image(maps.gain, "SCI", BUNIT="electrons/DN")], readpatt=None, extra=(("BUNIT", "electrons/DN"),))
    add("readnoise", "ReadnoiseModel", "CDS read noise (white and 1/f), as measured from darks",
        [_image(maps.readnoise, "SCI", BUNIT="DN")], extra=(("NOUTPUTS", sub.noutputs), ("BUNIT", "DN")))
    add("ipc", "IPCModel", "IPC deconvolution kernel",
        [_image(model.deconvolution.astype(np.float32), "SCI")], readpatt=None)
    if spec.is_miri:
        rows = np.zeros(len(_RSCD_SUBARRAYS) * len(_RSCD_SKIP),
                        dtype=[("subarray", "S17"), ("readpatt", "S12"), ("group_skip1", ">i4"), ("group_skip", ">i4")])
        i = 0
        for subname in _RSCD_SUBARRAYS:
            for patt, (skip1, skip) in _RSCD_SKIP.items():
                rows[i] = (subname, patt, skip1, skip)
                i += 1
        add("rscd", "RSCDModel", "RSCD: initial groups to skip per integration",
            [fits.BinTableHDU(rows, name="RSCD_GROUP_SKIP")], readpatt=None)
    return written


def write_references(cache_dir, exposures, seed, full_frame_refs=True):
    """Write every reference file the exposures need and describe the CRDS rules.

    Parameters
    ----------
    cache_dir : str or os.PathLike
        The CRDS cache root; files go to ``references/jwst/<instrument>/``.
    exposures : list of Exposure
    seed : int
    full_frame_refs : bool, optional
        Full-frame static references (default) or ones cut to each subarray
        used. The pixel values are the same either way.

    Returns
    -------
    rules : dict
        For :func:`webbflow.refs.cache.write_context`.
    subarray_refs : dict
        ``(detector, subarray) -> SubarrayRefs`` for the simulator.
    """
    rules, out = {}, {}
    for det_name, refs in iter_references(cache_dir, exposures, seed, rules, full_frame_refs):
        for sub_name, value in refs.items():
            out[(det_name, sub_name)] = value
    return rules, out


def iter_references(cache_dir, exposures, seed, rules, full_frame_refs=True):
    """Write the references detector by detector (in a fixed order), adding to ``rules``.

    Yields
    ------
    detector : str
    refs : dict
        ``subarray name -> SubarrayRefs`` of that detector (so that a caller
        can simulate its exposures and let the arrays go before the next).
    """
    namer = _Namer()
    by_detector = {}
    for exp in exposures:
        by_detector.setdefault(exp.detector, []).append(exp)
    # a fixed order, whatever the order of the program
    for det_name in sorted(by_detector):
        det_exps = by_detector[det_name]
        spec = DETECTORS[det_name]
        directory = os.path.join(os.fspath(cache_dir), "references", "jwst", spec.instrument.lower())
        model = DetectorModel(det_name, seed)
        static_full = None
        if full_frame_refs:
            full = get_subarray(spec, "FULL")
            static_full = _static_refs(model, model.maps(*full.slices), full, directory, namer, rules)
        refs = {}
        for sub_name in sorted({e.subarray for e in det_exps}):
            sub = get_subarray(spec, sub_name)
            sub_exps = [e for e in det_exps if e.subarray == sub_name]
            maps = model.maps(*sub.slices)
            static = static_full if full_frame_refs else _static_refs(model, maps, sub, directory, namer, rules)
            paths = dict(static)
            tframe = sub_exps[0].tframe
            nframes_total = max(e.frames_per_int for e in sub_exps)
            dark = model.dark_ramp(maps, nframes_total, tframe, 2 if spec.is_miri else 1)
            paths["dark"] = _write_dark(spec, sub, dark, directory, namer, rules, sub_exps)
            reset = None
            if spec.is_miri:
                reset = model.reset_ramp(maps, min(max(e.ngroups for e in sub_exps), 8))
                paths["reset"] = _write_reset(spec, sub, reset, directory, namer, rules, sub_exps[0].readpatt)
            refs[sub_name] = SubarrayRefs(
                superbias=None if spec.is_miri else maps.bias,
                bias_lin=_linearised(maps.coeffs, maps.bias) if spec.is_miri else None,
                gain=maps.gain, readnoise=maps.readnoise, readnoise_white=maps.readnoise_white,
                saturation=maps.saturation, coeffs=maps.coeffs,
                dark=dark, dark_tframe=tframe, reset=reset, rscd_skip=dict(_RSCD_SKIP) if spec.is_miri else {},
                coupling=model.coupling, refmask=maps.refmask, dead=maps.dead, hot=maps.hot, mask_dq=maps.mask,
                paths=paths)
        for reftype in NOT_APPLICABLE[model.family]:
            rules.setdefault(spec.instrument, {}).setdefault(reftype, "N/A")
        yield det_name, refs


def _linearised(coeffs, raw):
    """The correction polynomial applied to ``raw`` (MIRI: the linearised bias)."""
    c = coeffs.astype(np.float64)
    x = raw.astype(np.float64)
    result = c[-1] * x
    for j in range(c.shape[0] - 2, 0, -1):
        result = (result + c[j]) * x
    return result + c[0]


def _write_dark(spec, sub, dark, directory, namer, rules, sub_exps):
    name = namer(spec.instrument, "dark")
    path = os.path.join(directory, name)
    miri = spec.is_miri
    data = dark if miri else dark[0]
    err = np.full(data.shape, 0.05, dtype=np.float32)
    # NIR darks are read out in RAPID but serve every pattern (dark_current averages their frames
    # into the exposure's groups): READPATT says ANY, as the rule that selects them
    readpatt = sub_exps[0].readpatt if miri else "ANY"
    extra = [("READPATT", readpatt), ("EXP_TYPE", "ANY"), ("NFRAMES", 1), ("GROUPGAP", 0),
             ("NGROUPS", int(data.shape[-3])), ("NOUTPUTS", sub.noutputs)]
    if miri:
        extra.append(("NINTS", int(data.shape[0])))
        dq = np.zeros(data.shape, dtype=np.uint32)
        model_name = "DarkMIRIModel"
    else:
        dq = np.zeros(data.shape[-2:], dtype=np.uint32)
        model_name = "DarkModel"
    header = _header(spec, "dark", model_name, f"Dark ramp for {sub.name}, one frame per group", sub, name, extra)
    _write(path, header, [_image(data, "SCI", BUNIT="DN"), _image(err, "ERR"), _image(dq, "DQ"), _dq_def(_DQ_NAMES)])
    match = (spec.name, readpatt if miri else "ANY", sub.name)
    rules.setdefault(spec.instrument, {}).setdefault("dark", []).append((match, USEAFTER, path))
    return path


def _write_reset(spec, sub, reset, directory, namer, rules, readpatt):
    name = namer(spec.instrument, "reset")
    path = os.path.join(directory, name)
    extra = [("READPATT", readpatt), ("NGROUPS", int(reset.shape[1])), ("NINTS", int(reset.shape[0]))]
    header = _header(spec, "reset", "ResetModel", f"Reset anomaly for {sub.name}", sub, name, extra)
    err = np.full(reset.shape, 0.1, dtype=np.float32)
    dq = np.zeros(reset.shape[-2:], dtype=np.uint32)
    _write(path, header, [_image(reset, "SCI", BUNIT="DN"), _image(err, "ERR"), _image(dq, "DQ"), _dq_def(_DQ_NAMES)])
    rules.setdefault(spec.instrument, {}).setdefault("reset", []).append(
        ((spec.name, readpatt, sub.name), USEAFTER, path))
    return path
