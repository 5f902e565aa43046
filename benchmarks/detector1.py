"""Benchmark: detector1, ours against the official jwst/stcal code, in the same run.

Run from the repository root::

    python -m benchmarks.detector1                        # all cases, with the official code
    python -m benchmarks.detector1 --cases nircam,miri    # some cases
    python -m benchmarks.detector1 --quick --no-official  # a smoke run (small sizes, ours only)

For each case it simulates an exposure with :func:`webbflow.simulate.simulate_program`
(and its CRDS cache, which both sides use), then times, each in its own child
process so that the peak RSS is that of the measured work alone:

- ``detector1``: the whole process, uncal file -> rate + rateints files:
  ``webbflow run detector1 UNCAL -o DIR --crds-path CACHE`` against
  ``Detector1Pipeline.call(UNCAL, save_results=True)`` (the same cache and
  context, so the same reference files; start-up included on both sides).
  Ours runs once first (on the first case) to fill the numba cache; that first
  run's extra time is reported as ``compile``.
- ``jump``: :func:`webbflow.steps.detector1.jump.detect_jumps` against stcal's
  ``detect_jumps_data`` (two-point difference, 1 core), on the same arrays:
  the ramp as our detector1 leaves it just before the jump step.
- ``ramp_fit``: :func:`webbflow.steps.detector1.ramp_fit.fit_arrays` against
  stcal's ``ramp_fit_data`` with ``OLS_C`` (1 core), on the ramp as it leaves
  our jump step.

Step children load the arrays from .npy files and compile once on a small
cut before the timed call; the peak RSS reported for a step is the child's
high-water mark minus its mark after loading the inputs and the warm-up
call (``+MiB``).

Both sides run single-threaded (ours: ``--threads`` for the whole process, default 1;
the step rows always 1 thread). The TSO case also runs ours with half the
integrations to show how memory grows with ``nints``. The official side is
skipped (with the reason printed) when it would need more memory than the
machine has available (estimated from the measured bytes per pixel).

The table is printed and written to benchmarks/results/detector1.txt.
"""

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "detector1.txt"
WEBBFLOW = str(Path(sys.executable).with_name("webbflow"))
GIB = 1024 ** 3
_LOAD_START = os.getloadavg()
MIB = 1024 ** 2

# name -> (full settings, quick settings); sizes are (ny, nx) x ngroups x nints
CASES = {
    "nircam": dict(
        full=dict(detector="NRCB1", subarray="FULL", readpatt="RAPID", ngroups=10, nints=1),
        quick=dict(detector="NRCB1", subarray="SUB320", readpatt="RAPID", ngroups=10, nints=1),
        header=dict(exp_type="NRC_IMAGE", filter="F150W", pupil="CLEAR", module="B", channel="SHORT",
                    template="NIRCam Imaging"),
        title="NIRCam full frame 2048x2048 x 10 groups x 1 int",
    ),
    "miri": dict(
        full=dict(detector="MIRIMAGE", subarray="FULL", readpatt="FASTR1", ngroups=40, nints=2),
        quick=dict(detector="MIRIMAGE", subarray="SUB256", readpatt="FASTR1", ngroups=40, nints=2),
        header=dict(exp_type="MIR_IMAGE", filter="F770W", template="MIRI Imaging"),
        title="MIRI imager 1032x1024 x 40 groups x 2 ints",
    ),
    "tso": dict(
        full=dict(detector="NRCBLONG", subarray="SUBGRISM64", readpatt="RAPID", ngroups=10, nints=300),
        quick=dict(detector="NRCBLONG", subarray="SUBGRISM64", readpatt="RAPID", ngroups=10, nints=8),
        header=dict(exp_type="NRC_TSIMAGE", filter="F356W", pupil="CLEAR", module="B", channel="LONG",
                    template="NIRCam Time Series", extra={"TSOVISIT": True}),
        title="NIRCam TSO 64x2048 x 10 groups x 300 ints",
    ),
}

# Measured peak RSS of the official side per pixel-group (nints*ngroups*ny*nx), with margin:
# 2.75 GiB for 2048^2 x 10 x 1 here (see the notes), i.e. ~70 B; we use 80 B.
OFFICIAL_BYTES_PER_PIXEL = 80.0
STCAL_JUMP_BYTES_PER_PIXEL = 60.0

TARGETS = (
    "whole detector1, NIRCam full frame: >= 5x faster than the official pipeline, peak RSS <= 1.0 GiB",
    "jump: >= 5x faster than stcal",
    "ramp_fit: at least as fast as stcal OLS_C (ratio >= 1)",
    "TSO: peak RSS <= 2 GiB and growing < 20% when nints doubles",
)


# --------------------------------------------------------------------------- simulation

def _register_subgrism64():
    """NIRCam SUBGRISM64 (2048 x 64 at the corner, 4 outputs), which the simulator does not list."""
    from webbflow.simulate.detector import SUBARRAYS, Subarray

    SUBARRAYS.setdefault(("NIRCAM", "SUBGRISM64"), Subarray("SUBGRISM64", 1, 1, 2048, 64, 4))


def _exposure(case, quick, nints=None):
    from webbflow.simulate.program import Exposure

    spec = dict(CASES[case]["quick" if quick else "full"])
    if nints is not None:
        spec["nints"] = nints
    header = dict(CASES[case]["header"])
    extra = header.pop("extra", {})
    observation = {"nircam": 11, "miri": 12, "tso": 13}[case]
    exposure = 1 if nints is None else 2
    return Exposure(observation=observation, visit=1, exposure=exposure, target="BENCH", extra=extra,
                    aperture=f"BENCH_{spec['subarray']}", **header, **spec)


def simulate_case(case, workdir, quick, seed, log):
    """Simulate the case's exposure(s) in a child process (reused when already there); return the summary.

    The simulation runs in a child so that this process stays small: Linux children inherit
    their parent's RSS high-water mark, which would otherwise inflate every peak RSS measured.
    """
    root = Path(workdir) / f"{case}{'-quick' if quick else ''}"
    summary_path = root / "summary.json"
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
        if all(Path(p).exists() for p in summary["uncal"]):
            log(f"{case}: reusing the simulation in {root}")
            return summary
    root.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "benchmarks.detector1", "--child", "simulate", "--cases", case,
            "--workdir", str(workdir), "--seed", str(seed)] + (["--quick"] if quick else [])
    seconds, _, rc = run_child(argv, log_path=root / "simulate.log")
    if rc:
        raise RuntimeError(f"simulating {case} failed; see {root / 'simulate.log'}")
    log(f"{case}: simulated in {seconds:.0f} s")
    return json.loads(summary_path.read_text())


def child_simulate(case, workdir, quick, seed):
    from webbflow.simulate import Effects, simulate_program

    _register_subgrism64()
    root = Path(workdir) / f"{case}{'-quick' if quick else ''}"
    summary_path = root / "summary.json"
    exposures = [_exposure(case, quick)]
    if case == "tso":  # the same TSO with half the integrations
        full_nints = exposures[0].nints
        exposures.append(_exposure(case, quick, nints=full_nints // 2))
    # Fewer effects keep the simulation of the big cases quick; the timings hardly depend on them
    # (cosmic rays are kept: the jump step's work depends on them).
    effects = Effects(one_over_f=False, drifts=False)
    out = simulate_program(root, seed=seed, exposures=exposures, full_frame_refs=not quick, effects=effects)
    summary = {
        "uncal": out["uncal"],
        "crds_cache": out["crds_cache"],
        "context": out["context"],
        "references": {name: refs for name, refs in out["references"].items()},
        "shapes": [[e.nints, e.ngroups, e.sub.ysize, e.sub.xsize] for e in exposures],
    }
    summary_path.write_text(json.dumps(summary, indent=1, default=str))


# --------------------------------------------------------------------------- child processes

def run_child(argv, env=None, log_path=None):
    """Run ``argv``; return (wall seconds, peak RSS bytes, return code) of that child alone."""
    out = open(log_path, "w") if log_path else subprocess.DEVNULL
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if log_path:
            out.close()
    return time.perf_counter() - start, usage.ru_maxrss * 1024, proc.returncode


def _crds_env(summary):
    # as webbflow.simulate.crds_environment (not imported: this process stays small, see simulate_case)
    return dict(os.environ, CRDS_PATH=os.path.abspath(summary["crds_cache"]),
                CRDS_SERVER_URL="https://jwst-serverless-mode.stsci.edu", CRDS_MODE="local",
                CRDS_READONLY_CACHE="1", CRDS_OBSERVATORY="jwst", CRDS_CONTEXT=summary["context"],
                STPIPE_DISABLE_CRDS_STEPPARS="true")


OFFICIAL_SCRIPT = textwrap.dedent("""
    import sys
    from jwst.pipeline import Detector1Pipeline
    Detector1Pipeline.call(sys.argv[1], output_dir=sys.argv[2], save_results=True,
                           steps={"jump": {"maximum_cores": "1"}, "ramp_fit": {"maximum_cores": "1"}})
""")


def whole_ours(uncal, summary, outdir, threads=1):
    outdir.mkdir(parents=True, exist_ok=True)
    argv = [WEBBFLOW, "run", "detector1", uncal, "-o", str(outdir), "--crds-path", summary["crds_cache"],
            "--threads", str(threads)]
    return run_child(argv, env=_crds_env(summary), log_path=outdir / "log.txt")


def whole_official(uncal, summary, outdir):
    outdir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-c", OFFICIAL_SCRIPT, uncal, str(outdir)]
    return run_child(argv, env=_crds_env(summary), log_path=outdir / "log.txt")


def _maxrss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child_prepare(uncal, summary_path, arrays):
    """Our detector1 up to jump (saved), then our jump (its group DQ saved for ramp_fit)."""
    from webbflow.datamodels import RampModel
    from webbflow.pipelines import detector1 as pipeline
    from webbflow.steps.detector1 import jump, ramp_fit

    summary = json.loads(Path(summary_path).read_text())
    refs = summary["references"][os.path.basename(uncal)]
    model = RampModel.read(uncal)
    for name, module, function, params, skip in pipeline.plan(model.meta):
        if name == "jump":
            break
        if skip:
            continue
        step_refs = {r: refs.get(r) or "N/A" for r in (*module.REFTYPES, *getattr(module, "OPTIONAL_REFTYPES", ()))}
        if any(step_refs[r] == "N/A" for r in module.REFTYPES if r not in getattr(module, "OPTIONAL_REFTYPES", ())):
            continue
        model = function(model, step_refs, params)
    gain, readnoise = ramp_fit.reference_arrays(model, refs)
    arrays = Path(arrays)
    arrays.mkdir(parents=True, exist_ok=True)
    np.save(arrays / "data.npy", np.ascontiguousarray(model.data, dtype=np.float32))
    np.save(arrays / "groupdq.npy", np.ascontiguousarray(model.groupdq, dtype=np.uint8))
    np.save(arrays / "pixeldq.npy", np.ascontiguousarray(model.pixeldq, dtype=np.uint32))
    np.save(arrays / "gain.npy", gain)
    np.save(arrays / "readnoise.npy", readnoise)
    meta = {"nframes": int(model.meta["NFRAMES"]), "groupgap": int(model.meta["GROUPGAP"]),
            "tgroup": float(model.meta["TGROUP"]), "tframe": float(model.meta["TFRAME"]),
            "instrument": str(model.meta["INSTRUME"]).strip()}
    (arrays / "meta.json").write_text(json.dumps(meta))
    gdq, pdq = model.groupdq.copy(), model.pixeldq.copy()
    jump.detect_jumps(model.data, gdq, pdq, gain, readnoise, nframes=meta["nframes"], tgroup=meta["tgroup"])
    np.save(arrays / "groupdq_jump.npy", gdq)
    np.save(arrays / "pixeldq_jump.npy", pdq)


def _load(arrays, for_ramp_fit):
    arrays = Path(arrays)
    meta = json.loads((arrays / "meta.json").read_text())
    suffix = "_jump" if for_ramp_fit else ""
    a = {name: np.load(arrays / f"{name}.npy") for name in ("data", "gain", "readnoise")}
    a["groupdq"] = np.load(arrays / f"groupdq{suffix}.npy")
    a["pixeldq"] = np.load(arrays / f"pixeldq{suffix}.npy")
    return a, meta


def _ours_jump(a, meta, cut=None):
    from webbflow.steps.detector1 import jump

    sl = (Ellipsis, slice(0, cut), slice(None)) if cut else (Ellipsis,)
    data = np.ascontiguousarray(a["data"][sl])
    gdq, pdq = np.ascontiguousarray(a["groupdq"][sl]), np.ascontiguousarray(a["pixeldq"][sl])
    gain, rn = np.ascontiguousarray(a["gain"][sl]), np.ascontiguousarray(a["readnoise"][sl])
    jump.detect_jumps(data, gdq, pdq, gain, rn, nframes=meta["nframes"], tgroup=meta["tgroup"])
    return gdq


def _ours_ramp_fit(a, meta, cut=None):
    from webbflow.steps.detector1 import ramp_fit

    sl = (Ellipsis, slice(0, cut), slice(None)) if cut else (Ellipsis,)
    arrs = {k: np.ascontiguousarray(v[sl]) for k, v in a.items()}
    return ramp_fit.fit_arrays(arrs["data"], arrs["groupdq"], arrs["pixeldq"], arrs["gain"], arrs["readnoise"],
                               nframes=meta["nframes"], tgroup=meta["tgroup"], tframe=meta["tframe"],
                               instrument=meta["instrument"])


def _stcal_jump(a, meta):
    from stcal.jump.jump import detect_jumps_data
    from stcal.jump.jump_class import JumpData

    from webbflow import dqflags

    jd = JumpData(gain2d=a["gain"], rnoise2d=a["readnoise"], dqflags=dqflags.PIXEL)
    jd.init_arrays_from_arrays(a["data"], a["groupdq"], a["pixeldq"])
    jd.nframes = meta["nframes"]
    jd.dt_group = np.ones(1)
    jd.n_reads_groupdiff = np.ones(1) * 2 * jd.nframes
    jd.max_cores = "none"
    return detect_jumps_data(jd)[0]


def _stcal_ramp_fit(a, meta):
    from stcal.ramp_fitting import ramp_fit as stcal_ramp_fit
    from stcal.ramp_fitting.ramp_fit_class import RampData

    from webbflow import dqflags

    rd = RampData()
    rd.set_arrays(a["data"], a["groupdq"], a["pixeldq"], np.zeros(a["gain"].shape, np.float32))
    rd.set_meta(name=meta["instrument"], frame_time=meta["tframe"], group_time=meta["tgroup"],
                groupgap=meta["groupgap"], nframes=meta["nframes"], drop_frames1=None)
    rd.algorithm = "OLS_C"
    rd.set_dqflags(dqflags.PIXEL)
    rd.start_row = 0
    rd.num_rows = a["data"].shape[2]
    rd.suppress_one_group_ramps = a["data"].shape[1] > 1
    return stcal_ramp_fit.ramp_fit_data(rd, False, a["readnoise"], a["gain"], "OLS_C", "optimal", "none")


def child_step(kind, arrays, result_path):
    """One timed step call in this process; writes seconds, compile seconds and RSS to ``result_path``."""
    step, side = kind.split(":")
    a, meta = _load(arrays, for_ramp_fit=step == "ramp_fit")
    compile_s = 0.0
    if side == "ours":
        import numba

        numba.set_num_threads(1)  # one core, like stcal here
        function = _ours_jump if step == "jump" else _ours_ramp_fit
        start = time.perf_counter()
        function(a, meta, cut=8)  # compile (or load the numba cache) on a small cut
        compile_s = time.perf_counter() - start
    else:
        function = _stcal_jump if step == "jump" else _stcal_ramp_fit
        function({k: np.ascontiguousarray(v[..., :8, :]) for k, v in a.items()}, meta)  # imports, first call
    base = _maxrss()
    start = time.perf_counter()
    function(a, meta)
    seconds = time.perf_counter() - start
    Path(result_path).write_text(json.dumps({"seconds": seconds, "compile": compile_s, "base": base,
                                             "peak": _maxrss()}))


def step_in_child(kind, arrays, workdir):
    result = Path(workdir) / f"{kind.replace(':', '-')}.json"
    result.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "benchmarks.detector1", "--child", kind, "--arrays", str(arrays),
            "--result", str(result)]
    _, _, rc = run_child(argv, log_path=Path(workdir) / f"{kind.replace(':', '-')}.log")
    if rc != 0 or not result.exists():
        raise RuntimeError(f"{kind} failed (exit {rc}); see {Path(workdir) / (kind.replace(':', '-') + '.log')}")
    return json.loads(result.read_text())


# --------------------------------------------------------------------------- the benchmark

def _mem_available():
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _fits_in_memory(npix, bytes_per_pixel):
    need = npix * bytes_per_pixel
    available = _mem_available()
    if available is not None and need > 0.8 * available:
        return f"skipped: needs ~{need / GIB:.0f} GiB (estimated), {available / GIB:.0f} GiB available"
    return None


def bench_case(case, args, log):
    summary = simulate_case(case, args.workdir, args.quick, args.seed, log)
    root = Path(args.workdir) / f"{case}{'-quick' if args.quick else ''}"
    uncal = summary["uncal"][0]
    shape = summary["shapes"][0]
    npix = int(np.prod(shape))
    rows = []
    official = not args.no_official

    # whole process
    first = None
    if args.warmup:  # once per run: it fills the numba cache for every case
        args.warmup = False
        log(f"{case}: ours, whole detector1 (warm-up run, fills the numba cache)")
        first, _, rc = whole_ours(uncal, summary, root / "ours-warmup", args.threads)
        if rc:
            raise RuntimeError(f"our detector1 failed on {uncal}; see {root / 'ours-warmup' / 'log.txt'}")
    log(f"{case}: ours, whole detector1")
    t_ours, rss_ours, rc = whole_ours(uncal, summary, root / "ours", args.threads)
    if rc:
        raise RuntimeError(f"our detector1 failed on {uncal}; see {root / 'ours' / 'log.txt'}")
    t_off = rss_off = None
    note = ""
    if official:
        note = _fits_in_memory(npix, OFFICIAL_BYTES_PER_PIXEL) or ""
        if not note:
            log(f"{case}: official Detector1Pipeline")
            t_off, rss_off, rc = whole_official(uncal, summary, root / "official")
            if rc:
                t_off = rss_off = None
                note = f"official failed (exit {rc}), see {root / 'official' / 'log.txt'}"
    else:
        note = "official not run"
    rows.append(dict(case=case, what="detector1 (whole process)", ours=t_ours, official=t_off, rss_ours=rss_ours,
                     rss_official=rss_off, compile=None if first is None else max(0.0, first - t_ours), note=note))

    if case == "tso" and len(summary["uncal"]) > 1:
        log(f"{case}: ours, whole detector1, half the integrations")
        t_half, rss_half, rc = whole_ours(summary["uncal"][1], summary, root / "ours-half", args.threads)
        if rc:
            raise RuntimeError(f"our detector1 failed on {summary['uncal'][1]}")
        rows.append(dict(case=case, what=f"detector1, nints {summary['shapes'][1][0]} (ours only)", ours=t_half,
                         official=None, rss_ours=rss_half, rss_official=None, compile=None,
                         note=f"RSS x{rss_ours / rss_half:.2f} when nints doubles"))

    if args.no_steps:
        return rows
    # steps
    arrays = root / "arrays"
    if not (arrays / "pixeldq_jump.npy").exists():
        log(f"{case}: preparing the step inputs (our detector1 up to jump)")
        argv = [sys.executable, "-m", "benchmarks.detector1", "--child", "prepare", "--uncal", uncal,
                "--summary", str(root / "summary.json"), "--arrays", str(arrays)]
        env = _crds_env(summary)
        _, _, rc = run_child(argv, env=env, log_path=root / "prepare.log")
        if rc:
            raise RuntimeError(f"preparing the step inputs failed; see {root / 'prepare.log'}")
    for step, stcal_bpp in (("jump", STCAL_JUMP_BYTES_PER_PIXEL), ("ramp_fit", 10.0)):
        log(f"{case}: ours, {step}")
        ours = step_in_child(f"{step}:ours", arrays, root)
        theirs = None
        note = "stcal not run" if not official else (_fits_in_memory(npix, stcal_bpp) or "")
        if official and not note:
            log(f"{case}: stcal, {step}")
            theirs = step_in_child(f"{step}:stcal", arrays, root)
        rows.append(dict(case=case, what=f"{step} (stcal {'OLS_C' if step == 'ramp_fit' else 'two-point'})",
                         ours=ours["seconds"], official=theirs and theirs["seconds"],
                         rss_ours=ours["peak"] - ours["base"],
                         rss_official=theirs and theirs["peak"] - theirs["base"], compile=ours["compile"],
                         note=note, delta=True))
    return rows


def _fmt_rss(value, delta):
    if value is None:
        return "-"
    return f"{'+' if delta else ''}{value / GIB:.2f} GiB" if value >= GIB else f"{'+' if delta else ''}{value / MIB:.0f} MiB"


def format_table(rows, args):
    lines = [
        f"# detector1 benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}",
        f"# command: python -m benchmarks.detector1 {' '.join(sys.argv[1:])}".rstrip(),
        f"# official single-threaded; ours {args.threads} thread(s) for the whole process, 1 for the step rows; "
        "each measurement in its own child process; peak RSS of that process",
        f"# (children inherit the RSS mark of this driver process: {_maxrss() / MIB:.0f} MiB, a floor of every figure)",
        "# (step rows: '+' = peak RSS above the loaded inputs). ratio = official / ours (> 1: ours faster)",
        f"# load average (1, 5, 15 min) at the start {_LOAD_START[0]:.1f} {_LOAD_START[1]:.1f} {_LOAD_START[2]:.1f}, "
        f"now {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f} (other work on the machine)",
        "",
    ]
    if args.quick:
        lines.insert(1, "# QUICK sizes (smoke run), not the target cases")
    header = ("case", "what", "ours s", "official s", "ratio", "ours RSS", "official RSS", "ours compile s", "note")
    table = [header]
    for r in rows:
        delta = r.get("delta", False)
        ratio = f"{r['official'] / r['ours']:.2f}" if r["official"] else "-"
        table.append((r["case"], r["what"], f"{r['ours']:.2f}", "-" if r["official"] is None else f"{r['official']:.2f}",
                      ratio, _fmt_rss(r["rss_ours"], delta), _fmt_rss(r["rss_official"], delta),
                      "-" if r["compile"] is None else f"{r['compile']:.1f}", r["note"]))
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        lines.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if i == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["", "# targets:"] + [f"#   {t}" for t in TARGETS]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.detector1", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="nircam,miri,tso", help="comma-separated: nircam, miri, tso")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--no-official", action="store_true", help="only ours (no jwst/stcal)")
    parser.add_argument("--workdir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "webbflow-bench-detector1"),
                        help="simulations and products (reused between runs)")
    parser.add_argument("--output", default=str(RESULTS), help="the table file")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-steps", action="store_true", help="only the whole-process rows")
    parser.add_argument("--threads", type=int, default=1,
                        help="numba threads of our whole-process runs (--threads of webbflow run; default 1)")
    parser.add_argument("--no-warmup", dest="warmup", action="store_false",
                        help="no warm-up run of ours (the numba cache is already filled); no compile time")
    parser.add_argument("--clean", action="store_true", help="remove the work directory at the end")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--arrays", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--uncal", help=argparse.SUPPRESS)
    parser.add_argument("--summary", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "simulate":
        child_simulate(args.cases, args.workdir, args.quick, args.seed)
        return 0
    if args.child == "prepare":
        _register_subgrism64()
        child_prepare(args.uncal, args.summary, args.arrays)
        return 0
    if args.child:
        child_step(args.child, args.arrays, args.result)
        return 0

    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    if not args.no_official:
        import importlib.util

        if not (importlib.util.find_spec("jwst") and importlib.util.find_spec("stcal")):
            print("jwst/stcal not installed: running ours only (--no-official)", file=sys.stderr)
            args.no_official = True

    def log(line):
        print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    if args.quick:
        args.warmup = False  # the smoke run reports no compile time
    rows = []
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    for case in cases:
        rows.extend(bench_case(case, args, log))
        text = format_table(rows, args)
        out.write_text(text)  # after every case, so that a long run leaves what it measured
    print(text)
    if args.clean:
        shutil.rmtree(args.workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
