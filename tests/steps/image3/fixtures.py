"""Calibrated (``_cal``) images with a WCS, for the resample tests and benchmark.

Two kinds: :func:`tan_cal` with a plain gnomonic WCS of our own (exact
pixel areas, for flux bookkeeping), and :func:`nircam_cal` made the way
image2 makes them: the image2 test fixtures' rate model and distortion
reference through assign_wcs (a distorted WCS in the official layout).
"""

import math

import numpy as np
from astropy.io import fits

from webbflow.datamodels import ImageModel
from webbflow.steps.image3 import resample

try:  # the repository root on sys.path (tests/compare, benchmarks)
    from tests.steps.image2 import fixtures as image2_fixtures
except ImportError:  # pytest run on tests/steps only: the test packages are rooted at tests/steps
    from image2 import fixtures as image2_fixtures

CRVAL = (53.1625, -27.7914)
SCALE = 0.031  # arcsec


def tan_cal(shape=(120, 160), crpix=None, value=5.0, rotation=20.0, scale=SCALE, var_rnoise=0.01,
            var_poisson=0.02, var_flat=0.001, exptime=100.0, crval=CRVAL):
    """A cal ImageModel (MJy/sr) whose WCS is a TAN projection (uniform pixel area up to 1e-8)."""
    ny, nx = shape
    meta = fits.Header()
    for key, val in [("TELESCOP", "JWST"), ("INSTRUME", "NIRCAM"), ("DETECTOR", "NRCB1"), ("EXP_TYPE", "NRC_IMAGE"),
                     ("EFFEXPTM", exptime), ("EXPSTART", 60384.25), ("EXPEND", 60384.251)]:
        meta[key] = val
    sci = fits.Header()
    sci["BUNIT"] = "MJy/sr"
    sci["PIXAR_A2"] = scale * scale
    sci["PIXAR_SR"] = scale * scale * (math.pi / 180 / 3600) ** 2
    data = np.broadcast_to(np.asarray(value, np.float32), shape).astype(np.float32)
    arrays = {name: np.full(shape, v, np.float32) for name, v in
              (("var_rnoise", var_rnoise), ("var_poisson", var_poisson), ("var_flat", var_flat))}
    model = ImageModel(meta=meta, sci_meta=sci, data=data, dq=np.zeros(shape, np.uint32),
                       err=np.sqrt(sum(arrays.values())).astype(np.float32), **arrays)
    crpix = ((nx - 1) / 2.0, (ny - 1) / 2.0) if crpix is None else crpix
    model.wcs = resample.tan_wcs(crval, crpix, scale, rotation, shape)
    return model


def gaussian_source(shape, x0, y0, sigma, peak=1000.0, background=0.0):
    """A 2-D Gaussian image sampled at pixel centres."""
    y, x = np.indices(shape, dtype=float)
    return (background + peak * np.exp(-0.5 * ((x - x0) ** 2 + (y - y0) ** 2) / sigma**2)).astype(np.float32)


def nircam_cal(tmp_path, shape=(2048, 2048), offset=(0.0, 0.0), seed=1, refs=None):
    """A NIRCam cal image with the image2 distortion WCS; ``offset`` moves the pointing by (dRA, dDec) arcsec.

    Returns (model, refs); pass ``refs`` back in to reuse the reference files.
    """
    from webbflow.steps.image2 import assign_wcs

    if refs is None:
        refs = {"distortion": image2_fixtures.write_distortion(tmp_path / "nircam_distortion.asdf", "NIRCAM")}
    full = shape == image2_fixtures.FULL["NIRCAM"]
    model = image2_fixtures.rate_model("NIRCAM", shape=shape, substrt=(1, 1) if full else (1001, 961),
                                       subarray="FULL" if full else "SUB160", seed=seed)
    dec = model.sci_meta["DEC_REF"]
    model.sci_meta["RA_REF"] += offset[0] / 3600.0 / math.cos(math.radians(dec))
    model.sci_meta["DEC_REF"] += offset[1] / 3600.0
    assign_wcs.run(model, refs, {"sip_approx": False})
    rng = np.random.default_rng(seed)
    model.data = rng.normal(0.3, 0.05, shape).astype(np.float32)
    model.var_rnoise = np.full(shape, 0.0025, np.float32)
    model.var_poisson = (np.abs(model.data) * 0.01).astype(np.float32)
    model.var_flat = np.full(shape, 1e-4, np.float32)
    model.err = np.sqrt(model.var_rnoise + model.var_poisson + model.var_flat)
    model.sci_meta["BUNIT"] = "MJy/sr"
    model.sci_meta["PIXAR_A2"] = image2_fixtures.GEOMETRY["NIRCAM"][0] ** 2
    model.sci_meta["PIXAR_SR"] = model.sci_meta["PIXAR_A2"] * (math.pi / 180 / 3600) ** 2
    for key, val in [("S_WCS", "COMPLETE"), ("S_FLAT", "COMPLETE"), ("S_PHOTOM", "COMPLETE")]:
        model.meta[key] = val
    return model, refs
