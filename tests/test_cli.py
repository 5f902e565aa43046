"""The webbflow command: run a stage, run a step, overrides, replacements, errors."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits

from webbflow.datamodels import open_model

WEBBFLOW = str(Path(sys.executable).with_name("webbflow"))
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def niriss(tmp_path_factory):
    """One small NIRISS exposure with its CRDS cache."""
    from webbflow.simulate import simulate_program

    root = tmp_path_factory.mktemp("cli")
    summary = simulate_program(root, seed=11, instruments=["NIRISS"], full_frame_refs=False)
    return Path(summary["uncal"][0]), Path(summary["crds_cache"]), summary


def _run(*args, check=True, cwd=None):
    result = subprocess.run([WEBBFLOW, *map(str, args)], capture_output=True, text=True, timeout=600, cwd=cwd)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_run_detector1_writes_rate_and_rateints(niriss, tmp_path):
    uncal, cache, _ = niriss
    _run("run", "detector1", uncal, "-o", tmp_path, "--crds-path", cache)
    stem = uncal.name.replace("_uncal.fits", "")
    rate = open_model(tmp_path / f"{stem}_rate.fits")
    ints = open_model(tmp_path / f"{stem}_rateints.fits")
    assert rate.meta["S_RAMP"] == "COMPLETE" and ints.meta["S_JUMP"] == "COMPLETE"
    assert rate.meta["CRDS_CTX"] == "jwst_0001.pmap"
    assert rate.meta["R_READNO"].startswith("crds://jwst_niriss_readnoise")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{stem}_rate.fits", f"{stem}_rateints.fits"]


def test_override_changes_the_reference_used(niriss, tmp_path):
    uncal, cache, summary = niriss
    dark = Path(summary["references"][uncal.name]["dark"])
    custom = tmp_path / "my_dark.fits"
    with fits.open(dark) as hdul:
        hdul["SCI"].data = hdul["SCI"].data + np.arange(hdul["SCI"].data.shape[0], dtype=np.float32)[:, None, None]
        hdul.writeto(custom)
    _run("run", "detector1", uncal, "-o", tmp_path / "a", "--crds-path", cache)
    _run("run", "detector1", uncal, "-o", tmp_path / "b", "--crds-path", cache, "--override", f"dark={custom}")
    stem = uncal.name.replace("_uncal.fits", "")
    a = open_model(tmp_path / "a" / f"{stem}_rate.fits")
    b = open_model(tmp_path / "b" / f"{stem}_rate.fits")
    assert b.meta["R_DARK"] == "crds://my_dark.fits"
    # the custom dark adds 1 DN per dark frame: the rate drops by 1 DN per frame time
    good = ((a.dq | b.dq) & 1) == 0
    drop = np.median((a.data - b.data)[good])
    assert drop == pytest.approx(1.0 / a.meta["TFRAME"], rel=0.02)


def test_step_runs_one_step_and_config_replaces_a_step(niriss, tmp_path):
    uncal, cache, _ = niriss
    out = tmp_path / "x_ramp.fits"
    _run("step", "dq_init", uncal, "-o", out, "--crds-path", cache)
    ramp = open_model(out)
    assert ramp.meta["S_DQINIT"] == "COMPLETE"
    assert (ramp.pixeldq & (1 << 31)).any()  # reference pixels flagged from the mask
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"detector1": {"steps": {
        "ipc": {"callable": "replacement_step:mark_ipc"},
        "superbias": {"skip": True}}}}))
    # a user's module in the working directory
    _run("run", "detector1", uncal, "-o", tmp_path / "c", "--crds-path", cache, "--config", config,
         cwd=Path(__file__).parent)
    rate = open_model(next((tmp_path / "c").glob("*_rate.fits")))
    assert rate.meta["S_SUPERB"] == "SKIPPED"
    assert rate.meta["MY_IPC"] == "replaced"


@pytest.mark.parametrize("problem, args, message", [
    ("unknown step", ("step", "warp_drive"), "unknown step 'warp_drive'"),
    ("missing file", ("run", "detector1", "/nonexistent/x_uncal.fits"), "/nonexistent/x_uncal.fits: file does not exist"),
    ("bad override", ("run", "detector1", None, "--override", "dark"), "--override needs REFTYPE=PATH"),
])
def test_errors_are_one_line(niriss, tmp_path, problem, args, message):
    uncal, cache, _ = niriss
    args = [uncal if a is None else a for a in args]
    if args[0] == "step":
        args += [uncal, "-o", tmp_path / "o.fits"]
    result = _run(*args, "--crds-path", cache, check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("webbflow: error:") and message in lines[-1], result.stderr
    assert "Traceback" not in result.stderr
