"""Finalisation: what happens to associations once every exposure has been placed.

* WFSS: the direct images are replaced by the products of their level-3
  image association (``_i2d``, ``_cat.ecsv``, ``_segm``).
* Imprints: only the imprint exposures that best match the science are kept.
* Nods: a nod sequence becomes one association per science exposure, the
  other nods being its backgrounds (unless they overlap on the sky).
* Duplicates: among associations with the same members the one from the
  lowest-level candidate (observation before c-candidate before discovered)
  is kept; among associations with the same product name the superset.
* Sequence numbers are counted per (candidate, association type).
"""

import copy
import re
from collections import Counter, defaultdict

from webbflow.associations import naming
from webbflow.associations.association import Member, Product
from webbflow.associations.exptypes import EMPTY_VALUES

__all__ = ["wfss_catalogue", "prune_imprints", "split_nods", "nods_overlap", "prune", "resequence",
           "same_members"]


# ---------------------------------------------------------------- WFSS
def wfss_catalogue(ctx, asn, values, parallel=False):
    """Replace the direct images of a WFSS association by the level-3 image products.

    The direct image chosen is the first one taken after the grism exposure
    (smallest positive EXPSPCIN difference), else the first direct image; for
    pure parallels the first whose name contains ``long``.

    Returns
    -------
    Association or None
        None when there is no direct image or no science exposure.
    """
    members = asn.product.members
    directs = [m for m in members if m.exptype == "direct_image"]
    science = [m for m in members if m.exptype == "science"]
    if not directs or not science:
        return None
    if parallel:
        longs = [d for d in directs if "long" in d.expname]
        chosen = longs[0] if longs else directs[0]
    else:
        chosen = _closest_direct(ctx, science[0], directs)
    root = _direct_image_root(ctx, asn, values, chosen)
    asn.product.members = [m for m in members if m.exptype != "direct_image"] + [
        Member(root + "_i2d.fits", "direct_image", has_exposerr=False),
        Member(root + "_cat.ecsv", "sourcecat", has_exposerr=False),
        Member(root + "_segm.fits", "segmap", has_exposerr=False),
    ]
    return asn


def _as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _closest_direct(ctx, science, directs):
    expspcin = ctx.value("expspcin")
    sci = _as_int(expspcin[science.row])
    closest = directs[0]
    if sci is None:
        return closest
    best = 9999
    for direct in directs:
        value = _as_int(expspcin[direct.row])
        if value is None:
            continue
        diff = value - sci
        if 0 < diff < best:
            best, closest = diff, direct
    return closest


def _direct_image_root(ctx, asn, values, direct):
    row = direct.row
    instrument = (ctx.raw("instrume")[row] or "unknown")
    if instrument == "miri":
        raw_filter = ctx.raw("filter")[row]
        parts = [str(raw_filter)] if raw_filter is not None else []
    else:
        parts = []
        for columns in (("filter", "band"), ("pupil", "grating")):
            for column in columns:
                value = ctx.value(column)[row]
                if value is not None:
                    parts.append(value)
                    break
    opt_elem = "-".join(sorted(parts, key=str.lower)) or "clear"
    target = values.get("target")
    found = [] if target is None else ["000" if target.startswith("000|") else target]
    return naming.product_name(
        "default", program=asn.program, acid=asn.asn_id, target=naming.target_name(found),
        instrument=naming.escaped(values.get("instrument")), opt_elem=opt_elem,
        subarray=naming.escaped(values.get("subarray")))


# ---------------------------------------------------------------- imprints
def prune_imprints(ctx, asn):
    """Keep the imprint exposures that best match the science exposure(s).

    Only imprints with the science's background flag are considered; if some
    of them share the science TARGETID the others are dropped; and when more
    imprints than science exposures remain, those at another dither position
    (DITHPTIN) than every science exposure are dropped too.
    """
    members = asn.product.members
    have_target, have_bkg = ctx.exposures.has_column("targetid"), ctx.exposures.has_column("bkgdtarg")
    if not (have_target and have_bkg):
        return
    targetid, bkgdtarg = ctx.raw("targetid"), ctx.raw("bkgdtarg")
    science = [m for m in members if m.exptype == "science"]
    science_targets = {str(targetid[m.row]) for m in science}
    science_is_bkg = any(bkgdtarg[m.row] == "t" for m in science)
    imprints = [m for m in members if m.exptype == "imprint" and (bkgdtarg[m.row] == "t") == science_is_bkg]
    matching = [m for m in imprints if str(targetid[m.row]) in science_targets]
    if matching:
        drop = {id(m) for m in imprints if m not in matching}
        members[:] = [m for m in members if id(m) not in drop]
        imprints = matching
    if 1 <= len(science) < len(imprints) and ctx.exposures.has_column("dithptin"):
        dithptin = ctx.raw("dithptin")
        science_points = {dithptin[m.row] for m in science}
        keep = {m.expname for m in imprints if dithptin[m.row] in science_points}
        if keep:
            drop = {id(m) for m in imprints if m.expname not in keep}
            members[:] = [m for m in members if id(m) not in drop]


# ---------------------------------------------------------------- nods
def split_nods(ctx, asn):
    """One association per science exposure, the other nods as its backgrounds.

    Returns
    -------
    list of Association
    """
    members = asn.product.members
    science = [m for m in members if m.exptype == "science"]
    others = [m for m in members if m.exptype != "science"]
    results = []
    for number, sci in enumerate(science):
        new_members = [sci]
        for other in science:
            if other.expname != sci.expname and not nods_overlap(ctx, sci.row, other.row):
                new_members.append(Member(other.expname, "background", other.exposerr, other.asn_candidate,
                                          other.row, other.has_exposerr))
        new_members.extend(others)
        new = copy.copy(asn)
        new.products = [Product(naming.exposure_root(sci.expname), new_members)]
        new.order = (*asn.order, number)
        results.append(new)
    return results


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def nods_overlap(ctx, science_row, background_row):
    """Whether a nod exposure cannot serve as background of a science exposure.

    Only NIRSpec fixed-slit and MSA exposures can overlap: when the targets
    differ, when both are at the same primary nod position
    ((PATT_NUM - 1) // SUBPXPTS), and for 5-point S1600A1 fixed-slit patterns
    at the neighbouring positions too.  Missing pattern information means
    overlap for fixed slits and no overlap for the MSA.
    """
    ex = ctx.exposures
    exp_type = ctx.raw("exp_type")[science_row]
    if exp_type is None or str(exp_type).lower() not in ("nrs_fixedslit", "nrs_msaspec"):
        return False
    fixed_slit = str(exp_type).lower() == "nrs_fixedslit"
    if ex.has_column("targetid"):
        if str(ctx.raw("targetid")[science_row]).lower() != str(ctx.raw("targetid")[background_row]).lower():
            return True
    numdthpt = _int_or_none(ctx.raw("numdthpt")[science_row]) if ex.has_column("numdthpt") else None
    sci_num = _int_or_none(ctx.raw("patt_num")[science_row]) if ex.has_column("patt_num") else None
    bkg_num = _int_or_none(ctx.raw("patt_num")[background_row]) if ex.has_column("patt_num") else None
    if None in (numdthpt, sci_num, bkg_num):
        numdthpt, sci_num, bkg_num = 0, None, None
    sci_sub, bkg_sub = _subpixels(ctx, science_row), _subpixels(ctx, background_row)
    if None in (sci_num, bkg_num, sci_sub, bkg_sub) or sci_sub == 0 or bkg_sub == 0:
        return fixed_slit
    sci_point, bkg_point = (sci_num - 1) // sci_sub, (bkg_num - 1) // bkg_sub
    if sci_point == bkg_point:
        return True
    if not fixed_slit:
        return False
    slit = str(ctx.raw("fxd_slit")[science_row]).lower() if ex.has_column("fxd_slit") else None
    return slit == "s1600a1" and numdthpt // sci_sub == 5 and abs(sci_point - bkg_point) <= 1


def _subpixels(ctx, row):
    for column in ("subpxpts", "subpxpns"):
        if ctx.exposures.has_column(column):
            value = _int_or_none(ctx.raw(column)[row])
            if value is not None:
                return value
    return None


# ---------------------------------------------------------------- duplicates
def _membership(product):
    """Hashable membership of a product, or None if it repeats a file (never equal to anything)."""
    names = [m.expname for m in product.members]
    if len(names) != len(set(names)):
        return None
    return frozenset((m.expname, m.exptype) for m in product.members)


def _compare_members(left, right, strict=True):
    """Differences between two products, as the official membership comparison reports them.

    Returns
    -------
    set of str
        Subset of {"duplicate", "length", "mismatch", "unaccounted", "subset"}; empty if equal.
    """
    diffs = []
    for product in (left, right):
        names = [m.expname for m in product.members]
        if len(names) != len(set(names)):
            diffs.append("duplicate")
    if len(left.members) != len(right.members):
        diffs.append("length")

    def key(name):
        return name if strict else naming.exposure_root(name)

    remaining = list(right.members)
    left_over = 0
    for lm in left.members:
        for i, rm in enumerate(remaining):
            if key(lm.expname) != key(rm.expname):
                continue
            if lm.exptype != rm.exptype:
                diffs.append("mismatch")
            del remaining[i]
            break
        else:
            left_over += 1
    if left_over or remaining:
        diffs.append("unaccounted")
    if len(diffs) == 2 and "length" in diffs and "unaccounted" in diffs:
        diffs.append("subset")
    return set(diffs)


def same_members(left, right):
    """Whether two associations are equal as the official comparison has it.

    Same type, same candidate level (first letter of the id) and the same
    products (names compared by their ``_``/``-`` separated parts) with the
    same members (names compared without suffix).
    """
    if left.asn_type != right.asn_type or left.asn_id[:1] != right.asn_id[:1]:
        return False
    if len(left.products) != len(right.products):
        return False
    unused = list(right.products)
    for lp in left.products:
        parts = set(re.split("[_-]", lp.name))
        for i, rp in enumerate(unused):
            if set(re.split("[_-]", rp.name)) != parts:
                continue
            if _compare_members(lp, rp, strict=False):
                return False
            del unused[i]
            break
        else:
            return False
    return not unused


def prune(asns):
    """Remove duplicate associations and duplicate products.

    Parameters
    ----------
    asns : list of Association
        In list order (which breaks ties).

    Returns
    -------
    list of Association
    """
    return _prune_products(_prune_memberships(asns))


def _by_candidate(asns):
    return sorted(asns, key=lambda a: a.asn_id)


def _prune_memberships(asns):
    """Of associations with exactly the same members keep the one of the highest-sorting id (oNNN)."""
    ordered = _by_candidate(asns)
    kept, seen = [], set()
    for asn in reversed(ordered):
        key = _membership(asn.product)
        if key is not None and key in seen:
            continue
        if key is not None:
            seen.add(key)
        kept.append(asn)
    return kept


def _prune_products(asns):
    """Of associations with the same product name keep the one whose members include the others'."""
    names = Counter(a.product.name for a in asns)
    dups = [name for name, count in names.items() if count > 1]
    if not dups:
        return asns
    ordered = _by_candidate(asns)
    by_product = defaultdict(list)
    for asn in ordered:
        by_product[asn.product.name].append(asn)
    full_prune = []
    for name in dups:
        dup_asns = by_product[name]
        to_keep = list(dup_asns)
        for asn in dup_asns:
            if any(asn is p or same_members(asn, p) for p in full_prune):
                continue
            to_prune = []
            for entrant in to_keep:
                if same_members(entrant, asn):
                    continue
                diffs = _compare_members(asn.product, entrant.product)
                if not diffs:
                    to_prune.append(entrant)
                elif "subset" in diffs:
                    if len(entrant.product.members) > len(asn.product.members):
                        asn, entrant = entrant, asn
                    to_prune.append(entrant)
            full_prune.extend(to_prune)
            for gone in to_prune:
                for i, candidate in enumerate(to_keep):
                    if candidate is gone or same_members(candidate, gone):
                        del to_keep[i]
                        break
    remove = {id(a) for a in full_prune}
    return [a for a in ordered if id(a) not in remove]


def resequence(asns):
    """Number associations 1, 2, ... within each (candidate id, association type), in list order."""
    counters = defaultdict(int)
    for asn in asns:
        counters[(asn.asn_id, asn.asn_type)] += 1
        asn.sequence = counters[(asn.asn_id, asn.asn_type)]


def degraded(members):
    """Whether some member carries an exposure error."""
    return any(m.exposerr is not None and m.exposerr not in EMPTY_VALUES for m in members)
