"""Stage 1 through Snakemake: the demo, single targets, bad input with --keep-going."""

import json
import re
import shutil

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from webbflow.datamodels import CubeModel, ImageModel, open_model
from webbflow.preview import preview_array

from .snakemake_runner import snakemake, write_config

pytestmark = [pytest.mark.workflow, pytest.mark.slow]


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    """A simulated program, made once for this module, in its own directory."""
    from webbflow.simulate import simulate_program

    root = tmp_path_factory.mktemp("program")
    summary = simulate_program(root / "demo", seed=7, full_frame_refs=False)
    return root, summary


def _copy_program(program, workdir):
    root, summary = program
    shutil.copytree(root / "demo", workdir / "demo", symlinks=True)
    return sorted((workdir / "demo" / "uncal").glob("*_uncal.fits"))


def test_demo_builds_every_rate(tmp_path):
    write_config(tmp_path, demo={"outdir": "demo", "seed": 3, "full_frame": False, "program": "default"})
    snakemake(tmp_path, "demo")
    uncal = sorted((tmp_path / "demo" / "uncal").glob("*_uncal.fits"))
    assert len(uncal) >= 5
    for path in uncal:
        stem = str(path)[: -len("_uncal.fits")]
        rate = open_model(stem + "_rate.fits")
        ints = open_model(stem + "_rateints.fits")
        assert isinstance(rate, ImageModel) and isinstance(ints, CubeModel)
        assert ints.data.shape[0] == fits.getheader(path)["NINTS"]
        assert rate.data.shape == ints.data.shape[1:]
        for keyword in ("S_DQINIT", "S_SATURA", "S_LINEAR", "S_DARK", "S_JUMP", "S_RAMP"):
            assert rate.meta[keyword] == "COMPLETE", (path.name, keyword)
        assert rate.meta["R_DARK"].startswith("crds://jwst_")
        assert rate.meta["R_GAIN"].startswith("crds://jwst_")
        assert rate.meta["CRDS_CTX"] == "jwst_0001.pmap"
        assert rate.meta["CAL_VER"]
        good = (rate.dq & 1) == 0
        assert np.isfinite(rate.data[good]).all()
        with Image.open(stem + "_rate.png") as preview:   # the report's preview of this rate
            np.testing.assert_array_equal(np.asarray(preview), preview_array(rate.data, rate.dq))
    # the program's pool became associations whose level-2 members are these rates
    asn_dirs = [p for p in (tmp_path / "demo" / "asn").iterdir() if p.is_dir()]
    assert len(asn_dirs) == 1 and asn_dirs[0].is_dir()
    names = sorted(p.name for p in asn_dirs[0].glob("*_asn.json"))
    assert any("_image2_" in n for n in names) and any("_image3_" in n for n in names), names
    image2 = [json.loads(p.read_text()) for p in asn_dirs[0].glob("*_image2_*_asn.json")]
    for asn in image2:
        for member in asn["products"][0]["members"]:
            assert (tmp_path / "demo" / "uncal" / member["expname"]).exists(), member["expname"]
    again = snakemake(tmp_path, "demo", "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_single_rate_builds_only_that_one(tmp_path, program):
    uncal = _copy_program(program, tmp_path)
    write_config(tmp_path)
    target = str(uncal[0])[: -len("_uncal.fits")] + "_rate.fits"
    dry = snakemake(tmp_path, target, "-n")
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", dry.stdout, flags=re.M))
    assert counts.get("detector1") == "1", dry.stdout
    snakemake(tmp_path, target)
    made = sorted(p.name for p in (tmp_path / "demo" / "uncal").glob("*_rate.fits"))
    assert made == [uncal[0].name.replace("_uncal", "_rate")]


def _write_bad(good, path, change):
    with fits.open(good) as hdul:
        hdul = fits.HDUList([hdu.copy() for hdu in hdul])
    change(hdul)
    hdul.writeto(path)


def test_bad_input_fails_alone_with_one_clear_line(tmp_path, program):
    uncal = _copy_program(program, tmp_path)
    good = uncal[0]
    bad = {}
    # a truncated file
    path = tmp_path / "demo" / "uncal" / "jw09999001001_01101_00001_nrcb1_uncal.fits"
    raw = good.read_bytes()
    path.write_bytes(raw[: len(raw) // 2 + 1000])
    bad[path] = "truncated"
    # a wrong number of dimensions
    path = tmp_path / "demo" / "uncal" / "jw09999001001_01101_00002_nrcb1_uncal.fits"
    _write_bad(good, path, lambda h: h.__setitem__("SCI", fits.ImageHDU(h["SCI"].data[0], header=h["SCI"].header)))
    bad[path] = "dimensions"
    # a missing required keyword
    path = tmp_path / "demo" / "uncal" / "jw09999001001_01101_00003_nrcb1_uncal.fits"
    _write_bad(good, path, lambda h: h[0].header.remove("NGROUPS"))
    bad[path] = "missing required keyword NGROUPS"
    # an unknown instrument
    path = tmp_path / "demo" / "uncal" / "jw09999001001_01101_00004_nrcb1_uncal.fits"
    _write_bad(good, path, lambda h: h[0].header.__setitem__("INSTRUME", "WFC3"))
    bad[path] = "unknown instrument"
    # a reference file missing from the cache: the MIRI exposures' dark
    miri = [p for p in uncal if "mirimage" in p.name]
    dark = _selected(program, miri[0].name, "dark")
    (tmp_path / "demo" / "crds_cache" / "references" / "jwst" / "miri" / dark).unlink()
    for path in miri:
        bad[path] = f"dark reference {dark}"
    write_config(tmp_path, inputs=["demo/uncal"])
    result = snakemake(tmp_path, "--keep-going", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for path, problem in bad.items():
        lines = [line for line in output.splitlines() if line.startswith("webbflow: error") and path.name in line]
        assert lines, f"no error line for {path.name}:\n{output[-3000:]}"
        assert problem in lines[0], lines[0]
        assert not path.with_name(path.name.replace("_uncal", "_rate")).exists()
        assert not path.with_name(path.name.replace("_uncal", "_rateints")).exists()
        assert not path.with_name(path.name.replace("_uncal.fits", "_rate.png")).exists()
    for path in uncal:
        if path not in bad:
            assert path.with_name(path.name.replace("_uncal", "_rate")).exists(), path.name
    leftovers = [p.name for p in (tmp_path / "demo" / "uncal").iterdir() if p.name.startswith(".tmp")]
    assert leftovers == []


def _selected(program, uncal_name, reftype):
    import os

    return os.path.basename(program[1]["references"][uncal_name][reftype])
