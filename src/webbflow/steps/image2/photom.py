"""photom: count rates (DN/s) to surface brightness (MJy/sr).

The ``photom`` reference file's PHOTOM table gives PHOTMJSR, the surface
brightness in MJy/sr of 1 DN/s, per optical element: the row is chosen by
FILTER and PUPIL (NIRCam, NIRISS; NIRCam also by SUBARRAY when the table
has that column), by FILTER and SUBARRAY (MIRI imager; a row with
SUBARRAY=GENERIC serves every subarray) or is the only row (FGS). When
the file has TIMECOEFF_LINEAR / _EXPONENTIAL / _POWERLAW tables, the
throughput loss at the exposure's mid time (EXPMID) divides the factor.

SCI and ERR are multiplied by the factor c, the variances by c**2; the
SCI header gets BUNIT = MJy/sr, PHOTMJSR = c, PHOTUJA2 (the same in
uJy/arcsec**2) and the mean pixel area PIXAR_SR, PIXAR_A2 from the
``area`` reference file (else from the photom file). The area file's
pixel area map, cut to the subarray, becomes the product's AREA array.
"""

import math

import numpy as np

from webbflow.errors import ReferenceFileError
from webbflow.steps.detector1._common import COMPLETE, merge_params, open_ref, set_status, skip, table_column
from webbflow.steps.image2._common import log, match_invalid, require_image, text_keyword

NAME = "photom"
STATUS_KEYWORD = "S_PHOTOM"
REFTYPES = ("photom",)
OPTIONAL_REFTYPES = ("area",)
DEFAULTS = {"skip": False, "apply_time_correction": True}

#: MJy/sr -> uJy/arcsec**2: 1e12 uJy per MJy times the steradians in one square arcsecond.
MJSR_TO_UJA2 = 1.0e12 * (math.pi / 180.0 / 3600.0) ** 2


def run(model, refs, params=None):
    """Convert a flat-fielded rate (or rateints) model to MJy/sr in place.

    Parameters
    ----------
    model : ImageModel or CubeModel
    refs : dict
        ``{"photom": path, "area": path or "N/A"}``.
    params : dict, optional
        ``apply_time_correction`` (bool, default True).

    Returns
    -------
    ImageModel or CubeModel

    Raises
    ------
    ReferenceFileError
        When the photom table has no row (or several) for the exposure's
        optical elements, or its PHOTMJSR is not a positive number.
    """
    params = merge_params(DEFAULTS, params)
    require_image(model, NAME)
    ref = open_ref(refs, "photom", NAME)
    if ref is None:
        return skip(model, STATUS_KEYWORD, NAME, "no photom reference file (N/A)")
    area = open_ref(refs, "area", NAME) if (refs or {}).get("area") else None
    pixar_sr, pixar_a2 = _pixel_area(model, ref, area)
    row, fields = find_row(model, ref, "photom")
    factor = float(table_column(ref, "photom", "photmjsr")[row])
    if not np.isfinite(factor) or factor <= 0:
        raise ReferenceFileError(ref.path, f"PHOTMJSR={factor} for {fields} is not a positive number")
    if params["apply_time_correction"]:
        factor /= time_correction(model, ref, fields)
    scale = np.float32(factor)
    for attr in ("data", "err"):
        np.multiply(getattr(model, attr), scale, out=getattr(model, attr))
    for attr in ("var_poisson", "var_rnoise", "var_flat"):
        value = getattr(model, attr, None)
        if value is not None and value.size:
            np.multiply(value, np.float32(factor * factor), out=value)
    sci = model.sci_meta
    sci["BUNIT"] = ("MJy/sr", "physical units of the array values")
    sci["PHOTMJSR"] = (factor, "flux density (MJy/steradian) producing 1 cps")
    sci["PHOTUJA2"] = (factor * MJSR_TO_UJA2, "flux density (uJy/arcsec2) producing 1 cps")
    if pixar_sr is not None:
        sci["PIXAR_SR"] = (pixar_sr, "nominal pixel area in steradians")
    if pixar_a2 is not None:
        sci["PIXAR_A2"] = (pixar_a2, "nominal pixel area in arcsec^2")
    match_invalid(model)
    return set_status(model, STATUS_KEYWORD, COMPLETE)


def _pixel_area(model, ref, area):
    """(PIXAR_SR, PIXAR_A2) and the area map (attached to ``model.area``)."""
    pixar_sr = pixar_a2 = None
    if area is not None:
        if area.has("sci"):
            model.area = np.array(area.cutout("sci", model.meta), dtype=np.float32)
            if model.area.shape != model.data.shape[-2:]:
                raise ReferenceFileError(area.path, f"pixel area map cut to the subarray is {model.area.shape}, "
                                                    f"the science data {model.data.shape[-2:]}")
        pixar_sr, pixar_a2 = area.meta.get("PIXAR_SR"), area.meta.get("PIXAR_A2")
    if pixar_sr is None or pixar_a2 is None:  # older area files: the photom file has them
        pixar_sr, pixar_a2 = ref.meta.get("PIXAR_SR"), ref.meta.get("PIXAR_A2")
    if pixar_sr is None or pixar_a2 is None:
        log.warning("photom: no PIXAR_SR/PIXAR_A2 in the area or photom reference file")
        return None, None
    return float(pixar_sr), float(pixar_a2)


def _match_fields(model, ref, table):
    """The (column, value) pairs that choose the row of ``table`` for this exposure."""
    instrument = text_keyword(model, "INSTRUME")
    columns = {name.lower() for name in (ref.tables[table].dtype.names or ())}
    if instrument == "MIRI":
        fields = {"filter": text_keyword(model, "FILTER"), "subarray": text_keyword(model, "SUBARRAY")}
    elif instrument == "FGS":
        fields = {}
    else:
        fields = {"filter": text_keyword(model, "FILTER"), "pupil": text_keyword(model, "PUPIL")}
        if instrument == "NIRCAM" and "subarray" in columns:
            fields["subarray"] = text_keyword(model, "SUBARRAY")
    return {key: value for key, value in fields.items() if key in columns or table == "photom"}


def find_row(model, ref, table):
    """Index of the row of ``table`` matching the exposure, and the fields matched.

    Raises
    ------
    ReferenceFileError
        When no row or more than one matches.
    """
    if ref.tables.get(table) is None:
        raise ReferenceFileError(ref.path, f"photom reference file has no {table.upper()} table")
    fields = _match_fields(model, ref, table)
    nrows = len(ref.tables[table])
    rows = np.ones(nrows, dtype=bool)
    for key, value in fields.items():
        column = table_column(ref, table, key)
        if column is None:
            raise ReferenceFileError(ref.path, f"{table.upper()} table has no {key!r} column")
        rows &= np.array([_text(v) == value for v in column])
    if not rows.any() and "subarray" in fields and text_keyword(model, "INSTRUME") == "MIRI":
        generic = dict(fields, subarray="GENERIC")  # older MIRI files: one row for all subarrays
        rows = np.ones(nrows, dtype=bool)
        for key, value in generic.items():
            rows &= np.array([_text(v) == value for v in table_column(ref, table, key)])
        fields = generic
    found = np.flatnonzero(rows)
    described = ", ".join(f"{k.upper()}={v}" for k, v in fields.items()) or "this exposure"
    if found.size == 0:
        raise ReferenceFileError(ref.path, f"{table.upper()} table has no row for {described}")
    if found.size > 1:
        raise ReferenceFileError(ref.path, f"{table.upper()} table has {found.size} rows for {described}")
    return int(found[0]), fields


def _text(value):
    return (value.decode() if isinstance(value, bytes) else str(value)).strip().upper()


def time_correction(model, ref, fields):
    """The throughput at EXPMID relative to the reference day (1.0 without TIMECOEFF tables).

    Linear: ``1 - lossperyear (t - t0) / 365``; exponential:
    ``amplitude exp(-(t - t0) / tau) + const``; power law:
    ``(t - t0 + tsoft)**alpha / ((365 + tsoft)**alpha / year1value)``;
    the tables present are multiplied.
    """
    forms = {
        "timecoeff_linear": lambda t, r: 1.0 - r["lossperyear"] * (t - r["t0"]) / 365.0,
        "timecoeff_exponential": lambda t, r: r["amplitude"] * math.exp(-(t - r["t0"]) / r["tau"]) + r["const"],
        "timecoeff_powerlaw": lambda t, r: ((t - r["t0"] + r["tsoft"]) ** r["alpha"]
                                            / ((365.0 + r["tsoft"]) ** r["alpha"] / r["year1value"])),
    }
    correction = 1.0
    present = [name for name in forms if ref.tables.get(name) is not None]
    if not present:
        return correction
    mid = model.meta.get("EXPMID")
    if mid is None:
        raise ReferenceFileError(ref.path, "has time-dependence tables but the exposure has no EXPMID keyword")
    for name in present:
        columns = [c.lower() for c in ref.tables[name].dtype.names]
        if set(fields) <= set(columns):
            index, _ = find_row(model, ref, name)
        elif len(ref.tables[name]) == len(ref.tables["photom"]):
            index, _ = find_row(model, ref, "photom")  # rows parallel to the PHOTOM table
        else:
            raise ReferenceFileError(ref.path, f"{name.upper()} has neither the PHOTOM match columns nor its rows")
        row = {c: float(table_column(ref, name, c)[index]) for c in columns
               if c not in ("filter", "pupil", "subarray")}
        correction *= forms[name](float(mid), row)
    if not np.isfinite(correction) or correction <= 0:
        raise ReferenceFileError(ref.path, f"time-dependence correction at EXPMID={mid} is {correction}")
    return correction
