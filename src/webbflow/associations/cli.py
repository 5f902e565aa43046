"""``webbflow asn``: generate associations, make pools, build associations by hand."""

import logging
from datetime import UTC, datetime
from pathlib import Path

from webbflow.errors import InputError, WebbflowError

__all__ = ["register"]

log = logging.getLogger("webbflow.associations")


def register(subparsers):
    """Add the ``asn`` command and its actions to the ``webbflow`` command.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The sub-command set of the ``webbflow`` parser.

    Returns
    -------
    argparse.ArgumentParser
        The ``asn`` parser.
    """
    asn = subparsers.add_parser("asn", help="associations: pool -> asn.json files",
                                description="Association pools and asn.json files.")
    actions = asn.add_subparsers(dest="asn_command", metavar="ACTION")
    actions.required = True

    gen = actions.add_parser("generate", help="all associations of a pool (as the official asn_generate)",
                             description="Write every level-2b and level-3 association of a pool.")
    gen.add_argument("pool", help="the pool file (|-separated, as the archive gives them)")
    gen.add_argument("-o", "--output-dir", default=".", help="directory for the asn.json files (default: .)")
    gen.add_argument("--version-id", nargs="?", const=True, default=None,
                     help="tag added to file names; without a value, the current UTC time")
    gen.add_argument("--strict", action="store_true", help="a malformed pool row is an error, not a warning")
    gen.add_argument("-d", "--delimiter", default="|", help="column separator of the pool (default: |)")
    gen.set_defaults(func=_cmd_generate)

    pool = actions.add_parser("pool", help="a pool from exposure FITS headers (as the official mkpool)",
                              description="Make a pool from the primary headers of exposure files.")
    pool.add_argument("files", nargs="+", help="exposure files (FITS)")
    pool.add_argument("-o", "--output", required=True, help="the pool file to write")
    pool.add_argument("--asn-candidate", default=None,
                      help="candidates added to every exposure, e.g. \"[('c1000', 'background')]\"")
    pool.add_argument("--dms-note", default="", help="DMS_NOTE value for every exposure")
    pool.add_argument("--is-imprt", default="f", help="IS_IMPRT value for every exposure (t or f)")
    pool.add_argument("--pntgtype", default="science", help="PNTGTYPE value (science or target_acquisition)")
    pool.set_defaults(func=_cmd_pool)

    fl = actions.add_parser("from-list", help="an association of the given files (as the official asn_from_list)",
                            description="Build one association from a list of files.")
    fl.add_argument("files", nargs="+", help="member files; FILE:TYPE gives a member type (e.g. b_x1d.fits:background)")
    fl.add_argument("-o", "--output", required=True, help="the asn.json file to write")
    fl.add_argument("--product-name", help="product name (required for level-3 types)")
    fl.add_argument("-r", "--rule", "--type", dest="rule", default="DMS_Level3_Base",
                    help="association type (image3, spec3, image2, spec2 ...) or DMS_Level3_Base / DMSLevel2bBase "
                         "(default: DMS_Level3_Base)")
    fl.add_argument("-i", "--id", dest="acid", default=None, help="candidate id (default o999 / a3001)")
    fl.add_argument("--program", default="noprogram", help="program id to record")
    fl.set_defaults(func=_cmd_from_list)
    return asn


def _version(value):
    if value is True:
        return datetime.now(UTC).strftime("%Y%m%dt%H%M%S")
    return value


def _cmd_generate(args):
    from webbflow.associations import generate, read_pool, write_associations

    pool = read_pool(args.pool, delimiter=args.delimiter, strict=args.strict)
    asns = generate(pool, version_id=_version(args.version_id))
    if not asns:
        log.warning("%s: no association could be made from its %d exposures", args.pool, len(pool))
    paths = write_associations(asns, args.output_dir)
    for path in paths:
        print(path)
    return 0


def _cmd_pool(args):
    from webbflow.associations.mkpool import mkpool, write_pool

    missing = [f for f in args.files if not Path(f).is_file()]
    if missing:
        raise InputError(missing[0], "no such file")
    pool = mkpool(args.files, asn_candidate=args.asn_candidate, dms_note=args.dms_note, is_imprt=args.is_imprt,
                  pntgtype=args.pntgtype)
    print(write_pool(pool, args.output))
    return 0


def _cmd_from_list(args):
    from webbflow.associations.from_list import asn_from_list
    from webbflow.associations.writer import write_association

    items = []
    for entry in args.files:
        name, sep, kind = entry.rpartition(":")
        items.append((name, kind) if sep and kind and "/" not in kind else entry)
    try:
        asn = asn_from_list(items, product_name=args.product_name, rule=args.rule, acid=args.acid,
                            program=args.program)
    except ValueError as err:
        raise WebbflowError(None, str(err)) from None
    print(write_association(asn, args.output))
    return 0
