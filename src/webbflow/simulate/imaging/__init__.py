"""A dithered imaging program from a sky truth catalog, with its stage 2/3 reference files.

:func:`simulate_imaging_program` writes, under ``outdir``::

    uncal/<stem>_uncal.fits                  the exposures (as webbflow.simulate)
    truth/<stem>_truth.fits                  detector1 truth (RATE ...) + CAL, FLAT, true pointing keywords
    truth/<stem>_sources.ecsv                true pixel positions and fluxes of the sources in the exposure
    truth/jw01234_imaging_catalog.ecsv       the sky truth catalog (RA/Dec, shapes, flux per band in Jy)
    truth/jw01234_imaging_pointing.ecsv      commanded and true pointing of every exposure
    crds_cache/                              detector1 and imaging references, context jwst_0001.pmap
    pool/jw01234_20240316t000000_pool.csv    with the candidates for image2/image3 associations

The program (:func:`imaging_program`), observations 5-8 of program 01234:

====  ==========  ==========  =============  ========  ========  =====
obs   instrument  detector    filter/pupil   subarray  dithers   notes
====  ==========  ==========  =============  ========  ========  =====
005   NIRCam      NRCB1       F150W/CLEAR    SUB160    3         SW and LW together
005   NIRCam      NRCBLONG    F356W/CLEAR    SUB160    3
006   NIRISS      NIS         CLEAR/F150W    SUB128    2
007   MIRI        MIRIMAGE    F770W          SUB256    2         candidate c1000 BACKGROUND
008   MIRI        MIRIMAGE    F770W          SUB256    1         background (BKGDTARG=T), c1000
====  ==========  ==========  =============  ========  ========  =====

Every exposure's SCI header holds the *commanded* pointing (RA_REF, DEC_REF,
ROLL_REF at V2_REF, V3_REF, with V3I_YANG, VPARITY, RA_V1, DEC_V1, PA_V3,
VA_SCALE=1 and an approximate FITS TAN WCS); the scene is rendered through
the *true* pointing, off by up to 1 arcsec (see
:func:`webbflow.simulate.imaging.pointing.pointing_error`), the distortion
and filter offset of the reference files (:mod:`.optics`), times the flat
field, in DN/s; the ramps come from :func:`webbflow.simulate.ramps.simulate_exposure`.
A perfect image2 gives ``CAL = rate / flat * photmjsr`` (MJy/sr; the truth
file holds it). Files are byte-identical for the same seed and options.
"""

import os
import time
from dataclasses import replace

import numpy as np
from astropy.table import Table

from webbflow.datamodels import RampModel
from webbflow.refs.cache import write_context
from webbflow.simulate.detector import reference_pixel_mask
from webbflow.simulate.imaging.optics import (
    OPTICS,
    detector_to_v2v3,
    filter_optics,
    flat_field,
    ideal_to_v2v3,
    pixar_sr,
    v2v3_to_ideal,
)
from webbflow.simulate.imaging.pointing import attitude, offset, pointing_error, position_angle, separation
from webbflow.simulate.imaging.reffiles import IMAGING_REFTYPES, write_imaging_references
from webbflow.simulate.imaging.sky import band_name, make_catalog, render_scene, write_catalog
from webbflow.simulate.pool import pool_name, write_pool
from webbflow.simulate.program import PROGRAM, Exposure, int_times, primary_header, sci_header, set_card
from webbflow.simulate.ramps import Effects, simulate_exposure
from webbflow.simulate.references import iter_references
from webbflow.simulate.truth import truth_name, write_truth

__all__ = ["simulate_imaging_program", "imaging_program", "plan_pointings", "imaging_sci_header",
           "IMAGING_REFTYPES", "CATALOG_NAME", "POINTING_NAME"]

CATALOG_NAME = f"jw{PROGRAM}_imaging_catalog.ecsv"
POINTING_NAME = f"jw{PROGRAM}_imaging_pointing.ecsv"

_START_MJD = 60384.5  # 2024-03-15 12:00 UTC, after the default program
_FIELD = (53.1625, -27.7914)
_BACKGROUND_FIELD = (53.1625, -27.7414)  # 3 arcmin north: no catalog sources there
_APERTURE = {("NRCB1", "SUB160"): "NRCB1_SUB160", ("NRCBLONG", "SUB160"): "NRCB5_SUB160",
             ("NRCB1", "FULL"): "NRCB1_FULL", ("NRCBLONG", "FULL"): "NRCB5_FULL",
             ("NIS", "SUB128"): "NIS_SUB128", ("NIS", "FULL"): "NIS_CEN",
             ("MIRIMAGE", "SUB256"): "MIRIM_SUB256", ("MIRIMAGE", "FULL"): "MIRIM_FULL"}


def _aperture_ref(detector, sub):
    """V2, V3 (arcsec) of a subarray's centre (the aperture reference point), no filter offset."""
    x = sub.xstart - 1 + (sub.xsize - 1) / 2.0
    y = sub.ystart - 1 + (sub.ysize - 1) / 2.0
    v2, v3 = detector_to_v2v3(detector, x, y)
    return round(float(v2), 4), round(float(v3), 4)


def imaging_program(full_frame=False, instruments=None):
    """The exposures of the imaging program (observations 5-8).

    Parameters
    ----------
    full_frame : bool, optional
        Full-frame exposures (one frame per group: RAPID, NISRAPID, FASTR1).
    instruments : iterable of str, optional
        Keep only these instruments (NIRCAM, NIRISS, MIRI).

    Returns
    -------
    list of Exposure
    """
    ff = full_frame
    plan = []
    nircam_dithers = [(0.0, 0.0), (0.744, 0.521), (-0.413, 0.967)]
    for dither, (dx, dy) in enumerate(nircam_dithers, start=1):
        for det, filt, chan in (("NRCB1", "F150W", "SHORT"), ("NRCBLONG", "F356W", "LONG")):
            plan.append(dict(observation=5, exposure=dither, detector=det, exp_type="NRC_IMAGE",
                             subarray="FULL" if ff else "SUB160", readpatt="RAPID" if ff else "SHALLOW4", ngroups=6,
                             nints=1, filter=filt, pupil="CLEAR", module="B", channel=chan,
                             patttype="INTRAMODULEX", numdthpt=len(nircam_dithers), patt_num=dither, xoffset=dx,
                             yoffset=dy, template="NIRCam Imaging", simultaneous=True))
    for dither, (dx, dy) in enumerate([(0.0, 0.0), (1.23, -0.71)], start=1):
        plan.append(dict(observation=6, exposure=dither, detector="NIS", exp_type="NIS_IMAGE",
                         subarray="FULL" if ff else "SUB128", readpatt="NISRAPID" if ff else "NIS", ngroups=5, nints=1,
                         filter="CLEAR", pupil="F150W", patttype="IMAGING", numdthpt=2, patt_num=dither, xoffset=dx,
                         yoffset=dy, template="NIRISS Imaging"))
    for dither, (dx, dy) in enumerate([(0.0, 0.0), (1.32, -0.88)], start=1):
        plan.append(dict(observation=7, exposure=dither, detector="MIRIMAGE", exp_type="MIR_IMAGE",
                         subarray="FULL" if ff else "SUB256", readpatt="FASTR1", ngroups=10, nints=1, filter="F770W",
                         patttype="CYCLING", numdthpt=2, patt_num=dither, xoffset=dx, yoffset=dy,
                         template="MIRI Imaging", candidates=(("c1000", "BACKGROUND"),)))
    plan.append(dict(observation=8, exposure=1, detector="MIRIMAGE", exp_type="MIR_IMAGE",
                     subarray="FULL" if ff else "SUB256", readpatt="FASTR1", ngroups=10, nints=1, filter="F770W",
                     template="MIRI Imaging", target="FIELD-A-BKG", targ_ra=_BACKGROUND_FIELD[0],
                     targ_dec=_BACKGROUND_FIELD[1], bkgdtarg=True, candidates=(("c1000", "BACKGROUND"),)))
    keep = None if instruments is None else {i.upper() for i in instruments}
    exposures = []
    clock = _START_MJD
    previous = None
    for item in plan:
        simultaneous = item.pop("simultaneous", False)
        exp = Exposure(visit=1, **item)
        v2, v3 = _aperture_ref(exp.detector, exp.sub)
        exp = replace(exp, aperture=_APERTURE[(exp.detector, exp.subarray)], v2_ref=v2, v3_ref=v3,
                      v3i_yang=OPTICS[exp.detector].yangle)
        if previous is not None:
            same_time = (simultaneous and previous.observation == exp.observation
                         and previous.exposure == exp.exposure)
            if not same_time:
                clock += (previous.duration + 60.0) / 86400.0
            if previous.observation != exp.observation:
                clock += 600.0 / 86400.0
        exp = replace(exp, expstart=round(clock, 8))
        previous = exp
        if keep is None or exp.instrument in keep:
            exposures.append(exp)
    return exposures


def plan_pointings(exposures, seed):
    """Commanded and true attitudes of every exposure.

    The first exposure of an observation sets its prime aperture: the
    commanded attitude puts that aperture's reference point on the target
    moved by the dither offset (ideal-frame arcsec) with V3 at position angle
    ``pa_v3``; exposures taken together (NIRCam SW and LW) share it. The
    true attitude is the commanded one moved by a random offset of up to
    0.95 arcsec and rolled by up to 0.001 deg (one draw per observation and
    dither position, from ``(seed, 7717, observation, patt_num)``).

    Returns
    -------
    dict
        ``{basename: (commanded Attitude, true Attitude)}``.
    """
    out = {}
    prime = {}
    for exp in exposures:
        prime.setdefault(exp.observation, exp)
    for exp in exposures:
        p = prime[exp.observation]
        base = attitude(p.v2_ref, p.v3_ref, p.targ_ra, p.targ_dec, p.pa_v3)
        optics = OPTICS[p.detector]
        xi, yi = v2v3_to_ideal(optics, p.v2_ref, p.v3_ref)
        v2d, v3d = ideal_to_v2v3(optics, xi + exp.xoffset, yi + exp.yoffset)
        ra_d, dec_d = base.v2v3_to_sky(v2d, v3d)
        roll_d = base.roll_at(v2d, v3d)
        commanded = attitude(p.v2_ref, p.v3_ref, float(ra_d), float(dec_d), float(roll_d))
        east, north, droll = pointing_error(np.random.default_rng([int(seed), 7717, exp.observation, exp.patt_num]))
        ra_t, dec_t = offset(float(ra_d), float(dec_d), east, north)
        true = attitude(p.v2_ref, p.v3_ref, ra_t, dec_t, float(roll_d) + droll)
        out[exp.basename] = (commanded, true)
    return out


def imaging_sci_header(exp, att):
    """The SCI header of an imaging exposure: WCS-information keywords of the commanded attitude ``att``."""
    h = sci_header(exp)
    ra_ref, dec_ref, roll_ref = att.wcsinfo(exp.v2_ref, exp.v3_ref)
    ra_v1, dec_v1, pa_v3 = att.v1()
    sub = exp.sub
    xref, yref = (sub.xsize + 1) / 2.0, (sub.ysize + 1) / 2.0
    # the local linear WCS at the reference point: pixel offsets -> (east, north) degrees
    off = filter_optics(exp.detector, exp.filter, exp.pupil).offset
    x0, y0 = sub.xstart - 1 + xref - 1 + off[0], sub.ystart - 1 + yref - 1 + off[1]
    cd = np.empty((2, 2))
    for k, (dx, dy) in enumerate(((0.5, 0.0), (0.0, 0.5))):
        rp, dp = att.v2v3_to_sky(*detector_to_v2v3(exp.detector, x0 + dx, y0 + dy))
        rm, dm = att.v2v3_to_sky(*detector_to_v2v3(exp.detector, x0 - dx, y0 - dy))
        cd[0, k] = ((rp - rm + 180.0) % 360.0 - 180.0) * np.cos(np.radians(dec_ref))
        cd[1, k] = dp - dm
    sx, sy = OPTICS[exp.detector].scale
    cdelt = np.array([sx, sy]) / 3600.0
    pc = cd / cdelt[None, :]
    # position angle of the ideal y axis (PA_APER)
    ra_y, dec_y = att.v2v3_to_sky(*_ideal_y_point(exp))
    pa_aper = float(position_angle(ra_ref, dec_ref, ra_y, dec_y))
    corners = []
    for cx, cy in ((0.5, 0.5), (sub.xsize + 0.5, 0.5), (sub.xsize + 0.5, sub.ysize + 0.5), (0.5, sub.ysize + 0.5)):
        ra, dec = att.v2v3_to_sky(*detector_to_v2v3(exp.detector, sub.xstart - 2 + cx + off[0],
                                                    sub.ystart - 2 + cy + off[1]))
        corners += [float(ra), float(dec)]
    s_region = "POLYGON ICRS " + " ".join(f"{v:.9f}" for v in corners)
    for key, value, comment in [
        ("RA_V1", ra_v1, "[deg] RA of telescope V1 axis"),
        ("DEC_V1", dec_v1, "[deg] Dec of telescope V1 axis"),
        ("PA_V3", pa_v3, "[deg] position angle of telescope V3 axis"),
        ("V2_REF", exp.v2_ref, "[arcsec] telescope V2 coordinate of the reference point"),
        ("V3_REF", exp.v3_ref, "[arcsec] telescope V3 coordinate of the reference point"),
        ("VPARITY", OPTICS[exp.detector].parity, "relative sense of rotation between Ideal xy and V2V3"),
        ("V3I_YANG", OPTICS[exp.detector].yangle, "[deg] angle from V3 axis to Ideal y axis"),
        ("RA_REF", ra_ref, "[deg] right ascension of the reference point"),
        ("DEC_REF", dec_ref, "[deg] declination of the reference point"),
        ("ROLL_REF", roll_ref, "[deg] V3 roll angle at the ref point"),
        ("PA_APER", pa_aper, "[deg] position angle of aperture used"),
        ("XREF_SCI", xref, "aperture reference location in x"),
        ("YREF_SCI", yref, "aperture reference location in y"),
        ("VA_SCALE", 1.0, "velocity aberration scale factor"),
        ("VELOSYS", 0.0, "[m/s] barycentric correction to radial velocity"),
        ("WCSAXES", 2, "number of World Coordinate System axes"),
        ("CRPIX1", xref, "axis 1 coordinate of the reference pixel"),
        ("CRPIX2", yref, "axis 2 coordinate of the reference pixel"),
        ("CRVAL1", ra_ref, "first axis value at the reference pixel"),
        ("CRVAL2", dec_ref, "second axis value at the reference pixel"),
        ("CTYPE1", "RA---TAN", "first axis coordinate type"),
        ("CTYPE2", "DEC--TAN", "second axis coordinate type"),
        ("CUNIT1", "deg", "first axis units"),
        ("CUNIT2", "deg", "second axis units"),
        ("CDELT1", float(cdelt[0]), "first axis increment per pixel"),
        ("CDELT2", float(cdelt[1]), "second axis increment per pixel"),
        ("PC1_1", float(pc[0, 0]), "linear transformation matrix element"),
        ("PC1_2", float(pc[0, 1]), "linear transformation matrix element"),
        ("PC2_1", float(pc[1, 0]), "linear transformation matrix element"),
        ("PC2_2", float(pc[1, 1]), "linear transformation matrix element"),
        ("S_REGION", s_region, "spatial extent of the observation"),
    ]:
        set_card(h, key, value, comment)
    return h


def _ideal_y_point(exp):
    optics = OPTICS[exp.detector]
    xi, yi = v2v3_to_ideal(optics, exp.v2_ref, exp.v3_ref)
    return ideal_to_v2v3(optics, xi, yi + 1.0)


def _bands(exposures):
    return {band_name(e.filter, e.pupil): filter_optics(e.detector, e.filter, e.pupil).wavelength for e in exposures}


def _geometry(exposures, pointings):
    geo = []
    for exp in exposures:
        if exp.bkgdtarg:
            continue
        sub = exp.sub
        geo.append((exp.detector, (sub.xstart - 1, sub.ystart - 1, sub.xsize, sub.ysize),
                    filter_optics(exp.detector, exp.filter, exp.pupil).offset, pointings[exp.basename][0]))
    return geo


def simulate_imaging_program(outdir, seed=1, full_frame=False, instruments=None, full_frame_refs=True,
                             effects=None, exposures=None, include_default=False):
    """Simulate the imaging program: uncal exposures, truth, CRDS cache (detector1 + imaging) and pool.

    Parameters
    ----------
    outdir : str or os.PathLike
    seed : int, optional
    full_frame : bool, optional
        Full-frame exposures instead of the small default subarrays.
    instruments : iterable of str, optional
        Only these instruments (NIRCAM, NIRISS, MIRI).
    full_frame_refs : bool, optional
        Full-frame static, flat and area references (default), or cut to each subarray used.
    effects : Effects, optional
    exposures : list of Exposure, optional
        A custom imaging program instead of :func:`imaging_program`.
    include_default : bool, optional
        Also simulate the default detector1 program (:func:`webbflow.simulate.default_program`)
        into the same cache and pool.

    Returns
    -------
    dict
        As :func:`webbflow.simulate.simulate_program`, plus ``catalog`` and ``pointing`` (paths),
        ``sources`` ({uncal basename: path}) and ``pointings`` ({uncal basename: dict of the
        commanded and true RA_REF, DEC_REF, ROLL_REF and the error in arcsec}).
    """
    from webbflow.simulate.program import default_program
    from webbflow.simulate.scene import make_field, render

    start = time.perf_counter()
    outdir = os.path.abspath(os.fspath(outdir))
    effects = Effects() if effects is None else effects
    if exposures is None:
        imaging = imaging_program(full_frame=full_frame, instruments=instruments)
        whole = imaging_program(full_frame=full_frame)
    else:
        imaging = whole = list(exposures)
    if not imaging:
        raise ValueError("no imaging exposures to simulate (check the instrument selection)")
    default = default_program(full_frame=full_frame, instruments=instruments) if include_default else []
    default_whole = default_program(full_frame=full_frame) if include_default else []
    everything = default + imaging
    # pointings and the catalog come from the whole program, whatever is kept
    pointings = plan_pointings(whole, seed)
    catalog = make_catalog(np.random.default_rng([int(seed), 104729, 9001]), _FIELD, _geometry(whole, pointings),
                           _bands(whole))
    cache = os.path.join(outdir, "crds_cache")
    rules = {}
    imaging_refs = write_imaging_references(cache, imaging, seed, rules, full_frame=full_frame_refs)
    truth_dir = os.path.join(outdir, "truth")
    catalog_path = write_catalog(os.path.join(truth_dir, CATALOG_NAME), catalog)
    fields, done, pointing_rows, sources_paths = {}, {}, [], {}
    names = {e.basename for e in imaging}
    for detector, refs_by_subarray in iter_references(cache, everything, seed, rules, full_frame_refs):
        for exp in everything:
            if exp.detector != detector:
                continue
            refs = refs_by_subarray[exp.subarray]
            rng = np.random.default_rng([seed, exp.seed_key])
            if exp.basename not in names:
                if exp.exp_type != "NRS_FIXEDSLIT" and exp.observation not in fields:
                    members = [e for e in default_whole if e.observation == exp.observation]
                    fields[exp.observation] = make_field(members, np.random.default_rng([seed, 104729,
                                                                                         exp.observation]))
                rate = render(exp, fields.get(exp.observation))
                data, truth = simulate_exposure(exp, refs, rate, rng, effects)
                sci = sci_header(exp)
                extra_cards, extra_images = (), ()
                paths = dict(refs.paths)
            else:
                commanded, true = pointings[exp.basename]
                scene, sources = render_scene(exp, true, catalog)
                sub = exp.sub
                flat = flat_field(exp.detector, exp.filter, exp.pupil, *sub.slices, seed).astype(np.float64)
                rate = scene * flat
                rate[reference_pixel_mask(exp.spec)[sub.slices]] = 0.0
                data, truth = simulate_exposure(exp, refs, rate, rng, effects)
                sci = imaging_sci_header(exp, commanded)
                photmjsr = filter_optics(exp.detector, exp.filter, exp.pupil).photmjsr
                cal = (truth["rate"] / flat * photmjsr).astype(np.float32)
                row = _pointing_row(exp, commanded, true)
                pointing_rows.append(row)
                extra_cards = [("TRA_REF", row["ra_ref_true"], "[deg] true RA of the reference point"),
                               ("TDEC_REF", row["dec_ref_true"], "[deg] true Dec of the reference point"),
                               ("TROLLREF", row["roll_ref_true"], "[deg] true V3 roll at the reference point"),
                               ("PNTGERR", row["error"], "[arcsec] commanded - true reference point"),
                               ("PHOTMJSR", photmjsr, "MJy/sr per DN/s (photom reference)"),
                               ("PIXAR_SR", pixar_sr(exp.detector)[1], "nominal pixel area, sr")]
                extra_images = (("CAL", cal, "MJy/sr"), ("FLAT", flat.astype(np.float32), ""))
                stem = exp.uncal_name[: -len("_uncal.fits")]
                sources_paths[exp.uncal_name] = write_catalog(os.path.join(truth_dir, f"{stem}_sources.ecsv"),
                                                              sources)
                paths = dict(refs.paths, **imaging_refs[exp.uncal_name])
            model = RampModel(meta=primary_header(exp), sci_meta=sci, int_times=int_times(exp), data=data)
            uncal = os.path.join(outdir, "uncal", exp.uncal_name)
            os.makedirs(os.path.dirname(uncal), exist_ok=True)
            model.save_uncal(uncal)
            del model, data
            truth_path = write_truth(os.path.join(truth_dir, truth_name(exp.uncal_name)), exp, truth, seed,
                                     extra_cards=extra_cards, extra_images=extra_images)
            done[exp.uncal_name] = (uncal, truth_path, paths)
        del refs_by_subarray
    context = write_context(cache, rules, 1)
    order = {e.uncal_name: i for i, e in enumerate(everything)}
    pointing_rows.sort(key=lambda r: order[r["filename"]])
    pointing_path = write_catalog(os.path.join(truth_dir, POINTING_NAME), Table(rows=pointing_rows))
    pool = write_pool(os.path.join(outdir, "pool", pool_name()), everything)
    return {
        "uncal": [done[e.uncal_name][0] for e in everything],
        "truth": [done[e.uncal_name][1] for e in everything],
        "crds_cache": cache,
        "context": context,
        "pool": pool,
        "exposures": list(everything),
        "references": {e.uncal_name: done[e.uncal_name][2] for e in everything},
        "catalog": catalog_path,
        "pointing": pointing_path,
        "sources": sources_paths,
        "pointings": {r["filename"]: r for r in pointing_rows},
        "seconds": time.perf_counter() - start,
    }


def _pointing_row(exp, commanded, true):
    ra_c, dec_c, roll_c = commanded.wcsinfo(exp.v2_ref, exp.v3_ref)
    ra_t, dec_t, roll_t = true.wcsinfo(exp.v2_ref, exp.v3_ref)
    return {"filename": exp.uncal_name, "v2_ref": exp.v2_ref, "v3_ref": exp.v3_ref,
            "ra_ref": ra_c, "dec_ref": dec_c, "roll_ref": roll_c,
            "ra_ref_true": ra_t, "dec_ref_true": dec_t, "roll_ref_true": roll_t,
            "error": float(separation(ra_c, dec_c, ra_t, dec_t))}

