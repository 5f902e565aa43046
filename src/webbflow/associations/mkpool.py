"""Making a pool from exposure FITS headers (as the official ``mkpool``).

Every primary-header keyword becomes a column (lower case); the columns a
pool has but headers do not are added:

* ``asn_candidate``: the observation candidate ``('oNNN', 'observation')``
  from OBSERVTN, plus any candidates given;
* ``targetid``: 1, 2, ... in order of first appearance of each TARGNAME;
* ``pntgtype`` (``science``), ``is_imprt`` (``f``), ``dms_note`` (empty),
  ``mostilno`` and ``dithptin`` (``1``).

Boolean header values are written ``t``/``f`` as in the archive's pools.
"""

import ast
from pathlib import Path

import pandas as pd

from webbflow.errors import InputError

__all__ = ["mkpool", "write_pool"]

_IGNORED = {"", "COMMENT", "HISTORY"}


def _header(path):
    from astropy.io import fits

    try:
        return fits.getheader(path, 0)
    except (OSError, ValueError) as err:
        raise InputError(path, f"cannot read the FITS header: {err}") from None


def _text(value):
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value).strip()
    return text if text else "null"


def _candidates(extra):
    if extra is None:
        return []
    if isinstance(extra, str):
        try:
            extra = ast.literal_eval(extra)
        except (ValueError, SyntaxError):
            raise InputError(None, f"cannot read the candidate list {extra!r}: expected e.g. "
                                   "\"[('c1000', 'background')]\"") from None
    pairs = []
    for entry in extra:
        try:
            cid, ctype = entry
        except (TypeError, ValueError):
            raise InputError(None, f"candidate {entry!r} is not an (id, type) pair") from None
        pairs.append((str(cid), str(ctype)))
    return pairs


def mkpool(paths, asn_candidate=None, dms_note="", is_imprt="f", pntgtype="science"):
    """A pool from the primary headers of exposure files.

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        The exposures (``*_uncal.fits`` usually).
    asn_candidate : list of (str, str) or str or None
        Candidates added to every exposure, e.g. ``[('c1000', 'background')]``.
    dms_note, is_imprt, pntgtype : str
        Values of these columns for every exposure.

    Returns
    -------
    pandas.DataFrame
        One row per exposure, columns sorted by name, missing values ``null``.

    Raises
    ------
    webbflow.errors.InputError
        If a file is unreadable or lacks OBSERVTN.
    """
    extra = _candidates(asn_candidate)
    records, targets = [], {}
    for path in paths:
        header = _header(path)
        record = {key.lower(): _text(value) for key, value in header.items() if key not in _IGNORED}
        if "observtn" not in record or record["observtn"] == "null":
            raise InputError(path, "no OBSERVTN keyword: cannot name the observation candidate")
        record.setdefault("filename", Path(path).name)
        targname = record.get("targname", "null")
        targets.setdefault(targname, len(targets) + 1)
        observation = f"{int(record['observtn']):03d}" if record["observtn"].isdigit() else record["observtn"]
        record.update({
            "asn_candidate": str([(f"o{observation}", "observation"), *extra]),
            "dms_note": dms_note or "null", "is_imprt": is_imprt or "null", "pntgtype": pntgtype or "null",
            "targetid": str(targets[targname]), "mostilno": "1", "dithptin": "1",
        })
        records.append(record)
    if not records:
        raise InputError(None, "no exposures given")
    frame = pd.DataFrame(records, dtype=object).fillna("null")
    return frame[sorted(frame.columns)]


def write_pool(pool, path, delimiter="|"):
    """Write a pool as ``|``-separated text, atomically.

    Parameters
    ----------
    pool : pandas.DataFrame
    path : str or os.PathLike
    delimiter : str
    """
    from webbflow.associations.writer import _atomic_write

    bad = [c for c in pool.columns for v in pool[c] if delimiter in str(v)]
    if bad:
        raise InputError(path, f"a value of column {bad[0].upper()} contains the delimiter {delimiter!r}")
    lines = [delimiter.join(pool.columns)]
    lines += [delimiter.join(str(v) for v in row) for row in pool.itertuples(index=False, name=None)]
    _atomic_write(Path(path), "\n".join(lines) + "\n")
    return Path(path)
