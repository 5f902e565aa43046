"""Benchmark: resample (drizzle), ours against the official ResampleStep, in the same run.

Run from the repository root::

    python -m benchmarks.resample                 # 4 NIRCam full-frame cal files
    python -m benchmarks.resample --n 4,8         # 4 files, then 8
    python -m benchmarks.resample --quick         # a smoke run (256 x 256 inputs)
    python -m benchmarks.resample --no-official   # ours only

It makes N NIRCam cal files (2048 x 2048, MJy/sr, VAR_POISSON/RNOISE/FLAT)
with the image2 test fixtures (the distortion reference through our
assign_wcs), dithered by a few arcsec, and resamples them all into one
i2d, each side in its own child process (so that its peak RSS is its own,
from ``os.wait4``):

- ours: ``webbflow.steps.image3.resample.run(paths)`` then ``save``;
- official: ``jwst.resample.ResampleStep.call(asn.json, save_results=True)``.

Both use the square kernel, pixfrac 1, ivm weights, north-up output
(``rotation=0``) at the native scale, variances and context on. Ours runs
once on one small file first to fill the numba cache. Reported per side:
the wall time of the whole process (start-up included), its CPU time (user
+ system; the fairer figure when the machine is shared), the time of the
resample call alone (measured inside the child, file reading and writing
included), the peak RSS, and the 1-minute load average when the child
ended. The table is printed and written to benchmarks/results/resample.txt.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "resample.txt"
MIB = 1024**2

OURS = textwrap.dedent("""
    import json, sys, time
    from webbflow.steps.image3 import resample
    paths, out = json.loads(sys.argv[1]), sys.argv[2]
    t0 = time.perf_counter()
    model = resample.run(paths, {"kernel": "square", "pixfrac": 1.0, "weight_type": "ivm", "rotation": 0.0})
    model.save(out)
    print(json.dumps({"step": time.perf_counter() - t0}))
""")

OFFICIAL = textwrap.dedent("""
    import json, os, sys, time, warnings
    warnings.simplefilter("ignore")
    from jwst.resample import ResampleStep
    asn, outdir = sys.argv[1], sys.argv[2]
    t0 = time.perf_counter()
    ResampleStep.call(asn, output_dir=outdir, save_results=True, kernel="square", pixfrac=1.0,
                      weight_type="ivm", rotation=0.0)
    print(json.dumps({"step": time.perf_counter() - t0}))
""")


def make_inputs(workdir, n, shape):
    """Write ``n`` dithered NIRCam cal files; returns their paths."""
    sys.path.insert(0, str(REPO))
    from tests.steps.image3.fixtures import nircam_cal

    paths, refs = [], None
    for k in range(n):
        path = workdir / f"jw0100100100{k + 1}_0101_0000{k + 1}_nrcb1_cal.fits"
        # a 2 x (n/2) pattern of dithers a few arcsec apart (about 100 pixels)
        offset = (3.1 * (k % 2), 2.3 * (k // 2))
        model, refs = nircam_cal(workdir, shape=shape, offset=offset, seed=k + 1, refs=refs)
        model.meta["EXPOSURE"] = k + 1
        model.meta["FILENAME"] = path.name
        model.save(path)
        paths.append(str(path))
    return paths


def write_asn(paths, workdir, n):
    """An image3 association for the official step (members of type science)."""
    asn = {"asn_type": "image3", "asn_rule": "candidate_Asn_Lv3Image", "asn_id": "a3001", "asn_pool": "bench",
           "program": "01001", "version_id": None, "code_version": "bench",
           "products": [{"name": f"bench{n}_official",
                         "members": [{"expname": os.path.basename(p), "exptype": "science"} for p in paths]}]}
    path = workdir / f"bench{n}_asn.json"
    path.write_text(json.dumps(asn))
    return str(path)


def offline_crds_env(workdir):
    """Environment for the official step: a CRDS cache with only a server configuration (no network)."""
    config = workdir / "crds" / "config" / "jwst"
    config.mkdir(parents=True, exist_ok=True)
    (config / "server_config").write_text(repr({
        "observatory": "jwst", "operational_context": "jwst_0000.pmap", "latest_context": "jwst_0000.pmap",
        "edit_context": "jwst_0000.pmap", "versions_context": "jwst_0000.pmap", "force_remote_mode": False,
        "bad_files_list": [], "bad_files": "", "last_synced": "2024-01-01 00:00:00", "connected": False,
        "status": "cache"}))
    return dict(os.environ, CRDS_PATH=str(workdir / "crds"), CRDS_SERVER_URL="https://jwst-serverless-mode.stsci.edu",
                CRDS_MODE="local", CRDS_OBSERVATORY="jwst", CRDS_CONTEXT="jwst_0000.pmap",
                STPIPE_DISABLE_CRDS_STEPPARS="true")


def run_child(args, cwd, env=None):
    """Run a child process; (wall s, cpu s, peak RSS MiB, its JSON line)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}): {err[-3000:]}")
    line = [x for x in out.splitlines() if x.startswith("{")][-1]
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, json.loads(line)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="4", help="numbers of cal files, comma-separated (default 4)")
    parser.add_argument("--quick", action="store_true", help="256 x 256 inputs (a smoke run)")
    parser.add_argument("--no-official", action="store_true", help="time ours only")
    parser.add_argument("--workdir", default=None, help="where the inputs go (default: a temporary directory)")
    parser.add_argument("--output", default=str(RESULTS), help="the results table")
    args = parser.parse_args(argv)

    counts = [int(n) for n in str(args.n).split(",")]
    shape = (256, 256) if args.quick else (2048, 2048)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="webbflow_resample_bench_"))
    workdir.mkdir(parents=True, exist_ok=True)
    all_paths = make_inputs(workdir, max(counts), shape)
    env_note = f"python {platform.python_version()}, {os.cpu_count()} cores"
    # warm-up: fill the numba cache so that compilation is not timed
    run_child([OURS, json.dumps(all_paths[:1]), str(workdir / "warmup_i2d.fits")], workdir)
    lines = [f"# resample benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC ({env_note})",
             f"# NIRCam cal files of {shape[1]} x {shape[0]} (dithered) -> one i2d; square kernel, pixfrac 1, "
             "ivm weights, north up, variances + context, on both sides",
             f"# command: python -m benchmarks.resample --n {args.n}{' --quick' if args.quick else ''}",
             "",
             "| files | side | wall (process) s | CPU (process) s | resample call s | peak RSS MiB | load avg 1 min |",
             "|---|---|---|---|---|---|---|"]
    ratios = []
    for n in counts:
        paths = all_paths[:n]
        rows = {"ours": run_child([OURS, json.dumps(paths), str(workdir / f"bench{n}_ours_i2d.fits")], workdir)
                + (os.getloadavg()[0],)}
        if not args.no_official:
            asn = write_asn(paths, workdir, n)
            rows["official"] = run_child([OFFICIAL, asn, str(workdir)], workdir, offline_crds_env(workdir)) \
                + (os.getloadavg()[0],)
        for side, (wall, cpu, rss, info, load) in rows.items():
            lines.append(f"| {n} | {side} | {wall:.2f} | {cpu:.2f} | {info['step']:.2f} | {rss:.0f} | {load:.2f} |")
        if "official" in rows:
            o, u = rows["official"], rows["ours"]
            ratios.append(f"{n} files: speed-up (official / ours) wall {o[0] / u[0]:.2f}x, CPU {o[1] / u[1]:.2f}x, "
                          f"resample call {o[3]['step'] / u[3]['step']:.2f}x; peak memory (ours / official) "
                          f"{u[2] / o[2]:.2f}")
    text = "\n".join(lines + [""] + ratios) + "\n"
    print(text)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
