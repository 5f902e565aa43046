"""Reading association pools: the table of exposures the generator works from.

A pool is a ``|``-separated text table.  Lines starting with ``#`` are
comments; the first other line holds the column names.  As the official
reader does, every column name and every value is lower-cased, every value
is kept as a string and empty cells read as ``"null"``.
"""

import csv
import io
import logging
from collections import Counter
from pathlib import Path

import pandas as pd

from webbflow.associations.exptypes import EMPTY_VALUES, KNOWN_EXP_TYPES
from webbflow.errors import InputError

__all__ = ["read_pool", "pool_from_records", "normalise", "REQUIRED_COLUMNS", "RULE_COLUMNS"]

log = logging.getLogger("webbflow.associations")

#: Columns without which no association can be made.
REQUIRED_COLUMNS = ("filename", "exp_type", "program")

#: Columns the rules look at; a missing one counts as empty in every row.
RULE_COLUMNS = (
    "filename", "program", "obs_num", "obs_id", "act_id", "expspcin", "exp_type", "instrume", "detector",
    "channel", "filter", "band", "pupil", "grating", "fxd_slit", "subarray", "targetid", "pntgtype", "visitype",
    "tsovisit", "bkgdtarg", "is_psf", "is_imprt", "patttype", "numdthpt", "subpxpts", "subpxpns", "patt_num",
    "dithptin", "mostilno", "msametfl", "msastate", "opmode", "lamp", "nints", "dms_note", "exposerr",
    "asn_candidate",
)


def read_pool(path, delimiter="|", strict=False):
    """Read an association pool file.

    Parameters
    ----------
    path : str or os.PathLike
        The pool file (``|``-separated text, ``#`` comment lines).
    delimiter : str
        Column separator.
    strict : bool
        If True, a row with the wrong number of fields is an error; otherwise
        such rows are left out with a warning that lists them.

    Returns
    -------
    pandas.DataFrame
        One row per exposure, all values lower-case strings.  ``attrs`` holds
        ``pool_file`` (the path) and ``pool_name`` (its base name, written
        into every association as ``asn_pool``).

    Raises
    ------
    webbflow.errors.InputError
        If the file cannot be read, has no exposures, lacks a required column
        (``filename``, ``exp_type``, ``program``) or, with ``strict``, has a
        malformed row.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot read the pool: {err}") from None
    return _parse(text, path, delimiter, strict)


def pool_from_records(records, name="in-memory"):
    """Make a pool from a list of dicts, lower-casing names and values as the reader does.

    Parameters
    ----------
    records : list of dict
        One dict per exposure.
    name : str
        The pool name written as ``asn_pool``.

    Returns
    -------
    pandas.DataFrame
        The pool, as `read_pool` returns it.
    """
    rows = [{str(k).lower(): _clean(v) for k, v in rec.items()} for rec in records]
    frame = pd.DataFrame(rows, dtype=object).fillna("null")
    return _finish(frame, Path(name), [])


def normalise(pool):
    """A pool as the reader makes it: lower-case string values, empty cells ``null``, rows numbered 0...

    Pools from `read_pool` and `pool_from_records` are returned unchanged;
    other DataFrames are copied and normalised.

    Parameters
    ----------
    pool : pandas.DataFrame

    Returns
    -------
    pandas.DataFrame
    """
    if pool.attrs.get("normalised"):
        return pool
    frame = pool.copy()
    frame.columns = [str(c).lower() for c in frame.columns]
    for column in frame.columns:
        frame[column] = [_clean(v) if not (isinstance(v, float) and v != v) else "null" for v in frame[column]]
    frame = frame.astype(object).reset_index(drop=True)
    frame.attrs = dict(pool.attrs)
    frame.attrs["normalised"] = True
    frame.attrs.setdefault("pool_name", "in-memory")
    return frame


def _clean(value):
    text = "" if value is None else str(value).strip().lower()
    return text if text else "null"


def _split(line, delimiter):
    """The fields of one pool line, or None when csv cannot read it."""
    try:
        return next(csv.reader(io.StringIO(line), delimiter=delimiter, quotechar='"', skipinitialspace=True), [])
    except csv.Error:
        return None


def _parse(text, path, delimiter, strict):
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise InputError(path, "the pool is empty: no column names and no exposures")
    # one line is one row: a stray quote must not swallow the lines after it
    parsed = [_split(line, delimiter) for _, line in lines]
    if parsed[0] is None:
        raise InputError(path, f"the column names on line {lines[0][0]} cannot be read")
    header = [name.strip().lower() for name in parsed[0]]
    if len(set(header)) != len(header):
        dups = sorted({h for h in header if header.count(h) > 1})
        raise InputError(path, f"the pool repeats the column name(s) {', '.join(dups)}")
    good, bad = [], []
    for (lineno, _), fields in zip(lines[1:], parsed[1:], strict=True):
        if fields is None:
            bad.append(f"line {lineno} (unreadable)")
            continue
        if len(fields) != len(header):
            bad.append(f"line {lineno} ({len(fields)} fields, {len(header)} expected)")
            continue
        good.append([_clean(f) for f in fields])
    if bad:
        message = f"{len(bad)} malformed row(s): " + "; ".join(bad)
        if strict:
            raise InputError(path, message)
        log.warning("%s: %s; these rows are left out of every association", path, message)
    if not good:
        raise InputError(path, "the pool has no exposures (only column names)")
    frame = pd.DataFrame(good, columns=header, dtype=object)
    return _finish(frame, path, bad)


def _finish(frame, path, bad):
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(path, f"the pool has no {', '.join(c.upper() for c in missing)} column")
    nameless = frame["filename"].isin(EMPTY_VALUES)
    if nameless.any():
        lines = ", ".join(str(i) for i in frame.index[nameless][:20])
        log.warning("%s: %d row(s) without a FILENAME are left out (data rows %s)", path, int(nameless.sum()), lines)
        frame = frame[~nameless]
        if frame.empty:
            raise InputError(path, "no row of the pool has a FILENAME")
    frame.attrs["pool_file"] = str(path)
    frame.attrs["pool_name"] = path.name
    frame.attrs["normalised"] = True
    frame.attrs["malformed_rows"] = bad
    absent = [c for c in RULE_COLUMNS if c not in frame.columns]
    if "subpxpts" in absent and "subpxpns" not in absent:
        absent.remove("subpxpts")  # older pools name it SUBPXPNS
    if "subpxpns" in absent:
        absent.remove("subpxpns")
    if "asn_candidate" in absent:
        log.warning("%s: no ASN_CANDIDATE column: only discovered (a3NNN) associations can be made", path)
    others = [c.upper() for c in absent if c != "asn_candidate"]
    if others:
        log.warning("%s: column(s) absent, treated as empty in every row: %s", path, ", ".join(others))
    unknown = ~frame["exp_type"].isin(KNOWN_EXP_TYPES)
    if unknown.any():
        counts = Counter(zip(frame.loc[unknown, "filename"], frame.loc[unknown, "exp_type"], strict=True))
        rows = [f"{name} (EXP_TYPE {exp})" + (f" x{n}" if n > 1 else "") for (name, exp), n in counts.items()]
        log.warning("%s: %d row(s) with an EXP_TYPE unknown to JWST match no rule: %s", path, int(unknown.sum()),
                    ", ".join(rows[:20]) + (" ..." if len(rows) > 20 else ""))
    return frame.reset_index(drop=True)
