"""Stage 2 imaging through Snakemake: cal products by name, backgrounds from the associations."""

import re
import shutil

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from webbflow.datamodels import ImageModel, open_model
from webbflow.workflow import science_products, write_program_manifest

from .snakemake_runner import snakemake, write_config

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

NIRCAM = "jw01234005001_01101_00001_nrcb1"
MIRI = "jw01234007001_01101_00002_mirimage"  # science of a c1000 association with a background member
MIRI_BACKGROUND = "jw01234008001_01101_00001_mirimage"
POOL = "jw01234_20240316t000000_pool"


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    """The imaging program's NIRCam and MIRI exposures (no NIRISS), made once for this module."""
    from webbflow.simulate import simulate_program

    root = tmp_path_factory.mktemp("imaging")
    summary = simulate_program(root / "demo", seed=7, program="imaging", instruments=["NIRCAM", "MIRI"],
                               full_frame_refs=False)
    # the simulate checkpoint's product: with it the demo target does not simulate again
    write_program_manifest(summary, root / "demo" / "program.json")
    return root, summary


def _copy(program, workdir):
    shutil.copytree(program[0] / "demo", workdir / "demo", symlinks=True)
    write_config(workdir, demo={"outdir": "demo", "seed": 7, "full_frame": False, "program": "imaging"})
    return workdir / "demo" / "uncal"


def _blocks(dry_run_output):
    """(rule, stem or pool, text) of every job a dry run lists."""
    blocks = []
    for rule, body in re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):\n((?:    .*\n?)*)", dry_run_output,
                                 flags=re.M):
        found = re.search(r"wildcards: (?:\w+=\S+, )*(?:stem|pool)=(\S+)", body)
        blocks.append((rule, found.group(1).rstrip(",") if found else None, body))
    return blocks


def _jobs(dry_run_output):
    """{rule: sorted stems (or pools)} of the jobs a dry run lists."""
    jobs = {}
    for rule, stem, _body in _blocks(dry_run_output):
        jobs.setdefault(rule, []).append(stem)
    return {rule: sorted(stems, key=str) for rule, stems in jobs.items()}


def test_cal_by_name_dry_run_lists_only_its_jobs(tmp_path, program):
    uncal = _copy(program, tmp_path)
    target = f"demo/uncal/{MIRI}_cal.fits"
    # before the associations exist, the backgrounds are not known yet: the
    # checkpoint, the science exposure's detector1 and the image2 job
    first = _jobs(snakemake(tmp_path, target, "-n").stdout)
    assert first == {"associations": [POOL], "detector1": [f"demo/uncal/{MIRI}"],
                     "image2": [f"demo/uncal/{MIRI}"]}, first
    snakemake(tmp_path, f"demo/asn/{POOL}")
    # then exactly: the science and background rates, and the cal
    dry = snakemake(tmp_path, target, "-n").stdout
    jobs = _jobs(dry)
    assert jobs == {"detector1": [f"demo/uncal/{MIRI}", f"demo/uncal/{MIRI_BACKGROUND}"],
                    "image2": [f"demo/uncal/{MIRI}"]}, jobs
    assert f"demo/uncal/{MIRI_BACKGROUND}_rate.fits" in dry and f"{POOL}/jw01234-c1000_image2_" in dry
    # a NIRCam exposure has no background member: its rate and its cal
    jobs = _jobs(snakemake(tmp_path, f"demo/uncal/{NIRCAM}_cal.fits", "-n").stdout)
    assert jobs == {"detector1": [f"demo/uncal/{NIRCAM}"], "image2": [f"demo/uncal/{NIRCAM}"]}, jobs
    # the demo target: a rate for every exposure, a cal for every image2 science member
    dry = snakemake(tmp_path, "demo", "-n").stdout
    jobs = _jobs(dry)
    stems = sorted(str(p)[: -len("_uncal.fits")] for p in uncal.glob("*_uncal.fits"))
    assert jobs["detector1"] == [s.replace(str(tmp_path) + "/", "") for s in stems]
    cals = science_products(tmp_path / "demo" / "asn" / POOL, "demo/uncal")
    assert jobs["image2"] == [c[: -len("_cal.fits")] for c in cals]
    # every science exposure, the background exposure too (its own image2 association makes it science)
    assert len(cals) == 9 and f"demo/uncal/{MIRI_BACKGROUND}_cal.fits" in cals
    assert "simulate" not in jobs


def _separations(model, stem, program):
    """Arcsec between the WCS position of each true source centre and its catalog RA/Dec."""
    root, summary = program
    catalog = Table.read(summary["catalog"])
    sources = Table.read(summary["sources"][f"{stem}_uncal.fits"])
    sources = sources[sources["inside"]]
    row = {ident: k for k, ident in enumerate(catalog["id"])}
    k = [row[ident] for ident in sources["id"]]
    ra, dec = model.wcs(np.asarray(sources["x"]), np.asarray(sources["y"]))
    cat_ra, cat_dec = np.asarray(catalog["ra"])[k], np.asarray(catalog["dec"])[k]
    cos = np.cos(np.radians(cat_dec))
    sep = 3600.0 * np.hypot(((ra - cat_ra + 180.0) % 360.0 - 180.0) * cos, dec - cat_dec)
    sci = fits.getheader(root / "demo" / "uncal" / f"{stem}_uncal.fits", "SCI")  # the commanded pointing
    distance = 3600.0 * np.hypot((cat_ra - sci["RA_REF"]) * cos, cat_dec - sci["DEC_REF"])
    return sep, distance


def test_cal_of_nircam_and_of_miri_with_background(tmp_path, program):
    uncal = _copy(program, tmp_path)
    run = snakemake(tmp_path, f"demo/uncal/{NIRCAM}_cal.fits", f"demo/uncal/{MIRI}_cal.fits")
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", run.stdout + run.stderr, flags=re.M))
    assert counts.get("image2") == "2" and counts.get("associations") == "1", run.stdout
    made = sorted(p.name for p in uncal.glob("*_rate.fits"))
    assert made == sorted(f"{s}_rate.fits" for s in (NIRCAM, MIRI, MIRI_BACKGROUND))
    assert sorted(p.name for p in uncal.glob("*_cal.fits")) == sorted([f"{NIRCAM}_cal.fits", f"{MIRI}_cal.fits"])
    for stem, background in ((NIRCAM, "SKIPPED"), (MIRI, "COMPLETE")):
        cal = open_model(uncal / f"{stem}_cal.fits")
        assert isinstance(cal, ImageModel)
        assert cal.meta["S_BKDSUB"] == background, stem
        for keyword in ("S_WCS", "S_FLAT", "S_PHOTOM"):
            assert cal.meta[keyword] == "COMPLETE", (stem, keyword)
        assert cal.meta["R_DISTOR"].startswith("crds://jwst_") and cal.meta["R_PHOTOM"].startswith("crds://jwst_")
        assert cal.meta["ASNPOOL"] == f"{POOL}.csv"
        assert (uncal / f"{stem}_cal.png").exists()
        # The WCS comes from the commanded pointing; the scene was drawn through the
        # true one, PNTGERR arcsec away at the reference point and rolled by at most
        # 1e-3 deg (webbflow.simulate.imaging.pointing.pointing_error), which moves a
        # source at distance d from the reference point by at most d x 1e-3 deg more.
        # So every source's WCS position is PNTGERR from its catalog position to
        # within that; 1e-4 arcsec covers the float64 transforms. A WCS off by a
        # tenth of a pixel (3 mas for NIRCam) fails.
        sep, distance = _separations(cal, stem, program)
        error = fits.getheader(program[0] / "demo" / "truth" / f"{stem}_truth.fits")["PNTGERR"]
        assert len(sep) >= 10, stem
        np.testing.assert_array_less(np.abs(sep - error), distance * np.radians(1e-3) + 1e-4)
    miri = open_model(uncal / f"{MIRI}_cal.fits")
    assert miri.meta["ASNTABLE"].startswith("jw01234-c1000_image2_")


def test_all_target_calibrates_the_science_members_of_configured_pools(tmp_path, program):
    uncal = _copy(program, tmp_path)
    pool = f"demo/pool/{POOL}.csv"
    write_config(tmp_path, associations={"pools": [pool], "outdir": "asn", "data_dir": "demo/uncal"})
    snakemake(tmp_path, f"asn/{POOL}")
    dry = snakemake(tmp_path, "-n").stdout
    jobs = _jobs(dry)
    stems = sorted(str(p)[: -len("_uncal.fits")].replace(str(tmp_path) + "/", "") for p in uncal.glob("*_uncal.fits"))
    assert jobs["detector1"] == stems
    cals = science_products(tmp_path / "asn" / POOL, "demo/uncal")
    assert jobs["image2"] == [c[: -len("_cal.fits")] for c in cals] and len(cals) == 9
    # the configured pool's association (not the demo's) gives the MIRI exposure its background
    [body] = [body for rule, stem, body in _blocks(dry) if rule == "image2" and stem == f"demo/uncal/{MIRI}"]
    inputs = re.search(r"input: (.*)", body).group(1).split(", ")
    assert f"demo/uncal/{MIRI_BACKGROUND}_rate.fits" in inputs
    assert [i for i in inputs if i.startswith(f"asn/{POOL}/jw01234-c1000_image2_")], inputs
    assert not (tmp_path / "demo" / "asn").exists()
