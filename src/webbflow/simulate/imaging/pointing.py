"""Telescope attitude: V2/V3 <-> sky, commanded and true pointings, the SCI-header WCS keywords.

An attitude is the rotation ``M`` that takes the unit vector of a V2/V3
direction to ICRS. It is built, as the official WCS does, from the sky
position (RA_REF, DEC_REF) of a reference point (V2_REF, V3_REF) and the
position angle ROLL_REF of the V3 axis there (from north through east)::

    M = Rz(ra_ref) Ry(-dec_ref) Rx(-roll_ref) Ry(v3_ref) Rz(-v2_ref)

(active right-handed rotations; the tel vector of (v2, v3) is
(cos v2 cos v3, sin v2 cos v3, sin v3)). With ROLL_REF = 0, V3 points north
and V2 east.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["Attitude", "attitude", "pointing_error"]

_ARCSEC = np.pi / 180.0 / 3600.0


def _rx(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _ry(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rz(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _vector(lon, lat):
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def _angles(vec):
    lon = np.arctan2(vec[1], vec[0])
    lat = np.arctan2(vec[2], np.hypot(vec[0], vec[1]))
    return lon, lat


@dataclass(frozen=True)
class Attitude:
    """A telescope attitude: the rotation from V2/V3 unit vectors to ICRS ones."""

    matrix: np.ndarray

    def v2v3_to_sky(self, v2, v3):
        """V2, V3 (arcsec) -> RA, Dec (deg, RA in [0, 360))."""
        vec = np.tensordot(self.matrix, _vector(np.asarray(v2) * _ARCSEC, np.asarray(v3) * _ARCSEC), axes=1)
        ra, dec = _angles(vec)
        return np.degrees(ra) % 360.0, np.degrees(dec)

    def sky_to_v2v3(self, ra, dec):
        """RA, Dec (deg) -> V2, V3 (arcsec)."""
        vec = np.tensordot(self.matrix.T, _vector(np.radians(ra), np.radians(dec)), axes=1)
        v2, v3 = _angles(vec)
        return v2 / _ARCSEC, v3 / _ARCSEC

    def roll_at(self, v2, v3):
        """Position angle (deg, north through east) of the +V3 direction at (v2, v3) arcsec."""
        a, b = np.asarray(v2, float) * _ARCSEC, np.asarray(v3, float) * _ARCSEC
        # d(tel vector)/d(v3), carried to the sky, against the local east and north directions
        tangent = np.tensordot(self.matrix, np.stack([-np.sin(b) * np.cos(a), -np.sin(b) * np.sin(a), np.cos(b)]),
                               axes=1)
        ra, dec = (np.radians(v) for v in self.v2v3_to_sky(v2, v3))
        east = np.stack([-np.sin(ra), np.cos(ra), np.zeros_like(ra)])
        north = np.stack([-np.sin(dec) * np.cos(ra), -np.sin(dec) * np.sin(ra), np.cos(dec)])
        pa = np.arctan2(np.sum(tangent * east, axis=0), np.sum(tangent * north, axis=0))
        return np.degrees(pa) % 360.0

    def wcsinfo(self, v2_ref, v3_ref):
        """(RA_REF, DEC_REF, ROLL_REF) of the reference point (v2_ref, v3_ref)."""
        ra, dec = self.v2v3_to_sky(v2_ref, v3_ref)
        return float(ra), float(dec), float(self.roll_at(v2_ref, v3_ref))

    def v1(self):
        """(RA_V1, DEC_V1, PA_V3): the V1 axis and the position angle of V3 there."""
        ra, dec = self.v2v3_to_sky(0.0, 0.0)
        return float(ra), float(dec), float(self.roll_at(0.0, 0.0))


def position_angle(ra1, dec1, ra2, dec2):
    """Position angle (deg, north through east) of point 2 seen from point 1."""
    ra1, dec1, ra2, dec2 = (np.radians(v) for v in (ra1, dec1, ra2, dec2))
    dra = ra2 - ra1
    pa = np.arctan2(np.sin(dra) * np.cos(dec2), np.cos(dec1) * np.sin(dec2) - np.sin(dec1) * np.cos(dec2) * np.cos(dra))
    return np.degrees(pa) % 360.0


def separation(ra1, dec1, ra2, dec2):
    """Angular distance, arcsec."""
    ra1, dec1, ra2, dec2 = np.broadcast_arrays(*(np.asarray(v, float) for v in (ra1, dec1, ra2, dec2)))
    v1 = _vector(np.radians(ra1), np.radians(dec1))
    v2 = _vector(np.radians(ra2), np.radians(dec2))
    cross = np.linalg.norm(np.cross(v1, v2, axis=0), axis=0)
    return np.degrees(np.arctan2(cross, np.sum(v1 * v2, axis=0))) * 3600.0


def offset(ra, dec, east, north):
    """The sky position ``east``, ``north`` arcsec (tangent plane, gnomonic) away from (ra, dec), deg.

    Scalars give floats, arrays give arrays.
    """
    x, y = np.asarray(east, float) * _ARCSEC, np.asarray(north, float) * _ARCSEC
    d0 = np.radians(dec)
    # gnomonic (TAN) deprojection
    denom = np.cos(d0) - y * np.sin(d0)
    ra1 = np.radians(ra) + np.arctan2(x, denom)
    dec1 = np.arctan2(np.sin(d0) + y * np.cos(d0), np.hypot(x, denom))
    ra1, dec1 = np.degrees(ra1) % 360.0, np.degrees(dec1)
    if np.ndim(ra1) == 0:
        return float(ra1), float(dec1)
    return ra1, dec1


def attitude(v2_ref, v3_ref, ra_ref, dec_ref, roll_ref):
    """The :class:`Attitude` that puts (v2_ref, v3_ref) arcsec at (ra_ref, dec_ref) deg with V3 at roll_ref deg."""
    m = (_rz(np.radians(ra_ref)) @ _ry(-np.radians(dec_ref)) @ _rx(-np.radians(roll_ref))
         @ _ry(v3_ref * _ARCSEC) @ _rz(-v2_ref * _ARCSEC))
    return Attitude(m)


def pointing_error(rng, max_offset=0.95, max_roll=1.0e-3):
    """A random attitude error: (east, north) arcsec within ``max_offset`` and a roll error, deg.

    The offset is uniform over the disc of radius ``max_offset`` (the
    reference point of the prime aperture lands within it); the roll error
    is uniform in +-``max_roll`` (it moves the other apertures' reference
    points by at most ``max_roll`` x their distance, ~0.01 arcsec here).
    """
    r = max_offset * np.sqrt(rng.uniform())
    phi = rng.uniform(0.0, 2.0 * np.pi)
    return r * np.sin(phi), r * np.cos(phi), rng.uniform(-max_roll, max_roll)
