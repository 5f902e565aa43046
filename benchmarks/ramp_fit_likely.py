"""Benchmark: ramp_fit ``algorithm: LIKELY``, ours against stcal's LIKELY, in the same run.

Run from the repository root::

    python -m benchmarks.ramp_fit_likely              # NIRCam full frame 2048x2048 x 10 groups
    python -m benchmarks.ramp_fit_likely --quick      # a smoke run (256x256)

The data: ramps simulated here with the noise model of the official
pipeline (Poisson charge read every frame, Gaussian read noise of CDS/sqrt(2)
per read; NIRCam RAPID, 10 groups of one 10.74 s frame), gain 2 e-/DN and
CDS read noise 10 DN (+-10 % per pixel), rates 60 % sky-like (0.5-5 DN/s)
and 40 % log-uniform 5-1000 DN/s (the brightest saturate part-way at
65,000 DN), and cosmic-ray jumps of 20-2000 DN (log-uniform) in 0.5 % of the
ramps. The group DQ holds SATURATED only: LIKELY finds jumps itself.

Each fit runs in its own child process, single-threaded, that loads the
arrays from .npy files and makes a warm-up call on 8 rows (numba cache /
imports) before the timed call on the full frame; ours and stcal alternate
(``--repeats`` rounds). Peak RSS is the child's high-water mark above its
mark after loading and the warm-up (``+MiB``).

Also reported: the slope scatter against the truth of our LIKELY over our
OLS on bright pixels (>= 100 DN/s, never saturated), both given the
injected jumps as JUMP_DET (a perfect jump step; LIKELY still searches for
more), on clean ramps and on ramps with a jump; the same for LIKELY finding
the jumps itself (the timed fit) against OLS with the perfect flags, where
jumps below LIKELY's 4.5-sigma threshold bias LIKELY only; and the agreement
of ours with stcal (median |difference| / ERR).
The table is printed and written to benchmarks/results/ramp_fit_likely.txt.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "ramp_fit_likely.txt"
MIB = 1024 ** 2
TFRAME = 10.73677
NGROUPS = 10
BIAS = 5000.0
SAT_LEVEL = 65000.0
BRIGHT = 100.0  # DN/s
TARGET = "LIKELY: >= 3x faster than stcal LIKELY; slope scatter vs truth lower than OLS on bright pixels"


# --------------------------------------------------------------------------- simulation

def simulate(workdir, size, seed):
    """Write data/groupdq/pixeldq/gain/readnoise/rate/jumps .npy files and meta.json to ``workdir``."""
    rng = np.random.default_rng(seed)
    ny = nx = size
    gain = (2.0 * rng.uniform(0.9, 1.1, (ny, nx))).astype(np.float32)
    readnoise = (10.0 * rng.uniform(0.9, 1.1, (ny, nx))).astype(np.float32)
    rate = rng.uniform(0.5, 5.0, (ny, nx))
    bright = rng.random((ny, nx)) < 0.4
    rate[bright] = np.exp(rng.uniform(np.log(5.0), np.log(1000.0), int(bright.sum())))
    data = np.empty((1, NGROUPS, ny, nx), np.float32)
    electrons = np.zeros((ny, nx))
    lam = rate * gain * TFRAME
    sigma_read = readnoise / np.sqrt(2.0)
    for g in range(NGROUPS):
        electrons += rng.poisson(lam)
        data[0, g] = BIAS + electrons / gain + rng.standard_normal((ny, nx), np.float32) * sigma_read
    jumps = np.zeros((1, NGROUPS, ny, nx), bool)
    hit = rng.random((ny, nx)) < 0.005
    yy, xx = np.nonzero(hit)
    gg = rng.integers(1, NGROUPS, yy.size)
    amp = np.exp(rng.uniform(np.log(20.0), np.log(2000.0), yy.size)).astype(np.float32)
    for y, x, g, a in zip(yy, xx, gg, amp, strict=True):
        data[0, g:, y, x] += a
        jumps[0, g, y, x] = True
    over = np.maximum.accumulate(data >= SAT_LEVEL, axis=1)
    data[over] = SAT_LEVEL
    groupdq = np.where(over, np.uint8(2), np.uint8(0))
    workdir.mkdir(parents=True, exist_ok=True)
    for name, array in (("data", data), ("groupdq", groupdq), ("pixeldq", np.zeros((ny, nx), np.uint32)),
                        ("gain", gain), ("readnoise", readnoise), ("rate", rate), ("jumps", jumps)):
        np.save(workdir / f"{name}.npy", array)
    (workdir / "meta.json").write_text(json.dumps({"nframes": 1, "groupgap": 0, "tframe": TFRAME, "tgroup": TFRAME}))


# --------------------------------------------------------------------------- fits (in children)

def _load(workdir):
    a = {name: np.load(workdir / f"{name}.npy") for name in ("data", "groupdq", "pixeldq", "gain", "readnoise")}
    return a, json.loads((workdir / "meta.json").read_text())


def _cut(a, rows):
    return {k: np.ascontiguousarray(v[..., :rows, :]) for k, v in a.items()}


def fit_ours(a, meta, algorithm):
    from webbflow.steps.detector1 import _likely_kernels as likely
    from webbflow.steps.detector1 import ramp_fit

    fit = likely.fit_arrays if algorithm == "LIKELY" else ramp_fit.fit_arrays
    rate, _ = fit(a["data"], a["groupdq"], a["pixeldq"], a["gain"], a["readnoise"], nframes=meta["nframes"],
                  tgroup=meta["tgroup"], tframe=meta["tframe"])
    return rate


def fit_stcal(a, meta):
    from stcal.ramp_fitting import ramp_fit as stcal_ramp_fit
    from stcal.ramp_fitting.ramp_fit_class import RampData

    from webbflow import dqflags

    rd = RampData()
    rd.set_arrays(a["data"], a["groupdq"], a["pixeldq"], np.zeros(a["gain"].shape, np.float32))
    rd.set_meta(name="NIRCAM", frame_time=meta["tframe"], group_time=meta["tgroup"], groupgap=meta["groupgap"],
                nframes=meta["nframes"], drop_frames1=None)
    rd.set_dqflags(dqflags.PIXEL)
    rd.start_row, rd.num_rows = 0, a["data"].shape[2]
    image, _, _ = stcal_ramp_fit.ramp_fit_data(rd, False, a["readnoise"], a["gain"], "LIKELY", "optimal", "none")
    return image


def child(kind, workdir, out):
    """One timed fit: ``likely`` (ours), ``stcal``, or ``ols``/``likely_flagged`` (ours, given the injected jumps)."""
    import warnings

    warnings.simplefilter("ignore")
    a, meta = _load(workdir)
    if kind in ("ols", "likely_flagged"):
        a["groupdq"] = a["groupdq"] | np.where(np.load(workdir / "jumps.npy"), np.uint8(4), np.uint8(0))

    def run(arrays):
        if kind == "stcal":
            return fit_stcal(arrays, meta)
        return fit_ours(arrays, meta, "OLS" if kind == "ols" else "LIKELY")

    run(_cut(a, 8))  # numba cache / imports
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    rate = run(a)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    for key in ("slope", "err", "dq"):
        np.save(workdir / f"{kind}_{key}.npy", np.asarray(rate[key]))
    Path(out).write_text(json.dumps({"seconds": seconds, "rss": peak - base}))


def run_child(kind, workdir, threads):
    out = workdir / f"{kind}.json"
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    subprocess.run([sys.executable, "-m", "benchmarks.ramp_fit_likely", "--child", kind, "--workdir", str(workdir)],
                   check=True, cwd=REPO, env=env)
    return json.loads(out.read_text())


# --------------------------------------------------------------------------- figures

def scatter_ratio(workdir, kind):
    """rms((fit - truth) / sqrt(truth)) of LIKELY over OLS on bright never-saturated pixels, clean and jumped."""
    rate = np.load(workdir / "rate.npy")
    sat = np.load(workdir / "groupdq.npy").any(axis=(0, 1))
    hit = np.load(workdir / "jumps.npy").any(axis=(0, 1))
    ours = np.load(workdir / f"{kind}_slope.npy")
    ols = np.load(workdir / "ols_slope.npy")
    out = {}
    for label, sel in (("clean", ~hit), ("one jump", hit)):
        sel = sel & (rate >= BRIGHT) & ~sat & np.isfinite(ours) & np.isfinite(ols)
        e_l = (ours[sel] - rate[sel]) / np.sqrt(rate[sel])
        e_o = (ols[sel] - rate[sel]) / np.sqrt(rate[sel])
        out[label] = (np.sqrt(np.mean(e_l ** 2)) / np.sqrt(np.mean(e_o ** 2)), int(sel.sum()))
    return out


def agreement(workdir):
    """Median and 99th percentile of |ours - stcal| / ERR where fewer than half the groups are saturated."""
    ours = np.load(workdir / "likely_slope.npy")
    err = np.load(workdir / "likely_err.npy")
    theirs = np.load(workdir / "stcal_slope.npy")
    half = (np.load(workdir / "groupdq.npy") != 0).sum(axis=(0, 1)) < NGROUPS // 2
    delta = (np.abs(ours - theirs) / err)[half & np.isfinite(ours) & (err > 0)]
    return float(np.median(delta)), float(np.percentile(delta, 99)), float(half.mean())


def _seconds(rounds):
    return ", ".join(f"{r['seconds']:.2f}" for r in rounds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="256x256 instead of 2048x2048")
    parser.add_argument("--repeats", type=int, default=2, help="rounds of (ours, stcal)")
    parser.add_argument("--threads", type=int, default=1, help="numba threads for ours (stcal uses one core)")
    parser.add_argument("--workdir", default="/tmp/webbflow-bench-likely")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:  # the parent passes the data directory itself
        child(args.child, Path(args.workdir), Path(args.workdir) / f"{args.child}.json")
        return
    size = 256 if args.quick else 2048
    workdir = Path(args.workdir) / f"{size}"
    if not (workdir / "meta.json").exists():
        start = time.perf_counter()
        simulate(workdir, size, args.seed)
        print(f"simulated {size}x{size}x{NGROUPS} in {time.perf_counter() - start:.0f} s", flush=True)
    load_before = os.getloadavg()
    ours, theirs = [], []
    for k in range(args.repeats):
        ours.append(run_child("likely", workdir, args.threads))
        print(f"round {k + 1}: ours {ours[-1]['seconds']:.2f} s", flush=True)
        theirs.append(run_child("stcal", workdir, 1))
        print(f"round {k + 1}: stcal {theirs[-1]['seconds']:.2f} s", flush=True)
    ols = run_child("ols", workdir, args.threads)
    run_child("likely_flagged", workdir, args.threads)
    load_after = os.getloadavg()
    t_ours = min(r["seconds"] for r in ours)
    t_theirs = min(r["seconds"] for r in theirs)
    scatter = scatter_ratio(workdir, "likely_flagged")
    scatter_self = scatter_ratio(workdir, "likely")
    median, p99, share = agreement(workdir)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# ramp_fit LIKELY benchmark, {stamp}, {platform.node()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        f"# command: python -m benchmarks.ramp_fit_likely{' --quick' if args.quick else ''} --repeats {args.repeats}"
        f"{f' --threads {args.threads}' if args.threads != 1 else ''}",
        f"# data: {size}x{size} x {NGROUPS} groups x 1 int (NIRCam RAPID), simulated (see the module docstring)",
        f"# load average (1, 5, 15 min) before {load_before[0]:.1f} {load_before[1]:.1f} {load_before[2]:.1f}, "
        f"after {load_after[0]:.1f} {load_after[1]:.1f} {load_after[2]:.1f} (other jobs share the 2 cores)",
        f"# ours {args.threads} numba thread(s), stcal one core; times: fastest of {args.repeats} interleaved rounds",
        "",
        "| what | ours s | stcal s | ratio (stcal / ours) | ours RSS | stcal RSS |",
        "|---|---|---|---|---|---|",
        f"| ramp_fit LIKELY | {t_ours:.2f} | {t_theirs:.2f} | {t_theirs / t_ours:.1f} | "
        f"+{max(r['rss'] for r in ours) / MIB:.0f} MiB | +{max(r['rss'] for r in theirs) / MIB:.0f} MiB |",
        f"| ramp_fit OLS (ours, for reference) | {ols['seconds']:.2f} | - | - | +{ols['rss'] / MIB:.0f} MiB | - |",
        "",
        f"all rounds, ours: {_seconds(ours)} s; stcal: {_seconds(theirs)} s; ratio per round: "
        + ", ".join(f"{t['seconds'] / o['seconds']:.1f}" for o, t in zip(ours, theirs, strict=True)),
        "",
        f"slope scatter vs truth, LIKELY / OLS, pixels >= {BRIGHT:.0f} DN/s never saturated "
        "(rms of (fit - truth) / sqrt(truth)):",
    ]
    for label, (ratio, n) in scatter.items():
        lines.append(f"  both given the injected jumps, {label:9s} {ratio:.4f}  ({n} pixels)")
    for label, (ratio, n) in scatter_self.items():
        lines.append(f"  LIKELY finding the jumps itself, OLS given them, {label:9s} {ratio:.4f}  ({n} pixels)")
    lines += [
        f"agreement with stcal LIKELY ({share:.1%} of pixels, those with < half the groups saturated): "
        f"median |ours - stcal| / ERR = {median:.2e}, 99th percentile {p99:.2e}",
        "",
        f"# target: {TARGET}",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
