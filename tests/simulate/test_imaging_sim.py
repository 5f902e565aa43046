"""The imaging simulator: determinism, WCS, pointing errors, flux conservation, references, pool."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from webbflow.simulate.imaging import CATALOG_NAME, imaging_program, plan_pointings, simulate_imaging_program
from webbflow.simulate.imaging.optics import (
    OPTICS,
    detector_to_v2v3,
    distortion_model,
    filter_optics,
    pixar_sr,
    pixel_area_map,
    v2v3_to_detector,
)
from webbflow.simulate.imaging.pointing import attitude, separation
from webbflow.simulate.imaging.sky import _Frame, render_scene

SEED = 4
SERVERLESS = "https://jwst-serverless-mode.stsci.edu"
NEW_TYPES = ("distortion", "filteroffset", "flat", "photom", "area", "drizpars")


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    """The imaging program, simulated once (about 30 s of CPU; its tests are marked slow)."""
    return simulate_imaging_program(tmp_path_factory.mktemp("imaging"), seed=SEED, full_frame_refs=False)


def _bytes(path):
    with open(path, "rb") as handle:
        return handle.read()


def _crds_env(cache):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    env.update(CRDS_PATH=cache, CRDS_SERVER_URL=SERVERLESS, CRDS_MODE="local", CRDS_READONLY_CACHE="1",
               CRDS_OBSERVATORY="jwst")
    return env


# ---------------------------------------------------------------------------
# program
# ---------------------------------------------------------------------------
def test_program_has_dithers_and_a_background():
    exps = imaging_program()
    per_detector = {}
    for e in exps:
        if not e.bkgdtarg:
            per_detector.setdefault(e.detector, set()).add(e.patt_num)
    assert set(per_detector) == {"NRCB1", "NRCBLONG", "NIS", "MIRIMAGE"}
    assert all(len(v) >= 2 for v in per_detector.values())
    background = [e for e in exps if e.bkgdtarg]
    assert [e.detector for e in background] == ["MIRIMAGE"]
    assert all(("c1000", "BACKGROUND") in e.candidates for e in exps if e.instrument == "MIRI")
    assert [e.expstart for e in exps] == sorted(e.expstart for e in exps)
    assert all(e.sub.xsize <= 256 for e in exps)
    assert all(e.subarray == "FULL" for e in imaging_program(full_frame=True))


@pytest.mark.slow
def test_same_seed_same_bytes_and_selection_independent(program, tmp_path):
    again = simulate_imaging_program(tmp_path / "again", seed=SEED, instruments=["NIRISS"], full_frame_refs=False)
    assert len(again["uncal"]) == 2
    first = {os.path.basename(p): p for p in program["uncal"] + program["truth"]}
    for path in again["uncal"] + again["truth"]:
        assert _bytes(path) == _bytes(first[os.path.basename(path)]), path
    for name, path in again["sources"].items():
        assert _bytes(path) == _bytes(program["sources"][name])
    assert _bytes(again["catalog"]) == _bytes(program["catalog"])
    for name, refs in again["references"].items():
        for reftype, path in refs.items():
            assert _bytes(path) == _bytes(program["references"][name][reftype]), reftype
    other = simulate_imaging_program(tmp_path / "other", seed=SEED + 1, instruments=["NIRISS"], full_frame_refs=False)
    assert _bytes(other["uncal"][0]) != _bytes(again["uncal"][0])
    assert _bytes(other["catalog"]) != _bytes(again["catalog"])


# ---------------------------------------------------------------------------
# WCS
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("detector", sorted(OPTICS))
def test_distortion_model_round_trip(detector):
    ny, nx = OPTICS[detector].shape
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-0.5, nx - 0.5, 500), rng.uniform(-0.5, ny - 0.5, 500)
    model = distortion_model(detector)
    assert model.inputs == ("x", "y") and model.outputs == ("v2", "v3")
    v2, v3 = model(x, y)
    exact = detector_to_v2v3(detector, x, y)
    np.testing.assert_allclose(v2, exact[0], atol=1e-9)
    np.testing.assert_allclose(v3, exact[1], atol=1e-9)
    # the fitted inverse polynomial: its residual over the detector is ~1.5e-4 pixel (measured)
    xb, yb = model.inverse(v2, v3)
    assert np.abs(xb - x).max() < 5e-4 and np.abs(yb - y).max() < 5e-4
    # the Newton inverse used to render scenes is exact
    xn, yn = v2v3_to_detector(detector, v2, v3)
    assert np.abs(xn - x).max() < 1e-8 and np.abs(yn - y).max() < 1e-8
    # the distortion is real: a few tenths of a pixel or more away from the linear map at the corners
    sx, sy = OPTICS[detector].scale
    c2, c3 = detector_to_v2v3(detector, *OPTICS[detector].centre)
    corner = np.hypot(*(np.array(detector_to_v2v3(detector, 0.0, 0.0)) - (c2, c3)))
    linear = np.hypot(OPTICS[detector].centre[0] * sx, OPTICS[detector].centre[1] * sy)
    assert abs(corner - linear) / min(sx, sy) > 0.3


def test_pixel_to_sky_to_pixel_through_the_model_and_attitude():
    exp = next(e for e in imaging_program() if e.detector == "NRCB1")
    att = attitude(exp.v2_ref, exp.v3_ref, 53.16, -27.79, 251.3)
    model = distortion_model("NRCB1")
    off = filter_optics(exp.detector, exp.filter, exp.pupil).offset
    x, y = np.meshgrid(np.arange(0, 160, 7.3), np.arange(0, 160, 9.1))
    ra, dec = att.v2v3_to_sky(*model(x + off[0], y + off[1]))
    xb, yb = model.inverse(*att.sky_to_v2v3(ra, dec))
    assert np.abs(xb - off[0] - x).max() < 5e-4 and np.abs(yb - off[1] - y).max() < 5e-4
    ra_ref, dec_ref, roll = att.wcsinfo(exp.v2_ref, exp.v3_ref)
    assert separation(ra_ref, dec_ref, 53.16, -27.79) < 1e-9 and roll == pytest.approx(251.3, abs=1e-9)


def test_pixel_area_map_is_the_jacobian():
    a = pixel_area_map("MIRIMAGE", slice(500, 503), slice(100, 103))
    sx, sy = OPTICS["MIRIMAGE"].scale
    # finite-difference area of the central pixel from its corners (the rotation to V2/V3 keeps areas)
    xs, ys = np.array([100.5, 101.5, 101.5, 100.5]), np.array([500.5, 500.5, 501.5, 501.5])
    v2, v3 = detector_to_v2v3("MIRIMAGE", xs, ys)
    area = 0.5 * abs(np.dot(v2, np.roll(v3, 1)) - np.dot(v3, np.roll(v2, 1)))
    assert a[1, 1] == pytest.approx(area / (sx * sy), rel=1e-6)


# ---------------------------------------------------------------------------
# pointing
# ---------------------------------------------------------------------------
@pytest.mark.slow
def test_pointing_errors_are_within_one_arcsec(program):
    errors = []
    for path, exp in zip(program["uncal"], program["exposures"], strict=True):
        row = program["pointings"][exp.uncal_name]
        sci = fits.getheader(path, "SCI")
        # the header holds the commanded pointing
        assert sci["RA_REF"] == pytest.approx(row["ra_ref"], abs=1e-12)
        assert sci["DEC_REF"] == pytest.approx(row["dec_ref"], abs=1e-12)
        assert sci["ROLL_REF"] == pytest.approx(row["roll_ref"], abs=1e-12)
        assert (sci["V2_REF"], sci["V3_REF"]) == (exp.v2_ref, exp.v3_ref)
        for key in ("V3I_YANG", "VPARITY", "RA_V1", "DEC_V1", "PA_V3", "XREF_SCI", "YREF_SCI", "VA_SCALE"):
            assert key in sci
        err = separation(row["ra_ref"], row["dec_ref"], row["ra_ref_true"], row["dec_ref_true"])
        assert err == pytest.approx(row["error"], rel=1e-9)
        truth = fits.getheader(program["truth"][program["uncal"].index(path)], 0)
        assert truth["PNTGERR"] == pytest.approx(err, rel=1e-9)
        errors.append(err)
    assert max(errors) <= 1.0
    assert min(errors) > 0.0 and len({round(e, 6) for e in errors}) >= 5
    table = Table.read(program["pointing"])
    assert list(table["filename"]) == [os.path.basename(p) for p in program["uncal"]]


@pytest.mark.slow
def test_sources_land_at_their_true_positions(program):
    """The scene is rendered through the true attitude; the header (commanded) WCS misses by the pointing error."""
    catalog = Table.read(program["catalog"])
    pnt = plan_pointings(program["exposures"], SEED)
    checked = 0
    for exp, truth_path in zip(program["exposures"], program["truth"], strict=True):
        if exp.detector not in ("NRCB1", "MIRIMAGE") or exp.bkgdtarg:
            continue
        commanded, true = pnt[exp.basename]
        optics = filter_optics(exp.detector, exp.filter, exp.pupil)
        with fits.open(truth_path) as hdul:
            cal = hdul["CAL"].data.astype(float)
        live = np.isfinite(cal) & (cal != 0)
        expected, _ = render_scene(exp, true, catalog)
        # float32 storage of the truth rate and CAL: relative rounding ~1e-7
        np.testing.assert_allclose(cal[live], expected[live] * optics.photmjsr, rtol=1e-5)
        wrong, _ = render_scene(exp, commanded, catalog)
        assert np.abs(cal[live] - wrong[live] * optics.photmjsr).max() > 100 * np.abs(
            cal[live] - expected[live] * optics.photmjsr).max()
        # one bright star alone: its centroid is its true position, off the commanded one by the error
        sources = Table.read(program["sources"][exp.uncal_name])
        ids = {int(i): k for i, k in zip(catalog["id"], catalog["kind"], strict=True)}
        stars = [s for s in sources if s["inside"] and ids[int(s["id"])] == "star"
                 and 10 < s["x"] < exp.sub.xsize - 11 and 10 < s["y"] < exp.sub.ysize - 11]
        src = max(stars, key=lambda s: s["rate"])
        single = catalog[catalog["id"] == src["id"]]
        image, _ = render_scene(exp, true, single)
        image -= optics.sky / optics.photmjsr * pixel_area_map(exp.detector, *exp.sub.slices)
        yy, xx = np.mgrid[0:exp.sub.ysize, 0:exp.sub.xsize]
        cx, cy = (image * xx).sum() / image.sum(), (image * yy).sum() / image.sum()
        # pixel-sampled Gaussian of sigma >= 0.7 px: its centroid is the centre to < 1e-3 px
        assert abs(cx - src["x"]) < 2e-3 and abs(cy - src["y"]) < 2e-3
        # where the header WCS puts the star: off its catalog position by the pointing error (given at the
        # reference point; the roll error, < 0.001 deg, moves a star < 1e-4 arcsec more on a subarray)
        ra, dec = _Frame(exp, commanded).to_sky(cx, cy)
        miss = separation(ra, dec, single["ra"][0], single["dec"][0])
        assert miss == pytest.approx(program["pointings"][exp.uncal_name]["error"], abs=2e-3)
        checked += 1
    assert checked == 5


# ---------------------------------------------------------------------------
# fluxes
# ---------------------------------------------------------------------------
def _one_source_catalog(exp, kind, east_px, north_px, flux):
    att = attitude(exp.v2_ref, exp.v3_ref, 53.16, -27.79, 250.0)
    ra, dec = _Frame(exp, att).to_sky(exp.sub.xsize / 2 + east_px, exp.sub.ysize / 2 + north_px)
    table = Table()
    table["id"] = [1]
    table["kind"] = [kind]
    table["ra"], table["dec"] = [float(ra)], [float(dec)]
    table["r_e"] = [0.3 if kind == "galaxy" else 0.0]
    table["sersic_n"] = [1.7 if kind == "galaxy" else 0.0]
    table["axis_ratio"] = [0.5 if kind == "galaxy" else 1.0]
    table["pa"] = [33.0]
    table["flux_f770w"] = [flux]
    return att, table


@pytest.mark.parametrize("kind", ["star", "galaxy"])
def test_rendered_flux_is_the_catalog_flux(kind):
    exp = next(e for e in imaging_program() if e.detector == "MIRIMAGE")
    optics = filter_optics(exp.detector, exp.filter, exp.pupil)
    _, sr = pixar_sr(exp.detector)
    sky = optics.sky / optics.photmjsr * pixel_area_map(exp.detector, *exp.sub.slices)
    att, catalog = _one_source_catalog(exp, kind, 0.0, 0.0, 20e-6)
    rate, sources = render_scene(exp, att, catalog)
    # sum(cal) * PIXAR_SR = flux, cal = rate * photmjsr (MJy/sr)
    flux = (rate - sky).sum() * optics.photmjsr * sr * 1e6
    assert flux == pytest.approx(20e-6, rel=1e-9)
    assert sources["rate"][0] * optics.photmjsr * sr * 1e6 == pytest.approx(20e-6, rel=1e-12)
    # a source centred on the edge keeps about half of its flux
    att, catalog = _one_source_catalog(exp, kind, exp.sub.xsize / 2, 0.0, 20e-6)
    rate, _ = render_scene(exp, att, catalog)
    edge = (rate - sky).sum() * optics.photmjsr * sr * 1e6
    assert 0.3 * 20e-6 < edge < 0.7 * 20e-6


@pytest.mark.slow
def test_truth_cal_holds_the_sky_surface_brightness(program):
    for exp, truth_path in zip(program["exposures"], program["truth"], strict=True):
        with fits.open(truth_path) as hdul:
            cal = hdul["CAL"].data
            flat = hdul["FLAT"].data
            rate = hdul["RATE"].data
        area = pixel_area_map(exp.detector, *exp.sub.slices)
        live = np.isfinite(cal) & (rate != 0)
        sky = filter_optics(exp.detector, exp.filter, exp.pupil).sky
        level = cal[live] / area[live] / sky
        # sources only add to the sky; the background field (no catalog source there) is sky alone;
        # 1e-6: float32 rounding of the truth rate and CAL
        assert level.min() > 1 - 1e-6, exp.uncal_name
        if exp.bkgdtarg:
            assert level.max() < 1 + 1e-6
        assert 0.9 < flat[live].min() and flat[live].max() < 1.1 and flat[live].std() > 0.01


# ---------------------------------------------------------------------------
# CRDS and associations
# ---------------------------------------------------------------------------
@pytest.mark.slow
def test_crds_selects_the_imaging_references(program):
    pytest.importorskip("crds")
    code = textwrap.dedent("""
        import json, sys
        from astropy.io import fits
        from webbflow.refs.select import select_references
        paths = json.loads(sys.stdin.read())
        types = json.loads(sys.argv[1])
        out = {}
        for path in paths:
            out[path] = select_references(fits.getheader(path, 0), types, exposure=path)
        print(json.dumps(out))
    """)
    types = json.dumps(list(NEW_TYPES) + ["gain", "dark"])
    result = subprocess.run([sys.executable, "-c", code, types], input=json.dumps(program["uncal"]),
                            env=_crds_env(program["crds_cache"]), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    for path in program["uncal"]:
        expected = program["references"][os.path.basename(path)]
        for reftype in NEW_TYPES + ("gain", "dark"):
            assert os.path.realpath(found[path][reftype]) == os.path.realpath(expected[reftype]), (path, reftype)
    rmap = os.path.join(program["crds_cache"], "mappings", "jwst", "jwst_nircam_distortion_0001.rmap")
    text = open(rmap, encoding="utf-8").read()
    assert "'file_ext' : '.asdf'" in text and "META.INSTRUMENT.CHANNEL" in text


@pytest.mark.slow
def test_pool_makes_image2_and_image3_associations(program):
    from webbflow.associations import generate, read_pool

    asns = generate(read_pool(program["pool"]))
    image3 = {a.products[0].name: [m.expname for m in a.products[0].members] for a in asns if a.asn_type == "image3"}
    dithers = {}
    for e in program["exposures"]:
        if not e.bkgdtarg:
            dithers.setdefault((e.observation, e.detector), []).append(e.uncal_name.replace("_uncal", "_cal"))
    for (obs, det), names in dithers.items():
        assert any(sorted(members) == sorted(names) for members in image3.values()), (obs, det, image3)
    with_background = [a for a in asns if a.asn_type == "image2"
                       and any(m.exptype == "background" for m in a.products[0].members)]
    assert len(with_background) == 2
    for asn in with_background:
        kinds = sorted(m.exptype for m in asn.products[0].members)
        assert kinds == ["background", "science"]


# ---------------------------------------------------------------------------
# the official models and WCS (compare extra)
# ---------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.compare
def test_official_models_open_every_imaging_reference(program):
    dm = pytest.importorskip("stdatamodels.jwst.datamodels")
    import warnings

    photom = {"NIRCAM": dm.NrcImgPhotomModel, "NIRISS": dm.NisImgPhotomModel, "MIRI": dm.MirImgPhotomModel}
    classes = {"distortion": dm.DistortionModel, "filteroffset": dm.FilteroffsetModel, "flat": dm.FlatModel,
               "area": dm.PixelAreaModel}
    seen = set()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for exp in program["exposures"]:
            refs = program["references"][exp.uncal_name]
            optics = filter_optics(exp.detector, exp.filter, exp.pupil)
            for reftype in NEW_TYPES:
                path = refs[reftype]
                if reftype == "drizpars":  # DrizParsModel is gone from stdatamodels: check the table layout
                    with fits.open(path) as hdul:
                        assert hdul["DRIZPARS"].columns.names == ["numimages", "filter", "pixfrac", "kernel",
                                                                  "fillval", "wht_type", "stepsize"]
                    continue
                cls = photom[exp.instrument] if reftype == "photom" else classes[reftype]
                with cls(path) as model:
                    model.validate()
                    if reftype == "distortion":
                        x, y = 100.0, 200.0
                        np.testing.assert_allclose(model.model(x, y), detector_to_v2v3(exp.detector, x, y),
                                                   atol=1e-9)
                    elif reftype == "filteroffset":
                        # MIRI rows have no pupil (the official MIRI WCS matches the filter alone)
                        rows = [f for f in model.filters if f.filter == exp.filter
                                and (exp.instrument == "MIRI" or f.pupil == exp.pupil)]
                        assert [(r.column_offset, r.row_offset) for r in rows] == [optics.offset]
                    elif reftype == "photom":
                        table = model.phot_table
                        key = "subarray" if exp.instrument == "MIRI" else "pupil"
                        value = "FULL" if exp.instrument == "MIRI" else exp.pupil
                        row = table[(table["filter"] == exp.filter) & (table[key] == value)]
                        assert row["photmjsr"][0] == pytest.approx(optics.photmjsr, rel=1e-6)
                        assert model.meta.photometry.pixelarea_steradians == pytest.approx(
                            pixar_sr(exp.detector)[1])
                    elif reftype == "flat":
                        assert model.meta.instrument.filter == exp.filter
                        assert model.data.shape == (exp.sub.ysize, exp.sub.xsize)
                seen.add(path)
    assert len(seen) >= 4 * 5


@pytest.mark.slow
def test_catalog_file(program):
    table = Table.read(program["catalog"])
    assert os.path.basename(program["catalog"]) == CATALOG_NAME
    assert set(table["kind"]) == {"star", "galaxy"}
    assert {"flux_f150w", "flux_f356w", "flux_f770w"} <= set(table.colnames)
    assert str(table["flux_f150w"].unit) == "Jy" and (np.asarray(table["flux_f150w"]) > 0).all()
    assert len(table) > 100 and len(set(table["id"])) == len(table)


@pytest.fixture(scope="module")
def official_image2(program):
    """The official assign_wcs, flat_field and photom steps on one exposure per detector, in one child process
    (CRDS reads its settings at import) with the simulated cache. The input is the truth rate (noise-free)."""
    pytest.importorskip("jwst")
    chosen = {}
    for exp, uncal, truth in zip(program["exposures"], program["uncal"], program["truth"], strict=True):
        chosen.setdefault(exp.detector, (uncal, truth))
    code = textwrap.dedent("""
        import json, sys
        import numpy as np
        from astropy.io import fits
        from stdatamodels.jwst import datamodels as dm
        from jwst.assign_wcs import AssignWcsStep
        from jwst.flatfield import FlatFieldStep
        from jwst.photom import PhotomStep
        out = {}
        for uncal, truth in json.loads(sys.stdin.read()):
            rate = np.nan_to_num(fits.getdata(truth, "RATE").astype(np.float32))
            ones = np.ones_like(rate)
            with dm.RampModel(uncal) as ramp:
                model = dm.ImageModel(data=rate, err=ones, dq=np.zeros(rate.shape, np.uint32), var_poisson=ones,
                                      var_rnoise=ones)
                model.update(ramp)
            model.meta.bunit_data = model.meta.bunit_err = "DN/s"
            result = PhotomStep.call(FlatFieldStep.call(AssignWcsStep.call(model)))
            ny, nx = rate.shape
            x, y = np.meshgrid(np.linspace(0, nx - 1, 5), np.linspace(0, ny - 1, 5))
            ra, dec = result.meta.wcs(x, y)
            steps = [result.meta.cal_step.assign_wcs, result.meta.cal_step.flat_field, result.meta.cal_step.photom]
            out[truth] = {"steps": steps, "bunit": result.meta.bunit_data, "ra": ra.tolist(), "dec": dec.tolist(),
                          "pixar_sr": result.meta.photometry.pixelarea_steradians, "data": result.data.tolist(),
                          "area": result.area.tolist()}
        print(json.dumps(out))
    """)
    result = subprocess.run([sys.executable, "-c", code], input=json.dumps(list(chosen.values())),
                            env=_crds_env(program["crds_cache"]), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    # {truth path: (Exposure, the official results)}
    return {truth: (program["exposures"][program["truth"].index(truth)], value) for truth, value in found.items()}


@pytest.mark.slow
@pytest.mark.compare
def test_official_assign_wcs_reproduces_the_commanded_wcs(program, official_image2):
    """The official assign_wcs, given our headers and references, maps pixels where our commanded attitude does."""
    pnt = plan_pointings(program["exposures"], SEED)
    assert len(official_image2) == 4
    for exp, result in official_image2.values():
        assert result["steps"][0] == "COMPLETE"
        ny, nx = exp.sub.ysize, exp.sub.xsize
        x, y = np.meshgrid(np.linspace(0, nx - 1, 5), np.linspace(0, ny - 1, 5))
        ra2, dec2 = _Frame(exp, pnt[exp.basename][0]).to_sky(x, y)
        # both evaluate the same rotations and polynomials in float64: 1e-6 arcsec is rounding-level
        assert separation(np.array(result["ra"]), np.array(result["dec"]), ra2, dec2).max() < 1e-6, exp.detector


@pytest.mark.slow
@pytest.mark.compare
def test_official_flat_field_and_photom_give_the_truth_cal(official_image2):
    """The official flat_field and photom steps, on the true rate with our references, give the truth CAL."""
    for truth, (exp, result) in official_image2.items():
        assert result["steps"][1:] == ["COMPLETE", "COMPLETE"] and result["bunit"] == "MJy/sr"
        assert result["pixar_sr"] == pytest.approx(pixar_sr(exp.detector)[1], rel=1e-9)
        with fits.open(truth) as hdul:
            cal = hdul["CAL"].data
            live = np.isfinite(cal) & (hdul["RATE"].data != 0)
        data = np.asarray(result["data"], dtype=np.float32)
        # float32 division and multiplication on both sides: a few 1e-7 relative
        np.testing.assert_allclose(data[live], cal[live], rtol=1e-5)
        np.testing.assert_allclose(np.asarray(result["area"]), pixel_area_map(exp.detector, *exp.sub.slices),
                                   rtol=1e-6)


@pytest.mark.slow
@pytest.mark.compare
def test_official_association_generator_agrees(program):
    """The official generator makes the same associations from the pool as webbflow's."""
    pytest.importorskip("jwst")
    from webbflow.associations import generate, read_pool

    code = textwrap.dedent("""
        import json, sys
        from jwst.associations.main import Main
        m = Main.cli([sys.argv[1], "--dry-run"])
        print(json.dumps([[a["asn_type"], a["asn_id"], p["name"], sorted([x["expname"], x["exptype"]]
                           for x in p["members"])] for a in m.associations for p in a["products"]]))
    """)
    result = subprocess.run([sys.executable, "-c", code, program["pool"]], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    official = sorted(json.dumps(x) for x in json.loads(result.stdout.strip().splitlines()[-1]))
    ours = sorted(json.dumps([a.asn_type, a.asn_id, p.name, sorted([m.expname, m.exptype] for m in p.members)])
                  for a in generate(read_pool(program["pool"])) for p in a.products)
    assert ours == official
    assert any('"background"' in item for item in official)
