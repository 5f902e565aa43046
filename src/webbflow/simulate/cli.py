"""The ``webbflow simulate OUTDIR`` sub-command."""

import sys

__all__ = ["register", "handler"]

_INSTRUMENTS = ("NIRCAM", "NIRISS", "NIRSPEC", "MIRI")


def register(subparsers):
    """Add the ``simulate`` sub-command to an argparse sub-parser collection.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The new sub-parser (its ``func`` default is :func:`handler`).
    """
    parser = subparsers.add_parser(
        "simulate",
        help="write the synthetic demonstration program (uncal files, truth, CRDS cache, pool)",
        description="Simulate the embedded demonstration program: uncal exposures of NIRCam, NIRISS, "
                    "NIRSpec and MIRI, their truth files, a local CRDS cache (context jwst_0001.pmap) "
                    "and the association pool, under OUTDIR. --program imaging writes the dithered "
                    "imaging program (with its stage 2/3 reference files) instead, --program all both.",
    )
    parser.add_argument("outdir", metavar="OUTDIR", help="output directory (created if needed)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1); same seed, same bytes")
    parser.add_argument("--full-frame", action="store_true",
                        help="full-frame exposures (2048x2048, MIRI 1032x1024) instead of small subarrays")
    parser.add_argument("--program", choices=("default", "imaging", "all"), default="default",
                        help="default: the detector1 program; imaging: the dithered imaging program with its "
                             "image2/image3 references; all: both in one cache and pool (default: default)")
    parser.add_argument("--only", nargs="+", metavar="INSTR", type=str.upper, choices=_INSTRUMENTS,
                        help="simulate only these instruments (NIRCAM NIRISS NIRSPEC MIRI)")
    parser.add_argument("--subarray-refs", action="store_true",
                        help="write static reference files cut to the subarrays used (much smaller cache) "
                             "instead of full frame")
    parser.set_defaults(func=handler)
    return parser


def handler(args):
    """Run the simulation for parsed arguments; return the process exit code."""
    from webbflow.errors import WebbflowError
    from webbflow.simulate import simulate_program

    try:
        result = simulate_program(args.outdir, seed=args.seed, full_frame=args.full_frame, instruments=args.only,
                                  full_frame_refs=not args.subarray_refs, program=args.program)
    except (WebbflowError, ValueError, OSError) as exc:
        print(f"webbflow simulate: {exc}", file=sys.stderr)
        return 1
    print(f"{len(result['uncal'])} exposures in {args.outdir}/uncal, truth in {args.outdir}/truth")
    print(f"CRDS cache: {result['crds_cache']} (context {result['context']})")
    print(f"pool: {result['pool']}")
    print(f"done in {result['seconds']:.1f} s")
    return 0
