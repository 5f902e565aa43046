"""The association generator: every rule on every candidate, then finalisation.

Order of work, as officially:

1. every candidate of the pool (observation, c-candidates, unknown) on the
   rows listing it, and the whole pool once more to discover associations no
   candidate defines (``a3001``);
2. every level-2b rule, then every level-3 rule, on all candidates at once
   (each rule is a few vectorised selections and group-bys);
3. finalisation: validity, nod splitting, WFSS catalogues, imprint pruning;
   duplicate pruning separately for level 2 and level 3; sequence numbers.
"""

import logging
from datetime import UTC, datetime

from webbflow.associations import finalize
from webbflow.associations.context import Context
from webbflow.associations.make_level2 import make_level2
from webbflow.associations.make_level3 import make_level3
from webbflow.associations.pool import normalise
from webbflow.associations.rules_level2 import LEVEL2_RULES
from webbflow.associations.rules_level3 import LEVEL3_RULES
from webbflow.errors import InputError

__all__ = ["generate", "RULE_NAMES"]

log = logging.getLogger("webbflow.associations")

#: Every rule name, in the official registry order.
RULE_NAMES = tuple(r.name for r in LEVEL2_RULES) + ("Asn_Lv3ACQ_Reprocess",) + tuple(r.name for r in LEVEL3_RULES)


def generate(pool, version_id=None, rules=None):
    """Generate the associations of a pool.

    Parameters
    ----------
    pool : pandas.DataFrame
        As `webbflow.associations.read_pool` returns it (other DataFrames are
        normalised first: lower-case strings, empty cells ``null``).
    version_id : str, True or None
        Tag added to file names (``jw..-o001_<version_id>_image2_00001_asn.json``);
        True for the current UTC time.
    rules : iterable of str or None
        Only these rules (official names, e.g. ``Asn_Lv3Image``); all by default.

    Returns
    -------
    list of Association
        Level-2b associations, then level-3, in the official order.

    Raises
    ------
    webbflow.errors.InputError
        If the pool has no rows or no FILENAME column.
    """
    pool = normalise(pool)
    if version_id is True:
        version_id = datetime.now(UTC).strftime("%Y%m%dt%H%M%S")
    if len(pool) == 0:
        raise InputError(pool.attrs.get("pool_file"), "the pool has no exposures")
    if "filename" not in pool.columns:
        raise InputError(pool.attrs.get("pool_file"), "the pool has no FILENAME column")
    wanted = None if rules is None else set(rules)
    unknown = set() if wanted is None else wanted - set(RULE_NAMES)
    if unknown:
        raise ValueError(f"unknown rule(s): {', '.join(sorted(unknown))}")
    ctx = Context.build(pool, version_id)
    level2, level3 = [], []
    for index, rule in enumerate(LEVEL2_RULES):
        if wanted is None or rule.name in wanted:
            level2.extend(make_level2(ctx, rule, index))
    offset = len(LEVEL2_RULES) + 1
    for index, rule in enumerate(LEVEL3_RULES):
        if wanted is None or rule.name in wanted:
            level3.extend(asn for asn, facts in make_level3(ctx, rule, offset + index) if facts["valid"])
    level2 = _finish(level2)
    level3 = _finish(level3)
    _report_orphans(ctx, level2 + level3)
    return level2 + level3


def _finish(asns):
    asns = sorted(asns, key=lambda a: a.order)
    asns = _drop_rediscovered(asns)
    asns = finalize.prune(asns)
    finalize.resequence(asns)
    return asns


def _drop_rediscovered(asns):
    """Discovered associations equal to a candidate one are dropped (only possible for ``a`` ids)."""
    candidates = [a for a in asns if a.ruleset == "candidate" and a.asn_id.startswith("a")]
    if not candidates:
        return asns
    return [a for a in asns
            if a.ruleset == "candidate" or not any(finalize.same_members(a, c) for c in candidates)]


def _report_orphans(ctx, asns):
    used = {m.row for a in asns for p in a.products for m in p.members if m.row is not None}
    orphans = [ctx.raw("filename")[r] for r in range(len(ctx.pool)) if r not in used]
    if orphans:
        log.info("%s: %d exposure(s) in no association: %s", ctx.pool_name, len(orphans),
                 ", ".join(map(str, orphans[:20])) + (" ..." if len(orphans) > 20 else ""))
