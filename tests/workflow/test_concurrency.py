"""Two Snakemake runs in one working directory, and a CRDS cache that no run modifies.

- While one run holds the working directory, a second one refuses with
  Snakemake's lock error and changes nothing; the first finishes.
- Two runs with ``--nolock`` on the same products at the same time leave
  only complete products (every write is a rename of a finished temporary).
- In both, the local CRDS cache keeps every byte, every file time and every
  directory time (a file created and removed again would change its
  directory's time), while two detector1 jobs run in parallel.
"""

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from webbflow.datamodels import open_model

from .snakemake_runner import REPO, SNAKEMAKE, snakemake, write_config

pytestmark = [pytest.mark.workflow, pytest.mark.slow]


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    """Four NIRCam exposures (two detectors) and their CRDS cache."""
    from webbflow.simulate import simulate_program

    root = tmp_path_factory.mktemp("concurrency")
    simulate_program(root / "demo", seed=13, instruments=["NIRCAM"], full_frame_refs=False)
    return root


def _workdir(program, path):
    shutil.copytree(program / "demo", path / "demo", symlinks=True)
    write_config(path, inputs=["demo/uncal"])
    return sorted((path / "demo" / "uncal").glob("*_uncal.fits"))


class _Run:
    """A snakemake run in the background, its output in a file (a pipe could fill up and stall it)."""

    def __init__(self, workdir, *args):
        cmd = [SNAKEMAKE, *args, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2",
               "--configfile", str(workdir / "config.yaml")]
        env = {key: value for key, value in os.environ.items() if not key.startswith("CRDS_")}
        self.log = workdir / f"snakemake_{time.monotonic_ns()}.out"
        with open(self.log, "w") as output:
            self.proc = subprocess.Popen(cmd, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=workdir)

    def running(self):
        return self.proc.poll() is None

    def finish(self, timeout=900):
        """The exit status and the output, once the run ends."""
        status = self.proc.wait(timeout=timeout)
        return status, self.log.read_text()


def _cache_state(cache):
    """Every file's bytes and time, every directory's time and entries, under ``cache``."""
    state = {}
    for path in sorted([cache, *cache.rglob("*")]):
        info = path.lstat()
        if path.is_dir():
            state[str(path)] = ("dir", info.st_mtime_ns, tuple(sorted(os.listdir(path))))
        else:
            state[str(path)] = ("file", info.st_mtime_ns, info.st_mode, hashlib.sha256(path.read_bytes()).hexdigest())
    return state


def _check_products(uncal):
    for path in uncal:
        stem = str(path)[: -len("_uncal.fits")]
        rate = open_model(stem + "_rate.fits")  # validates: complete, right extensions and shapes
        ints = open_model(stem + "_rateints.fits")
        assert rate.meta["S_RAMP"] == "COMPLETE" and ints.data.shape[1:] == rate.data.shape
    directory = uncal[0].parent
    assert sorted(p.name for p in directory.iterdir() if p.name.startswith(".tmp_")) == []


def _parallel_jobs(directory):
    """Whether two detector1 jobs ran at the same time (their log lifetimes overlap)."""
    spans = []
    for log in directory.glob("*_detector1.log"):
        first = log.read_text().splitlines()[0]  # "YYYY-mm-dd HH:MM:SS,mmm LEVEL ...": the job's first line
        start = time.mktime(time.strptime(first[:19], "%Y-%m-%d %H:%M:%S")) + int(first[20:23]) / 1000
        spans.append((start, log.stat().st_mtime))
    spans.sort()
    return any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))


def test_second_run_refuses_and_the_cache_is_untouched(program, tmp_path):
    uncal = _workdir(program, tmp_path)
    cache = tmp_path / "demo" / "crds_cache"
    before = _cache_state(cache)
    first = _Run(tmp_path)
    locks = tmp_path / ".snakemake" / "locks"
    deadline = time.monotonic() + 600
    while not (locks.exists() and any(locks.iterdir())):  # the first run holds the directory
        assert first.running(), first.finish()[1][-3000:]
        assert time.monotonic() < deadline, "the first run took no lock"
        time.sleep(0.05)
    second = snakemake(tmp_path, check=False)
    output = second.stdout + second.stderr
    assert second.returncode != 0, output[-3000:]
    assert "Directory cannot be locked" in output, output[-3000:]
    assert first.running(), "the first run ended before the second was refused: nothing was tested"
    status, first_output = first.finish()
    assert status == 0, first_output[-3000:]
    _check_products(uncal)
    assert _parallel_jobs(uncal[0].parent), "no two detector1 jobs overlapped: the cache was not read in parallel"
    assert _cache_state(cache) == before


def test_runs_without_the_lock_leave_only_complete_products(program, tmp_path):
    uncal = _workdir(program, tmp_path)
    cache = tmp_path / "demo" / "crds_cache"
    before = _cache_state(cache)
    runs = [_Run(tmp_path, "--nolock") for _ in range(2)]
    outputs = [run.finish()[1][-2000:] for run in runs]
    # Either run may fail (Snakemake may find an output the other one replaced), but
    # no product may be partial: each is renamed into place only when complete.
    for path in uncal:
        for suffix in ("_rate.fits", "_rateints.fits"):
            product = Path(str(path)[: -len("_uncal.fits")] + suffix)
            if product.exists():
                open_model(product)
    assert sorted(p.name for p in uncal[0].parent.iterdir() if p.name.startswith(".tmp_")) == [], outputs
    snakemake(tmp_path, "--rerun-incomplete")
    _check_products(uncal)
    assert _cache_state(cache) == before
