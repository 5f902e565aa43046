"""Rate images and image2 reference files in the official formats, for the image2 tests.

Formats (as stdatamodels writes them): distortion and filteroffset are
ASDF files (tree ``model`` + ``meta`` with input_units/output_units;
``filters`` list); flat is FITS SCI/ERR/DQ/DQ_DEF; photom is FITS with a
PHOTOM table (lower-case columns filter, pupil or subarray, photmjsr,
uncertainty); area is FITS SCI with PIXAR_SR/PIXAR_A2 in the primary header.
"""

import math
import warnings

import numpy as np
from astropy.io import fits

from webbflow import dqflags
from webbflow.datamodels import ImageModel

DETECTORS = {"NIRCAM": "NRCB1", "NIRISS": "NIS", "MIRI": "MIRIMAGE", "FGS": "GUIDER1"}
EXP_TYPES = {"NIRCAM": "NRC_IMAGE", "NIRISS": "NIS_IMAGE", "MIRI": "MIR_IMAGE", "FGS": "FGS_IMAGE"}
FULL = {"NIRCAM": (2048, 2048), "NIRISS": (2048, 2048), "MIRI": (1024, 1032), "FGS": (2048, 2048)}
ELEMENTS = {"NIRCAM": ("F200W", "CLEAR"), "NIRISS": ("F150W", "CLEARP"), "MIRI": ("F770W", "N/A"),
            "FGS": ("N/A", "N/A")}
#: Nominal pixel scale (arcsec), reference point (V2_REF, V3_REF in arcsec) and V3 -> y angle (deg).
GEOMETRY = {"NIRCAM": (0.031, -121.0, -527.0, -0.57), "NIRISS": (0.0656, -290.1, -697.5, -0.57),
            "MIRI": (0.11, -453.6, -373.8, 4.45), "FGS": (0.069, 207.0, -697.0, -1.24)}
POINTING = {"RA_REF": 53.1625, "DEC_REF": -27.7914, "ROLL_REF": 293.5}


def rate_model(instrument="NIRCAM", shape=(64, 80), substrt=(1001, 961), subarray="SUB160", seed=1,
               value=None, with_variance=True, **extra):
    """A rate ImageModel (DN/s) with the primary and SCI keywords image2 needs.

    The SCI header carries the pointing keywords; the reference pixel of the
    distortion fixture (the full-frame centre) points at RA_REF, DEC_REF.
    """
    rng = np.random.default_rng(seed)
    ny, nx = shape
    scale, v2_ref, v3_ref, yang = GEOMETRY[instrument]
    filt, pupil = ELEMENTS[instrument]
    meta = fits.Header()
    for key, val in [("TELESCOP", "JWST"), ("INSTRUME", instrument), ("DETECTOR", DETECTORS[instrument]),
                     ("EXP_TYPE", EXP_TYPES[instrument]), ("FILTER", filt), ("PUPIL", pupil),
                     ("READPATT", "RAPID" if instrument != "MIRI" else "FASTR1"),
                     ("SUBARRAY", subarray if shape != FULL[instrument] else "FULL"),
                     ("SUBSTRT1", substrt[0]), ("SUBSTRT2", substrt[1]), ("SUBSIZE1", nx), ("SUBSIZE2", ny),
                     ("FASTAXIS", 1), ("SLOWAXIS", 2), ("NINTS", 1), ("NGROUPS", 5), ("NFRAMES", 1),
                     ("GROUPGAP", 0), ("TFRAME", 10.0), ("TGROUP", 10.0),
                     ("DATE-OBS", "2024-03-15"), ("TIME-OBS", "06:00:00.000"),
                     ("EXPSTART", 60384.25), ("EXPMID", 60384.2505), ("EXPEND", 60384.251),
                     ("EFFEXPTM", 100.0)]:
        meta[key] = val
    if instrument == "NIRCAM":
        meta["CHANNEL"], meta["MODULE"] = "SHORT", "B"
    for key, val in extra.items():
        meta[key.upper()] = val
    sci = fits.Header()
    sci["BUNIT"] = "DN/s"
    sci["RADESYS"] = "ICRS"
    for key, val in [("V2_REF", v2_ref), ("V3_REF", v3_ref), ("VPARITY", -1), ("V3I_YANG", yang),
                     ("VA_SCALE", 1.0), *POINTING.items()]:
        sci[key] = val
    data = (np.full(shape, 5.0, np.float32) if value is None
            else np.broadcast_to(np.asarray(value, np.float32), shape).copy())
    if with_variance:
        var_poisson = (np.abs(data) / 100.0 + rng.uniform(0, 1e-3, shape)).astype(np.float32)
        var_rnoise = np.full(shape, 0.01, np.float32)
    else:
        var_poisson = var_rnoise = np.zeros(shape, np.float32)
    return ImageModel(meta=meta, sci_meta=sci, data=data, dq=np.zeros(shape, np.uint32),
                      var_poisson=var_poisson, var_rnoise=var_rnoise,
                      err=np.sqrt(var_poisson + var_rnoise).astype(np.float32))


def distortion_model(instrument="NIRCAM", quadratic=2e-7, bbox=False):
    """Full-frame pixel (0-based) -> V2, V3 (arcsec): centre shift, a small quadratic distortion,
    rotation by V3I_YANG with parity -1, the pixel scale, and the reference point."""
    from astropy.modeling.models import AffineTransformation2D, Mapping, Polynomial2D, Shift

    scale, v2_ref, v3_ref, yang = GEOMETRY[instrument]
    ny, nx = FULL[instrument]
    cx, cy = (nx - 1) / 2.0, (ny - 1) / 2.0
    a = math.radians(yang)
    # parity -1: +x goes to -V2 at zero angle; the ideal y axis is V3I_YANG from V3
    matrix = scale * np.array([[-math.cos(a), math.sin(a)], [math.sin(a), math.cos(a)]])
    distort = (Polynomial2D(2, c1_0=1.0, c2_0=quadratic, c0_2=-0.5 * quadratic)
               & Polynomial2D(2, c0_1=1.0, c1_1=quadratic))
    model = ((Shift(-cx) & Shift(-cy)) | Mapping((0, 1, 0, 1)) | distort
             | AffineTransformation2D(matrix=matrix, translation=[v2_ref, v3_ref]))
    model.inverse = _fitted_inverse(model, nx, ny)
    if bbox:
        model.bounding_box = ((-0.5, ny - 0.5), (-0.5, nx - 0.5))  # C order: (y, x)
    return model


def _fitted_inverse(model, nx, ny, degree=4):
    """V2, V3 -> pixel: polynomials fitted to the forward model (as the official files carry one)."""
    from astropy.modeling.fitting import LinearLSQFitter
    from astropy.modeling.models import Mapping, Polynomial2D

    y, x = np.mgrid[-0.5:ny:ny / 40.0, -0.5:nx:nx / 40.0]
    v2, v3 = model(x, y)
    fitter = LinearLSQFitter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "poorly conditioned": arcsec offsets to the 4th power; the fit is fine
        inv_x = fitter(Polynomial2D(degree), v2, v3, x)
        inv_y = fitter(Polynomial2D(degree), v2, v3, y)
    return Mapping((0, 1, 0, 1)) | (inv_x & inv_y)


def _reference_meta(reftype, instrument, model_type, **extra):
    meta = {"reftype": reftype, "model_type": model_type, "telescope": "JWST", "author": "webbflow tests",
            "pedigree": "DUMMY", "description": f"synthetic {reftype} for the image2 tests",
            "useafter": "2022-01-01T00:00:00",
            "instrument": {"name": instrument, "detector": DETECTORS[instrument]},
            "exposure": {"type": EXP_TYPES[instrument]}}
    if instrument == "NIRCAM":
        meta["instrument"].update(channel="SHORT", module="B")
    meta.update(extra)
    return meta


def write_distortion(path, instrument="NIRCAM", model=None, output_units="arcsec", **kw):
    """An official DistortionModel ASDF file."""
    import asdf
    from astropy import units as u

    meta = _reference_meta("distortion", instrument, "DistortionModel",
                           input_units=u.pix, output_units=u.Unit(output_units))
    meta["subarray"] = {"name": "FULL"}
    asdf.AsdfFile({"meta": meta, "model": model or distortion_model(instrument, **kw)}).write_to(str(path))
    return str(path)


def write_filteroffset(path, rows, instrument="NIRCAM"):
    """An official FilteroffsetModel ASDF file: ``rows`` of filter/pupil/column_offset/row_offset."""
    import asdf
    from astropy import units as u

    meta = _reference_meta("filteroffset", instrument, "FilteroffsetModel", input_units=u.pix)
    asdf.AsdfFile({"meta": meta, "filters": list(rows)}).write_to(str(path))
    return str(path)


def _primary(reftype, instrument, model_type, shape=None, **keywords):
    hdr = fits.Header()
    for key, val in [("TELESCOP", "JWST"), ("INSTRUME", instrument), ("DETECTOR", DETECTORS[instrument]),
                     ("REFTYPE", reftype.upper()), ("DATAMODL", model_type), ("AUTHOR", "webbflow tests"),
                     ("PEDIGREE", "DUMMY"), ("DESCRIP", f"synthetic {reftype}"),
                     ("USEAFTER", "2022-01-01T00:00:00"), ("EXP_TYPE", EXP_TYPES[instrument])]:
        hdr[key] = val
    if shape is not None:
        ny, nx = shape
        hdr["SUBARRAY"] = "FULL" if shape == FULL[instrument] else "GENERIC"
        for key, val in [("SUBSTRT1", 1), ("SUBSTRT2", 1), ("SUBSIZE1", nx), ("SUBSIZE2", ny),
                         ("FASTAXIS", 1), ("SLOWAXIS", 2)]:
            hdr[key] = val
    for key, val in keywords.items():
        hdr[key.upper()] = val
    return hdr


def dq_def():
    rows = dqflags.dq_def_rows()
    table = np.zeros(len(rows), dtype=[("BIT", ">i4"), ("VALUE", ">u4"), ("NAME", "S40"), ("DESCRIPTION", "S80")])
    for k, row in enumerate(rows):
        table[k] = row
    return table


def write_flat(path, sci, err=None, dq=None, instrument="NIRCAM", substrt=(1, 1)):
    """An official FlatModel FITS file (SCI, ERR, DQ, DQ_DEF) covering the given window."""
    sci = np.asarray(sci, np.float32)
    hdr = _primary("flat", instrument, "FlatModel", sci.shape)
    hdr["SUBSTRT1"], hdr["SUBSTRT2"] = substrt
    filt, pupil = ELEMENTS[instrument]
    hdr["FILTER"], hdr["PUPIL"] = filt, pupil
    hdus = [fits.PrimaryHDU(header=hdr), fits.ImageHDU(sci, name="SCI"),
            fits.ImageHDU(np.zeros_like(sci) if err is None else np.asarray(err, np.float32), name="ERR"),
            fits.ImageHDU(np.zeros(sci.shape, np.uint32) if dq is None else np.asarray(dq, np.uint32), name="DQ"),
            fits.BinTableHDU(dq_def(), name="DQ_DEF")]
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return str(path)


def write_photom(path, rows, instrument="NIRCAM", timecoeff=None, **keywords):
    """An official photom FITS file with a PHOTOM table.

    ``rows``: dicts with filter, pupil (NIRCam/NIRISS) or subarray (MIRI),
    photmjsr, uncertainty. ``timecoeff``: {"linear"|"exponential"|"powerlaw": rows}.
    """
    model_type = {"NIRCAM": "NrcImgPhotomModel", "NIRISS": "NisImgPhotomModel", "MIRI": "MirImgPhotomModel",
                  "FGS": "FgsImgPhotomModel"}[instrument]
    second = ("subarray", "S17") if instrument == "MIRI" else ("pupil", "S12")
    dtype = [("filter", "S12"), second, ("photmjsr", ">f4"), ("uncertainty", ">f4")]
    table = np.zeros(len(rows), dtype=dtype)
    for k, row in enumerate(rows):
        table[k] = tuple(row.get(name, 0) for name, _ in dtype)
    hdus = [fits.PrimaryHDU(header=_primary("photom", instrument, model_type, **keywords)),
            fits.BinTableHDU(table, name="PHOTOM")]
    for form, trows in (timecoeff or {}).items():
        names = {"linear": ["t0", "lossperyear"], "exponential": ["t0", "amplitude", "tau", "const"],
                 "powerlaw": ["t0", "year1value", "tsoft", "alpha"]}[form]
        tdtype = dtype[:2] + [(n, ">f4") for n in names]
        tt = np.zeros(len(trows), dtype=tdtype)
        for k, row in enumerate(trows):
            tt[k] = tuple(row.get(name, 0) for name, _ in tdtype)
        hdus.append(fits.BinTableHDU(tt, name=f"TIMECOEFF_{form.upper()}"))
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return str(path)


def write_area(path, sci, pixar_sr, pixar_a2, instrument="NIRCAM"):
    """An official PixelAreaModel FITS file: SCI (relative pixel area) and PIXAR_SR/PIXAR_A2."""
    sci = np.asarray(sci, np.float32)
    hdr = _primary("area", instrument, "PixelAreaModel", sci.shape, PIXAR_SR=pixar_sr, PIXAR_A2=pixar_a2)
    filt, pupil = ELEMENTS[instrument]
    hdr["FILTER"], hdr["PUPIL"] = filt, pupil
    fits.HDUList([fits.PrimaryHDU(header=hdr), fits.ImageHDU(sci, name="SCI")]).writeto(path, overwrite=True)
    return str(path)


def imaging_references(tmp_path, instrument="NIRCAM", seed=3, offsets=(0.0, 0.0)):
    """A full set of image2 references (full frame) for ``instrument``: {reftype: path}."""
    rng = np.random.default_rng(seed)
    full = FULL[instrument]
    filt, pupil = ELEMENTS[instrument]
    scale = GEOMETRY[instrument][0]
    pixar_a2 = scale * scale
    pixar_sr = pixar_a2 * (math.pi / 180 / 3600) ** 2
    refs = {
        "distortion": write_distortion(tmp_path / f"{instrument.lower()}_distortion.asdf", instrument),
        "filteroffset": write_filteroffset(tmp_path / f"{instrument.lower()}_filteroffset.asdf",
                                           [{"filter": filt, "pupil": pupil, "column_offset": offsets[0],
                                             "row_offset": offsets[1]},
                                            {"filter": "F999W", "pupil": pupil, "column_offset": 50.0,
                                             "row_offset": -50.0}], instrument),
        "flat": write_flat(tmp_path / f"{instrument.lower()}_flat.fits",
                           rng.normal(1.0, 0.03, full), rng.uniform(0.001, 0.01, full), instrument=instrument),
        "photom": write_photom(tmp_path / f"{instrument.lower()}_photom.fits",
                               [{"filter": filt, "pupil": pupil, "subarray": "SUB160", "photmjsr": 0.25,
                                 "uncertainty": 0.01},
                                {"filter": "F090W", "pupil": pupil, "subarray": "SUB160", "photmjsr": 0.5,
                                 "uncertainty": 0.01}]
                               + ([{"filter": filt, "subarray": "FULL", "photmjsr": 0.26, "uncertainty": 0.01}]
                                  if instrument == "MIRI" else []), instrument),
        "area": write_area(tmp_path / f"{instrument.lower()}_area.fits", rng.normal(1.0, 0.01, full),
                           pixar_sr, pixar_a2, instrument),
    }
    return refs
