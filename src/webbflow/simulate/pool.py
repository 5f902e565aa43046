"""The association pool of the simulated program, in the official SDP format.

A pool is a ``|``-delimited ASCII table: one header line with the column
names, one row per exposure (per detector). Empty values are written as
``NULL`` and flags as ``T``/``F``, as in the pools the archive produces.
``ASN_CANDIDATE`` is a Python-literal list of ``(id, type)`` pairs; every
exposure here belongs to its observation candidate, e.g.
``[('o001', 'OBSERVATION')]``, followed by the exposure's own APT candidates
(``Exposure.candidates``, e.g. ``('c1000', 'BACKGROUND')`` on a science and a
background observation, which makes image2 associations with background
members).
"""

import os
import tempfile

from webbflow.atomic import publish
from webbflow.simulate.program import PROGRAM

__all__ = ["POOL_COLUMNS", "pool_name", "pool_rows", "write_pool"]

POOL_COLUMNS = (
    "FILENAME", "OBS_ID", "PROGRAM", "OBS_NUM", "VISIT", "VISIT_ID", "VISITGRP", "VISITYPE", "SEQ_ID", "ACT_ID",
    "EXPOSURE", "EXP_TYPE", "NEXPOSUR", "EXPCOUNT", "INSTRUME", "DETECTOR", "CHANNEL", "TARGETID", "TARGPROP",
    "TARGNAME", "TARGTYPE", "TEMPLATE", "PNTGTYPE", "PNTG_SEQ", "TARGORDN", "EXPSPCIN", "DITHPTIN", "MOSTILNO",
    "MODULE", "FILTER", "PUPIL", "DITHERID", "PATTTYPE", "PATTSTRT", "NUMDTHPT", "PATTSIZE", "SUBPXPTS",
    "PATT_NUM", "SUBPIXEL", "APERNAME", "SDP_VER", "SUBARRAY", "GRATING", "FXD_SLIT", "BAND", "GWA_XTIL",
    "GWA_YTIL", "ASN_CANDIDATE", "EXPOSERR", "IS_PSF", "IS_IMPRT", "BKGDTARG", "TSOVISIT", "MSASTATE",
    "MSAMETFL", "OPMODE", "LAMP", "SPEC_NUM", "SPAT_NUM", "DMS_NOTE", "EXSEGTOT", "NINTS", "NGROUPS", "MTSHADOW",
)

_NULL = "NULL"
_POOL_DATE = "20240316t000000"


def pool_name(program=PROGRAM):
    """``jw<program>_<YYYYMMDD>t<HHMMSS>_pool.csv`` (a fixed date: identical files for identical input)."""
    return f"jw{program}_{_POOL_DATE}_pool.csv"


def _value(value):
    if value is None or value == "" or value == "N/A" or value == "NONE":
        return _NULL
    return str(value)


def _candidates(exp):
    pairs = [(f"o{exp.observation:03d}", "OBSERVATION")] + [tuple(c) for c in exp.candidates]
    return "[" + ", ".join(f"('{cid}', '{ctype}')" for cid, ctype in pairs) + "]"


def pool_rows(exposures):
    """One dict per exposure with every column of :data:`POOL_COLUMNS`."""
    targets = {}
    for exp in exposures:
        targets.setdefault(exp.target, len(targets) + 1)
    rows = []
    for exp in exposures:
        nircam = exp.instrument == "NIRCAM"
        row = {
            "FILENAME": exp.uncal_name,
            "OBS_ID": f"V{PROGRAM}{exp.observation:03d}{exp.visit:03d}P{exp.visit_group:07d}{exp.seq_id:1d}{exp.activity:02d}01",
            "PROGRAM": PROGRAM,
            "OBS_NUM": f"{exp.observation:03d}",
            "VISIT": f"{exp.visit:03d}",
            "VISIT_ID": f"{PROGRAM}{exp.observation:03d}{exp.visit:03d}",
            "VISITGRP": f"{exp.visit_group:02d}",
            "VISITYPE": "PRIME_TARGETED_FIXED",
            "SEQ_ID": f"{exp.seq_id:1d}",
            "ACT_ID": f"{exp.activity:02d}",
            "EXPOSURE": str(exp.exposure),
            "EXP_TYPE": exp.exp_type,
            "NEXPOSUR": str(exp.numdthpt),
            "EXPCOUNT": str(exp.exposure),
            "INSTRUME": exp.instrument,
            "DETECTOR": exp.detector,
            "CHANNEL": exp.channel if nircam else None,
            "TARGETID": str(targets[exp.target]),
            "TARGPROP": exp.target,
            "TARGNAME": exp.target,
            "TARGTYPE": "FIXED",
            "TEMPLATE": exp.template,
            "PNTGTYPE": "science",
            "PNTG_SEQ": "1",
            "TARGORDN": str(targets[exp.target]),
            "EXPSPCIN": str(exp.exposure),
            "DITHPTIN": str(exp.patt_num),
            "MOSTILNO": "1",
            "MODULE": exp.module if nircam else None,
            "FILTER": exp.filter,
            "PUPIL": exp.pupil,
            "DITHERID": str(exp.patt_num),
            "PATTTYPE": exp.patttype,
            "PATTSTRT": "1",
            "NUMDTHPT": str(exp.numdthpt),
            "PATTSIZE": "SMALL" if exp.numdthpt > 1 else None,
            "SUBPXPTS": "1",
            "PATT_NUM": str(exp.patt_num),
            "SUBPIXEL": None,
            "APERNAME": exp.aperture,
            "SDP_VER": "2024_1",
            "SUBARRAY": exp.subarray,
            "GRATING": exp.grating,
            "FXD_SLIT": exp.fxd_slit,
            "BAND": None,
            "GWA_XTIL": "0.3" if exp.instrument == "NIRSPEC" else None,
            "GWA_YTIL": "0.1" if exp.instrument == "NIRSPEC" else None,
            "ASN_CANDIDATE": _candidates(exp),
            "EXPOSERR": None,
            "IS_PSF": "F",
            "IS_IMPRT": "F",
            "BKGDTARG": "T" if exp.bkgdtarg else "F",
            "TSOVISIT": "F",
            "MSASTATE": "PRIMARYPARK_ALLCLOSED" if exp.instrument == "NIRSPEC" else None,
            "MSAMETFL": None,
            "OPMODE": "FIXEDSLIT" if exp.instrument == "NIRSPEC" else None,
            "LAMP": "NONE" if exp.instrument == "NIRSPEC" else None,
            "SPEC_NUM": None,
            "SPAT_NUM": None,
            "DMS_NOTE": None,
            "EXSEGTOT": "1",
            "NINTS": str(exp.nints),
            "NGROUPS": str(exp.ngroups),
            "MTSHADOW": None,
        }
        rows.append({key: _value(row[key]) for key in POOL_COLUMNS})
    return rows


def write_pool(path, exposures):
    """Write the pool CSV.

    Parameters
    ----------
    path : str or os.PathLike
        Usually ``<outdir>/pool/`` + :func:`pool_name`.
    exposures : list of Exposure

    Returns
    -------
    str
        The path written.
    """
    path = os.fspath(path)
    lines = ["|".join(POOL_COLUMNS)]
    for row in pool_rows(exposures):
        lines.append("|".join(row[key] for key in POOL_COLUMNS))
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write("\n".join(lines) + "\n")
        publish(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
