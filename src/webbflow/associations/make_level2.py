"""Building level-2b associations from the rules in `rules_level2`."""

import re

import numpy as np
import pandas as pd

from webbflow.associations import finalize, naming
from webbflow.associations.association import Association, Member, Product
from webbflow.associations.exptypes import EMPTY_VALUES
from webbflow.associations.grouping import Same, combined_codes, form_groups, shared_values

__all__ = ["make_level2"]

_DIRECT_IMAGE_CANDIDATE = r"^\[\('c\d{4}', 'direct_image'\)\]$"


def member_types(ctx, rule):
    """Member type of every pool row under a level-2 rule (PSF references are science).

    WFSS rules call their images ``direct_image``.
    """
    types = ctx.exposures.member_type_level2
    if rule.kind == "wfss":
        image = ctx.flag_like("exp_type", "nis_image|nrc_image|mir_image")
        types = np.where((types == "science") & image, "direct_image", types).astype(object)
    return types


def _rows(ctx, mask, rule, keys):
    """Block rows whose pool row is in ``mask`` and that have the ``keys`` attributes.

    Returns
    -------
    idx : numpy.ndarray
        Block rows (only those of a direct-image candidate if the rule wants that).
    values : dict
        Their shared-attribute values.
    """
    idx = ctx.select(mask)
    if rule.direct_image_candidate and len(idx):
        text = ctx.block_candidates[idx]
        idx = idx[np.array([bool(re.match(_DIRECT_IMAGE_CANDIDATE, str(t))) for t in text], dtype=bool)]
    values, ok = shared_values(ctx, idx, keys)
    return idx[ok], {k: v[ok] for k, v in values.items()}


class _Draft:
    """An association under construction: its block, member block-rows, forced member types, shared values.

    ``joins`` collects the companions as (pool row, phase, block row): phase 0
    for those joining when first met, 1 and 2 for those joining when offered
    again (to existing associations, then the non-science ones), which is
    the official order of the members.
    """

    __slots__ = ("blk", "labels", "forced", "values", "joins", "lead")

    def __init__(self, blk, labels, values):
        self.blk = blk
        self.labels = labels
        self.forced = {}
        self.values = values
        self.joins = []
        self.lead = []

    def order_members(self):
        """Put the companions in the official member order."""
        if not self.joins:
            return
        lead = set(self.lead)
        rest = sorted((j for j in self.joins if j[2] not in lead), key=lambda j: (j[1], j[0]))
        self.labels = [*self.lead, *self.labels, *(j[2] for j in rest)]


def make_level2(ctx, rule, rule_index):
    """Every level-2b association of one rule, finalised (nod splitting, WFSS catalogues, imprints).

    Parameters
    ----------
    ctx : webbflow.associations.context.Context
    rule : webbflow.associations.rules_level2.Level2Rule
    rule_index : int
        Position of the rule in the official order (breaks ties).

    Returns
    -------
    list of Association
        The valid associations, before duplicate pruning.
    """
    types = member_types(ctx, rule)
    if rule.kind == "nods":
        drafts = _nod_sequences(ctx, rule)
    elif rule.kind == "lrs-nods":
        drafts = _lrs_nods(ctx, rule, types)
    else:
        drafts = _science_with_extras(ctx, rule)
    per_int = ctx.flag("integrations_ami") | ctx.flag("integrations_tso")
    if rule.per_integration_coron:
        per_int = per_int | ctx.flag("integrations_coron")
    results = []
    for draft in drafts:
        asn = _association(ctx, rule, rule_index, draft, types, per_int)
        if asn is None:
            continue
        if rule.kind == "wfss":
            asn = finalize.wfss_catalogue(ctx, asn, draft.values, parallel=rule.any_candidate)
            if asn is None:
                continue
        if rule.prune_imprints:
            finalize.prune_imprints(ctx, asn)
        if rule.kind == "nods":
            results.extend(finalize.split_nods(ctx, asn))
        else:
            results.append(asn)
    return results


# ------------------------------------------------------------------ science + extras
def _science_with_extras(ctx, rule):
    """One draft per science exposure, with the `Extra` exposures that fit it."""
    seeds, seed_values = _rows(ctx, rule.science(ctx.exposures), rule, rule.same)
    if len(seeds) == 0:
        return []
    names = list(seed_values)
    drafts = {int(label): _Draft(int(ctx.block_blk[label]), [int(label)],
                                 {k: seed_values[k][i] for k in names})
              for i, label in enumerate(seeds)}
    if rule.as_science:
        for draft in drafts.values():
            draft.forced[draft.labels[0]] = "science"
    if rule.kind != "single":
        for extra in rule.extras:
            _attach(ctx, rule, extra, seeds, seed_values, drafts)
        for draft in drafts.values():
            draft.order_members()
    return list(drafts.values())


def _block_pairs(seed_blk, extra_blk):
    """All (seed, extra) index pairs with equal codes (same block and required attributes), vectorised."""
    order = np.argsort(extra_blk, kind="stable")
    sorted_blk = extra_blk[order]
    lo = np.searchsorted(sorted_blk, seed_blk, "left")
    counts = np.searchsorted(sorted_blk, seed_blk, "right") - lo
    total = int(counts.sum())
    seed_idx = np.repeat(np.arange(len(seed_blk)), counts)
    starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
    return seed_idx, order[np.arange(total) + starts]


def _attach(ctx, rule, extra, seeds, seed_values, drafts):
    """Attach the exposures of one `Extra` role to every science exposure they fit."""
    same = [k.name for k in extra.same]
    keys = list(extra.same) + [k for k in extra.among if k.name not in same]
    labels, vals = _rows(ctx, extra.select(ctx.exposures), rule, keys)
    if len(labels) == 0:
        return
    # Pair only exposures of one block that agree on the attributes both must have (a vectorised join).
    required = {k.name for k in rule.same if k.required and k.exempt is None}
    strict = [k.name for k in extra.same if k.required and k.exempt is None and k.name in required]
    codes = combined_codes(np.concatenate([ctx.block_blk[seeds], ctx.block_blk[labels]]),
                           *(np.concatenate([seed_values[n], vals[n]]) for n in strict))
    si, ei = _block_pairs(codes[:len(seeds)], codes[len(seeds):])
    fits = ctx.block_files[seeds][si] != ctx.block_files[labels][ei]
    for name in same:
        s, e = seed_values[name][si], vals[name][ei]
        fits &= pd.isna(s) | pd.isna(e) | (s == e)
    si, ei = si[fits], ei[fits]
    if len(si) == 0:
        return
    position = {int(label): i for i, label in enumerate(labels)}
    extra_values = {name: vals[name] for name in same}
    among = {k.name: vals[k.name] for k in extra.among}
    seed_col, extra_col = seeds[si], labels[ei]
    seed_row, extra_row = ctx.block_rows[seed_col], ctx.block_rows[extra_col]
    lead_ok = np.ones(len(si), dtype=bool)
    for key in extra.lead_same:
        s = seed_values[key.name][si]
        e = ctx.exposures.key_values(key.columns)[extra_row]
        lead_ok &= pd.isna(s) | pd.isna(e) | (s == e)
    leaders = _extras_leading(seed_col, extra_col, seed_row, extra_row, lead_ok)
    order = np.lexsort((extra_row, seed_col))
    bounds = np.flatnonzero(np.diff(seed_col[order])) + 1
    for chunk in np.split(order, bounds):
        seed = int(seed_col[chunk[0]])
        draft = drafts[seed]
        srow = seed_row[chunk[0]]
        before = [int(x) for x in extra_col[chunk][extra_row[chunk] < srow]]
        after = [int(x) for x in extra_col[chunk][extra_row[chunk] > srow]]
        led = bool(before) and leaders.get(before[0]) == seed
        joined = _consistent(draft.values, before + after if led else after + before, extra_values, same, position)
        if among:
            joined = _consistent({}, joined, among, list(among), position)
        early = set(before)
        late_phase = 1 if extra.late == "existing" else 2
        if led:
            draft.lead = [x for x in joined if x in early]
        rows = ctx.block_rows
        draft.joins.extend((int(rows[x]), late_phase if x in early else 0, x) for x in joined)
        if extra.member_type:
            for label in joined:
                draft.forced[label] = extra.member_type


def _extras_leading(seed_col, extra_col, seed_row, extra_row, lead_ok):
    """Extras that start an association which the next science exposure joins.

    An extra exposure that no earlier science exposure fits starts its own
    association; the first science exposure after it that fits what it fixed
    (``lead_ok``) joins that association, so the extra comes first among the
    members (this decides which WFSS direct image is "first").
    """
    earlier = seed_row < extra_row
    blocked = set(extra_col[earlier].tolist())
    later = np.flatnonzero(~earlier & lead_ok)
    later = later[np.argsort(seed_row[later], kind="stable")]
    result = {}
    for i in later:
        extra = int(extra_col[i])
        if extra not in blocked:
            result.setdefault(extra, int(seed_col[i]))
    return result


def _consistent(fixed, labels, values, names, position):
    """Keep the extras that agree with each other on attributes ``fixed`` leaves open (first one wins)."""
    open_names = [n for n in names
                  if fixed.get(n) is None and any(values[n][position[x]] is not None for x in labels)]
    if not open_names or len(labels) < 2:
        return labels
    frozen, kept = {}, []
    for label in labels:
        here = {n: values[n][position[label]] for n in open_names}
        if all(v is None or frozen.get(n) is None or v == frozen[n] for n, v in here.items()):
            kept.append(label)
            for n, v in here.items():
                if v is not None and frozen.get(n) is None:
                    frozen[n] = v
    return kept


# ------------------------------------------------------------------ nod sequences
def _nod_sequences(ctx, rule):
    """``nods`` rules: gather each nod sequence; non-science exposures join the sequences they fit."""
    not_science = ctx.exposures.member_type_level2 != "science"
    nod_keys = [Same(k.name, k.columns, k.required, exempt=lambda ctx, idx: not_science[ctx.block_rows[idx]])
                for k in rule.nod_keys]
    idx, values = _rows(ctx, rule.science(ctx.exposures), rule, [*rule.same, *nod_keys])
    groups = form_groups(idx, ctx.block_blk[idx], ctx.block_files[idx], values, reoffer=False)
    return [_Draft(g.blk, list(g.members), dict(g.values)) for g in groups]


# ------------------------------------------------------------------ MIRI LRS slit nods
def _lrs_nods(ctx, rule, types):
    """MIRI LRS slit nods: each science exposure, the exposures at the other nod positions, the TA image.

    Exposures at another nod position (PATT_NUM not containing the science
    one) become backgrounds: the other science nods always, other exposures
    only if taken after the science one.  Not for background candidates.
    """
    ex = ctx.exposures
    seeds, seed_vals = _rows(ctx, rule.science(ex), rule, rule.same)
    keep = np.array([ctx.candidate(b).type != "background" for b in ctx.block_blk[seeds]], dtype=bool)
    seeds, seed_vals = seeds[keep], {k: v[keep] for k, v in seed_vals.items()}
    if len(seeds) == 0:
        return []
    nod = ex.like("exp_type", "mir_lrs-fixedslit") & ex.like("patttype", "along-slit-nod") & ex.is_set("patt_num")
    is_ta = ex.like("exp_type", "mir_taconfirm")
    others, other_vals = _rows(ctx, nod | is_ta, rule, rule.same)
    seed_labels = set(seeds.tolist())
    patt, ta = ctx.value("patt_num"), is_ta
    names = list(seed_vals)
    first_seed = {}
    for label in seeds:
        first_seed.setdefault(int(ctx.block_blk[label]), int(label))
    drafts = []
    for i, label in enumerate(seeds):
        blk, row = ctx.block_blk[label], ctx.block_rows[label]
        svals = {k: seed_vals[k][i] for k in names}
        draft = _Draft(int(blk), [int(label)], svals)
        not_here = re.compile("^((?!" + re.escape(patt[row]) + ").)*$", re.IGNORECASE)
        for j, olabel in enumerate(others):
            orow = ctx.block_rows[olabel]
            if ctx.block_blk[olabel] != blk or olabel == label:
                continue
            if not all(other_vals[k][j] is None or svals[k] is None or other_vals[k][j] == svals[k] for k in names):
                continue
            later = orow > row
            if ta[orow]:
                draft.joins.append((int(orow), 0 if later else 2, int(olabel)))
                if not later and first_seed[int(blk)] == label:
                    # a confirmation image taken before any science exposure starts the association
                    draft.lead.append(int(olabel))
            elif not_here.match(patt[orow]) and (olabel in seed_labels or later):
                draft.joins.append((int(orow), 0 if later else 1, int(olabel)))
                if olabel in seed_labels or types[orow] == "science":
                    draft.forced[int(olabel)] = "background"
        draft.order_members()
        drafts.append(draft)
    return drafts


# ------------------------------------------------------------------ the association
def _association(ctx, rule, rule_index, draft, types, per_int):
    """Make the association of a draft, or None if it is not valid."""
    cand = ctx.candidate(draft.blk)
    rows = ctx.block_rows[draft.labels]
    tso_visit = draft.values.get("is_tso") == "t"
    science_pointing = ctx.flag("science_pointing_not_acq")
    has_err = ctx.exposures.has_column("exposerr")
    exposerr = ctx.raw("exposerr")
    members, seen = [], set()
    for label, row in zip(draft.labels, rows, strict=True):
        mtype = draft.forced.get(label, types[row])
        integrations = per_int[row] or (tso_visit and science_pointing[row])
        name = ctx.stage2_name(row, naming.level2_suffix(integrations))
        if mtype is None or (name, mtype) in seen:
            continue
        seen.add((name, mtype))
        members.append(Member(name, mtype, exposerr[row] if has_err else None, None, int(row)))
    science = [m for m in members if m.exptype == "science"]
    valid = bool(science) and (
        rule.any_candidate or cand.type == "observation"
        or (cand.type == "background" and any(m.exptype == "background" for m in members)))
    if not valid:
        return None
    creator = rows[0]
    return Association(
        level=2, rule=rule.name, ruleset=cand.ruleset, asn_type=rule.asn_type, asn_id=cand.id,
        candidate_type=cand.type, program=f"{ctx.raw('program')[creator]:0>5s}",
        target=ctx.raw("targetid")[creator] if ctx.exposures.has_column("targetid") else None, pool=ctx.pool_name,
        products=[Product(naming.exposure_root(science[0].expname), members)], version_id=ctx.version_id,
        constraints=_describe(rule, draft.values),
        degraded=any(m.exposerr is not None and m.exposerr not in EMPTY_VALUES for m in members),
        order=ctx.order(draft.blk, min(draft.labels), rule_index))


def _describe(rule, values):
    shared = [f"{k}={str(v).split('=', 1)[-1].split('|', 1)[0]}" for k, v in values.items() if v is not None]
    return f"{rule.summary}\nShared: " + "; ".join(shared)
