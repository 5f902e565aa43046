"""Imaging reference files in the official formats: distortion, filteroffset, flat, photom, area, drizpars.

Written per detector, named ``jwst_<instrument>_<reftype>_NNNN.<ext>`` under
``<cache>/references/jwst/<instrument>/``:

============  =====  ==========================================================  ======================
reftype       ext    contents                                                    official model
============  =====  ==========================================================  ======================
distortion    asdf   tree ``meta`` (reference keywords, ``input_units`` pixel,   DistortionModel
                     ``output_units`` arcsec) and ``model``: full-frame 0-based
                     science pixels (inputs x, y) -> V2, V3 arcsec (outputs v2,
                     v3), with an inverse
filteroffset  asdf   tree ``meta`` (``input_units`` pixel) and ``filters``: a    FilteroffsetModel
                     list of {filter, pupil (NIR only), column_offset,
                     row_offset} in pixels, added to the pixel coordinates
                     before the distortion
flat          fits   SCI f32 (ny, nx), ERR f32, DQ u32, DQ_DEF; one per           FlatModel
                     (detector, filter, pupil) used by the exposures
photom        fits   PHOTOM table: filter, pupil (NIRCam, NIRISS) or filter,      NrcImgPhotomModel,
                     subarray (MIRI), photmjsr, uncertainty (f32); primary        NisImgPhotomModel,
                     PIXAR_SR, PIXAR_A2                                           MirImgPhotomModel
area          fits   SCI f32: pixel area relative to PIXAR_SR; primary            PixelAreaModel
                     PIXAR_SR, PIXAR_A2
drizpars      fits   DRIZPARS table: numimages i4, filter S40, pixfrac f4,       (DrizParsModel, no
                     kernel S40, fillval S40, wht_type S40, stepsize i4           longer in stdatamodels)
============  =====  ==========================================================  ======================

Area maps are always full frame (the official photom step cuts them with the
science SUBSTRT1/2). Flats are full frame (SUBARRAY='FULL', matched as
GENERIC) or, with ``full_frame=False``, cut to each subarray used (selected
by SUBARRAY; the official flat_field step uses a matching subarray as is).
The CRDS matching parameters of each type are in
:data:`webbflow.refs.cache.REFTYPE_PARKEYS`.
"""

import os

import numpy as np
from astropy.io import fits

from webbflow.atomic import publish, temporary_beside
from webbflow.simulate.detector import DETECTORS, get_subarray
from webbflow.simulate.imaging.optics import FILTERS, distortion_model, flat_field, pixar_sr, pixel_area_map
from webbflow.simulate.program import set_card, subarray_cards
from webbflow.simulate.references import AUTHOR, USEAFTER, _dq_def, _image, _write

__all__ = ["IMAGING_REFTYPES", "P_EXPTYPE", "write_imaging_references"]

#: Reference types the imaging stage 2/3 steps ask CRDS for.
IMAGING_REFTYPES = ("distortion", "filteroffset", "flat", "photom", "area", "drizpars")

#: Types the official image2/image3 steps also ask for (spectroscopic WCS, NIRSpec flats, background,
#: source catalog): CRDS answers "not applicable" for them in the simulated cache.
NOT_APPLICABLE = ("specwcs", "regions", "wavelengthrange", "camera", "chromcorr", "collimator", "disperser", "fore",
                  "fpa", "msa", "ote", "ifupost", "ifufore", "ifuslicer", "fflat", "sflat", "dflat", "bkg", "apcorr",
                  "abvegaoffset")

EXP_TYPE = {"NIRCAM": "NRC_IMAGE", "NIRISS": "NIS_IMAGE", "MIRI": "MIR_IMAGE"}
#: P_EXPTYPE of the references (the exposure types they serve), as in the official files.
P_EXPTYPE = {"NIRCAM": "NRC_IMAGE|NRC_TSIMAGE|NRC_FLAT|NRC_LED|NRC_WFSC|NRC_TACQ|NRC_TACONFIRM|NRC_FOCUS|",
             "NIRISS": "NIS_IMAGE|NIS_TACQ|NIS_TACONFIRM|NIS_FOCUS|",
             "MIRI": "MIR_IMAGE|MIR_TACQ|MIR_TACONFIRM|MIR_FLATIMAGE|"}
_CHANNEL = {"NRCB1": "SHORT", "NRCBLONG": "LONG"}
_PHOTOM_MODEL = {"NIRCAM": "NrcImgPhotomModel", "NIRISS": "NisImgPhotomModel", "MIRI": "MirImgPhotomModel"}
_DATE = "2024-03-01T00:00:00.000"
# relative photometric uncertainty written to the PHOTOM tables
_PHOT_UNCERTAINTY = 0.01


class _Namer:
    def __init__(self):
        self.counts = {}

    def __call__(self, instrument, reftype, ext):
        key = (instrument.lower(), reftype)
        self.counts[key] = self.counts.get(key, 0) + 1
        return f"jwst_{instrument.lower()}_{reftype}_{self.counts[key]:04d}.{ext}"


def _primary(spec, reftype, datamodl, descrip, filename, sub=None, extra=()):
    h = fits.Header()
    cards = [
        ("DATE", _DATE, "UTC date file created"),
        ("ORIGIN", "webbflow", "organization responsible for creating file"),
        ("TIMESYS", "UTC", "principal time system for time-related keywords"),
        ("FILENAME", filename, "name of the file"),
        ("FILETYPE", reftype.upper(), "type of data in the file"),
        ("DATAMODL", datamodl, "type of data model"),
        ("TELESCOP", "JWST", "telescope used to acquire the data"),
        ("INSTRUME", spec.instrument, "instrument used to acquire the data"),
        ("DETECTOR", spec.name, "name of detector used to acquire the data"),
        ("EXP_TYPE", EXP_TYPE[spec.instrument], "type of data in the exposure"),
        ("P_EXPTYP", P_EXPTYPE[spec.instrument], "exposure types this file applies to"),
        ("REFTYPE", reftype.upper(), "reference file type"),
        ("AUTHOR", AUTHOR, "author of the reference file"),
        ("PEDIGREE", "DUMMY", "the pedigree of the reference file"),
        ("DESCRIP", descrip, "description of the reference file"),
        ("USEAFTER", USEAFTER, "use after date of the reference file"),
    ]
    if sub is not None:
        cards += subarray_cards(spec, sub)
    cards += list(extra)
    for key, value, comment in cards:
        set_card(h, key, value, comment)
    h["HISTORY"] = "Synthetic reference file made by the webbflow simulator; not for real data."
    return h


def _asdf_meta(spec, reftype, descrip, filename, extra_instrument=None):
    import astropy.units as u

    instrument = {"name": spec.instrument, "detector": spec.name}
    instrument.update(extra_instrument or {})
    return {
        "author": AUTHOR, "date": _DATE, "description": descrip, "filename": filename, "origin": "webbflow",
        "pedigree": "DUMMY", "reftype": reftype.upper(), "telescope": "JWST", "time_sys": "UTC",
        "useafter": USEAFTER, "instrument": instrument,
        "exposure": {"type": EXP_TYPE[spec.instrument], "p_exptype": P_EXPTYPE[spec.instrument]},
        "input_units": u.pix,
        "model_type": {"distortion": "DistortionModel", "filteroffset": "FilteroffsetModel"}[reftype],
    }


def _write_asdf(path, tree):
    from webbflow.datamodels.base import write_asdf

    tmp = temporary_beside(path, suffix=".asdf")
    try:
        write_asdf(tree, tmp, all_array_storage="internal")  # sorted extension history: same bytes every run
        publish(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _filters_of(detector):
    return [(f, p, optics) for (d, f, p), optics in sorted(FILTERS.items()) if d == detector]


def _add(rules, instrument, reftype, match, path):
    rules.setdefault(instrument, {}).setdefault(reftype, []).append((tuple(match), USEAFTER, path))


def write_imaging_references(cache_dir, exposures, seed, rules, full_frame=True):
    """Write the imaging references of the detectors of ``exposures`` and add their CRDS rules.

    Parameters
    ----------
    cache_dir : str or os.PathLike
        The CRDS cache root.
    exposures : list of Exposure
        Imaging exposures (NRC_IMAGE, NIS_IMAGE, MIR_IMAGE).
    seed : int
        Seed of the flat-field pixel response.
    rules : dict
        CRDS rules, completed in place (see :func:`webbflow.refs.cache.write_context`).
    full_frame : bool, optional
        Full-frame flats (default) or cut to each subarray used (area maps are always full frame).

    Returns
    -------
    dict
        ``{exposure uncal name: {reftype: path}}``.
    """
    from astropy import units as u

    namer = _Namer()
    out = {}
    by_det = {}
    for exp in exposures:
        by_det.setdefault(exp.detector, []).append(exp)
    drizpars_done = {}
    for det in sorted(by_det):
        spec = DETECTORS[det]
        inst = spec.instrument
        directory = os.path.join(os.fspath(cache_dir), "references", "jwst", inst.lower())
        miri = spec.is_miri
        paths = {}
        # distortion
        channel = _CHANNEL.get(det)
        extra_inst = {"channel": channel, "module": "B"} if channel else {}
        name = namer(inst, "distortion", "asdf")
        dist_inst = dict(extra_inst)
        if channel:
            # the pupil elements the (pupil-independent) imaging distortion serves, as in the official files
            dist_inst.update(pupil="ANY", p_pupil="CLEAR|F162M|F164N|F323N|F405N|F466N|F470N|")
        meta = _asdf_meta(spec, "distortion", f"{det} imaging distortion, pixels to V2/V3", name, dist_inst)
        meta["output_units"] = u.arcsec
        meta["subarray"] = {"name": "GENERIC"}
        paths["distortion"] = _write_asdf(os.path.join(directory, name), {"meta": meta, "model": distortion_model(det)})
        if inst == "NIRCAM":
            _add(rules, inst, "distortion", ("NRC_IMAGE", det, channel), paths["distortion"])
        elif inst == "NIRISS":
            _add(rules, inst, "distortion", ("NIS_IMAGE", "ANY", "ANY"), paths["distortion"])
        else:
            _add(rules, inst, "distortion", (det, "N/A", "N/A", "MIR_IMAGE"), paths["distortion"])
        # filteroffset
        name = namer(inst, "filteroffset", "asdf")
        meta = _asdf_meta(spec, "filteroffset", f"{det} filter-dependent pixel offsets", name, extra_inst)
        rows = []
        for f, p, optics in _filters_of(det):
            row = {"filter": f}
            if not miri:
                row["pupil"] = p
            row["column_offset"] = float(optics.offset[0])
            row["row_offset"] = float(optics.offset[1])
            rows.append(row)
        paths["filteroffset"] = _write_asdf(os.path.join(directory, name), {"meta": meta, "filters": rows})
        if inst == "NIRCAM":
            _add(rules, inst, "filteroffset", (channel, "B"), paths["filteroffset"])
        elif inst == "NIRISS":
            _add(rules, inst, "filteroffset", ("NIS_IMAGE",), paths["filteroffset"])
        else:
            _add(rules, inst, "filteroffset", (det, "MIR_IMAGE"), paths["filteroffset"])
        # photom
        a2, sr = pixar_sr(det)
        pix_cards = [("PIXAR_SR", sr, "nominal pixel area, sr"), ("PIXAR_A2", a2, "nominal pixel area, arcsec^2")]
        filters = _filters_of(det)
        second = "subarray" if miri else "pupil"
        table = np.zeros(len(filters) * (2 if miri else 1),
                         dtype=[("filter", "S12"), (second, "S17" if miri else "S12"), ("photmjsr", ">f4"),
                                ("uncertainty", ">f4")])
        i = 0
        for f, p, optics in filters:
            for value in (("FULL", "GENERIC") if miri else (p,)):
                table[i] = (f, value, optics.photmjsr, _PHOT_UNCERTAINTY * optics.photmjsr)
                i += 1
        name = namer(inst, "photom", "fits")
        header = _primary(spec, "photom", _PHOTOM_MODEL[inst], f"{det} imaging flux conversion, MJy/sr per DN/s",
                          name, extra=pix_cards)
        paths["photom"] = _write(os.path.join(directory, name), header, [fits.BinTableHDU(table, name="PHOTOM")])
        _add(rules, inst, "photom", (det, EXP_TYPE[inst]), paths["photom"])
        # drizpars: one per instrument
        if inst not in drizpars_done:
            name = namer(inst, "drizpars", "fits")
            rows = np.zeros(2, dtype=[("numimages", ">i4"), ("filter", "S40"), ("pixfrac", ">f4"), ("kernel", "S40"),
                                      ("fillval", "S40"), ("wht_type", "S40"), ("stepsize", ">i4")])
            rows[0] = (1, "ANY", 1.0, "square", "INDEF", "ivm", 10)
            rows[1] = (2, "ANY", 1.0, "square", "INDEF", "ivm", 10)
            header = _primary(spec, "drizpars", "DrizParsModel", "Drizzle parameters for image combination", name)
            header["DETECTOR"] = "ANY"
            drizpars_done[inst] = _write(os.path.join(directory, name), header,
                                         [fits.BinTableHDU(rows, name="DRIZPARS")])
            _add(rules, inst, "drizpars", (EXP_TYPE[inst],), drizpars_done[inst])
        paths["drizpars"] = drizpars_done[inst]
        # area map: always full frame (the official photom step cuts it with SUBSTRT1/2 of the science data)
        full = get_subarray(spec, "FULL")
        area = pixel_area_map(det, *full.slices).astype(np.float32)
        name = namer(inst, "area", "fits")
        header = _primary(spec, "area", "PixelAreaModel", f"{det} pixel area relative to PIXAR_SR", name, full,
                          extra=pix_cards + [("FILTER", "ANY", "filter"), ("PUPIL", "ANY", "pupil")])
        area_path = _write(os.path.join(directory, name), header, [_image(area, "SCI")])
        _add(rules, inst, "area", (det, "ANY", "GENERIC") if miri else (det, "ANY", "ANY", "GENERIC"), area_path)
        # flats, full frame or per subarray
        subs = ["FULL"] if full_frame else sorted({e.subarray for e in by_det[det]})
        per_sub = {}
        for sub_name in subs:
            sub = get_subarray(spec, sub_name)
            match_sub = "GENERIC" if sub_name == "FULL" else sub_name
            flats = {}
            used = sorted({(e.filter, e.pupil if not miri else "N/A") for e in by_det[det]})
            for f, p in used:
                flat = flat_field(det, f, p, *sub.slices, seed)
                name = namer(inst, "flat", "fits")
                extra = [("FILTER", f, "filter"), ("PUPIL", p, "pupil")]
                if miri:
                    extra.append(("READPATT", "ANY", "readout pattern"))
                header = _primary(spec, "flat", "FlatModel", f"{det} {f} {p} pixel response (no pixel areas)",
                                  name, sub, extra=extra)
                err = np.full(flat.shape, 0.005, dtype=np.float32)
                dq = np.zeros(flat.shape, dtype=np.uint32)
                flat_path = _write(os.path.join(directory, name), header,
                                   [_image(flat, "SCI"), _image(err, "ERR"), _image(dq, "DQ"),
                                    _dq_def(("DO_NOT_USE", "NO_FLAT_FIELD", "UNRELIABLE_FLAT"))])
                match = (det, f, "N/A", "ANY", match_sub) if miri else (det, f, p, match_sub)
                _add(rules, inst, "flat", match, flat_path)
                flats[(f, p)] = flat_path
            per_sub[sub_name] = flats
        for exp in by_det[det]:
            flats = per_sub["FULL" if full_frame else exp.subarray]
            key = (exp.filter, exp.pupil if not miri else "N/A")
            out[exp.uncal_name] = dict(paths, area=area_path, flat=flats[key])
        for reftype in NOT_APPLICABLE:
            rules.setdefault(inst, {}).setdefault(reftype, "N/A")
    return out
