"""The sky truth catalog and its rendering into a detector through the true pointing and distortion.

The catalog holds stars (a circular Gaussian PSF of the filter's FWHM) and
galaxies (Sersic profiles, index 0.8-2.5, softened at the centre by the
PSF width) with RA/Dec, shapes in arcsec and a flux density per band
(Jy, a power law in wavelength: stars fall as a Rayleigh-Jeans tail,
galaxies rise to the mid-infrared).

A source is rendered in the tangent plane at its position, mapped to the
detector by the local Jacobian of (pixel -> sky): its profile is sampled on
5 x 5 points per pixel (3 x 3 for profiles wider than 3 pixels) over a stamp and normalised to 1 over the stamp, so
the counts of a source inside the subarray add up to its catalog flux
exactly (flux / (PHOTMJSR * PIXAR_SR)); sources cut by the subarray edge
lose what falls outside.
"""

import os

import numpy as np
from astropy.table import Table

from webbflow.simulate.imaging.optics import (
    OPTICS,
    detector_to_v2v3,
    filter_optics,
    pixar_sr,
    pixel_area_map,
    v2v3_to_detector,
)
from webbflow.simulate.imaging.pointing import offset

__all__ = ["band_name", "make_catalog", "render_scene", "write_catalog", "project_sources"]

_SUB = 5  # samples per pixel and axis
_STAR, _GALAXY = "star", "galaxy"


def band_name(filt, pupil):
    """The passband of (FILTER, PUPIL): the filter, or the pupil wheel's filter behind a CLEAR filter."""
    return (pupil if filt == "CLEAR" else filt).upper()


def _footprint_contains(geometry, ra, dec, margin):
    """Whether (ra, dec) fall within ``margin`` arcsec of any exposure's subarray (commanded pointing)."""
    keep = np.zeros(np.shape(ra), dtype=bool)
    for det, (x0, y0, nx, ny), col_row, att in geometry:
        v2, v3 = att.sky_to_v2v3(ra, dec)
        x, y = v2v3_to_detector(det, v2, v3)
        x, y = x - col_row[0] - x0, y - col_row[1] - y0
        scale = min(OPTICS[det].scale)
        m = margin / scale
        keep |= (x > -0.5 - m) & (x < nx - 0.5 + m) & (y > -0.5 - m) & (y < ny - 0.5 + m)
    return keep


def make_catalog(rng, centre, geometry, bands, star_density=0.5, galaxy_density=0.3, margin=3.0):
    """Draw the sky truth catalog.

    Parameters
    ----------
    rng : numpy.random.Generator
    centre : tuple of float
        (RA, Dec) deg of the field centre.
    geometry : list
        ``(detector, (x0, y0, nx, ny), (column_offset, row_offset), Attitude)`` of every exposure
        (full-frame 0-based subarray origin and size), with its commanded attitude: sources are drawn
        within ``margin`` arcsec of these footprints only.
    bands : dict
        ``{band name: pivot wavelength, micron}`` for the flux columns.
    star_density, galaxy_density : float
        Sources per square arcsec.

    Returns
    -------
    astropy.table.Table
        ``id, kind, ra, dec`` (deg), ``r_e`` (arcsec; 0 for stars), ``sersic_n``, ``axis_ratio``,
        ``pa`` (deg, north through east), ``flux_<band>`` (Jy).
    """
    ra0, dec0 = centre
    # the field: a box around the centre that holds every footprint
    extent = 10.0
    for det, (x0, y0, nx, ny), col_row, att in geometry:
        for x, y in ((x0, y0), (x0 + nx, y0), (x0, y0 + ny), (x0 + nx, y0 + ny)):
            ra, dec = att.v2v3_to_sky(*detector_to_v2v3(det, x + col_row[0], y + col_row[1]))
            east = (ra - ra0 + 180.0) % 360.0 - 180.0
            extent = max(extent, abs(east) * np.cos(np.radians(dec0)) * 3600.0, abs(dec - dec0) * 3600.0)
    half = extent + margin
    area = (2 * half) ** 2
    kinds, east, north = [], [], []
    for kind, density in ((_STAR, star_density), (_GALAXY, galaxy_density)):
        n = rng.poisson(density * area)
        kinds += [kind] * n
        east.append(rng.uniform(-half, half, n))
        north.append(rng.uniform(-half, half, n))
    east, north = np.concatenate(east), np.concatenate(north)
    n = len(kinds)
    kinds = np.array(kinds)
    is_gal = kinds == _GALAXY
    # draw every attribute for every source (fixed stream layout), then keep the footprint ones
    f2 = 10 ** rng.uniform(np.log10(0.3e-6), np.log10(30e-6), n)  # Jy at 2 micron
    beta = np.where(is_gal, rng.uniform(0.0, 1.5, n), rng.uniform(-2.0, -1.5, n))
    r_e = np.where(is_gal, rng.uniform(0.08, 0.45, n), 0.0)
    sersic = np.where(is_gal, rng.uniform(0.8, 2.5, n), 0.0)
    q = np.where(is_gal, rng.uniform(0.35, 1.0, n), 1.0)
    pa = np.where(is_gal, rng.uniform(0.0, 180.0, n), 0.0)
    ra, dec = offset(ra0, dec0, east, north)
    keep = _footprint_contains(geometry, ra, dec, margin)
    table = Table()
    table["id"] = np.arange(1, keep.sum() + 1, dtype=np.int32)
    table["kind"] = kinds[keep]
    table["ra"] = ra[keep]
    table["dec"] = dec[keep]
    table["r_e"] = r_e[keep]
    table["sersic_n"] = sersic[keep]
    table["axis_ratio"] = q[keep]
    table["pa"] = pa[keep]
    for band, wave in sorted(bands.items()):
        table[f"flux_{band.lower()}"] = f2[keep] * (wave / 2.0) ** beta[keep]
    table["ra"].unit = table["dec"].unit = table["pa"].unit = "deg"
    table["r_e"].unit = "arcsec"
    for band in bands:
        table[f"flux_{band.lower()}"].unit = "Jy"
    table.meta["ra_centre"] = float(ra0)
    table.meta["dec_centre"] = float(dec0)
    return table


def write_catalog(path, table):
    """Write an ECSV table atomically."""
    from webbflow.atomic import publish, temporary_beside

    path = os.fspath(path)
    tmp = temporary_beside(path, suffix=".ecsv")
    try:
        table.write(tmp, format="ascii.ecsv", overwrite=True)
        publish(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


class _Frame:
    """Pixel <-> sky of one exposure: subarray 0-based science pixels, a filter offset, an attitude."""

    def __init__(self, exp, att):
        self.det = exp.detector
        self.x0, self.y0 = exp.sub.xstart - 1, exp.sub.ystart - 1
        self.off = filter_optics(exp.detector, exp.filter, exp.pupil).offset
        self.att = att

    def to_sky(self, x, y):
        v2, v3 = detector_to_v2v3(self.det, np.asarray(x) + self.x0 + self.off[0], np.asarray(y) + self.y0 + self.off[1])
        return self.att.v2v3_to_sky(v2, v3)

    def to_pixel(self, ra, dec):
        v2, v3 = self.att.sky_to_v2v3(ra, dec)
        x, y = v2v3_to_detector(self.det, v2, v3)
        return x - self.x0 - self.off[0], y - self.y0 - self.off[1]

    def jacobian(self, x, y):
        """d(east, north)/d(x, y) in arcsec per pixel at (x, y): arrays (..., 2, 2)."""
        ra, dec = self.to_sky(x, y)
        h = 0.5
        out = np.empty(np.shape(x) + (2, 2))
        for k, (dx, dy) in enumerate(((h, 0.0), (0.0, h))):
            rp, dp = self.to_sky(np.asarray(x) + dx, np.asarray(y) + dy)
            rm, dm = self.to_sky(np.asarray(x) - dx, np.asarray(y) - dy)
            de = ((rp - rm + 180.0) % 360.0 - 180.0) * np.cos(np.radians(dec)) * 3600.0 / (2 * h)
            dn = (dp - dm) * 3600.0 / (2 * h)
            out[..., 0, k] = de
            out[..., 1, k] = dn
        return out


def project_sources(exp, att, catalog):
    """True pixel positions (0-based subarray science frame) of the catalog sources in one exposure."""
    frame = _Frame(exp, att)
    return frame.to_pixel(np.asarray(catalog["ra"]), np.asarray(catalog["dec"]))


def _profile(kind, e, n, sigma, r_e, sersic, q, pa):
    if kind == _STAR:
        return np.exp(-0.5 * (e * e + n * n) / sigma**2)
    t = np.radians(pa)
    major = e * np.sin(t) + n * np.cos(t)
    minor = e * np.cos(t) - n * np.sin(t)
    r = np.sqrt(major**2 + (minor / q) ** 2 + sigma**2)
    b = 2.0 * sersic - 1.0 / 3.0 + 0.009876 / sersic
    return np.exp(-b * ((r / r_e) ** (1.0 / sersic) - 1.0))


def render_scene(exp, att, catalog):
    """The true count rate (DN/s, before the flat field) of the sources and sky in one exposure.

    Parameters
    ----------
    exp : Exposure
    att : Attitude
        The true attitude.
    catalog : astropy.table.Table

    Returns
    -------
    rate : numpy.ndarray, float64 (SUBSIZE2, SUBSIZE1)
        Sky (``sky / photmjsr * relative pixel area``) plus sources.
    sources : astropy.table.Table
        ``id, x, y`` (true centre, 0-based subarray pixels), ``flux`` (Jy in this band),
        ``rate`` (DN/s of the whole source before the flat), ``inside`` (centre on the subarray).
    """
    optics = filter_optics(exp.detector, exp.filter, exp.pupil)
    sub = exp.sub
    ny, nx = sub.ysize, sub.xsize
    _, sr = pixar_sr(exp.detector)
    area = pixel_area_map(exp.detector, *sub.slices)
    rate = optics.sky / optics.photmjsr * area
    frame = _Frame(exp, att)
    band = band_name(exp.filter, exp.pupil).lower()
    flux = np.asarray(catalog[f"flux_{band}"], dtype=float)
    x, y = frame.to_pixel(np.asarray(catalog["ra"]), np.asarray(catalog["dec"]))
    sigma = optics.fwhm / 2.3548
    scale = min(OPTICS[exp.detector].scale)
    reach = np.where(np.asarray(catalog["kind"]) == _GALAXY, 4.0 * np.asarray(catalog["r_e"]) + 3 * sigma, 5 * sigma)
    radius = np.minimum(np.ceil(reach / scale) + 1, 40).astype(int)
    near = (x > -radius) & (x < nx - 1 + radius) & (y > -radius) & (y < ny - 1 + radius)
    total = flux * 1e-6 / (optics.photmjsr * sr)
    jac = frame.jacobian(x[near], y[near])
    for k, i in enumerate(np.flatnonzero(near)):
        row = catalog[i]
        r = radius[i]
        # 5 x 5 samples per pixel, 3 x 3 where the profile is wider than 3 pixels (smooth at that scale)
        nsub = _SUB if max(row["r_e"], sigma) / scale < 3.0 else 3
        sub_offsets = (np.arange(nsub) + 0.5) / nsub - 0.5
        xc, yc = int(np.floor(x[i] + 0.5)), int(np.floor(y[i] + 0.5))
        px = np.arange(xc - r, xc + r + 1)
        py = np.arange(yc - r, yc + r + 1)
        dx = (px[None, :, None, None] + sub_offsets[None, None, None, :]) - x[i]
        dy = (py[:, None, None, None] + sub_offsets[None, None, :, None]) - y[i]
        j = jac[k]
        e = j[0, 0] * dx + j[0, 1] * dy
        n = j[1, 0] * dx + j[1, 1] * dy
        prof = _profile(row["kind"], e, n, sigma, row["r_e"], row["sersic_n"], row["axis_ratio"], row["pa"])
        stamp = prof.sum(axis=(2, 3))
        stamp *= total[i] / stamp.sum()
        ys = slice(max(py[0], 0), min(py[-1] + 1, ny))
        xs = slice(max(px[0], 0), min(px[-1] + 1, nx))
        if ys.start < ys.stop and xs.start < xs.stop:
            rate[ys, xs] += stamp[ys.start - py[0]:ys.stop - py[0], xs.start - px[0]:xs.stop - px[0]]
    inside = (x > -0.5) & (x < nx - 0.5) & (y > -0.5) & (y < ny - 0.5)
    sources = Table()
    sources["id"] = np.asarray(catalog["id"])[near]
    sources["x"] = x[near]
    sources["y"] = y[near]
    sources["flux"] = flux[near]
    sources["rate"] = total[near]
    sources["inside"] = inside[near]
    sources["flux"].unit = "Jy"
    sources["rate"].unit = "DN/s"
    return rate, sources
