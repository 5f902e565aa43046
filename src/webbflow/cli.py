"""The ``webbflow`` command."""

import argparse
import logging
import os
import sys

from webbflow import __version__
from webbflow.errors import InputError, OutputError, WebbflowError

_CORE_COMMANDS = ("run", "step")
_OPTIONAL_COMMANDS = ("webbflow.refs.cli", "webbflow.simulate.cli", "webbflow.associations.cli")


def _add_crds_options(parser):
    parser.add_argument("--crds-path", help="CRDS cache directory (default: $CRDS_PATH)")
    parser.add_argument("--crds-server", help="a real CRDS server URL (default: the local cache only)")
    parser.add_argument("--context", help="CRDS context, e.g. jwst_0001.pmap (default: the cache's)")
    parser.add_argument("--override", action="append", metavar="REFTYPE=PATH", default=[],
                        help="use this reference file instead of CRDS's choice (repeatable)")
    parser.add_argument("--config", help="YAML config with step parameters (as config/config.yaml)")
    parser.add_argument("--threads", type=int, default=1, help="threads for the numba kernels")


def build_parser(command=None):
    """The argument parser of the ``webbflow`` command.

    Parameters
    ----------
    command : str, optional
        The sub-command about to run: when it is ``run`` or ``step``, the
        optional commands (simulate, asn, refs) are not registered, which
        spares a run on one file their imports (about 1.5 s).
    """
    parser = argparse.ArgumentParser(prog="webbflow", description="JWST calibration, file by file.")
    parser.add_argument("--version", action="version", version=f"webbflow {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser("run", help="run a whole stage on one file")
    run.add_argument("stage", choices=["detector1", "image2"])
    run.add_argument("input", help="an _uncal.fits (detector1) or _rate.fits (image2) file in the official format")
    run.add_argument("--background", action="append", default=[], metavar="RATE",
                     help="image2: a background exposure to subtract (repeatable)")
    run.add_argument("--asn", help="image2: a level-2 association; its background members are subtracted")
    run.add_argument("-o", "--output-dir", default=".", help="directory for the products")
    _add_crds_options(run)
    run.set_defaults(func=_cmd_run)

    step = sub.add_parser("step", help="run one step on one file")
    step.add_argument("name", help="step name, e.g. jump")
    step.add_argument("input")
    step.add_argument("-o", "--output", required=True, help="output file")
    _add_crds_options(step)
    step.set_defaults(func=_cmd_step)

    if command in _CORE_COMMANDS:
        return parser
    import importlib

    for name in _OPTIONAL_COMMANDS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        module.register(sub)
    return parser


def _crds_setup(args):
    from webbflow.refs.select import configure_crds

    configure_crds(args.crds_path, args.crds_server)


def _select_for(model, reftypes, args):
    from webbflow.config import parse_overrides
    from webbflow.refs.select import select_references

    _crds_setup(args)
    return select_references(model.meta, reftypes, context=args.context, exposure=model.path,
                             overrides=parse_overrides(args.override))


def _config_errors_name_the_file(function, config_path, *args):
    """Call ``function``; a config problem without a file name gets the config's."""
    try:
        return function(*args)
    except WebbflowError as exc:
        if exc.path is None and config_path:
            raise InputError(config_path, exc.problem) from None
        raise


def _check_output_dir(directory):
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise OutputError(directory, "output directory is not a directory")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise OutputError(directory, f"output directory cannot be created ({exc.strerror})") from None
    if not os.access(directory, os.W_OK):
        raise OutputError(directory, "output directory is not writable")


def _cmd_run(args):
    if args.stage == "image2":
        return _cmd_run_image2(args)
    from webbflow.config import load_config
    from webbflow.datamodels import RampModel
    from webbflow.pipelines import detector1

    config = load_config(args.config).get("detector1", {}) if args.config else {}
    model = RampModel.read(args.input)
    reftypes = _config_errors_name_the_file(detector1.required_reftypes, args.config, model.meta, config)
    _check_output_dir(args.output_dir)
    refs = _select_for(model, reftypes, args)
    stem = os.path.basename(args.input).rsplit(".", 1)[0]
    for suffix in ("_uncal", "_ramp"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    rate = os.path.join(args.output_dir, f"{stem}_rate.fits")
    rateints = os.path.join(args.output_dir, f"{stem}_rateints.fits")
    from webbflow.refs.select import current_context

    _config_errors_name_the_file(
        detector1.run_file, args.config, model, rate, rateints, refs, config, current_context(args.context),
        args.threads, logging.getLogger("webbflow").info)
    print(rate)
    print(rateints)
    return 0


def _cmd_run_image2(args):
    from webbflow.config import load_config
    from webbflow.datamodels import open_model
    from webbflow.pipelines import image2
    from webbflow.refs.select import current_context

    config = load_config(args.config).get("image2", {}) if args.config else {}
    model = open_model(args.input)
    image2.check_input(model)  # before CRDS, whose "no match" would hide what is wrong with the input
    reftypes = _config_errors_name_the_file(image2.required_reftypes, args.config, model.meta, config)
    backgrounds = list(args.background)
    if args.asn:
        backgrounds += image2.backgrounds_from_asn(args.asn, args.input)
    _check_output_dir(args.output_dir)
    refs = _select_for(model, reftypes, args)
    stem = os.path.basename(args.input).rsplit(".", 1)[0]
    suffix = "_calints" if stem.endswith("_rateints") else "_cal"
    for old in ("_rateints", "_rate"):
        if stem.endswith(old):
            stem = stem[: -len(old)]
            break
    cal = os.path.join(args.output_dir, f"{stem}{suffix}.fits")
    _config_errors_name_the_file(
        image2.run_file, args.config, model, cal, refs, config, current_context(args.context), backgrounds,
        logging.getLogger("webbflow").info, args.asn, args.threads)
    print(cal)
    return 0


def _cmd_step(args):
    from webbflow.config import load_config
    from webbflow.datamodels import RampModel, open_model
    from webbflow.pipelines import detector1

    config = load_config(args.config).get("detector1", {}) if args.config else {}
    known = sorted(set(detector1.NIR_STEPS) | set(detector1.MIRI_STEPS))
    if args.name not in known:
        raise WebbflowError(None, f"unknown step {args.name!r}; known steps: {', '.join(known)}")
    module, params = _config_errors_name_the_file(detector1.step_settings, args.config, args.name, {}, config)
    params.pop("skip", None)
    params.pop("callable", None)
    model = open_model(args.input)
    if args.name != "gain_scale" and not isinstance(model, RampModel):
        raise InputError(args.input, f"is a {type(model).__name__} ({model.data.ndim}-D) file; step {args.name} needs a ramp")
    if args.name == "gain_scale" and isinstance(model, RampModel):
        raise InputError(args.input, "is a ramp; step gain_scale needs a rate or rateints file")
    _check_output_dir(os.path.dirname(os.path.abspath(args.output)))
    reftypes = (*module.REFTYPES, *getattr(module, "OPTIONAL_REFTYPES", ()))
    refs = _select_for(model, reftypes, args) if reftypes else {}
    refs = {reftype: path or "N/A" for reftype, path in refs.items()}
    result = module.run(model, refs, params)
    if isinstance(result, tuple):  # ramp_fit: rate and rateints
        rate, rateints = result
        rate.save(args.output)
        root, ext = os.path.splitext(args.output)
        ints_path = root.replace("_rate", "_rateints") if root.endswith("_rate") else root + "ints"
        rateints.save(ints_path + ext)
    else:
        result.meta[module.STATUS_KEYWORD] = "COMPLETE"
        result.save(args.output)
    print(args.output)
    return 0


def main(argv=None):
    """Entry point: one clear line on error, a traceback only with --debug."""
    words = sys.argv[1:] if argv is None else list(argv)
    command = next((w for w in words if not w.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(words)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format="%(levelname)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except WebbflowError as exc:
        if args.debug:
            raise
        print(f"webbflow: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("webbflow: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected failure: still one line without --debug
        if args.debug:
            raise
        print(f"webbflow: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
