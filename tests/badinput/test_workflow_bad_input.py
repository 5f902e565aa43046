"""Bad input through Snakemake (--keep-going): one clear line per bad file, no product, the rest built."""

import shutil

import numpy as np
import pytest
from astropy.io import fits

from tests.workflow.snakemake_runner import snakemake, write_config

from .readonly import read_only

pytestmark = [pytest.mark.workflow, pytest.mark.slow]


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    """One small NIRISS exposure and its CRDS cache."""
    from webbflow.simulate import simulate_program

    root = tmp_path_factory.mktemp("wfbad")
    summary = simulate_program(root / "demo", seed=5, instruments=["NIRISS"], full_frame_refs=False)
    return root, summary


def _copy(program, workdir):
    root, _ = program
    shutil.copytree(root / "demo", workdir / "demo", symlinks=True)
    return sorted((workdir / "demo" / "uncal").glob("*_uncal.fits"))[0]


def _error_lines(result, name):
    output = result.stdout + result.stderr
    return [line for line in output.splitlines() if line.startswith("webbflow: error") and name in line], output


def _products(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(("_rate.fits", "_rateints.fits"))
                  or p.name.startswith(".tmp"))


def test_nan_uncal_fails_alone(tmp_path, program):
    good = _copy(program, tmp_path)
    bad = good.with_name(good.name.replace("_00001_", "_00002_"))
    with fits.open(good) as hdul:
        copy = fits.HDUList([hdu.copy() for hdu in hdul])
    data = copy["SCI"].data.astype(np.float32)
    data[0, 1:, :, 7] = np.nan
    header = copy["SCI"].header.copy()
    for key in ("BZERO", "BSCALE"):
        header.remove(key, ignore_missing=True)
    copy["SCI"] = fits.ImageHDU(data, header=header, name="SCI")
    copy.writeto(bad)
    write_config(tmp_path, inputs=["demo/uncal"])
    result = snakemake(tmp_path, "--keep-going", check=False)
    assert result.returncode != 0
    lines, output = _error_lines(result, bad.name)
    assert lines, output[-3000:]
    assert "NaN" in lines[0], lines[0]
    assert "Traceback" not in lines[0]
    uncal_dir = good.parent
    assert _products(uncal_dir) == [good.name.replace("_uncal", "_rate"), good.name.replace("_uncal", "_rateints")]


def test_corrupt_reference_fails_with_its_name(tmp_path, program):
    good = _copy(program, tmp_path)
    _, summary = program
    gain_name = summary["references"][good.name]["gain"].rsplit("/", 1)[1]
    gain = tmp_path / "demo" / "crds_cache" / "references" / "jwst" / "niriss" / gain_name
    raw = gain.read_bytes()
    gain.unlink()
    gain.write_bytes(raw[: len(raw) // 3])
    write_config(tmp_path, inputs=["demo/uncal"])
    result = snakemake(tmp_path, "--keep-going", check=False)
    assert result.returncode != 0
    lines, output = _error_lines(result, gain_name)
    assert lines, output[-3000:]
    assert "not readable FITS" in lines[0], lines[0]
    assert _products(good.parent) == []


def test_read_only_output_directory(tmp_path, program):
    good = _copy(program, tmp_path)
    write_config(tmp_path, inputs=["demo/uncal"])
    restore = read_only(good.parent)
    try:
        result = snakemake(tmp_path, "--keep-going", check=False)
    finally:
        restore()
    assert result.returncode != 0
    lines, output = _error_lines(result, f"{good.parent}: output directory is not writable")
    assert _products(good.parent) == []
    assert len(lines) == 1, output[-3000:]


def test_read_only_crds_cache_still_works(tmp_path, program):
    good = _copy(program, tmp_path)
    write_config(tmp_path, inputs=["demo/uncal"])
    restore = read_only(tmp_path / "demo" / "crds_cache", recursive=True)
    try:
        snakemake(tmp_path)
    finally:
        restore()
    assert _products(good.parent) == [good.name.replace("_uncal", "_rate"), good.name.replace("_uncal", "_rateints")]
