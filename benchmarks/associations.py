"""Benchmark: association generation, ours against the official generator, in the same run.

Run from the repository root::

    python -m benchmarks.associations                       # ours on every pool, official on two small ones
    python -m benchmarks.associations --with-official-mega  # also the official on mega_pool (~400+ s)
    python -m benchmarks.associations --official-pools pool_002_image_miri,jw00632_dups

Both sides are timed on the same work: read the pool and generate every
association (nothing written).  Ours is the best of ``--repeat`` runs; the
official generator runs once (it is slow).  The table is printed and written
to benchmarks/results/associations.txt.
"""

import argparse
import logging
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_POOLS = REPO.parent / "shared" / "data" / "associations" / "pools"
DEFAULT_OFFICIAL = ("pool_002_image_miri", "pool_024b_nirspec_fss_nods")
TARGETS = {"mega_pool": 2.0}
DEFAULT_TARGET = 0.5


def _ours(path, repeat):
    from webbflow.associations import generate, read_pool

    best, count = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        asns = generate(read_pool(path))
        best = min(best, time.perf_counter() - start)
        count = len(asns)
    return best, count


def _official(path):
    try:
        from jwst.associations.main import Main
    except ImportError:
        return None, None
    start = time.perf_counter()
    result = Main.cli([str(path), "--dry-run"])
    return time.perf_counter() - start, len(result.associations)


def main(argv=None):
    """Run the benchmark; returns 0 (1 if a pool is over its time target)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.associations", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pools", type=Path, default=DEFAULT_POOLS, help="directory of pool files")
    parser.add_argument("--official-pools", default=",".join(DEFAULT_OFFICIAL),
                        help="comma-separated pool names to time with the official generator too "
                             f"(default: {','.join(DEFAULT_OFFICIAL)}; 'none' for none, 'all' for all but mega_pool)")
    parser.add_argument("--with-official-mega", action="store_true",
                        help="also run the official generator on mega_pool (takes ~400 s or more)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours per pool (best is kept)")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "associations.txt")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO / "src"))
    logging.disable(logging.WARNING)  # the pools are known to lack columns; keep the table readable
    pools = sorted(args.pools.glob("*.csv"))
    if not pools:
        parser.error(f"no pools in {args.pools}")
    if args.official_pools == "all":
        official = {p.stem for p in pools if p.stem != "mega_pool"}
    elif args.official_pools == "none":
        official = set()
    else:
        official = {name.strip() for name in args.official_pools.split(",") if name.strip()}
    if args.with_official_mega:
        official.add("mega_pool")

    rows, over = [], []
    for path in pools:
        name = path.stem
        with path.open() as fh:
            n_rows = sum(1 for line in fh if line.strip() and not line.lstrip().startswith("#")) - 1
        ours, n_ours = _ours(path, args.repeat)
        target = TARGETS.get(name, DEFAULT_TARGET)
        if ours > target:
            over.append(name)
        off, n_off = (None, None)
        if name in official:
            try:
                off, n_off = _official(path)
            except Exception as exc:  # the official generator cannot process every pool
                off, n_off = None, f"fails: {type(exc).__name__}"
        rows.append((name, n_rows, n_ours, ours, target, off, n_off))
        print(_line(rows[-1]), flush=True)

    text = _report(rows, args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print()
    print(text)
    if over:
        print(f"over target: {', '.join(over)}")
    return 1 if over else 0


def _line(row):
    name, n_rows, n_ours, ours, target, off, n_off = row
    off_text = "-" if off is None else f"{off:9.2f}"
    if isinstance(n_off, str):
        off_text = n_off
    ratio = "-" if off is None else f"{off / ours:8.0f}x"
    asns = f"{n_ours}" if n_off is None or isinstance(n_off, str) else f"{n_ours}/{n_off}"
    flag = "" if ours <= target else "  OVER TARGET"
    return f"{name:38s} {n_rows:5d} {asns:>9s} {ours:8.3f} {target:6.1f} {off_text:>14s} {ratio:>9s}{flag}"


def _report(rows, args):
    import pandas

    try:
        import jwst

        official_version = jwst.__version__
    except ImportError:
        official_version = "not installed"
    from webbflow import __version__

    header = (f"{'pool':38s} {'rows':>5s} {'asns':>9s} {'ours s':>8s} {'target':>6s} {'official s':>14s} "
              f"{'ratio':>9s}")
    lines = [
        "Association generation: read the pool + generate every association (no writing).",
        f"date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.machine()} {os.cpu_count()} cores; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; python {platform.python_version()}; "
        f"pandas {pandas.__version__}; webbflow {__version__}; official jwst {official_version}",
        f"ours: best of {args.repeat} runs; official: one run (jwst asn_generate --dry-run, in-process); "
        "asns: ours/official counts",
        "",
        header,
        "-" * len(header),
        *(_line(row) for row in rows),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
