"""Association candidates: which exposures each association is built from.

Each pool row lists the candidates its exposure belongs to in ASN_CANDIDATE,
a Python-literal list of ``(id, type)`` pairs:

* ``oNNN`` observation candidates (type ``observation``);
* ``c1NNN`` candidates defined in APT: background, mosaic, group,
  coronagraphy, ami, direct_image ...;
* a bare number is a candidate of type ``unknown``.

The generator works on every candidate in turn, on the rows whose
ASN_CANDIDATE text contains the candidate id, and finally on the whole pool
to "discover" associations no candidate defines (id ``a3001``).
"""

import ast
from dataclasses import dataclass

import numpy as np
import pandas as pd

from webbflow.associations.exptypes import EMPTY_VALUES

__all__ = ["Candidate", "DISCOVERED", "parse_candidates", "list_candidates", "candidate_blocks",
           "unreadable_candidates"]

#: The acid given to discovered associations.
DISCOVERED = "a3001"


@dataclass(frozen=True)
class Candidate:
    """One association candidate.

    Attributes
    ----------
    id : str
        The candidate id (``o001``, ``c1000``, ``a3001`` for discovery).
    type : str
        Its type (``observation``, ``background``, ``mosaic`` ..., ``discovered``).
    ruleset : str
        ``candidate`` or ``discover``: the prefix of the ``asn_rule`` names.
    """

    id: str
    type: str
    ruleset: str = "candidate"


def parse_candidates(value):
    """The ``(id, type)`` pairs of one ASN_CANDIDATE value.

    Parameters
    ----------
    value : str
        The lower-cased pool value, e.g. ``"[('o001', 'observation')]"``.

    Returns
    -------
    list of (str, str)
        The pairs in order; an integer gives ``(str(n), "unknown")``; text that
        is not a literal list (``null``) gives no pairs.  A malformed pair ends
        the list, as in the official reader.
    """
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return []
    if isinstance(parsed, int) and not isinstance(parsed, bool):
        return [(str(parsed), "unknown")]
    if isinstance(parsed, str) or not hasattr(parsed, "__iter__"):
        return []
    pairs = []
    for entry in parsed:
        try:
            cid, ctype = entry
        except (ValueError, TypeError):
            break
        pairs.append((str(cid), str(ctype)))
    return pairs


def unreadable_candidates(pool):
    """Rows whose ASN_CANDIDATE is set but is not a list of (id, type) pairs.

    Such exposures belong to no candidate (only to discovered associations).

    Returns
    -------
    list of int
        Pool row positions.
    """
    if "asn_candidate" not in pool.columns:
        return []
    bad = []
    for value in pd.unique(pool["asn_candidate"]):
        if str(value) in EMPTY_VALUES or parse_candidates(value):
            continue
        if str(value).strip() in ("[]", "()"):
            continue
        bad.append(value)
    return [] if not bad else list(pool.index[pool["asn_candidate"].isin(bad)])


def list_candidates(pool):
    """Every candidate of a pool, in the order the official generator works through them.

    Candidates are grouped by type in order of the first appearance of the
    type, and within a type in order of first appearance.

    Parameters
    ----------
    pool : pandas.DataFrame
        The pool.

    Returns
    -------
    list of Candidate
    """
    if "asn_candidate" not in pool.columns:
        return []
    by_type = {}
    for value in pd.unique(pool["asn_candidate"]):
        for cid, ctype in parse_candidates(value):
            by_type.setdefault(ctype, {}).setdefault(cid, None)
    return [Candidate(cid, ctype) for ctype, ids in by_type.items() for cid in ids]


def candidate_blocks(pool, candidates):
    """The pool rows of every candidate, stacked, plus the whole pool for discovery.

    Parameters
    ----------
    pool : pandas.DataFrame
        The pool.
    candidates : list of Candidate
        From `list_candidates`.

    Returns
    -------
    blocks : pandas.DataFrame
        Columns ``row`` (pool row position), ``blk`` (block number: the
        candidate's position, the last one being discovery) and
        ``asn_candidate`` (the value the rules see: ``[('id', 'type')]`` for a
        candidate, the pool value in discovery).
    all_candidates : list of Candidate
        ``candidates`` plus the discovery pseudo-candidate.
    """
    raw = pool["asn_candidate"] if "asn_candidate" in pool.columns else pd.Series(["null"] * len(pool))
    raw = raw.astype(object).to_numpy()
    inverse, unique = pd.factorize(raw.astype(str))
    unique = [str(text) for text in unique]
    rows, blks, values = [], [], []
    for number, cand in enumerate(candidates):
        # As officially: every row whose ASN_CANDIDATE text contains the candidate id.
        contains = np.fromiter((cand.id in text for text in unique), dtype=bool, count=len(unique))
        hit = np.flatnonzero(contains[inverse])
        rows.append(hit)
        blks.append(np.full(len(hit), number))
        values.append(np.full(len(hit), f"[('{cand.id}', '{cand.type}')]", dtype=object))
    discovery = Candidate(DISCOVERED, "discovered", "discover")
    rows.append(np.arange(len(pool)))
    blks.append(np.full(len(pool), len(candidates)))
    values.append(raw)
    frame = pd.DataFrame({
        "row": np.concatenate(rows).astype(int),
        "blk": np.concatenate(blks).astype(int),
        "asn_candidate": pd.Series(np.concatenate(values), dtype=object),
    })
    return frame, [*candidates, discovery]
