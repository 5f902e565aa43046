"""assign_wcs: the imaging WCS, pixels to sky, as a gwcs object.

The WCS is a chain of four coordinate frames, named as in the official
products so that their users' tools find them:

``detector`` (pixels, 0-based, in the science subarray)
    -> shift to full-frame pixels (subarrays), minus the filter offset
    (``filteroffset`` reference: a per-filter pointing shift in pixels),
    then the ``distortion`` reference model (an astropy model from
    full-frame pixels to the telescope's V2, V3 in arcsec);
``v2v3`` (arcsec)
    -> the differential velocity aberration: V2, V3 scaled by VA_SCALE
    about the reference point (V2_REF, V3_REF);
``v2v3vacorr`` (arcsec)
    -> the rotation of the telescope frame onto the sky: the unit vector
    of (V2, V3) is rotated by V2_REF about z, -V3_REF about y, ROLL_REF
    about x, DEC_REF about y and -RA_REF about z, which brings the
    reference point to (RA_REF, DEC_REF) with V3 at position angle
    ROLL_REF there;
``world`` (ICRS RA, Dec in degrees).

The gwcs is stored in ``model.wcs`` (the ASDF extension of the product).
The step also writes S_REGION (the footprint on the sky) and, by default,
a FITS TAN-SIP approximation of the WCS in the SCI header (CTYPE, CRPIX,
CRVAL, CD, A_*/B_*/AP_*/BP_* ...) for tools that read FITS WCS only.
"""

import numpy as np

from webbflow.datamodels.wcs import s_region
from webbflow.errors import InputError, ReferenceFileError
from webbflow.steps.detector1._common import COMPLETE, merge_params, set_status
from webbflow.steps.image2._common import (
    check_imaging,
    keyword,
    log,
    open_asdf_reference,
    require_image,
    text_keyword,
)

NAME = "assign_wcs"
STATUS_KEYWORD = "S_WCS"
REFTYPES = ("distortion",)
OPTIONAL_REFTYPES = ("filteroffset",)
DEFAULTS = {
    "skip": False,
    "sip_approx": True,
    "sip_max_pix_error": 0.01,
    "sip_degree": None,
    "sip_max_inv_pix_error": 0.01,
    "sip_inv_degree": None,
    "sip_npoints": 12,
}

#: Pointing keywords (SCI header) the sky transform needs.
POINTING_KEYWORDS = ("V2_REF", "V3_REF", "ROLL_REF", "RA_REF", "DEC_REF")

# FITS WCS keywords the SIP approximation writes; removed first so that no stale card survives.
FITS_WCS_PREFIXES = ("A_", "B_", "AP_", "BP_")
FITS_WCS_KEYS = ("WCSAXES", "CTYPE1", "CTYPE2", "CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2", "CUNIT1", "CUNIT2",
                  "CD1_1", "CD1_2", "CD2_1", "CD2_2", "PC1_1", "PC1_2", "PC2_1", "PC2_2", "CDELT1", "CDELT2",
                  "LONPOLE", "LATPOLE", "MJDREF", "A_ORDER", "B_ORDER", "AP_ORDER", "BP_ORDER",
                  "SIPMXERR", "SIPIVERR")


def run(model, refs, params=None):
    """Attach the imaging WCS to a rate (or rateints) model.

    Parameters
    ----------
    model : ImageModel or CubeModel
        Modified in place: ``model.wcs``, S_REGION and (``sip_approx``) the
        FITS SIP keywords of the SCI header.
    refs : dict
        ``{"distortion": path, "filteroffset": path or "N/A"}``.
    params : dict, optional
        ``sip_*`` settings of the FITS approximation (see DEFAULTS).

    Returns
    -------
    ImageModel or CubeModel

    Raises
    ------
    InputError
        When the exposure is not an imaging one or lacks pointing keywords.
    ReferenceFileError
        When a reference file is missing, unreadable or for another instrument.
    """
    params = merge_params(DEFAULTS, params)
    require_image(model, NAME)
    check_imaging(model)
    distortion = open_asdf_reference(refs, "distortion", NAME)
    if distortion is None:
        raise ReferenceFileError(None, f"step {NAME} needs a distortion reference file and CRDS selects none (N/A)")
    offsets = open_asdf_reference(refs, "filteroffset", NAME) if (refs or {}).get("filteroffset") else None
    wcs = build_wcs(model, distortion, offsets)
    model.wcs = wcs
    model.sci_meta["S_REGION"] = (s_region(wcs, model.data.shape), "spatial extent of the observation")
    if params["sip_approx"]:
        add_sip_keywords(model, wcs, params)
    return set_status(model, STATUS_KEYWORD, COMPLETE)


def build_wcs(model, distortion, offsets=None):
    """The gwcs of an imaging exposure.

    Parameters
    ----------
    model : ImageModel or CubeModel
        Gives INSTRUME, FILTER, PUPIL, the subarray (SUBSTRT1/2, SUBSIZE1/2)
        and the pointing keywords (SCI header: V2_REF, V3_REF, ROLL_REF,
        RA_REF, DEC_REF, VA_SCALE).
    distortion : dict
        The tree of the distortion reference file (``model``, ``meta``, ``path``).
    offsets : dict or None
        The tree of the filteroffset reference file (``filters``, ``path``).

    Returns
    -------
    gwcs.WCS
    """
    import gwcs
    from astropy import coordinates
    from astropy import units as u
    from gwcs import coordinate_frames as cf

    pointing = _pointing(model)
    to_v2v3 = _detector_to_v2v3(model, distortion, offsets)
    detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    v2v3 = cf.Frame2D(name="v2v3", axes_order=(0, 1), axes_names=("v2", "v3"), unit=(u.arcsec, u.arcsec))
    v2v3vacorr = cf.Frame2D(name="v2v3vacorr", axes_order=(0, 1), axes_names=("v2", "v3"),
                            unit=(u.arcsec, u.arcsec))
    world = cf.CelestialFrame(reference_frame=coordinates.ICRS(), name="world")
    steps = [
        (detector, to_v2v3),
        (v2v3, velocity_aberration(pointing.get("VA_SCALE"), pointing["V2_REF"], pointing["V3_REF"])),
        (v2v3vacorr, v2v3_to_sky(pointing["V2_REF"], pointing["V3_REF"], pointing["ROLL_REF"],
                                 pointing["RA_REF"], pointing["DEC_REF"])),
        (world, None),
    ]
    return gwcs.WCS(steps)


def _pointing(model):
    values = {}
    for key in (*POINTING_KEYWORDS, "VA_SCALE"):
        value = keyword(model, key)
        if value is None and key == "VA_SCALE":
            continue
        if value is None:
            raise InputError(model.path, f"has no {key} keyword (SCI header); assign_wcs needs the pointing "
                                         f"keywords {', '.join(POINTING_KEYWORDS)}")
        try:
            values[key] = float(value)
        except (TypeError, ValueError):
            raise InputError(model.path, f"keyword {key}={value!r} is not a number") from None
        if not np.isfinite(values[key]):
            raise InputError(model.path, f"keyword {key}={value!r} is not a finite number")
    if abs(values["DEC_REF"]) > 90:
        raise InputError(model.path, f"keyword DEC_REF={values['DEC_REF']!r} is outside -90..90 degrees")
    return values


def _detector_to_v2v3(model, distortion, offsets):
    """Subarray pixels -> full-frame pixels -> filter offset -> distortion -> V2, V3 (arcsec)."""
    from astropy import units as u
    from astropy.modeling import Model, bind_bounding_box
    from astropy.modeling.models import Identity, Shift

    path = distortion.get("path")
    transform = distortion.get("model")
    if not isinstance(transform, Model):
        raise ReferenceFileError(path, "distortion reference file has no 'model' (an astropy model) in its tree")
    if transform.n_inputs != 2 or transform.n_outputs != 2:
        raise ReferenceFileError(path, f"distortion model maps {transform.n_inputs} to {transform.n_outputs} "
                                       "coordinates; an imaging distortion maps (x, y) to (V2, V3)")
    meta = distortion.get("meta") or {}
    _check_instrument(model, meta, path)
    unit = meta.get("output_units")
    if unit is not None and u.Unit(unit) != u.arcsec:
        raise ReferenceFileError(path, f"distortion output_units is {unit}; V2, V3 must be in arcsec")
    try:
        bbox = transform.bounding_box.bounding_box(order="F")
    except NotImplementedError:
        bbox = None
    shift = _filter_offset(model, offsets)
    if shift is not None:
        transform = Shift(shift[0]) & Shift(shift[1]) | transform
    ny, nx = model.data.shape[-2:]
    bind_bounding_box(transform, bbox if bbox is not None else ((-0.5, nx - 0.5), (-0.5, ny - 0.5)), order="F")
    xstart = int(keyword(model, "SUBSTRT1", 1) or 1)
    ystart = int(keyword(model, "SUBSTRT2", 1) or 1)
    if (xstart, ystart) == (1, 1):
        return transform
    # a subarray: its pixel (0, 0) is full-frame pixel (SUBSTRT1 - 1, SUBSTRT2 - 1)
    to_full = ((Shift(xstart - 1) if xstart != 1 else Identity(1))
               & (Shift(ystart - 1) if ystart != 1 else Identity(1)))
    transform = to_full | transform
    xsize = int(keyword(model, "SUBSIZE1", nx) or nx)
    ysize = int(keyword(model, "SUBSIZE2", ny) or ny)
    bind_bounding_box(transform, ((-0.5, xsize - 0.5), (-0.5, ysize - 0.5)), order="F")
    return transform


def _check_instrument(model, meta, path):
    instrument = meta.get("instrument") if isinstance(meta.get("instrument"), dict) else {}
    ref_instrument = str(instrument.get("name", "")).strip().upper()
    if ref_instrument and ref_instrument != text_keyword(model, "INSTRUME"):
        raise ReferenceFileError(path, f"is a {ref_instrument} reference file; the exposure is "
                                       f"{text_keyword(model, 'INSTRUME')}")
    ref_detector = str(instrument.get("detector", "")).strip().upper()
    if ref_detector and ref_detector not in ("ANY", "N/A") and ref_detector != text_keyword(model, "DETECTOR"):
        raise ReferenceFileError(path, f"is a reference file of detector {ref_detector}; the exposure is "
                                       f"{text_keyword(model, 'DETECTOR')}")


def _filter_offset(model, offsets):
    """(column, row) offset in pixels of the exposure's filter (and pupil), or None."""
    if offsets is None:
        return None
    path = offsets.get("path")
    rows = offsets.get("filters")
    if not isinstance(rows, list):
        raise ReferenceFileError(path, "filteroffset reference file has no 'filters' list")
    # the MIRI imager has no pupil wheel: its offsets are per filter only
    keys = ("filter",) if text_keyword(model, "INSTRUME") == "MIRI" else ("filter", "pupil")
    wanted = {key: text_keyword(model, key.upper()) for key in keys}
    found = [row for row in rows if isinstance(row, dict)
             and all(str(row.get(key, "")).strip().upper() == value for key, value in wanted.items())]
    if not found:
        log.info("assign_wcs: no filter offset for %s in %s", wanted, path)
        return None
    if len(found) > 1:
        raise ReferenceFileError(path, f"filteroffset has {len(found)} rows for {wanted}; expected one")
    row = found[0]
    try:
        return float(row["column_offset"]), float(row["row_offset"])
    except (KeyError, TypeError, ValueError):
        raise ReferenceFileError(path, f"filteroffset row {wanted} has no numeric column_offset/row_offset") from None


def velocity_aberration(scale, v2_ref, v3_ref):
    """The differential velocity aberration in V2, V3 (arcsec): a scaling about the reference point.

    Parameters
    ----------
    scale : float or None
        VA_SCALE, the apparent over the true plate scale (None or 1: no correction).
    v2_ref, v3_ref : float
        The reference point (arcsec).

    Returns
    -------
    astropy.modeling.Model
    """
    from astropy.modeling.models import Identity, Scale, Shift

    if scale is None or scale == 1:
        return Identity(2)
    if scale <= 0:
        raise InputError(None, f"VA_SCALE={scale} must be positive")
    model = Scale(scale, name="dva_scale_v2") & Scale(scale, name="dva_scale_v3")
    if v2_ref or v3_ref:
        # v' = s v + (1 - s) v_ref keeps the reference point fixed
        model = model | (Shift((1 - scale) * v2_ref, name="dva_v2_shift")
                         & Shift((1 - scale) * v3_ref, name="dva_v3_shift"))
    model.name = "DVA_Correction"
    return model


def v2v3_to_sky(v2_ref, v3_ref, roll_ref, ra_ref, dec_ref):
    """The rotation of the telescope V2, V3 frame (arcsec) onto ICRS RA, Dec (degrees).

    Parameters
    ----------
    v2_ref, v3_ref : float
        The reference point in the telescope frame (arcsec).
    roll_ref : float
        Position angle of V3 at the reference point (degrees, N through E).
    ra_ref, dec_ref : float
        Where the reference point is on the sky (degrees).

    Returns
    -------
    astropy.modeling.Model
    """
    from astropy.modeling.models import RotationSequence3D, Scale
    from gwcs.geometry import CartesianToSpherical, SphericalToCartesian

    arcsec = 1.0 / 3600.0
    rotation = RotationSequence3D([v2_ref * arcsec, -v3_ref * arcsec, roll_ref, dec_ref, -ra_ref],
                                  axes_order="zyxyz")
    model = ((Scale(arcsec) & Scale(arcsec)) | SphericalToCartesian(wrap_lon_at=180)
             | rotation | CartesianToSpherical(wrap_lon_at=360))
    model.name = "v23tosky"
    return model


def add_sip_keywords(model, wcs, params):
    """Write a FITS TAN-SIP approximation of ``wcs`` into the SCI header."""
    import warnings

    ny, nx = model.data.shape[-2:]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            header = wcs.to_fits_sip(
                bounding_box=((-0.5, nx - 0.5), (-0.5, ny - 0.5)),
                max_pix_error=params["sip_max_pix_error"], degree=params["sip_degree"],
                max_inv_pix_error=params["sip_max_inv_pix_error"], inv_degree=params["sip_inv_degree"],
                npoints=params["sip_npoints"],
            )
    except Exception as exc:  # a fit that cannot reach the accuracy: no FITS WCS rather than a wrong one
        log.warning("assign_wcs: no FITS SIP approximation (%s)", exc)
        return
    for key in list(model.sci_meta.keys()):
        if key in FITS_WCS_KEYS or key.startswith(FITS_WCS_PREFIXES):
            model.sci_meta.remove(key, ignore_missing=True, remove_all=True)
    for card in header.cards:
        if card.keyword and card.keyword not in ("COMMENT", "HISTORY", ""):
            model.sci_meta[card.keyword] = (card.value, card.comment)
