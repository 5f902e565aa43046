"""A new CRDS context re-runs exactly the exposures whose selected references change."""

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from webbflow.datamodels import open_model
from webbflow.pipelines.detector1 import PROVENANCE_KEY

from .snakemake_runner import snakemake, write_config

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

WEBBFLOW = str(Path(sys.executable).with_name("webbflow"))


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    from webbflow.simulate import simulate_program

    root = tmp_path_factory.mktemp("program")
    summary = simulate_program(root / "demo", seed=7, full_frame_refs=False)
    return root, summary


def _webbflow(*args, cwd):
    result = subprocess.run([WEBBFLOW, *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _state(directory):
    """{file name: (mtime_ns, sha256)} of every file in ``directory``."""
    out = {}
    for path in sorted(Path(directory).iterdir()):
        if path.is_file():
            out[path.name] = (path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def _new_dark(source, target, readpatt):
    """A copy of a dark, one DN per frame brighter, selected for one read pattern."""
    with fits.open(source) as hdul:
        hdul[0].header["READPATT"] = readpatt
        sci = hdul["SCI"].data
        hdul["SCI"].data = sci + np.arange(sci.shape[-3], dtype=np.float32)[:, None, None]
        hdul.writeto(target)
    return target


def _dry_run_jobs(output):
    """{stem: reason} of the detector1 jobs in a ``snakemake -n`` output."""
    jobs = {}
    for block in re.split(r"\n(?=\[[^\n]*\d{4}\]\n)", output):
        if "rule detector1:" in block:
            stem = re.search(r"wildcards: stem=(\S+)", block).group(1)
            jobs[stem] = re.search(r"reason: (.*)", block).group(1)
    return jobs


def test_new_context_reruns_exactly_the_affected_exposures(tmp_path, program):
    root, summary = program
    shutil.copytree(root / "demo", tmp_path / "demo", symlinks=True)
    uncal_dir = tmp_path / "demo" / "uncal"
    cache = tmp_path / "demo" / "crds_cache"
    write_config(tmp_path, inputs=["demo/uncal"])
    snakemake(tmp_path)
    before = _state(uncal_dir)

    nrcb1 = sorted(p for p in uncal_dir.glob("*_nrcb1_uncal.fits"))
    assert len(nrcb1) >= 2
    readpatt = fits.getheader(nrcb1[0])["READPATT"]
    old_dark = summary["references"][nrcb1[0].name]["dark"]
    others = sorted(set(uncal_dir.glob("*_uncal.fits")) - set(nrcb1))
    assert any(summary["references"][p.name]["dark"] != old_dark for p in others)  # other NIRCam darks exist

    # a dark for another read pattern changes no selection: nothing to do
    unused = _new_dark(old_dark, tmp_path / "jwst_nircam_dark_8001.fits", "DEEP8")
    unused_context = _webbflow("refs", "new-context", cache, "--from", "jwst_0001.pmap", "--replace", unused,
                               cwd=tmp_path).strip()
    assert unused_context == "jwst_0002.pmap"
    write_config(tmp_path, inputs=["demo/uncal"], crds={"context": unused_context})
    assert "Nothing to be done" in snakemake(tmp_path, "-n").stdout

    # a new NRCB1 dark for the exposures' read pattern, published as a new context
    dark = _new_dark(old_dark, tmp_path / "jwst_nircam_dark_9001.fits", readpatt)
    context = _webbflow("refs", "new-context", cache, "--from", "jwst_0001.pmap", "--replace", dark,
                        cwd=tmp_path).strip()
    assert context == "jwst_0003.pmap"
    affected = _webbflow("refs", "affected", "--old", "jwst_0001.pmap", "--new", context, "demo/uncal",
                         "--crds-path", cache, cwd=tmp_path).split()
    assert affected == [str(Path("demo/uncal") / p.name) for p in nrcb1]

    write_config(tmp_path, inputs=["demo/uncal"], crds={"context": context})
    dry = snakemake(tmp_path, "-n").stdout
    jobs = _dry_run_jobs(dry)
    assert sorted(jobs) == [str(Path("demo/uncal") / p.name.removesuffix("_uncal.fits")) for p in nrcb1], dry
    for reason in jobs.values():
        assert reason == "Set of input files has changed since last execution", reason
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", dry, flags=re.M))
    assert counts["detector1"] == str(len(nrcb1)), dry

    old_rates = {p.name.removesuffix("_uncal.fits"): open_model(str(p).replace("_uncal", "_rate")) for p in nrcb1}
    snakemake(tmp_path)
    after = _state(uncal_dir)
    assert sorted(after) == sorted(before)
    changed = {name for name in before if before[name] != after[name]}
    stems = [p.name.removesuffix("_uncal.fits") for p in nrcb1]
    expected = {f"{s}_{suffix}" for s in stems
                for suffix in ("rate.fits", "rateints.fits", "rate.png", "detector1.log", "detector1.benchmark.tsv")}
    assert changed == expected  # every other product: same bytes, same mtime
    for stem in stems:
        for suffix in ("rate", "rateints"):
            product = open_model(uncal_dir / f"{stem}_{suffix}.fits")
            assert product.meta["R_DARK"] == "crds://jwst_nircam_dark_9001.fits"
            assert product.meta["CRDS_CTX"] == context
            record = product.asdf_tree[PROVENANCE_KEY]
            assert record["crds_context"] == context
            assert record["references"]["dark"] == "crds://jwst_nircam_dark_9001.fits"
        # the dark is one DN per frame brighter: the rate drops by 1/TFRAME
        new, old = open_model(uncal_dir / f"{stem}_rate.fits"), old_rates[stem]
        assert old.meta["R_DARK"] == f"crds://{os.path.basename(old_dark)}"
        good = ((old.dq | new.dq) & 1) == 0
        drop = np.median((old.data - new.data)[good])
        assert drop == pytest.approx(1.0 / new.meta["TFRAME"], rel=0.05)


def test_resources_follow_the_input_sizes(tmp_path):
    from webbflow.workflow import detector1_resources

    small, big, ref = tmp_path / "a_uncal.fits", tmp_path / "b_uncal.fits", tmp_path / "dark.fits"
    small.write_bytes(b"\0" * 1_000_000)
    big.write_bytes(b"\0" * 100_000_000)
    ref.write_bytes(b"\0" * 50_000_000)
    a, b = detector1_resources(str(small)), detector1_resources(str(big), [str(ref)])
    assert 320 < a["mem_mb"] < 500 and a["runtime"] >= 1
    # measured: 2.4 MB per MB of uncal and ~1 MB per MB of references, above a fixed part
    assert b["mem_mb"] - a["mem_mb"] >= 2.4 * 99 + 50
    assert b["runtime"] > a["runtime"]
    assert detector1_resources(str(big), [str(ref)], threads=4)["runtime"] <= b["runtime"]
    assert detector1_resources(str(tmp_path / "missing_uncal.fits"))["mem_mb"] == 400
