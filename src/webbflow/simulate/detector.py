"""Detector geometry and nominal properties of the simulated detectors.

Coordinates follow the official science (DMS) frame: x is FITS axis 1 (the
last numpy axis), y is axis 2; SUBSTRT1/2 are 1-based. The read-out
("detector") frame is reached from it with FASTAXIS/SLOWAXIS exactly as
the official pipeline does: rows are read one after the other along the
slow axis, pixels within a row along the fast axis.

Reference pixels: NIR detectors (2048 x 2048) have 4 rows/columns on each
edge; the MIRI imager (1032 x 1024) has 4 reference columns at the left and
right. NIR full frames are read through 4 amplifiers of 512 fast-axis
columns, subarrays through one; MIRI interleaves its 4 amplifiers column by
column.

Subarray positions are close to the official ones (corner subarrays that
contain reference pixels); frame times follow the SIDECAR ASIC clocking
(10 us per pixel, 12 extra pixel times per row) for NIR detectors and the
official MIRI frame times.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["DetectorSpec", "Subarray", "DETECTORS", "SUBARRAYS", "get_subarray", "reference_pixel_mask",
           "to_detector", "to_science", "frame_time"]


@dataclass(frozen=True)
class DetectorSpec:
    """Nominal properties of one detector.

    Attributes
    ----------
    name : str
        The DETECTOR keyword value (NRCB1, NRCBLONG, NIS, NRS1, MIRIMAGE).
    instrument : str
        The INSTRUME value.
    shape : tuple of int
        Full-frame (ny, nx) in the science frame.
    fastaxis, slowaxis : int
        The FASTAXIS/SLOWAXIS keywords.
    gain : float
        Mean gain, e-/DN.
    readnoise : float
        Mean white (uncorrelated) read noise of a CDS difference, DN; one
        frame has readnoise / sqrt(2). The READNOISE reference, like a real
        one measured from CDS differences of darks, also holds the 1/f
        noise's share (see :func:`webbflow.simulate.ramps.one_over_f_cds_variance`).
    bias : float
        Mean bias level, DN.
    saturation : float
        Mean saturation level above bias, DN (NIR); MIRI: raw DN.
    dark_rate : float
        Mean dark current, DN/s.
    pixel_scale : float
        arcsec per pixel.
    ktc : float
        kTC (reset) noise, DN.
    one_over_f : float
        1/f noise rms per frame and pixel, DN (0 for MIRI); frames draw
        independent 1/f series.
    """

    name: str
    instrument: str
    shape: tuple
    fastaxis: int
    slowaxis: int
    gain: float
    readnoise: float
    bias: float
    saturation: float
    dark_rate: float
    pixel_scale: float
    ktc: float
    one_over_f: float

    @property
    def is_miri(self):
        """Whether this is a MIRI detector."""
        return self.instrument == "MIRI"

    @property
    def namps(self):
        """Number of amplifiers of a full-frame read-out."""
        return 4


DETECTORS = {
    "NRCB1": DetectorSpec("NRCB1", "NIRCAM", (2048, 2048), 1, -2, 2.05, 9.0, 12500.0, 40000.0, 0.003, 0.031, 16.0, 3.0),
    "NRCBLONG": DetectorSpec("NRCBLONG", "NIRCAM", (2048, 2048), 1, -2, 1.82, 8.0, 11500.0, 42000.0, 0.02, 0.063, 15.0, 3.0),
    "NIS": DetectorSpec("NIS", "NIRISS", (2048, 2048), -2, -1, 1.61, 11.0, 14000.0, 38000.0, 0.01, 0.0656, 18.0, 3.5),
    "NRS1": DetectorSpec("NRS1", "NIRSPEC", (2048, 2048), 2, 1, 1.0, 14.0, 13000.0, 40000.0, 0.005, 0.10, 25.0, 4.0),
    "MIRIMAGE": DetectorSpec("MIRIMAGE", "MIRI", (1024, 1032), 1, 2, 5.5, 6.0, 11000.0, 58000.0, 0.1, 0.11, 8.0, 0.0),
}


@dataclass(frozen=True)
class Subarray:
    """A subarray in the science frame (1-based start, sizes) and its read-out."""

    name: str
    xstart: int
    ystart: int
    xsize: int
    ysize: int
    noutputs: int

    @property
    def slices(self):
        """(y slice, x slice) of the subarray inside the full frame (0-based)."""
        return (slice(self.ystart - 1, self.ystart - 1 + self.ysize),
                slice(self.xstart - 1, self.xstart - 1 + self.xsize))


# (instrument, name) -> Subarray; FULL is added per detector by get_subarray.
SUBARRAYS = {
    ("NIRCAM", "SUB160"): Subarray("SUB160", 1, 1, 160, 160, 1),
    ("NIRCAM", "SUB320"): Subarray("SUB320", 1, 1, 320, 320, 1),
    ("NIRCAM", "SUB640"): Subarray("SUB640", 1, 1, 640, 640, 1),
    ("NIRISS", "SUB64"): Subarray("SUB64", 1985, 1985, 64, 64, 1),
    ("NIRISS", "SUB128"): Subarray("SUB128", 1921, 1921, 128, 128, 1),
    ("NIRISS", "SUB256"): Subarray("SUB256", 1793, 1793, 256, 256, 1),
    ("NIRSPEC", "SUBS200A1"): Subarray("SUBS200A1", 1, 1029, 2048, 64, 1),
    ("NIRSPEC", "SUB2048"): Subarray("SUB2048", 1, 1029, 2048, 32, 1),
    ("MIRI", "SUB64"): Subarray("SUB64", 1, 779, 72, 64, 1),
    ("MIRI", "SUB128"): Subarray("SUB128", 1, 889, 136, 128, 1),
    ("MIRI", "SUB256"): Subarray("SUB256", 413, 51, 256, 256, 1),
}

# Official MIRI imager frame times (s) in FAST mode.
_MIRI_TFRAME = {"FULL": 2.77504, "SUB256": 0.29952, "SUB128": 0.11904, "SUB64": 0.08512}


def get_subarray(detector, name):
    """The :class:`Subarray` ``name`` of ``detector`` (``FULL`` for the whole frame).

    Parameters
    ----------
    detector : DetectorSpec
    name : str

    Returns
    -------
    Subarray
    """
    if name == "FULL":
        ny, nx = detector.shape
        return Subarray("FULL", 1, 1, nx, ny, 1 if detector.is_miri else 4)
    try:
        return SUBARRAYS[(detector.instrument, name)]
    except KeyError:
        raise ValueError(f"no subarray {name!r} for {detector.instrument}") from None


def reference_pixel_mask(detector):
    """Full-frame boolean mask of the reference pixels (science frame).

    Parameters
    ----------
    detector : DetectorSpec

    Returns
    -------
    numpy.ndarray of bool, shape ``detector.shape``
    """
    mask = np.zeros(detector.shape, dtype=bool)
    mask[:, :4] = True
    mask[:, -4:] = True
    if not detector.is_miri:
        mask[:4, :] = True
        mask[-4:, :] = True
    return mask


def to_detector(array, fastaxis, slowaxis):
    """Science frame -> read-out frame (rows along the slow axis, columns fast)."""
    if abs(fastaxis) == 1:
        return array[..., ::int(np.sign(slowaxis)), ::int(np.sign(fastaxis))]
    return np.swapaxes(array[..., ::int(np.sign(fastaxis)), ::int(np.sign(slowaxis))], -2, -1)


def to_science(array, fastaxis, slowaxis):
    """Read-out frame -> science frame (the inverse of :func:`to_detector`)."""
    if abs(fastaxis) == 1:
        return array[..., ::int(np.sign(slowaxis)), ::int(np.sign(fastaxis))]
    return np.swapaxes(array, -2, -1)[..., ::int(np.sign(fastaxis)), ::int(np.sign(slowaxis))]


def readout_shape(detector, subarray):
    """(n_slow, n_fast) of a subarray in the read-out frame."""
    if abs(detector.fastaxis) == 1:
        return subarray.ysize, subarray.xsize
    return subarray.xsize, subarray.ysize


def frame_time(detector, subarray):
    """TFRAME in seconds.

    NIR: (n_fast / n_outputs + 12) pixel times per row, 10 us each, over
    n_slow + 1 rows for a full frame and n_slow + 2 rows for a subarray
    (this gives the official 10.73677 s for NIRCam FULL and 0.27864 s for
    SUB160). MIRI: the official FAST-mode frame times.
    """
    if detector.is_miri:
        return _MIRI_TFRAME[subarray.name]
    nslow, nfast = readout_shape(detector, subarray)
    extra_rows = 1 if subarray.name == "FULL" else 2
    return round((nfast / subarray.noutputs + 12) * (nslow + extra_rows) * 1e-5, 5)
