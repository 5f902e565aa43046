"""Stage 1 of the demo through a real SLURM (a single-node cluster on this machine).

The products of ``snakemake --profile profiles/slurm --executor slurm`` must be
the products of a local run, byte for byte, and every job must have been a
SLURM job. Needs root and the SLURM/munge Debian packages: skipped without
them, except in CI (CI set), where their absence is a failure.
"""

import os
import re
import shutil
import time

import numpy as np
import pytest
from astropy.io import fits

from .slurm_cluster import MARKER, SLURM_CONF, missing_requirements, slurm_cluster
from .snakemake_runner import REPO, snakemake, write_config

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

# Files of a run that are not products: the rules' logs and benchmarks hold times and paths.
NOT_PRODUCTS = (".log", ".benchmark.tsv")


def _why_no_cluster():
    why = missing_requirements()
    if why:
        return why
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed"
    if SLURM_CONF.exists() and not SLURM_CONF.read_text(errors="replace").startswith(MARKER):
        return f"{SLURM_CONF} belongs to a real SLURM installation; the test cluster will not replace it"
    return ""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    why = _why_no_cluster()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"{why}; CI must be able to run the SLURM test (.ci/run installs SLURM)")
        pytest.skip(why)
    with slurm_cluster(tmp_path_factory.mktemp("slurm")) as running:
        yield running


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    from webbflow.simulate import simulate_program

    root = tmp_path_factory.mktemp("slurm_program")
    simulate_program(root / "demo", seed=7, full_frame_refs=False)
    return root / "demo"


def _workdir(program, path):
    path.mkdir()
    shutil.copytree(program, path / "demo", symlinks=True)
    write_config(path, inputs=["demo/uncal"])
    return path


def _products(workdir, inputs):
    uncal = workdir / "demo" / "uncal"
    return {p.name: p for p in uncal.iterdir()
            if p.is_file() and p.name not in inputs and not p.name.endswith(NOT_PRODUCTS)}


def _assert_same_fits(local, remote):
    with fits.open(local) as a, fits.open(remote) as b:
        assert [h.name for h in a] == [h.name for h in b], remote.name
        for ha, hb in zip(a, b, strict=True):
            where = f"{remote.name}[{ha.name}]"
            assert list(ha.header.items()) == list(hb.header.items()), where
            if isinstance(ha, fits.BinTableHDU):
                assert ha.data.tobytes() == hb.data.tobytes(), where
            elif ha.data is not None or hb.data is not None:
                np.testing.assert_array_equal(ha.data, hb.data, err_msg=where)


def test_stage1_through_slurm_equals_local_run(cluster, program, tmp_path):
    inputs = {p.name for p in (program / "uncal").iterdir()}
    stems = sorted(name[: -len("_uncal.fits")] for name in inputs if name.endswith("_uncal.fits"))
    assert len(stems) >= 5

    local = _workdir(program, tmp_path / "local")
    snakemake(local, cores=2)

    remote = _workdir(program, tmp_path / "slurm")
    start = time.monotonic()
    # The profile's 40 s before the first status check suits a real cluster; the
    # test polls sooner (the cluster's MinJobAge=600 keeps squeue answers valid).
    result = snakemake(remote, "--profile", str(REPO / "profiles" / "slurm"), "--executor", "slurm",
                       "--slurm-init-seconds-before-status-checks", "5", cores=2)
    seconds = time.monotonic() - start
    print(f"\nstage 1 of {len(stems)} exposures through SLURM: {seconds:.0f} s wall")
    output = result.stdout + result.stderr

    # every detector1 job was a SLURM job, and SLURM ran each to completion
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", output))
    assert len(submitted) == len(stems), output[-4000:]
    jobs = cluster.jobs()
    comments = set()
    for slurm_id in submitted.values():
        assert slurm_id in jobs, (slurm_id, jobs)
        assert jobs[slurm_id]["state"] == "COMPLETED", jobs[slurm_id]
        comments.add(jobs[slurm_id]["comment"])
    assert comments == {f"rule_detector1_wildcards_demo_uncal_{stem}" for stem in stems}

    # the same products, byte for byte (the outputs hold no write time)
    made_local = _products(local, inputs)
    made_remote = _products(remote, inputs)
    assert sorted(made_remote) == sorted(made_local)
    for stem in stems:
        assert f"{stem}_rate.fits" in made_remote and f"{stem}_rateints.fits" in made_remote, stem
    for name, path in sorted(made_remote.items()):
        if name.endswith(".fits"):
            _assert_same_fits(made_local[name], path)
        assert path.read_bytes() == made_local[name].read_bytes(), name
