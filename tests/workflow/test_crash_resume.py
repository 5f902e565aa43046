"""Crash and resume: the demo killed (SIGKILL) at random points, resumed with --rerun-incomplete.

The demo runs once uninterrupted (the reference) and once in another
directory where the whole Snakemake process group is killed four times:
while the simulator writes the program, when the associations job starts,
during the first detector1 jobs, and in the middle of the detector1 jobs. After each kill
every product that exists under its final name must be complete (it opens,
validates and has the bytes of the reference's file; Snakemake's own
incomplete markers are fine), and at the end every file the demo makes
(except logs and benchmarks, whatever its suffix) is byte-identical to the
reference, with no temporary left behind.
"""

import hashlib
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from webbflow.datamodels import open_model

from .snakemake_runner import REPO, SNAKEMAKE, snakemake, write_config

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

SEED = 20261122
NOT_PRODUCTS = (".log", ".benchmark.tsv")
WAIT = 900  # seconds: a trigger that does not come within this is a failure


def _start(workdir, *args):
    """Start snakemake in its own process group (the jobs it runs join that group)."""
    cmd = [SNAKEMAKE, *args, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2",
           "--configfile", str(workdir / "config.yaml")]
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRDS_")}
    output = open(workdir / f"snakemake_{time.monotonic_ns()}.out", "w")  # noqa: SIM115 - closed by _kill/_finish
    proc = subprocess.Popen(cmd, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=workdir,
                            start_new_session=True)
    proc.output = output
    return proc


def _group_alive(pgid):
    """Whether any process of the process group still exists (zombies aside)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _kill(proc):
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 60
    while _group_alive(proc.pid):  # the jobs too, not only snakemake
        assert time.monotonic() < deadline, "jobs survived the SIGKILL of their process group"
        time.sleep(0.1)
    proc.output.close()


def _products(root):
    """{relative path: path} of every file the demo writes under ``root/demo``.

    Logs, benchmarks, our temporaries and Snakemake's empty ``.snakemake_timestamp``
    in directory outputs aside.
    """
    found = {}
    for path in (root / "demo").rglob("*"):
        if (path.is_file() and not path.name.endswith(NOT_PRODUCTS)
                and not path.name.startswith((".tmp_", ".snakemake_timestamp"))):
            found[str(path.relative_to(root))] = path
    return found


def _temporaries(root):
    return sorted(str(p.relative_to(root)) for p in (root / "demo").rglob(".tmp_*"))


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_complete(path):
    """A product under its final name opens and validates."""
    if path.name.endswith(("_uncal.fits", "_rate.fits", "_rateints.fits")):
        open_model(path)  # raises InputError on truncation, missing extensions, bad shapes
    elif path.suffix == ".json":
        json.loads(path.read_text())
    assert path.stat().st_size > 0, path


def _incomplete_markers(workdir, since):
    """Snakemake's records of the outputs of jobs that started after ``since`` and did not finish."""
    markers = workdir / ".snakemake" / "incomplete"
    return [p for p in markers.rglob("*")
            if p.is_file() and p.name != "migration_underway" and p.stat().st_mtime >= since]


def _started(directory, pattern, since):
    """Whether a job of this run has started: its log (written from its first moment) is newer than ``since``."""
    for path in directory.glob(pattern):
        try:
            if path.stat().st_mtime >= since:
                return True
        except FileNotFoundError:
            continue
    return False


def _rates(workdir):
    return len(list((workdir / "demo" / "uncal").glob("*_rate.fits")))


def _wait_for(proc, condition, what):
    deadline = time.monotonic() + WAIT
    while not condition():
        assert proc.poll() is None, f"snakemake ended (status {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {WAIT} s"
        time.sleep(0.05)


def test_killed_demo_resumes_to_the_same_bytes(tmp_path):
    rng = random.Random(SEED)
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    for workdir in (reference, crashed):
        workdir.mkdir()
        # the stage-1 program: the imaging one doubles the run time (CI budget); image2's bytes
        # are checked run to run in tests/test_determinism.py
        write_config(workdir, demo={"program": "default"})
    snakemake(reference, "demo")
    expected = {rel: _digest(path) for rel, path in _products(reference).items()}
    assert sum(rel.endswith("_rate.fits") for rel in expected) >= 5, sorted(expected)

    uncal = crashed / "demo" / "uncal"
    asn = crashed / "demo" / "asn"
    # (phase, trigger, delay after it, whether the kill must land inside a job): the
    # associations job lasts under a second, so that kill may also land in the DAG update
    # after it; the others are long enough to be hit for sure
    kill_points = [
        ("simulate", lambda since: _started(crashed / "demo", "simulate.log", since), rng.uniform(1.0, 4.0), True),
        ("associations", lambda since: _started(asn, "*.log", since), rng.uniform(0.0, 0.3), False),
        ("the first detector1 jobs", lambda since: _started(uncal, "*_detector1.log", since), rng.uniform(0.5, 1.5),
         True),
        ("detector1", None, rng.uniform(0.0, 2.0), True),
    ]
    for index, (phase, started, delay, in_job) in enumerate(kill_points):
        args = ("demo",) if index == 0 else ("--rerun-incomplete", "demo")
        since = time.time()
        proc = _start(crashed, *args)
        trigger = (lambda started=started, since=since: started(since)) if started else None
        if trigger is None:  # after a random number of further exposures are done
            done = _rates(crashed)
            target = min(done + rng.randint(1, 3), len(list(uncal.glob("*_uncal.fits"))) - 1)
            assert target > done, f"{done} rates were made before the detector1 phase: nothing left to kill"
            trigger = lambda target=target: _rates(crashed) >= target  # noqa: E731
        _wait_for(proc, trigger, f"the {phase} phase")
        time.sleep(delay)
        assert proc.poll() is None, f"snakemake ended before the kill during {phase}"
        _kill(proc)
        # the kill landed in a job: Snakemake had marked its outputs incomplete
        assert _incomplete_markers(crashed, since) or not in_job, f"the kill during {phase} interrupted no job"
        for rel, path in _products(crashed).items():
            _check_complete(path)
            assert rel in expected, f"{rel} is not a product of the demo (after the kill during {phase})"
            assert _digest(path) == expected[rel], f"{rel} exists but is incomplete after the kill during {phase}"
        # a killed run leaves its lock: unlocking is the user's first step too (docs/faults.md)
        snakemake(crashed, "--unlock")

    snakemake(crashed, "--rerun-incomplete", "demo")
    made = {rel: _digest(path) for rel, path in _products(crashed).items()}
    assert sorted(made) == sorted(expected)
    different = [rel for rel in expected if made[rel] != expected[rel]]
    assert different == [], different
    assert _temporaries(crashed) == []
    again = snakemake(crashed, "demo", "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
