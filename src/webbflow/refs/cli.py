"""``webbflow refs``: select references, derive a new CRDS context, list the exposures it affects.

    webbflow refs select UNCAL [--crds-path CACHE] [--context PMAP] ...
    webbflow refs new-context CACHE --from jwst_0001.pmap --replace NEW_DARK.fits [--replace ...]
    webbflow refs affected --old jwst_0001.pmap --new jwst_0002.pmap UNCAL_OR_DIR ... [--crds-path CACHE]
"""

import os
import sys

__all__ = ["register"]


def register(subparsers):
    """Add the ``refs`` command and its actions to the ``webbflow`` sub-parsers."""
    from webbflow.cli import _add_crds_options

    refs = subparsers.add_parser("refs", help="reference files: selection, new contexts, affected exposures")
    actions = refs.add_subparsers(dest="refs_command", metavar="ACTION")
    actions.required = True

    select = actions.add_parser("select", help="print the references CRDS selects for an exposure")
    select.add_argument("input")
    _add_crds_options(select)
    select.set_defaults(func=_cmd_select)

    new = actions.add_parser(
        "new-context",
        help="write a new CRDS context into a local cache that replaces some reference files",
        description="Derive a new context from --from: each --replace file is copied into the cache and "
                    "selected where its header says (INSTRUME, REFTYPE, DETECTOR, READPATT, SUBARRAY, "
                    "USEAFTER), replacing the file selected there before. Prints the new context name.",
    )
    new.add_argument("cache", help="the local CRDS cache (what CRDS_PATH points at)")
    new.add_argument("--from", dest="old", metavar="PMAP",
                     help="the context to start from (default: the cache's operational context)")
    new.add_argument("--replace", action="append", required=True, metavar="PATH",
                     help="a reference file to select from the new context on (repeatable)")
    new.add_argument("--make-operational", action="store_true",
                     help="also make the new context the cache's operational one (the default context "
                          "of every run that names none); by default only runs that name it use it")
    new.set_defaults(func=_cmd_new_context)

    affected = actions.add_parser(
        "affected",
        help="print the exposures whose selected references differ between two contexts",
        description="For each exposure, select every reference detector1 reads under both contexts "
                    "and print the exposures whose selection differs: exactly the exposures the "
                    "workflow re-runs when its config switches from --old to --new.",
    )
    affected.add_argument("inputs", nargs="+", metavar="UNCAL",
                          help="_uncal.fits files, directories holding them, or glob patterns")
    affected.add_argument("--old", required=True, metavar="PMAP", help="the context the products were made with")
    affected.add_argument("--new", required=True, metavar="PMAP", help="the context to switch to")
    affected.add_argument("--crds-path", help="CRDS cache directory (default: $CRDS_PATH)")
    affected.add_argument("--crds-server", help="a real CRDS server URL (default: the local cache only)")
    affected.add_argument("--override", action="append", metavar="REFTYPE=PATH", default=[],
                          help="a reference used instead of CRDS's choice, in both contexts (repeatable)")
    affected.add_argument("--config", help="YAML config with step parameters (as config/config.yaml)")
    affected.add_argument("--changes", action="store_true",
                          help="after each exposure, list the changed reference types: old -> new")
    affected.set_defaults(func=_cmd_affected)
    return refs


def _cmd_select(args):
    from webbflow.cli import _select_for
    from webbflow.config import load_config
    from webbflow.datamodels import RampModel
    from webbflow.pipelines import detector1

    config = load_config(args.config).get("detector1", {}) if args.config else {}
    model = RampModel.read(args.input)
    refs = _select_for(model, detector1.required_reftypes(model.meta, config), args)
    for reftype, path in sorted(refs.items()):
        print(f"{reftype}\t{path}")
    return 0


def _cmd_new_context(args):
    from webbflow.errors import WebbflowError
    from webbflow.refs.cache import mapping_dir, new_context

    cache = os.path.abspath(args.cache)
    if not os.path.isdir(mapping_dir(cache)):
        raise WebbflowError(cache, "is not a CRDS cache (no mappings/jwst directory)")
    old = args.old or _operational_context(cache)
    if not os.path.exists(os.path.join(mapping_dir(cache), old)):
        raise WebbflowError(cache, f"has no context {old}")
    try:
        name = new_context(cache, old, [os.path.abspath(p) for p in args.replace],
                           make_operational=args.make_operational)
    except ValueError as exc:
        raise WebbflowError(None, str(exc)) from None
    print(name)
    return 0


def _operational_context(cache):
    import ast

    from webbflow.errors import WebbflowError

    path = os.path.join(cache, "config", "jwst", "server_config")
    try:
        with open(path, encoding="utf-8") as handle:
            return ast.literal_eval(handle.read())["operational_context"]
    except (OSError, ValueError, SyntaxError, KeyError):
        raise WebbflowError(path, "cannot read the cache's operational context; pass --from PMAP") from None


def _cmd_affected(args):
    from webbflow.config import load_config, parse_overrides
    from webbflow.errors import WebbflowError
    from webbflow.refs.select import configure_crds
    from webbflow.workflow import affected_exposures, list_uncal

    configure_crds(args.crds_path, args.crds_server)
    if "serverless" in os.environ.get("CRDS_SERVER_URL", ""):  # a local cache: both contexts must be in it
        from webbflow.refs.cache import mapping_dir

        cache = os.environ.get("CRDS_PATH", "")
        for context in (args.old, args.new):
            if not os.path.exists(os.path.join(mapping_dir(cache), context)):
                raise WebbflowError(cache or None, f"the CRDS cache has no context {context}")
    config = load_config(args.config) if args.config else {}
    config = {"detector1": config.get("detector1") or {},
              "refs": {"override": {**((config.get("refs") or {}).get("override") or {}),
                                    **parse_overrides(args.override)}}}
    uncals = [stem + "_uncal.fits" for stem in list_uncal(args.inputs)]
    if not uncals:
        raise WebbflowError(None, f"no _uncal.fits files in {' '.join(args.inputs)}")
    for path, changes in affected_exposures(uncals, args.old, args.new, config):
        if args.changes:
            text = ", ".join(f"{reftype}: {_name(old)} -> {_name(new)}" for reftype, (old, new) in changes.items())
            print(f"{path}\t{text}")
        else:
            print(path)
    sys.stdout.flush()
    return 0


def _name(path):
    return os.path.basename(path) if path else str(path)
