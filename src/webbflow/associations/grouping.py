"""Grouping exposures that share attributes into associations.

A rule says which exposures may belong to its associations (a boolean mask)
and which attributes the members of one association must share (`Same`).
The official generator builds associations one exposure at a time: the first
exposure fixes each shared attribute and later ones join every association
whose fixed values they match.  With every exposure carrying every attribute
that is a plain group-by on the shared attributes, which is what is done here
(column by column: each attribute is factorised and the codes combined).

Two things break the plain group-by and are handled exactly, exposure by
exposure, in the (rare) blocks where they occur:

* optional attributes (``required=False``): an exposure without the value
  fits any association; and a member may be exempt from an attribute
  (backgrounds are not held to the science target).  Such exposures join
  every association they fit;
* a repeated file name joins no association twice.

Blocks (candidates) are independent, so every group-by includes the block.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Same", "WILDCARD", "shared_values", "form_groups", "Group", "combined_codes"]

#: Marker for "this member is not held to this attribute".
WILDCARD = None


@dataclass(frozen=True)
class Same:
    """Members of one association share this attribute.

    Attributes
    ----------
    name : str
        Attribute name as it appears in product names and descriptions
        (``opt_elem`` = filter, ``opt_elem2`` = pupil or grating ...).
    columns : tuple of str
        Pool columns; the first non-empty one is used, and every member must
        take it from the same column.
    required : bool
        If False, an exposure without a value fits any association.
    exempt : callable or None
        ``exempt(ctx, idx) -> bool array`` for block rows ``idx``: rows not held
        to this attribute (for instance backgrounds and the science target).

    Notes
    -----
    The attribute named ``target`` is TARGETID, except for exposures of a
    pure-parallel direct-image candidate (ASN_CANDIDATE exactly
    ``[('cNNNN', 'direct_image')]``), whose target is ``000``.
    """

    name: str
    columns: tuple
    required: bool = True
    exempt: Callable | None = None


@dataclass
class Group:
    """One association under construction.

    Attributes
    ----------
    blk : int
        Block (candidate) number.
    members : list of int
        Block rows of the members, in the order they joined.
    values : dict
        The shared attribute values (``None`` if no member had one).
    first_pass : int or None
        How many of ``members`` joined while the exposures were first gone
        through (the others when they were offered again); None: all.
    """

    blk: int
    members: list
    values: dict
    first_pass: int | None = None


def shared_values(ctx, idx, keys):
    """The shared-attribute values of block rows ``idx``.

    Parameters
    ----------
    ctx : webbflow.associations.context.Context
    idx : numpy.ndarray of int
        Block rows.
    keys : sequence of Same

    Returns
    -------
    values : dict of str to numpy.ndarray
        One object array per key name; `WILDCARD` where the row is not held to it.
    ok : numpy.ndarray of bool
        False for rows lacking a required attribute (they cannot be members).
    """
    rows = ctx.block_rows[idx]
    ok = np.ones(len(idx), dtype=bool)
    values = {}
    for key in keys:
        if key.name == "target":
            vals = _target_values(ctx, idx)
        else:
            vals = ctx.exposures.key_values(key.columns)[rows]
        present = pd.notna(vals)
        exempt = (np.asarray(key.exempt(ctx, idx), dtype=bool) if key.exempt is not None
                  else np.zeros(len(idx), dtype=bool))
        if key.required:
            ok &= present | exempt
        vals = vals.copy()
        vals[~present | exempt] = WILDCARD
        values[key.name] = vals
    return values, ok


_DIRECT_IMAGE_CANDIDATE = re.compile(r"^\[\('c\d{4}', 'direct_image'\)\]$", re.IGNORECASE)


def _target_values(ctx, idx):
    """Target of each block row: TARGETID, or ``000|<candidate>`` for a direct-image candidate."""
    targetid = ctx.exposures.key_values(("targetid",))[ctx.block_rows[idx]].copy()
    text = ctx.block_candidates[idx]
    for i, value in enumerate(text):
        if isinstance(value, str) and "direct_image" in value and _DIRECT_IMAGE_CANDIDATE.match(value):
            targetid[i] = "000|" + value
    return targetid


def form_groups(labels, blk, filenames, values, reoffer=True):
    """Group rows into associations.

    Parameters
    ----------
    labels : numpy.ndarray of int
        Block rows allowed in the rule's associations, in processing order.
    blk, filenames : numpy.ndarray
        Their block and file name.
    values : dict of str to numpy.ndarray
        Shared attributes (`WILDCARD` where a row is not held to one).
    reoffer : bool
        True if the rule offers every exposure again to every association once
        all exist (the official rules with a target constraint do), so that
        an exposure without a value joins every association it fits.

    Returns
    -------
    list of Group
        In order of creation.
    """
    if len(labels) == 0:
        return []
    keys = list(values)
    values = {k: v.copy() for k, v in values.items()}
    partial = np.zeros(len(labels), dtype=bool)
    missing = {k: pd.isna(v) for k, v in values.items()}
    gappy = [k for k in keys if missing[k].any()]
    if gappy:
        # An attribute no row of a block has is simply not constrained there.
        unset_in_block = pd.DataFrame({k: missing[k] for k in gappy}).groupby(blk).transform("all")
        for k in gappy:
            unset = unset_in_block[k].to_numpy(dtype=bool)
            values[k][unset] = _UNSET
            partial |= missing[k] & ~unset
    mixed = np.unique(blk[partial])
    plain = ~np.isin(blk, mixed)
    groups = []
    if plain.any():
        groups.extend(_groupby(labels[plain], blk[plain], filenames[plain], {k: v[plain] for k, v in values.items()}))
    for b in mixed:
        here = blk == b
        groups.extend(_sequential(int(b), labels[here], filenames[here], {k: v[here] for k, v in values.items()},
                                  reoffer))
    groups.sort(key=lambda g: (g.blk, g.members[0]))
    for group in groups:
        for key in keys:
            if group.values.get(key) is _UNSET:
                group.values[key] = None
    return groups


class _Unset:
    """Marks an attribute that no row of a block has."""

    def __repr__(self):
        return "<unset>"


_UNSET = _Unset()


def combined_codes(*columns):
    """One integer per distinct combination of the columns (vectorised factorisation)."""
    combined = np.zeros(len(columns[0]), dtype=np.int64)
    for column in columns:
        codes, uniques = pd.factorize(column, use_na_sentinel=False)
        combined = combined * (len(uniques) + 1) + codes
        combined = pd.factorize(combined)[0].astype(np.int64)
    return combined


def _groupby(labels, blk, filenames, values):
    """Plain group-by on block and keys: every row has every key."""
    keys = list(values)
    ids = combined_codes(blk, *(values[k] for k in keys))
    with_file = combined_codes(ids, filenames)
    _, first_copy = np.unique(with_file, return_index=True)
    order = np.sort(first_copy)
    order = order[np.argsort(ids[order], kind="stable")]
    bounds = np.flatnonzero(np.diff(ids[order])) + 1
    groups = []
    for chunk in np.split(order, bounds):
        first = chunk[0]
        groups.append(Group(int(blk[first]), labels[chunk].tolist(), {k: values[k][first] for k in keys}))
    return groups


def _fits(values, row_values):
    return all(v is None or values[k] is None or values[k] == v for k, v in row_values.items())


def _sequential(blk, labels, filenames, values, reoffer):
    """Exposure-by-exposure grouping for a block where some rows lack some keys."""
    keys = list(values)
    groups, files = [], []
    rows = [(int(label), filenames[i], {k: values[k][i] for k in keys}) for i, label in enumerate(labels)]

    def join(i, label, filename, row_values):
        groups[i].members.append(label)
        files[i].add(filename)
        for k, v in row_values.items():
            if v is not None and groups[i].values[k] is None:
                groups[i].values[k] = v

    for label, filename, row_values in rows:
        matched = False
        for i, group in enumerate(groups):
            if filename in files[i]:
                matched = True
            elif _fits(group.values, row_values):
                join(i, label, filename, row_values)
                matched = True
        if not matched:
            groups.append(Group(blk, [label], dict(row_values)))
            files.append({filename})
    for group in groups:
        group.first_pass = len(group.members)
    if reoffer:
        for label, filename, row_values in rows:
            for i, group in enumerate(groups):
                if filename not in files[i] and _fits(group.values, row_values):
                    join(i, label, filename, row_values)
    return groups
