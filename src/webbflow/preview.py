"""Small greyscale PNG previews of 2-D products (rate, cal, i2d), like the archive's.

A preview is the SCI array with DO_NOT_USE and non-finite pixels masked,
averaged (box filter) down to at most ``size`` pixels on its long side, stretched
with an asinh curve between two percentiles of the unmasked pixels and
written as an 8-bit greyscale PNG. Masked pixels are black; row 1 of the
image is at the bottom, as in DS9 and the archive's previews.

The PNG holds only the image (no time stamp, no software name, fixed zlib
level), so the same product gives the same bytes on every run.
"""

import os

import numpy as np
from PIL import Image

from webbflow.atomic import publish, temporary_beside
from webbflow.dqflags import DO_NOT_USE
from webbflow.errors import InputError, OutputError

__all__ = ["PREVIEW_SIZE", "THUMBNAIL_SIZE", "stretch", "downsample", "preview_array", "write_preview"]

#: Long side (pixels) of a preview and of a thumbnail.
PREVIEW_SIZE = 512
THUMBNAIL_SIZE = 128

#: Default stretch: asinh between these percentiles of the unmasked pixels.
LOWER_PERCENTILE = 0.5
UPPER_PERCENTILE = 99.5
#: Where the asinh curve turns from linear to logarithmic, as a fraction of
#: the percentile range: small values bring out faint structure.
ASINH_SOFTENING = 0.1

#: zlib level of the PNG; fixed so the bytes do not depend on Pillow's default.
PNG_COMPRESS_LEVEL = 6


def stretch(values, lower=LOWER_PERCENTILE, upper=UPPER_PERCENTILE, softening=ASINH_SOFTENING):
    """Map values to [0, 1] with an asinh curve between two percentiles.

    Parameters
    ----------
    values : numpy.ndarray
        Finite values (masked pixels already removed or set to NaN; NaN
        values are ignored for the percentiles and stay NaN).
    lower, upper : float
        Percentiles (0-100) of the finite values mapped to 0 and 1.
    softening : float
        asinh softening as a fraction of the percentile range (> 0).

    Returns
    -------
    numpy.ndarray
        float64 array of the same shape, in [0, 1] (NaN where ``values`` is
        NaN). A constant image maps to 0.5. The mapping is monotonic
        non-decreasing.
    """
    if not 0 <= lower < upper <= 100:
        raise ValueError(f"percentiles must satisfy 0 <= lower < upper <= 100, got {lower}, {upper}")
    if softening <= 0:
        raise ValueError(f"softening must be positive, got {softening}")
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    out = np.full(values.shape, np.nan)
    if not finite.any():
        return out
    lo, hi = np.percentile(values[finite], [lower, upper])
    if hi <= lo:
        out[finite] = 0.5
        return out
    scaled = np.clip((values[finite] - lo) / (hi - lo), 0.0, 1.0)
    out[finite] = np.arcsinh(scaled / softening) / np.arcsinh(1.0 / softening)
    return out


def downsample(data, mask, size):
    """Average the unmasked pixels down to at most ``size`` pixels on the long side.

    Parameters
    ----------
    data : numpy.ndarray
        2-D image.
    mask : numpy.ndarray of bool
        True where a pixel must not be used.
    size : int
        Largest allowed long side (pixels).

    Returns
    -------
    numpy.ndarray
        float64 image whose long side is ``size`` (the short side scaled in
        proportion, at least 1). Each output pixel is the area-weighted mean
        of the unmasked input pixels it covers (a box filter), NaN where it
        covers none. Images already small enough are returned at full
        resolution (never enlarged), masked pixels NaN.
    """
    ny, nx = data.shape
    good = ~mask
    if max(ny, nx) <= size:
        return np.where(good, data, np.nan)
    scale = size / max(ny, nx)
    shape = (max(1, round(nx * scale)), max(1, round(ny * scale)))  # Pillow's (width, height)
    # resample the masked sum and the weights separately: their ratio is the mean of good pixels
    values = np.where(good, data, np.float32(0)).astype(np.float32, copy=False)
    values = Image.fromarray(values).resize(shape, Image.Resampling.BOX)
    weights = Image.fromarray(good.astype(np.float32)).resize(shape, Image.Resampling.BOX)
    values = np.asarray(values, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weights > 0, values / np.where(weights > 0, weights, 1.0), np.nan)


def preview_array(data, dq=None, size=PREVIEW_SIZE, lower=LOWER_PERCENTILE, upper=UPPER_PERCENTILE,
                  softening=ASINH_SOFTENING):
    """The 8-bit greyscale preview of a 2-D image, as it is written to the PNG.

    Parameters
    ----------
    data : numpy.ndarray
        2-D SCI array.
    dq : numpy.ndarray, optional
        DQ array of the same shape; pixels flagged DO_NOT_USE are masked.
    size : int
        Long side of the preview at most (pixels): :data:`PREVIEW_SIZE`, or
        :data:`THUMBNAIL_SIZE` for a thumbnail.
    lower, upper, softening
        The stretch, as for :func:`stretch`.

    Returns
    -------
    numpy.ndarray
        uint8 array, first row the top of the displayed image (FITS row
        ``ny``); masked pixels are 0.

    Raises
    ------
    ValueError
        When ``data`` is not a non-empty 2-D real array, ``dq`` is not an
        integer array of the same shape, or ``size`` is smaller than 1.
    """
    data = np.asarray(data)
    if data.ndim != 2 or data.size == 0:
        raise ValueError(f"a preview needs a non-empty 2-D image, got shape {data.shape}")
    if not (np.issubdtype(data.dtype, np.floating) or np.issubdtype(data.dtype, np.integer)):
        raise ValueError(f"a preview needs a real-valued image, got dtype {data.dtype}")
    if int(size) < 1:
        raise ValueError(f"preview size must be at least 1 pixel, got {size}")
    data = np.asarray(data, dtype=np.float32)  # products are float32; larger values become inf, masked
    mask = ~np.isfinite(data)
    if dq is not None:
        dq = np.asarray(dq)
        if dq.shape != data.shape:
            raise ValueError(f"DQ has shape {dq.shape}, SCI has {data.shape}")
        if not np.issubdtype(dq.dtype, np.integer):
            raise ValueError(f"DQ must hold integer flags, got dtype {dq.dtype}")
        mask |= (dq & DO_NOT_USE).astype(bool)
    small = downsample(data, mask, int(size))
    grey = stretch(small, lower, upper, softening)
    image = np.where(np.isfinite(grey), np.rint(np.nan_to_num(grey) * 255.0), 0.0).astype(np.uint8)
    return np.ascontiguousarray(image[::-1])


def _read_product(source):
    """SCI and DQ of a product given as a path or an in-memory model."""
    if isinstance(source, (str, os.PathLike)):
        from webbflow.datamodels import open_model

        path = os.fspath(source)
        model = open_model(path)
    else:
        model = source
        path = getattr(model, "path", None) or "<memory>"
    data = getattr(model, "data", None)
    if data is None:
        raise InputError(path, "has no SCI data to preview")
    if np.ndim(data) != 2:
        raise InputError(path, f"SCI has {np.ndim(data)} dimensions; a preview needs a 2-D image")
    return path, data, getattr(model, "dq", None)


def write_preview(source, path, size=PREVIEW_SIZE, **stretch_args):
    """Write the PNG preview of a 2-D product atomically.

    Parameters
    ----------
    source : str, os.PathLike or webbflow.datamodels.ImageModel
        The product (``_rate``, ``_cal``, ``_i2d`` ...) or its model.
    path : str or os.PathLike
        The PNG to write.
    size : int
        Long side at most: :data:`PREVIEW_SIZE` or :data:`THUMBNAIL_SIZE`.
    **stretch_args
        ``lower``, ``upper``, ``softening`` as for :func:`stretch`.

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    InputError
        The product cannot be read or is not a 2-D image.
    OutputError
        The PNG cannot be written there.
    """
    product, data, dq = _read_product(source)
    try:
        image = preview_array(data, dq, size=size, **stretch_args)
    except ValueError as exc:
        raise InputError(product, str(exc)) from None
    path = os.fspath(path)
    if os.path.isdir(path):
        raise OutputError(path, "is a directory, not a file name for the preview")
    try:
        tmp = temporary_beside(path, suffix=".png")
    except OSError as exc:
        raise OutputError(os.path.dirname(os.path.abspath(path)),
                          f"cannot write the preview there ({exc.strerror or exc})") from None
    try:
        # Pillow writes IHDR, IDAT and IEND only: no tIME or tEXt chunk
        Image.fromarray(image).save(tmp, format="PNG", compress_level=PNG_COMPRESS_LEVEL,
                                              optimize=False)
        publish(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(exc, OSError):
            raise OutputError(path, f"cannot write the preview ({exc.strerror or exc})") from None
        raise
    return path
