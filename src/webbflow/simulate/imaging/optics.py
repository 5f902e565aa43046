"""Imaging optics of the simulated detectors: distortion, filters, flat field, photometric conversion.

Every detector has a geometric distortion from science-frame pixels
(0-based, full frame) to the telescope V2/V3 frame (arcsec), written as the
official distortion references are: a shift to the detector centre, two
third-degree 2-D polynomials to the ideal frame (arcsec) and an affine map
(rotation by ``V3IdlYAngle`` with the ``VIdlParity`` sign, then the V2/V3 of
the centre) to V2/V3. A per-filter shift (the filteroffset reference) is
added to the pixel coordinates first, as the official imaging WCS does::

    v2, v3 = D(x + xstart - 1 + column_offset, y + ystart - 1 + row_offset)

The distortion is a few pixels at the corners of a full frame (a barrel
term and small quadratic terms), enough to show in a WCS that ignores it.

Fluxes: a filter's ``photmjsr`` is the surface brightness (MJy/sr) of one
DN/s per *nominal* pixel area (PIXAR_SR = the product of the nominal
scales). A pixel collects the light falling on its true solid angle, so the
count rate of a source is ``flux / (photmjsr * PIXAR_SR)`` whatever the
pixel areas (sum of cal * PIXAR_SR = flux), and a uniform sky of surface
brightness ``S`` gives ``S / photmjsr * area`` DN/s where ``area`` is the
pixel's relative area (the AREA reference). The flat field is the detector
response alone (1 +- a few per cent): count rate = true rate * flat.
"""

import zlib
from dataclasses import dataclass

import numpy as np

from webbflow.simulate.detector import DETECTORS

__all__ = ["DetectorOptics", "FilterOptics", "OPTICS", "FILTERS", "filter_optics", "detector_to_v2v3",
           "v2v3_to_detector", "ideal_to_v2v3", "v2v3_to_ideal", "distortion_model", "pixel_area_map",
           "flat_field", "pixar_sr", "ARCSEC2_TO_SR"]

ARCSEC2_TO_SR = (np.pi / 180.0 / 3600.0) ** 2

# half-size of the normalised distortion coordinates, pixels
_NORM = 1024.0


@dataclass(frozen=True)
class DetectorOptics:
    """The geometry of one detector.

    Attributes
    ----------
    detector : str
    scale : tuple of float
        Nominal (x, y) pixel scales, arcsec/pixel (the linear terms).
    v2v3_centre : tuple of float
        V2, V3 (arcsec) of the full-frame centre pixel.
    yangle : float
        V3IdlYAngle, deg.
    parity : int
        VIdlParity.
    quad_x, quad_y : tuple of float
        Coefficients of un**2, un*vn, vn**2 (un, vn = pixel offsets / 1024)
        in units of the linear term, for ideal x and ideal y.
    barrel : float
        Coefficient of un * r**2 (x) and vn * r**2 (y), same units.
    """

    detector: str
    scale: tuple
    v2v3_centre: tuple
    yangle: float
    parity: int
    quad_x: tuple
    quad_y: tuple
    barrel: float

    @property
    def shape(self):
        """Full-frame (ny, nx)."""
        return DETECTORS[self.detector].shape

    @property
    def centre(self):
        """0-based (x, y) of the full-frame centre: the distortion's origin."""
        ny, nx = self.shape
        return (nx - 1) / 2.0, (ny - 1) / 2.0

    def coefficients(self):
        """Polynomial2D coefficients (pixels -> ideal arcsec) of ideal x and y, as ``{'c1_0': ...}``."""
        sx, sy = self.scale
        n = _NORM
        ax, bx, cx = self.quad_x
        ay, by, cy = self.quad_y
        k = self.barrel
        cx_ = {"c1_0": sx, "c2_0": sx * ax / n, "c1_1": sx * bx / n, "c0_2": sx * cx / n,
               "c3_0": sx * k / n**2, "c1_2": sx * k / n**2}
        cy_ = {"c0_1": sy, "c2_0": sy * ay / n, "c1_1": sy * by / n, "c0_2": sy * cy / n,
               "c2_1": sy * k / n**2, "c0_3": sy * k / n**2}
        return cx_, cy_


#: The simulated detectors' geometry (near the official apertures, not the SIAF values).
OPTICS = {
    "NRCB1": DetectorOptics("NRCB1", (0.0311, 0.0313), (-120.9, -527.5), -0.56, -1,
                            (1.1e-3, -0.6e-3, 0.4e-3), (-0.5e-3, 0.9e-3, 0.7e-3), 2.4e-3),
    "NRCBLONG": DetectorOptics("NRCBLONG", (0.0629, 0.0630), (-89.2, -493.0), -0.50, -1,
                               (0.8e-3, 0.5e-3, -0.6e-3), (0.6e-3, -0.7e-3, 1.0e-3), 3.0e-3),
    "NIS": DetectorOptics("NIS", (0.0656, 0.0658), (-290.1, -697.5), -0.57, -1,
                          (-0.9e-3, 0.4e-3, 0.8e-3), (0.7e-3, 1.2e-3, -0.5e-3), 2.0e-3),
    "MIRIMAGE": DetectorOptics("MIRIMAGE", (0.1109, 0.1109), (-453.6, -373.8), 4.45, -1,
                               (1.5e-3, -1.0e-3, 0.6e-3), (-0.8e-3, 1.1e-3, 1.4e-3), 4.0e-3),
}


@dataclass(frozen=True)
class FilterOptics:
    """What the simulator needs of one optical element (FILTER, PUPIL) on one detector.

    Attributes
    ----------
    wavelength : float
        Pivot wavelength, micron.
    fwhm : float
        PSF FWHM, arcsec.
    photmjsr : float
        MJy/sr of 1 DN/s per nominal pixel area.
    sky : float
        Background surface brightness, MJy/sr.
    offset : tuple of float
        (column_offset, row_offset) of the filteroffset reference, pixels.
    """

    wavelength: float
    fwhm: float
    photmjsr: float
    sky: float
    offset: tuple


#: (detector, FILTER, PUPIL) -> FilterOptics
FILTERS = {
    ("NRCB1", "F150W", "CLEAR"): FilterOptics(1.50, 0.050, 0.27, 0.20, (0.12, -0.08)),
    ("NRCB1", "F200W", "CLEAR"): FilterOptics(1.99, 0.066, 0.22, 0.18, (-0.05, 0.10)),
    ("NRCBLONG", "F356W", "CLEAR"): FilterOptics(3.56, 0.116, 0.46, 0.25, (-0.20, 0.15)),
    ("NRCBLONG", "F444W", "CLEAR"): FilterOptics(4.40, 0.145, 0.54, 0.60, (0.10, 0.22)),
    ("NIS", "CLEAR", "F150W"): FilterOptics(1.50, 0.052, 0.31, 0.22, (0.09, 0.06)),
    ("NIS", "CLEAR", "F200W"): FilterOptics(1.99, 0.067, 0.28, 0.20, (-0.07, 0.04)),
    ("MIRIMAGE", "F770W", "N/A"): FilterOptics(7.64, 0.269, 0.40, 6.0, (0.07, -0.05)),
    ("MIRIMAGE", "F1000W", "N/A"): FilterOptics(9.95, 0.328, 0.52, 14.0, (-0.11, 0.09)),
}


def filter_optics(detector, filt, pupil):
    """The :class:`FilterOptics` of an exposure's detector and optical elements."""
    key = (detector, filt, pupil if detector != "MIRIMAGE" else "N/A")
    try:
        return FILTERS[key]
    except KeyError:
        raise ValueError(f"no simulated optics for {detector} FILTER={filt} PUPIL={pupil}") from None


def pixar_sr(detector):
    """Nominal pixel area (PIXAR_A2 arcsec**2, PIXAR_SR sr)."""
    sx, sy = OPTICS[detector].scale
    return sx * sy, sx * sy * ARCSEC2_TO_SR


def _poly(coeffs, u, v):
    out = np.zeros(np.broadcast(u, v).shape)
    for name, c in coeffs.items():
        i, j = (int(p) for p in name[1:].split("_"))
        out = out + c * u**i * v**j
    return out


def _poly_grad(coeffs, u, v):
    du = np.zeros(np.broadcast(u, v).shape)
    dv = np.zeros_like(du)
    for name, c in coeffs.items():
        i, j = (int(p) for p in name[1:].split("_"))
        if i:
            du = du + c * i * u ** (i - 1) * v**j
        if j:
            dv = dv + c * j * u**i * v ** (j - 1)
    return du, dv


def _affine(optics):
    t = np.radians(optics.yangle)
    p = optics.parity
    return np.array([[p * np.cos(t), np.sin(t)], [-p * np.sin(t), np.cos(t)]])


def ideal_to_v2v3(optics, xidl, yidl):
    """Ideal-frame offsets (arcsec) from the centre -> V2, V3 (arcsec)."""
    m = _affine(optics)
    v2c, v3c = optics.v2v3_centre
    xidl, yidl = np.asarray(xidl, float), np.asarray(yidl, float)
    return v2c + m[0, 0] * xidl + m[0, 1] * yidl, v3c + m[1, 0] * xidl + m[1, 1] * yidl


def v2v3_to_ideal(optics, v2, v3):
    """V2, V3 (arcsec) -> ideal-frame offsets from the centre (arcsec)."""
    inv = np.linalg.inv(_affine(optics))
    v2c, v3c = optics.v2v3_centre
    d2, d3 = np.asarray(v2, float) - v2c, np.asarray(v3, float) - v3c
    return inv[0, 0] * d2 + inv[0, 1] * d3, inv[1, 0] * d2 + inv[1, 1] * d3


def detector_to_v2v3(detector, x, y):
    """Full-frame 0-based pixel (x, y) -> V2, V3 (arcsec), the exact forward distortion."""
    optics = OPTICS[detector]
    cx, cy = optics.coefficients()
    x0, y0 = optics.centre
    u, v = np.asarray(x, float) - x0, np.asarray(y, float) - y0
    return ideal_to_v2v3(optics, _poly(cx, u, v), _poly(cy, u, v))


def v2v3_to_detector(detector, v2, v3, tol=1e-10):
    """V2, V3 (arcsec) -> full-frame 0-based pixel (x, y): the forward distortion inverted by Newton's method."""
    optics = OPTICS[detector]
    cx, cy = optics.coefficients()
    xi, yi = v2v3_to_ideal(optics, v2, v3)
    sx, sy = optics.scale
    u, v = xi / sx, yi / sy
    for _ in range(50):
        fx, fy = _poly(cx, u, v) - xi, _poly(cy, u, v) - yi
        a, b = _poly_grad(cx, u, v)
        c, d = _poly_grad(cy, u, v)
        det = a * d - b * c
        du, dv = (d * fx - b * fy) / det, (a * fy - c * fx) / det
        u, v = u - du, v - dv
        if np.all(np.abs(du) < tol) and np.all(np.abs(dv) < tol):
            break
    x0, y0 = optics.centre
    return u + x0, v + y0


def jacobian(detector, x, y):
    """d(ideal x, ideal y)/d(x, y) at full-frame pixels, arcsec/pixel: (a, b, c, d) of [[a, b], [c, d]]."""
    optics = OPTICS[detector]
    cx, cy = optics.coefficients()
    x0, y0 = optics.centre
    u, v = np.asarray(x, float) - x0, np.asarray(y, float) - y0
    a, b = _poly_grad(cx, u, v)
    c, d = _poly_grad(cy, u, v)
    return a, b, c, d


def pixel_area_map(detector, ys=None, xs=None):
    """Pixel solid angle relative to PIXAR_SR (the AREA reference values) for a region of the detector.

    Parameters
    ----------
    detector : str
    ys, xs : slice, optional
        Science-frame region (0-based); the full frame by default.

    Returns
    -------
    numpy.ndarray, float64
        |det J| / (sx * sy) at the pixel centres (the rotation to V2/V3 keeps areas).
    """
    ny, nx = OPTICS[detector].shape
    ys = ys or slice(0, ny)
    xs = xs or slice(0, nx)
    y, x = np.mgrid[ys, xs].astype(float)
    a, b, c, d = jacobian(detector, x, y)
    sx, sy = OPTICS[detector].scale
    return np.abs(a * d - b * c) / (sx * sy)


def _inverse_polynomials(optics, degree=5, npts=41):
    """Least-squares polynomials (ideal arcsec / norm -> pixel offsets) fitted to the exact inverse."""
    ny, nx = optics.shape
    cx, cy = optics.coefficients()
    x0, y0 = optics.centre
    gx, gy = np.meshgrid(np.linspace(-0.5, nx - 0.5, npts) - x0, np.linspace(-0.5, ny - 0.5, npts) - y0)
    u, v = gx.ravel(), gy.ravel()
    xi, yi = _poly(cx, u, v), _poly(cy, u, v)
    sx, sy = optics.scale
    nxn, nyn = sx * _NORM, sy * _NORM
    p, q = xi / nxn, yi / nyn
    terms = [(i, j) for i in range(degree + 1) for j in range(degree + 1 - i)]
    design = np.stack([p**i * q**j for i, j in terms], axis=1)
    su, *_ = np.linalg.lstsq(design, u, rcond=None)
    sv, *_ = np.linalg.lstsq(design, v, rcond=None)
    return ({f"c{i}_{j}": float(c) for (i, j), c in zip(terms, su, strict=True)},
            {f"c{i}_{j}": float(c) for (i, j), c in zip(terms, sv, strict=True)}, (nxn, nyn), degree)


def distortion_model(detector):
    """The astropy model of the distortion reference: full-frame pixels -> V2, V3 (arcsec), with an inverse.

    Forward: ``Shift(-x0) & Shift(-y0) | Mapping((0, 1, 0, 1)) | Polynomial2D & Polynomial2D |
    AffineTransformation2D`` (the last holds the rotation, parity and the centre's V2/V3). The
    inverse is exact for the affine part and a fitted fifth-degree polynomial for the rest
    (its error is below 1e-4 pixel over the detector, see the tests).

    Returns
    -------
    astropy.modeling.Model
        Inputs ``('x', 'y')``, outputs ``('v2', 'v3')``.
    """
    from astropy.modeling import models

    optics = OPTICS[detector]
    cx, cy = optics.coefficients()
    x0, y0 = optics.centre
    m = _affine(optics)
    affine = models.AffineTransformation2D(matrix=m, translation=list(optics.v2v3_centre), name="idl2v2v3")
    px = models.Polynomial2D(3, **cx, name="det2idl_x")
    py = models.Polynomial2D(3, **cy, name="det2idl_y")
    forward = (models.Shift(-x0, name="x_centre") & models.Shift(-y0, name="y_centre")
               | models.Mapping((0, 1, 0, 1)) | px & py | affine)
    icx, icy, (nxn, nyn), degree = _inverse_polynomials(optics)
    inv_affine = models.AffineTransformation2D(matrix=np.linalg.inv(m),
                                               translation=list(-np.linalg.inv(m) @ np.array(optics.v2v3_centre)),
                                               name="v2v32idl")
    backward = (inv_affine | models.Scale(1.0 / nxn) & models.Scale(1.0 / nyn) | models.Mapping((0, 1, 0, 1))
                | models.Polynomial2D(degree, **icx, name="idl2det_x") & models.Polynomial2D(degree, **icy,
                                                                                               name="idl2det_y")
                | models.Shift(x0) & models.Shift(y0))
    forward.inverse = backward
    forward.inputs = ("x", "y")
    forward.outputs = ("v2", "v3")
    backward.inputs = ("v2", "v3")
    backward.outputs = ("x", "y")
    forward.name = f"{detector.lower()}_distortion"
    return forward


def flat_field(detector, filt, pupil, ys, xs, seed):
    """The flat field (detector response, mean ~1) of a region, float32, as written to the FLAT reference.

    Pixel-to-pixel response (1.5 % rms) on a smooth large-scale pattern (+-3 %),
    drawn from tiles that depend only on (seed, detector, filter, tile) so a
    subarray holds the full frame's values. Reference pixels are 1.
    """
    from webbflow.simulate.detector import reference_pixel_mask
    from webbflow.simulate.references import _TiledField

    det_index = sorted(DETECTORS).index(detector)
    filt_key = zlib.crc32(f"{filt}/{pupil}".encode()) % 100003
    # map indices above 1000 never meet the detector maps of the references
    draw = _TiledField(seed, det_index, 1000 + filt_key).region(ys, xs)
    ny, nx = OPTICS[detector].shape
    y, x = np.mgrid[ys, xs].astype(np.float64)
    large = 0.03 * np.cos(2 * np.pi * (x / nx - 0.3)) * np.cos(np.pi * (y / ny - 0.45)) + 0.01 * (x / nx - 0.5)
    flat = (1.0 + large + 0.015 * draw).astype(np.float32)
    flat[reference_pixel_mask(DETECTORS[detector])[ys, xs]] = 1.0
    return flat
