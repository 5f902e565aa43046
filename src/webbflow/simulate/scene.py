"""True count-rate images (DN/s): sky, stars, galaxies, bright saturating sources, a slit spectrum.

A *field* is drawn once per observation, in arcsec in the observation's
ideal frame (x to the right, y up, origin on the target), so that every
exposure of an observation (both NIRCam channels, every dither) sees the
same sources, shifted by its dither offset. Count rates are per detector:
a source has a flux (DN/s summed over its image) on the reference detector,
scaled by a per-detector throughput, and is imaged with a pixel-integrated
Gaussian PSF of the filter's FWHM.

A NIRSpec fixed-slit exposure sees a spectrum instead: a trace along x
(the dispersion direction) with a continuum, emission lines (the brightest
saturates) and sky filling the slit length.
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import erf

from webbflow.simulate.detector import reference_pixel_mask

__all__ = ["Field", "make_field", "render"]

# Throughput relative to the reference detector, sky (DN/s/pixel), PSF FWHM (arcsec).
_OPTICS = {
    "NRCB1": (1.0, 0.35, 0.050),
    "NRCBLONG": (0.9, 0.9, 0.116),
    "NIS": (0.8, 0.3, 0.050),
    "NRS1": (1.0, 0.05, 0.080),
    "MIRIMAGE": (0.35, 12.0, 0.269),
}

# Detector signal (DN above bias) reached by the brightest pixels at 40 % of an integration.
_SATURATING_FRACTION = 0.4


@dataclass
class Field:
    """The sources of one observation.

    Attributes
    ----------
    stars : numpy.ndarray
        Structured: ``x, y`` (arcsec), ``flux`` (DN/s on the reference detector).
    galaxies : numpy.ndarray
        Structured: ``x, y, flux, r_e`` (arcsec), ``q`` (axis ratio), ``theta`` (rad).
    saturating : numpy.ndarray
        Structured: ``x, y, peak`` -- compact sources whose brightest pixel
        reaches ``peak`` DN/s on every detector of the observation.
    """

    stars: np.ndarray
    galaxies: np.ndarray
    saturating: np.ndarray


_STAR = np.dtype([("x", "f8"), ("y", "f8"), ("flux", "f8")])
_GALAXY = np.dtype([("x", "f8"), ("y", "f8"), ("flux", "f8"), ("r_e", "f8"), ("q", "f8"), ("theta", "f8")])
_SATURATING = np.dtype([("x", "f8"), ("y", "f8"), ("peak", "f8")])


def make_field(exposures, rng, star_density=None, galaxy_density=None, n_saturating=3):
    """Draw the sources of one observation.

    Parameters
    ----------
    exposures : list of Exposure
        The exposures of the observation (they set the field size and the
        saturation time scale).
    rng : numpy.random.Generator
    star_density, galaxy_density : float, optional
        Sources per square arcsec; by default about 40 stars and 40
        galaxies fall on the smallest detector footprint.
    n_saturating : int, optional
        Number of bright compact sources that saturate.

    Returns
    -------
    Field
    """
    half = 1.0
    smallest = np.inf
    for exp in exposures:
        scale = exp.spec.pixel_scale
        extent = 0.5 * max(exp.sub.xsize, exp.sub.ysize) * scale
        half = max(half, extent + abs(exp.xoffset) + abs(exp.yoffset) + 1.0)
        smallest = min(smallest, exp.sub.xsize * exp.sub.ysize * scale**2)
    area = (2 * half) ** 2
    star_density = 40.0 / smallest if star_density is None else star_density
    galaxy_density = 40.0 / smallest if galaxy_density is None else galaxy_density

    nstar = rng.poisson(star_density * area)
    stars = np.zeros(nstar, dtype=_STAR)
    stars["x"] = rng.uniform(-half, half, nstar)
    stars["y"] = rng.uniform(-half, half, nstar)
    stars["flux"] = 10 ** rng.uniform(np.log10(30.0), np.log10(4000.0), nstar)

    ngal = rng.poisson(galaxy_density * area)
    galaxies = np.zeros(ngal, dtype=_GALAXY)
    galaxies["x"] = rng.uniform(-half, half, ngal)
    galaxies["y"] = rng.uniform(-half, half, ngal)
    galaxies["flux"] = 10 ** rng.uniform(np.log10(50.0), np.log10(3000.0), ngal)
    pixel = min(e.spec.pixel_scale for e in exposures)
    galaxies["r_e"] = pixel * rng.uniform(1.5, 5.0, ngal)
    galaxies["q"] = rng.uniform(0.35, 1.0, ngal)
    galaxies["theta"] = rng.uniform(0.0, np.pi, ngal)

    # bright compact sources: their peak pixel saturates early in the integration
    t_read = min(e.frames_per_int * e.tframe for e in exposures)
    level = min(e.spec.saturation for e in exposures)
    saturating = np.zeros(n_saturating, dtype=_SATURATING)
    inner = max(0.5, 0.6 * min(0.5 * min(e.sub.xsize, e.sub.ysize) * e.spec.pixel_scale for e in exposures))
    saturating["x"] = rng.uniform(-inner, inner, n_saturating)
    saturating["y"] = rng.uniform(-inner, inner, n_saturating)
    saturating["peak"] = level / (_SATURATING_FRACTION * t_read) * rng.uniform(1.0, 2.0, n_saturating)
    return Field(stars, galaxies, saturating)


def _pixel_gaussian(xc, yc, sigma, shape, flux, out):
    """Add a pixel-integrated circular Gaussian of total ``flux`` centred on (xc, yc)."""
    ny, nx = shape
    h = int(np.ceil(6 * sigma)) + 2
    x0, x1 = max(int(np.floor(xc)) - h, 0), min(int(np.floor(xc)) + h + 1, nx)
    y0, y1 = max(int(np.floor(yc)) - h, 0), min(int(np.floor(yc)) + h + 1, ny)
    if x0 >= x1 or y0 >= y1:
        return
    s = np.sqrt(2.0) * sigma
    xe = np.arange(x0, x1 + 1) - 0.5 - xc
    ye = np.arange(y0, y1 + 1) - 0.5 - yc
    fx = np.diff(0.5 * erf(xe / s))
    fy = np.diff(0.5 * erf(ye / s))
    out[y0:y1, x0:x1] += flux * np.outer(fy, fx)


def _exponential(xc, yc, r_e, q, theta, shape, flux, out):
    """Add an exponential-profile galaxy (r_e in pixels) sampled 3x3 per pixel."""
    ny, nx = shape
    h = int(np.ceil(6 * r_e)) + 2
    x0, x1 = max(int(np.floor(xc)) - h, 0), min(int(np.floor(xc)) + h + 1, nx)
    y0, y1 = max(int(np.floor(yc)) - h, 0), min(int(np.floor(yc)) + h + 1, ny)
    if x0 >= x1 or y0 >= y1:
        return
    sub = (np.arange(3) - 1) / 3.0
    xx = (np.arange(x0, x1)[None, :, None, None] + sub[None, None, None, :]) - xc
    yy = (np.arange(y0, y1)[:, None, None, None] + sub[None, None, :, None]) - yc
    c, s = np.cos(theta), np.sin(theta)
    u = xx * c + yy * s
    v = (-xx * s + yy * c) / q
    r = np.sqrt(u * u + v * v)
    profile = np.exp(-1.678 * r / r_e).mean(axis=(2, 3))
    # normalise to the analytic total so that cut-off stamps lose flux like the sky would
    total = 2 * np.pi * q * (r_e / 1.678) ** 2
    out[y0:y1, x0:x1] += flux * profile / total


def render(exp, field):
    """The true count-rate image of one exposure (DN/s, science frame, subarray).

    Parameters
    ----------
    exp : Exposure
    field : Field or None
        The observation's sources (ignored for NIRSpec fixed-slit exposures).

    Returns
    -------
    numpy.ndarray, float64, shape (SUBSIZE2, SUBSIZE1)
        Zero on reference pixels.
    """
    spec, sub = exp.spec, exp.sub
    shape = (sub.ysize, sub.xsize)
    throughput, sky, fwhm = _OPTICS[exp.detector]
    if exp.exp_type == "NRS_FIXEDSLIT":
        rate = _slit_spectrum(exp, shape, sky)
    else:
        rate = np.full(shape, sky, dtype=np.float64)
        scale = spec.pixel_scale
        xc, yc = (sub.xsize - 1) / 2.0, (sub.ysize - 1) / 2.0
        sigma = fwhm / 2.3548 / scale

        def to_pixel(x, y):
            return xc + (x - exp.xoffset) / scale, yc + (y - exp.yoffset) / scale

        for star in field.stars:
            px, py = to_pixel(star["x"], star["y"])
            _pixel_gaussian(px, py, sigma, shape, throughput * star["flux"], rate)
        for gal in field.galaxies:
            px, py = to_pixel(gal["x"], gal["y"])
            _exponential(px, py, gal["r_e"] / scale, gal["q"], gal["theta"], shape, throughput * gal["flux"], rate)
        for src in field.saturating:
            px, py = to_pixel(src["x"], src["y"])
            # the fraction of the flux in the brightest pixel of a centred source
            edge = 0.5 / (np.sqrt(2.0) * sigma)
            peak_fraction = erf(edge) ** 2
            _pixel_gaussian(px, py, sigma, shape, src["peak"] / peak_fraction, rate)
    ref = reference_pixel_mask(spec)[sub.slices]
    rate[ref] = 0.0
    return rate


def _slit_spectrum(exp, shape, sky):
    """A point source spectrum centred in the slit plus sky along the slit (DN/s)."""
    ny, nx = shape
    x = np.arange(nx, dtype=np.float64)
    y = np.arange(ny, dtype=np.float64)
    yc = (ny - 1) / 2.0 + exp.yoffset / exp.spec.pixel_scale
    wave = x / max(nx - 1, 1)
    throughput = np.clip(np.sin(np.pi * np.clip((x - 30.0) / max(nx - 60.0, 1.0), 0.0, 1.0)), 0.0, None) ** 0.5
    continuum = 40.0 * (0.6 + 0.8 * wave) * throughput
    lines = np.zeros(nx)
    level = exp.spec.saturation / (_SATURATING_FRACTION * exp.frames_per_int * exp.tframe)
    for centre, peak in ((0.21 * nx, 300.0), (0.47 * nx, 3.0 * level), (0.66 * nx, 800.0), (0.83 * nx, 150.0)):
        lines += peak * np.exp(-0.5 * ((x - centre) / 1.4) ** 2)
    sigma = 1.1
    s = np.sqrt(2.0) * sigma
    profile = np.diff(0.5 * erf((np.arange(ny + 1) - 0.5 - yc) / s))
    slit = (np.abs(y - (ny - 1) / 2.0) < 16.0).astype(np.float64)
    rate = profile[:, None] * (continuum + lines)[None, :] / profile.max() * 0.45
    rate += sky * throughput[None, :] * slit[:, None]
    return rate
