"""resample: drizzle calibrated images onto one undistorted sky grid (an ``_i2d`` image).

The output grid is a gnomonic (TAN) projection covering the footprints of
all inputs, north up by default, with the pixel scale of the first input
times ``pixel_scale_ratio`` (or ``pixel_scale`` in arcsec). Each input is
drizzled (:mod:`webbflow.steps.image3._drizzle_kernels`) with a weight
per pixel: ``ivm`` (the inverse read-noise variance, VAR_RNOISE) or
``exptime`` (TMEASURE, else EFFEXPTM), zero where the DQ has a bit that
``good_bits`` does not allow or the data are not finite.

Outputs, in the conventions of the official step:

SCI
    The weighted mean surface brightness (MJy/sr); ``fillval`` where no
    input landed.
WHT
    The sum of the drop weights (input weight x overlap fraction).
CON
    Context bits: bit ``k`` of plane ``p`` is set where input ``32 p + k``
    contributed.
VAR_POISSON, VAR_RNOISE, VAR_FLAT
    Each input's error ``sqrt(var)`` is drizzled with the same drops, giving
    a per-input variance ``v_i`` on the output grid; inputs are combined as
    ``sum(v_i W_i**2) / sum(W_i)**2`` with ``W_i`` the per-pixel weight of
    the input (``1 / v_i(rnoise)`` for ``ivm``, the exposure time for
    ``exptime``), then divided by ``pixel_scale_ratio**2`` (a larger output
    pixel averages that many more input pixels).
ERR
    ``sqrt`` of the sum of the variances.
"""

import math
import os
import warnings

import numpy as np

from webbflow import dqflags
from webbflow.datamodels.i2d import I2dModel
from webbflow.datamodels.wcs import require_wcs
from webbflow.errors import InputError
from webbflow.steps.detector1._common import COMPLETE, merge_params, set_status

NAME = "resample"
STATUS_KEYWORD = "S_RESAMP"
REFTYPES = ()
DEFAULTS = {
    "skip": False,
    "pixfrac": 1.0,
    "kernel": "square",
    "fillval": "NaN",
    "weight_type": "ivm",
    "good_bits": "~DO_NOT_USE+NON_SCIENCE",
    "pixel_scale_ratio": 1.0,
    "pixel_scale": None,
    "rotation": 0.0,  # north up (the official step's default, None, aligns with the first input)
    "crval": None,
    "crpix": None,
    "output_shape": None,
    "output_wcs": None,
    "pixmap_stepsize": 8,
    "enable_ctx": True,
    "enable_err": True,
}

VARIANCES = ("var_poisson", "var_rnoise", "var_flat")
_ARCSEC = 1.0 / 3600.0


def run(models, params=None):
    """Drizzle one or many calibrated images into one resampled image.

    Parameters
    ----------
    models : ImageModel, str, or a list of them
        Calibrated images with a WCS (``model.wcs``); file names are opened
        one at a time so that only one input is in memory.
    params : dict, optional
        See DEFAULTS: ``pixfrac`` (0..1], ``kernel`` (square, turbo, point),
        ``fillval``, ``weight_type`` (ivm, exptime), ``good_bits`` (DQ bits
        that do not exclude a pixel: an int, or names/ints joined with ``+``
        or ``,``, ``~`` inverting), and the output grid: ``pixel_scale_ratio``,
        ``pixel_scale`` (arcsec), ``rotation`` (PA of +y, degrees; None: that
        of the first input), ``crval`` (RA, Dec), ``crpix`` (0-based x, y),
        ``output_shape`` ([nx, ny]), ``output_wcs`` (a gwcs or an ASDF file
        with one under ``wcs``; overrides the others); ``pixmap_stepsize`` (input pixels between exactly
        transformed grid points).

    Returns
    -------
    I2dModel

    Raises
    ------
    InputError
        When an input has no WCS, is not 2-D, or the parameters are invalid.
    """
    from webbflow.steps.image3 import _drizzle_kernels as kern

    params = merge_params(DEFAULTS, params)
    _check_params(params)
    inputs = list(models) if isinstance(models, (list, tuple)) else [models]
    if not inputs:
        raise InputError(None, "resample needs at least one calibrated image")
    peeks = [_peek(item) for item in inputs]  # (wcs, shape, primary header, SCI header): no arrays read
    footprints = [footprint(wcs, shape) for wcs, shape, _, _ in peeks]
    headers = [(meta, sci) for _, _, meta, sci in peeks]
    first_wcs, first_shape, _, first_sci = peeks[0]
    native = native_pixel_scale(first_wcs, first_shape, first_sci)
    if params["output_wcs"]:
        out_wcs = _custom_wcs(params["output_wcs"])
        out_shape = _wcs_shape(out_wcs)
        pscale = measured_pixel_scale(out_wcs, (out_shape[1] - 1) / 2, (out_shape[0] - 1) / 2)
    else:
        pscale = float(params["pixel_scale"]) if params["pixel_scale"] else native * params["pixel_scale_ratio"]
        rotation = params["rotation"]
        if rotation is None:
            rotation = _position_angle(first_wcs, first_shape)
        out_wcs, out_shape = output_grid(footprints, pscale, rotation, crval=params["crval"],
                                         crpix=params["crpix"], shape=params["output_shape"])
    input_scale = _photometric_scale(first_sci) or native
    pscale_ratio = pscale / input_scale
    oy, ox = out_shape
    nplanes = (len(inputs) + 31) // 32 if params["enable_ctx"] else 1
    num = np.zeros(out_shape, np.float32)
    wht = np.zeros(out_shape, np.float32)
    con = np.zeros((nplanes, oy, ox), np.int32)
    nvar = len(VARIANCES) if params["enable_err"] else 0
    var_sum = np.zeros((nvar, oy, ox), np.float32)
    var_wt = np.zeros((oy, ox) if nvar else (0, 0), np.float32)  # one weight sum serves all variances
    kernel = kern.KERNELS[params["kernel"]]
    step = int(params["pixmap_stepsize"])
    present = set()  # the variance arrays some input has
    for index, (item, peek) in enumerate(zip(inputs, peeks, strict=True)):
        model = _load(item, peek)
        present.update(_drizzle_one(model, index if params["enable_ctx"] else 0, out_wcs, out_shape, params,
                                    kernel, step, pscale_ratio, num, wht, con, var_sum, var_wt) or ())
        del model
    # in place: num becomes SCI, var_sum the variances
    err = kern.finalize(num, wht, var_sum, var_wt, 1.0 / pscale_ratio**2, _fillval(params["fillval"]))
    del var_wt
    arrays = {"data": num, "wht": wht, "con": con if params["enable_ctx"] else None, "err": err}
    if nvar:
        arrays.update(zip(VARIANCES, var_sum, strict=True))
        for name in set(VARIANCES) - present:
            arrays[name][:] = np.nan  # no input has it
    else:
        nan = np.full(out_shape, np.nan, np.float32)
        arrays.update(err=nan, var_poisson=nan, var_rnoise=nan, var_flat=nan)
    meta, sci_meta = _output_headers(headers, params, out_wcs, out_shape, pscale, pscale_ratio)
    result = I2dModel(meta=meta, sci_meta=sci_meta, **arrays)
    result.wcs = out_wcs
    return set_status(result, STATUS_KEYWORD, COMPLETE)


def _check_params(params):
    from webbflow.steps.image3._drizzle_kernels import KERNELS

    if params["kernel"] not in KERNELS:
        raise InputError(None, f"resample kernel {params['kernel']!r} is not one of {', '.join(KERNELS)}")
    if not 0.0 < float(params["pixfrac"]) <= 1.0:
        raise InputError(None, f"resample pixfrac={params['pixfrac']} must be in (0, 1]")
    if params["weight_type"] not in ("ivm", "exptime"):
        raise InputError(None, f"resample weight_type={params['weight_type']!r} must be 'ivm' or 'exptime'")
    if not float(params["pixel_scale_ratio"]) > 0 or (params["pixel_scale"] is not None
                                                      and not float(params["pixel_scale"]) > 0):
        raise InputError(None, "resample pixel_scale_ratio and pixel_scale must be positive")
    if int(params["pixmap_stepsize"]) < 1:
        raise InputError(None, "resample pixmap_stepsize must be >= 1")
    good_pixel_mask(np.zeros(1, np.uint32), params["good_bits"])  # parse now: a bad name fails before any work


class _Input:
    """The arrays resample reads from a cal file (no ERR, no AREA), with the WCS read at the first pass."""

    def __init__(self, path, wcs, meta, sci_meta, **arrays):
        self.path, self.wcs, self.meta, self.sci_meta = path, wcs, meta, sci_meta
        self.data = arrays["data"]
        self.dq = arrays.get("dq")
        for name in VARIANCES:
            setattr(self, name, arrays.get(name))
        if self.dq is None:
            self.dq = np.zeros(self.data.shape, np.uint32)

    def release(self):
        """Drop the arrays (the kernels work from copies)."""
        self.data = self.dq = None
        for name in VARIANCES:
            setattr(self, name, None)


def _load(item, peek):
    """An input's arrays: the model itself, or only the needed extensions of a file (read one at a time)."""
    if not isinstance(item, (str, os.PathLike)):
        if item.data is None or item.data.ndim != 2:
            raise InputError(getattr(item, "path", None), "resample needs 2-D calibrated images (_cal)")
        return item
    from astropy.io import fits

    path = os.fspath(item)
    wcs, shape, meta, sci = peek
    arrays = {}
    try:
        # memory-mapped and unscaled: each array is converted once, straight to what the kernels take
        with fits.open(path, memmap=True, do_not_scale_image_data=True) as hdul:
            for attr, extname, dtype in (("data", "SCI", np.float32), ("dq", "DQ", np.uint32),
                                         ("var_rnoise", "VAR_RNOISE", np.float32),
                                         ("var_poisson", "VAR_POISSON", np.float32),
                                         ("var_flat", "VAR_FLAT", np.float32)):
                if extname not in hdul or hdul[extname].data is None:
                    continue
                hdu = hdul[extname]
                value = hdu.data
                if value.shape != shape:
                    raise InputError(path, f"{extname} has shape {value.shape}, SCI has {shape}")
                bzero, bscale = hdu.header.get("BZERO", 0), hdu.header.get("BSCALE", 1)
                if value.dtype.kind == "i" and bscale == 1 and bzero == 2 ** (8 * value.dtype.itemsize - 1):
                    # unsigned integers stored signed with an offset (the FITS convention): flip the sign bit
                    raw = np.array(value, dtype=value.dtype.newbyteorder("="), order="C")
                    unsigned = raw.view(raw.dtype.str.replace("i", "u"))
                    unsigned ^= unsigned.dtype.type(1 << (8 * raw.dtype.itemsize - 1))
                    arrays[attr] = unsigned.astype(dtype, copy=False)
                elif bzero != 0 or bscale != 1:
                    arrays[attr] = (np.asarray(value, np.float64) * bscale + bzero).astype(dtype)
                else:
                    arrays[attr] = np.array(value, dtype=dtype, order="C")  # native byte order for the kernels
                del value, hdu
    except InputError:
        raise
    except Exception as exc:
        text = str(exc).strip().splitlines()
        raise InputError(path, f"not a readable calibrated image ({text[0] if text else type(exc).__name__})") from None
    if "data" not in arrays:
        raise InputError(path, "has no SCI extension")
    return _Input(path, wcs, meta, sci, **arrays)


def _peek(item):
    """(wcs, shape, primary header, SCI header) of an input, without reading its arrays."""
    if not isinstance(item, (str, os.PathLike)):
        if item.data is None or item.data.ndim != 2:
            raise InputError(getattr(item, "path", None), "resample needs 2-D calibrated images (_cal)")
        return require_wcs(item, NAME), item.data.shape, item.meta.copy(), item.sci_meta.copy()
    from astropy.io import fits

    from webbflow.datamodels.wcs import read_wcs

    path = os.fspath(item)
    if not os.path.isfile(path):
        raise InputError(path, "file does not exist")
    try:
        with fits.open(path, memmap=True) as hdul:
            meta = hdul[0].header.copy()
            sci = hdul["SCI"].header.copy()
    except Exception as exc:
        text = str(exc).strip().splitlines()
        raise InputError(path, f"not a readable calibrated image ({text[0] if text else type(exc).__name__})") from None
    if sci.get("NAXIS") != 2:
        raise InputError(path, "resample needs 2-D calibrated images (_cal)")
    wcs = read_wcs(path)
    if wcs is None:
        raise InputError(path, "has no WCS (no meta.wcs in its ASDF extension); resample needs a calibrated image "
                               "that went through assign_wcs (image2)")
    return wcs, (int(sci["NAXIS2"]), int(sci["NAXIS1"])), meta, sci


def good_pixel_mask(dq, good_bits):
    """Which pixels a DQ array lets through (True = usable).

    Parameters
    ----------
    dq : ndarray of uint32
    good_bits : int, str or None
        Bits that do not exclude a pixel: an integer, or flag names and/or
        integers joined by ``+``, ``,`` or ``|``; a leading ``~`` means
        "all bits except these". None: every bit excludes.

    Returns
    -------
    ndarray of bool
    """
    ignore = _parse_bits(good_bits)
    return (np.asarray(dq, np.uint32) & np.uint32(~ignore & 0xFFFFFFFF)) == 0


def _parse_bits(good_bits):
    if good_bits is None:
        return 0
    if isinstance(good_bits, (int, np.integer)):
        return int(good_bits) & 0xFFFFFFFF
    text = str(good_bits).strip()
    if text.upper() in ("", "NONE"):
        return 0
    invert = text.startswith("~")
    text = text.lstrip("~")
    value = 0
    for part in text.replace(",", "+").replace("|", "+").split("+"):
        part = part.strip()
        if not part:
            continue
        if part.isdigit():
            value |= int(part)
        elif part.upper() in dqflags.PIXEL:
            value |= dqflags.PIXEL[part.upper()]
        else:
            raise InputError(None, f"resample good_bits: {part!r} is not a DQ flag name or number")
    return (~value if invert else value) & 0xFFFFFFFF


def input_weights(model, weight_type, good_bits):
    """The drizzle weight of each input pixel (float32), zero for pixels not used.

    ``ivm``: 1 / VAR_RNOISE (0 where it is not positive and finite; 1 for
    all pixels when the image has no read-noise variance: absent, as the
    official step does, or all zero); ``exptime``: TMEASURE, else EFFEXPTM, else 1.
    Pixels with a DQ bit outside ``good_bits`` or non-finite data get 0.
    """
    from webbflow.steps.image3._drizzle_kernels import pixel_weights

    bad = np.uint32(~_parse_bits(good_bits) & 0xFFFFFFFF)
    dq = np.asarray(model.dq, np.uint32)
    var = model.var_rnoise
    if weight_type == "ivm" and (var is None or not np.any(var)):
        return pixel_weights(model.data, dq, bad, model.data, False, 1.0)
    if weight_type == "ivm":
        return pixel_weights(model.data, dq, bad, var, True, 1.0)
    return pixel_weights(model.data, dq, bad, model.data, False, _exposure_time(model.meta))


def _exposure_time(meta):
    for key in ("TMEASURE", "EFFEXPTM", "EXPTIME"):
        value = meta.get(key)
        if isinstance(value, (int, float)) and value > 0:
            return float(value)
    return 1.0


def _fillval(value):
    if value is None:
        return np.nan
    if isinstance(value, str):
        if value.strip().upper() in ("NAN", "INDEF", ""):
            return np.nan
        return float(value)
    return float(value)


# -- geometry -------------------------------------------------------------------

def footprint(wcs, shape, per_side=32):
    """RA, Dec (degrees) of points along the edges of an image (pixel edges, not centres).

    Parameters
    ----------
    wcs : gwcs.WCS
    shape : tuple of int
        (ny, nx) of the image.
    per_side : int
        Points per edge (the edges of a distorted image are curved).

    Returns
    -------
    (ndarray, ndarray)
    """
    ny, nx = shape
    t = np.linspace(0.0, 1.0, per_side, endpoint=False)
    x = np.concatenate([-0.5 + nx * t, np.full(per_side, nx - 0.5), nx - 0.5 - nx * t, np.full(per_side, -0.5)])
    y = np.concatenate([np.full(per_side, -0.5), -0.5 + ny * t, np.full(per_side, ny - 0.5), ny - 0.5 - ny * t])
    ra, dec = wcs.forward_transform(x, y)
    return np.asarray(ra, float), np.asarray(dec, float)


def measured_pixel_scale(wcs, x, y):
    """The linear pixel scale (arcsec) of ``wcs`` at pixel (x, y): sqrt of the pixel's area on the sky."""
    ra, dec = wcs.forward_transform(np.array([x, x + 0.5, x - 0.5, x, x]), np.array([y, y, y, y + 0.5, y - 0.5]))
    cosd = math.cos(math.radians(dec[0]))
    dra = np.unwrap(np.radians(np.asarray(ra)))
    jx = np.array([(dra[1] - dra[2]) * cosd, math.radians(dec[1] - dec[2])])
    jy = np.array([(dra[3] - dra[4]) * cosd, math.radians(dec[3] - dec[4])])
    return math.degrees(math.sqrt(abs(jx[0] * jy[1] - jx[1] * jy[0]))) * 3600.0


def native_pixel_scale(wcs, shape, sci_meta):
    """An input's pixel scale (arcsec) measured from its WCS at the reference point (RA_REF, DEC_REF of
    the SCI header; the image centre without them)."""
    ny, nx = shape
    x, y = (nx - 1) / 2.0, (ny - 1) / 2.0
    ra_ref, dec_ref = sci_meta.get("RA_REF"), sci_meta.get("DEC_REF")
    if isinstance(ra_ref, (int, float)) and isinstance(dec_ref, (int, float)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                px, py = wcs.backward_transform(ra_ref, dec_ref)
            if np.isfinite(px) and np.isfinite(py):
                x, y = float(px), float(py)
        except NotImplementedError:
            pass
    return measured_pixel_scale(wcs, x, y)


def _photometric_scale(sci_meta):
    """sqrt(PIXAR_A2) (arcsec), the scale the official step takes as the input's for the pixel-scale ratio."""
    area = sci_meta.get("PIXAR_A2")
    if isinstance(area, (int, float)) and area > 0:
        return math.sqrt(area)
    area = sci_meta.get("PIXAR_SR")
    if isinstance(area, (int, float)) and area > 0:
        return math.degrees(math.sqrt(area)) * 3600.0
    return None


def _position_angle(wcs, shape, at=None):
    """Position angle (degrees E of N) of the +y axis of an image at its centre (or at pixel ``at``)."""
    ny, nx = shape
    x, y = ((nx - 1) / 2.0, (ny - 1) / 2.0) if at is None else at
    ra, dec = wcs.forward_transform(np.array([x, x]), np.array([y - 0.5, y + 0.5]))
    east = math.radians(ra[1] - ra[0]) * math.cos(math.radians(dec[0]))
    north = math.radians(dec[1] - dec[0])
    return math.degrees(math.atan2(east, north))


def _fiducial(footprints):
    """The centre of the footprints' RA and Dec ranges (degrees), RA wrapped around the first point."""
    ra = np.concatenate([f[0] for f in footprints])
    dec = np.concatenate([f[1] for f in footprints])
    ra = ra[0] + (ra - ra[0] + 180.0) % 360.0 - 180.0
    return float((ra.min() + ra.max()) / 2.0 % 360.0), float((dec.min() + dec.max()) / 2.0)


def tan_wcs(crval, crpix, pscale, rotation, shape):
    """A gwcs with a gnomonic projection: pixel (0-based) -> ICRS RA, Dec.

    Parameters
    ----------
    crval : (float, float)
        RA, Dec (degrees) of the reference pixel.
    crpix : (float, float)
        0-based x, y of the reference pixel.
    pscale : float
        Pixel scale (arcsec).
    rotation : float
        Position angle of +y (degrees, east of north); 0 is north up, east left.
    shape : (int, int)
        (ny, nx); sets the bounding box and pixel_shape.
    """
    import gwcs
    from astropy import coordinates
    from astropy import units as u
    from astropy.modeling.models import AffineTransformation2D, Pix2Sky_TAN, RotateNative2Celestial, Shift
    from gwcs import coordinate_frames as cf

    theta = math.radians(rotation)
    s = pscale * _ARCSEC
    cd = s * np.array([[-math.cos(theta), math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    transform = ((Shift(-crpix[0]) & Shift(-crpix[1])) | AffineTransformation2D(matrix=cd)
                 | Pix2Sky_TAN() | RotateNative2Celestial(crval[0], crval[1], 180.0))
    detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    world = cf.CelestialFrame(reference_frame=coordinates.ICRS(), name="world")
    wcs = gwcs.WCS([(detector, transform), (world, None)])
    ny, nx = shape
    wcs.bounding_box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
    wcs.pixel_shape = (nx, ny)
    return wcs


def output_grid(footprints, pscale, rotation, crval=None, crpix=None, shape=None):
    """The output WCS and shape (ny, nx) that cover all footprints.

    Parameters
    ----------
    footprints : list of (ra, dec) arrays
    pscale : float
        Output pixel scale (arcsec).
    rotation : float
        Position angle of +y (degrees).
    crval : (float, float), optional
        Reference RA, Dec; default the centre of the footprints' ranges.
    crpix : (float, float), optional
        0-based pixel of ``crval``; default puts the footprints' lower-left edge at pixel -0.5.
    shape : (int, int), optional
        Output [nx, ny] (the official order); default just covers the footprints.
    """
    crval = tuple(float(v) for v in crval) if crval is not None else _fiducial(footprints)
    probe = tan_wcs(crval, (0.0, 0.0), pscale, rotation, (1, 1))
    ra = np.concatenate([f[0] for f in footprints])
    dec = np.concatenate([f[1] for f in footprints])
    u_, v_ = probe.forward_transform.inverse(ra, dec)
    if crpix is None:
        if shape is None:
            crpix = (-0.5 - u_.min(), -0.5 - v_.min())
        else:  # centre the footprints in the given shape
            crpix = ((shape[0] - 1) / 2.0 - (u_.min() + u_.max()) / 2.0,
                     (shape[1] - 1) / 2.0 - (v_.min() + v_.max()) / 2.0)
    crpix = (float(crpix[0]), float(crpix[1]))
    if shape is None:
        # tolerate round-off: a footprint ending 1e-6 past an edge adds no column
        nx = max(int(math.ceil(u_.max() + crpix[0] + 0.5 - 1e-6)), 1)
        ny = max(int(math.ceil(v_.max() + crpix[1] + 0.5 - 1e-6)), 1)
    else:
        nx, ny = int(shape[0]), int(shape[1])
    if nx < 2 or ny < 2 or nx * ny > 2**31:
        raise InputError(None, f"resample output shape {nx} x {ny} is not usable (check pixel_scale and crpix)")
    return tan_wcs(crval, crpix, pscale, rotation, (ny, nx)), (ny, nx)


def _custom_wcs(value):
    """A user's output grid: a gwcs, or an ASDF file with the gwcs under the key ``wcs`` (as the official step)."""
    if hasattr(value, "forward_transform"):
        return value
    import asdf

    path = os.fspath(value)
    try:
        with asdf.open(path, lazy_load=False, memmap=False) as af:
            wcs = af.tree.get("wcs")
    except Exception as exc:
        text = str(exc).strip().splitlines()
        raise InputError(path, f"output_wcs is not a readable ASDF file ({text[0] if text else exc})") from None
    if not hasattr(wcs, "forward_transform"):
        raise InputError(path, "output_wcs file has no gwcs under the key 'wcs'")
    if getattr(wcs, "pixel_shape", None) is None and wcs.bounding_box is None:
        raise InputError(path, "output_wcs has neither pixel_shape nor a bounding box: the output shape is unknown")
    return wcs


def _wcs_shape(wcs):
    if getattr(wcs, "pixel_shape", None):
        nx, ny = wcs.pixel_shape
        return int(ny), int(nx)
    bbox = wcs.bounding_box
    (x0, x1), (y0, y1) = (tuple(b) for b in bbox)
    return int(round(y1 - y0)), int(round(x1 - x0))


def pixmap_grid(in_wcs, out_wcs, shape, step):
    """Output pixel coordinates of a grid of input pixel corners (the nodes the kernels interpolate).

    Parameters
    ----------
    in_wcs, out_wcs : gwcs.WCS
    shape : (int, int)
        Input (ny, nx).
    step : int
        Input pixels between nodes.

    Returns
    -------
    gx, gy : ndarray, float64 (ceil(ny / step) + 1, ceil(nx / step) + 1)
        Node (k, l) is input (x, y) = (-0.5 + l step, -0.5 + k step).
    """
    ny, nx = shape
    xs = -0.5 + step * np.arange(-(-nx // step) + 1)
    ys = -0.5 + step * np.arange(-(-ny // step) + 1)
    x, y = np.meshgrid(xs, ys)
    ra, dec = in_wcs.forward_transform(x, y)
    gx, gy = out_wcs.backward_transform(ra, dec)
    return np.ascontiguousarray(gx, np.float64), np.ascontiguousarray(gy, np.float64)


def _drizzle_one(model, index, out_wcs, out_shape, params, kernel, step, pscale_ratio, num, wht, con, var_sum,
                 var_wt):
    """Drizzle one input and fold it into the output sums."""
    from webbflow.steps.image3 import _drizzle_kernels as kern

    gx, gy = pixmap_grid(model.wcs, out_wcs, model.data.shape, step)
    oy, ox = out_shape
    finite = np.isfinite(gx) & np.isfinite(gy)
    if not finite.any():
        return
    # the window of the output this input can reach (one pixel margin for the kernels' extent)
    x0 = max(int(math.floor(gx[finite].min())) - 1, 0)
    x1 = min(int(math.ceil(gx[finite].max())) + 2, ox)
    y0 = max(int(math.floor(gy[finite].min())) - 1, 0)
    y1 = min(int(math.ceil(gy[finite].max())) + 2, oy)
    if x1 <= x0 or y1 <= y0:
        return
    weights = input_weights(model, params["weight_type"], params["good_bits"])
    names = [name for name in VARIANCES if var_sum.shape[0] and _has(model, name)]
    use_ivm = params["weight_type"] == "ivm"
    if use_ivm and "var_rnoise" not in names:
        names = []  # no read-noise variance on the output grid, no ivm weight for the variances
    values = np.empty((1 + len(names),) + model.data.shape, np.float32)
    np.copyto(values[0], model.data)
    values[0][weights <= 0] = 0.0
    with np.errstate(invalid="ignore"):
        for q, name in enumerate(names):
            np.sqrt(getattr(model, name), out=values[1 + q])  # negative variances give NaN: not used
    if isinstance(model, _Input):
        model.release()  # what the kernels need is in values and weights now
    window = (slice(y0, y1), slice(x0, x1))
    local = np.zeros((y1 - y0, x1 - x0, len(values) if names else 0), np.float32)
    bit = np.int32(np.array(1 << (index % 32), dtype=np.uint32).view(np.int32))
    kern.drizzle_image(values, weights, gx - x0, gy - y0, step, num[window], wht[window], local,
                       con[index // 32][window], bit, kernel, float(params["pixfrac"]), float(pscale_ratio))
    del values, weights
    if names:
        var_index = np.array([VARIANCES.index(name) for name in names], np.int64)
        kern.fold_variances(local, var_sum[:, y0:y1, x0:x1], var_wt[window], var_index,
                            1 + names.index("var_rnoise") if use_ivm else 0, use_ivm, _exposure_time(model.meta))
    return names


def _has(model, name):
    value = getattr(model, name, None)
    return value is not None and value.shape == model.data.shape


def _output_headers(headers, params, out_wcs, out_shape, pscale, pscale_ratio):
    """Primary and SCI headers of the i2d: the first input's, with the resample keywords and a FITS TAN WCS."""
    from webbflow.datamodels.wcs import s_region
    from webbflow.steps.image2.assign_wcs import FITS_WCS_KEYS, FITS_WCS_PREFIXES

    meta, sci = headers[0][0].copy(), headers[0][1].copy()
    for key in list(sci.keys()):
        if key in FITS_WCS_KEYS or key.startswith(FITS_WCS_PREFIXES):
            sci.remove(key, ignore_missing=True, remove_all=True)
    starts = [h[0].get("EXPSTART") for h in headers if isinstance(h[0].get("EXPSTART"), (int, float))]
    ends = [h[0].get("EXPEND") for h in headers if isinstance(h[0].get("EXPEND"), (int, float))]
    if starts:
        meta["EXPSTART"] = min(starts)
    if ends:
        meta["EXPEND"] = max(ends)
    meta["EFFEXPTM"] = (sum(_exposure_time(h[0]) for h in headers), "[s] effective exposure time of the combination")
    meta["NDRIZ"] = (len(headers), "number of images drizzled into this product")
    meta["RESWHT"] = (params["weight_type"], "type of drizzle weighting")
    meta["PIXFRAC"] = (float(params["pixfrac"]), "drizzle pixel shrinking (pixfrac)")
    meta["PXSCLRT"] = (float(pscale_ratio), "output / input pixel scale")
    sci["BUNIT"] = headers[0][1].get("BUNIT", "MJy/sr")
    pixar_a2 = pscale * pscale
    sci["PIXAR_A2"] = (pixar_a2, "nominal pixel area in arcsec^2")
    sci["PIXAR_SR"] = (pixar_a2 * (math.pi / 180.0 / 3600.0) ** 2, "nominal pixel area in steradians")
    sci["S_REGION"] = (s_region(out_wcs, out_shape), "spatial extent of the observation")
    tan = out_wcs.forward_transform
    try:  # our TAN grid: Shift & Shift | Affine | Pix2Sky_TAN | RotateNative2Celestial
        crpix = (-tan[0].offset.value, -tan[1].offset.value)
        cd = tan[2].matrix.value
        crval = (tan[4].lon.value, tan[4].lat.value)
    except (AttributeError, IndexError, TypeError):
        return meta, sci  # a user's output WCS of another form: the gwcs alone describes it
    sci["WCSAXES"] = 2
    sci["CTYPE1"], sci["CTYPE2"] = "RA---TAN", "DEC--TAN"
    sci["CUNIT1"], sci["CUNIT2"] = "deg", "deg"
    sci["CRPIX1"], sci["CRPIX2"] = crpix[0] + 1.0, crpix[1] + 1.0
    sci["CRVAL1"], sci["CRVAL2"] = crval
    sci["CD1_1"], sci["CD1_2"], sci["CD2_1"], sci["CD2_2"] = cd[0, 0], cd[0, 1], cd[1, 0], cd[1, 1]
    return meta, sci
