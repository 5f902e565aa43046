"""Building level-3 associations from the rules in `rules_level3`."""

import numpy as np

from webbflow.associations import naming
from webbflow.associations.association import Association, Member, Product
from webbflow.associations.common import INSTRUMENT, PROGRAM, S200A_SLITS
from webbflow.associations.exptypes import EMPTY_VALUES, MULTI_OBSERVATION_CANDIDATES
from webbflow.associations.grouping import Same, form_groups, shared_values

__all__ = ["make_level3"]


def member_types(ctx, rule):
    """Member type of every pool row under ``rule`` (auxiliary rules: all science but acquisitions)."""
    types = ctx.exposures.member_type
    if rule.auxiliary:
        types = np.where(types == "target_acquisition", types, "science").astype(object)
    return types


def _target_key(ctx, rule, types):
    """The target attribute, with the members exempt from it under this rule."""
    if rule.target is None:
        return None
    on_blocks = ctx.on_blocks(types)
    if rule.target == "science":
        exempt = on_blocks == "background"
    elif rule.target == "science-only":
        exempt = on_blocks != "science"
    else:
        exempt = np.zeros(len(on_blocks), dtype=bool)
    return Same("target", ("targetid",), exempt=lambda ctx, idx: exempt[idx])


def make_level3(ctx, rule, rule_index):
    """Every level-3 association of one rule, before duplicate pruning.

    Parameters
    ----------
    ctx : webbflow.associations.context.Context
    rule : webbflow.associations.rules_level3.Level3Rule
    rule_index : int
        Position of the rule in the official rule order (breaks ties).

    Returns
    -------
    list of (Association, dict)
        Each association with its validity (``{"valid": bool}``).
    """
    ex = ctx.exposures
    idx = ctx.select(rule.select(ex) & ~ex.is_set("is_imprt"))
    if len(idx) == 0:
        return []
    types = member_types(ctx, rule)
    keys = [PROGRAM, INSTRUMENT, *rule.same]
    target = _target_key(ctx, rule, types)
    if target is not None:
        keys.append(target)
    values, ok = shared_values(ctx, idx, keys)
    idx = idx[ok]
    values = {k: v[ok] for k, v in values.items()}
    groups = form_groups(idx, ctx.block_blk[idx], ctx.block_files[idx], values, reoffer=rule.reoffer)
    if not groups:
        return []
    acqs = _acquisitions(ctx, groups)
    per_int = ctx.flag("integrations_ami") | ctx.flag("integrations_tso")
    if not rule.coron_as_image:
        per_int = per_int | ctx.flag("integrations_coron")
    return [_association(ctx, rule, rule_index, group, acqs.get(gid, ()), types, per_int)
            for gid, group in enumerate(groups)]


def _acquisitions(ctx, groups):
    """Target acquisitions joining each group: same program, instrument and one of its observations."""
    table = ctx.acquisitions()
    if not table:
        return {}
    obs_all = ctx.value("obs_num")
    result = {}
    for gid, group in enumerate(groups):
        found = {o for o in obs_all[ctx.block_rows[group.members]] if o is not None}
        rows = set()
        for obs in found:
            rows.update(table.get((group.blk, group.values["program"], group.values["instrument"], obs), ()))
        if rows:
            result[gid] = sorted(rows)
    return result


def _strip(value):
    """A shared value without the ``column=`` prefix of multi-column attributes."""
    if value is None:
        return None
    return value.split("=", 1)[1] if "=" in value else value


def _association(ctx, rule, rule_index, group, acq_rows, types, per_int):
    cand = ctx.candidate(group.blk)
    rows = ctx.block_rows[group.members]
    filenames = ctx.raw("filename")
    in_group = {filenames[r] for r in rows}
    acq_rows = [r for r in acq_rows if filenames[r] not in in_group]
    has_err = ctx.exposures.has_column("exposerr")
    exposerr, exp_type = ctx.raw("exposerr"), ctx.value("exp_type")
    members, seen = [], set()
    for row, cand_value in _member_order(ctx, cand, group, rows, acq_rows):
        mtype = types[row]
        name = ctx.stage2_name(row, naming.level3_suffix(exp_type[row], mtype, per_int[row]))
        if (name, mtype) in seen:
            continue
        seen.add((name, mtype))
        members.append(Member(name, mtype, exposerr[row] if has_err else None, cand_value, int(row)))
    values = group.values
    obs_found = {o for o in ctx.value("obs_num")[rows] if o is not None}
    target = values.get("target")
    target_found = [] if target is None else ["000" if target.startswith("000|") else target]
    slit_pair = set()
    if "fxd_slit" in values:
        pair = ctx.flag_like("fxd_slit", S200A_SLITS)
        slit_pair = {ctx.value("fxd_slit")[r] for r in rows if pair[r]}
    program = f"{ctx.raw('program')[rows[0]]:0>5s}"
    if rule.nod_backgrounds:
        members = _nod_backgrounds(members, values.get("patttype_spectarg"))
    target_name = naming.target_name(target_found)
    name = naming.product_name(
        rule.name_form, program=program, acid=cand.id, target=target_name,
        instrument=naming.escaped(values["instrument"]),
        opt_elem=naming.opt_elem_name(_found(values, "opt_elem"), _found(values, "opt_elem2")),
        slit=naming.slit_name(_found(values, "fxd_slit"), slit_pair),
        subarray=naming.escaped(values.get("subarray") or ""),
        detector=naming.escaped(values.get("detector") or ""), activity=naming.escaped(values.get("act_id") or ""))
    asn = Association(
        level=3, rule=rule.name, ruleset=cand.ruleset, asn_type=rule.asn_type, asn_id=cand.id,
        candidate_type=cand.type, program=program, target=target_name, pool=ctx.pool_name,
        products=[Product(name, members)], version_id=ctx.version_id,
        constraints=_describe(rule, values, obs_found),
        degraded=any(m.exposerr is not None and m.exposerr not in EMPTY_VALUES for m in members),
        order=ctx.order(group.blk, group.members[0], rule_index))
    rule_types = {types[r] for r in rows}
    valid = ("science" in rule_types
             and (not rule.needs_psf or "psf" in rule_types)
             and (rule.candidate_types is None or cand.type in rule.candidate_types)
             and cand.type not in rule.excluded_candidate_types
             and len(rows) + len(acq_rows) >= rule.min_members
             and (cand.type not in MULTI_OBSERVATION_CANDIDATES or len(obs_found) > 1))
    return asn, {"valid": valid}


def _member_order(ctx, cand, group, rows, acq_rows):
    """(pool row, candidate text) of the members in the official order.

    First the exposures that joined when first met, in pool order, with the
    acquisitions taken after an observation member had joined; then those
    that joined when offered again; then the other acquisitions.
    """
    first = len(rows) if group.first_pass is None else group.first_pass
    texts = ctx.block_candidates[group.members]
    early = [(int(r), t) for r, t in zip(rows[:first], texts[:first], strict=True)]
    again = [(int(r), t) for r, t in zip(rows[first:], texts[first:], strict=True)]
    obs = ctx.value("obs_num")
    created = int(rows[0])
    now, last = [], []
    for acq in acq_rows:
        seen = {obs[r] for r, _ in early if r < acq}
        (now if acq > created and obs[acq] in seen else last).append((acq, _acq_candidate(ctx, cand, acq)))
    return [*sorted(early + now, key=lambda e: e[0]), *again, *last]


def _found(values, name):
    value = _strip(values.get(name))
    return [value] if value else []


def _acq_candidate(ctx, cand, row):
    """ASN_CANDIDATE of an acquisition member, as the rules see it."""
    if cand.ruleset == "discover":
        return ctx.raw("asn_candidate")[row] if ctx.exposures.has_column("asn_candidate") else "null"
    return f"[('{cand.id}', '{cand.type}')]"


def _nod_backgrounds(members, patttype):
    """Nodded slit spectra: every science exposure is also a background of the others."""
    science = [m for m in members if m.exptype == "science"]
    if not patttype or "nod" not in patttype or len(science) < 2:
        return members
    extra = [Member(naming.exposure_root(m.expname) + "_x1d.fits", "background", m.exposerr, m.asn_candidate,
                    m.row, m.has_exposerr) for m in science]
    return members + extra


def _describe(rule, values, obs_found):
    shared = [f"{k}={_strip(v).split('|', 1)[0]}" for k, v in values.items() if v is not None]
    if obs_found:
        shared.append("obs_num in " + ",".join(sorted(obs_found, key=lambda o: (len(o), o))))
    return f"{rule.summary}\nShared: " + "; ".join(shared)
