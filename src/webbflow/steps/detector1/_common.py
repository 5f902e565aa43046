"""Helpers shared by the detector1 steps: parameters, status, reference files, geometry.

Status convention
-----------------
A step that decides by itself not to act (too few groups, a keyword that
makes the correction unnecessary, a reference file given as ``"N/A"`` ...)
writes ``SKIPPED`` into its own S_* keyword; a step that acted writes
``COMPLETE``. The pipeline layer keeps a value a step has written.
"""

import logging

import numpy as np

from webbflow import dqflags
from webbflow.errors import InputError, ReferenceFileError
from webbflow.refs import open_reference

log = logging.getLogger("webbflow.steps.detector1")

COMPLETE = "COMPLETE"
SKIPPED = "SKIPPED"
FAILED = "FAILED"

# Full-frame sizes (rows, columns) in the science (DMS) orientation.
NIR_FULL_SHAPE = (2048, 2048)
MIRI_FULL_SHAPE = (1024, 1032)


def merge_params(defaults, params):
    """``defaults`` updated by ``params`` (which may be None or partial)."""
    merged = dict(defaults)
    if params:
        merged.update(params)
    return merged


def set_status(model, keyword, value):
    """Record a step's outcome (COMPLETE, SKIPPED, FAILED) in the primary header."""
    model.meta[keyword] = value
    return model


def skip(model, keyword, name, reason):
    """Log why a step does nothing and mark it SKIPPED.

    Returns
    -------
    model
        The unchanged model, so that ``return skip(...)`` reads naturally.
    """
    log.info("%s skipped: %s", name, reason)
    return set_status(model, keyword, SKIPPED)


def is_not_applicable(path):
    """True when CRDS says no reference file applies (``"N/A"``)."""
    return isinstance(path, str) and path.strip().upper() == "N/A"


def reference_path(refs, reftype, name):
    """The path of reference ``reftype`` from ``refs``, or None for ``"N/A"``.

    Raises
    ------
    ReferenceFileError
        When ``refs`` has no entry for ``reftype``.
    """
    path = (refs or {}).get(reftype)
    if path is None or (isinstance(path, str) and not path.strip()):
        raise ReferenceFileError(None, f"step {name} needs a {reftype} reference file and none was given")
    if is_not_applicable(path):
        return None
    return path


def open_ref(refs, reftype, name):
    """Open reference ``reftype`` (None when it is ``"N/A"``)."""
    path = reference_path(refs, reftype, name)
    if path is None:
        return None
    ref = open_reference(path)
    declared = ref.reftype
    if declared and declared != reftype:
        raise ReferenceFileError(ref.path, f"is a {declared!r} reference file; step {name} needs {reftype!r}")
    return ref


def require_array(ref, extname, ndims):
    """Check that ``ref`` has extension ``extname`` with one of ``ndims`` dimensions."""
    array = ref.array(extname)
    if array.ndim not in ndims:
        raise ReferenceFileError(
            ref.path,
            f"{extname.upper()} has {array.ndim} dimensions; a {ref.reftype or 'reference'} file needs "
            + " or ".join(str(n) for n in ndims),
        )
    return array


def cutout(ref, extname, model):
    """Extension ``extname`` of ``ref`` cut to the science subarray, checked for shape."""
    array = ref.cutout(extname, model.meta)
    if array.ndim >= 2 and array.shape[-2:] != model.data.shape[-2:]:
        raise ReferenceFileError(
            ref.path,
            f"{extname.upper()} cut to the science subarray has shape {array.shape[-2:]}, "
            f"the science data {model.data.shape[-2:]}",
        )
    return array


def translate_dq(dq, dq_def):
    """Map reference-file DQ bits to the standard flags through a DQ_DEF table.

    Reference files define their own bits in DQ_DEF (BIT, VALUE, NAME,
    DESCRIPTION); the name decides which standard flag a bit means. Bits
    not described in DQ_DEF are dropped, names that are not standard flags
    are ignored, as the official readers do. Without a DQ_DEF table the
    array is returned as it is.

    Parameters
    ----------
    dq : numpy.ndarray
        The reference DQ array (integer).
    dq_def : numpy structured array or None
        The DQ_DEF table.

    Returns
    -------
    numpy.ndarray
        uint32 DQ in the standard bit meanings (a new array).
    """
    dq = np.asarray(dq)
    if dq_def is None or len(dq_def) == 0 or "VALUE" not in (dq_def.dtype.names or ()):
        return dq.astype(np.uint32, copy=True)
    pairs = []
    for row in dq_def:
        name = row["NAME"]
        name = (name.decode() if isinstance(name, bytes) else str(name)).strip().upper()
        standard = dqflags.PIXEL.get(name)
        if standard is None:
            log.warning("DQ_DEF name %r is not a JWST DQ flag; that bit is ignored", name)
            continue
        pairs.append((int(row["VALUE"]), int(standard)))
    if all(value == standard for value, standard in pairs):
        keep = 0
        for value, _ in pairs:
            keep |= value
        return (dq.astype(np.uint32) & np.uint32(keep)).astype(np.uint32)
    out = np.zeros(dq.shape, dtype=np.uint32)
    source = dq.astype(np.uint32)
    for value, standard in pairs:
        out[(source & np.uint32(value)) != 0] |= np.uint32(standard)
    return out


def table_column(ref, table, column):
    """Column ``column`` of table extension ``table``, with FITS TZERO/TSCAL applied.

    Unsigned columns (DQ_DEF VALUE is uint32) are stored as signed integers
    with TZERO; when the table was read without that scaling (a signed
    integer column whose header has TZEROn), it is applied here.
    """
    data = ref.tables.get(table.lower())
    if data is None:
        return None
    names = list(data.dtype.names or ())
    upper = [name.upper() for name in names]
    if column.upper() not in upper:
        return None
    index = upper.index(column.upper())
    values = np.asarray(data[names[index]])
    header = ref.headers.get(table.lower())
    if header is not None and values.dtype.kind == "i":
        zero = header.get(f"TZERO{index + 1}", 0)
        scale = header.get(f"TSCAL{index + 1}", 1)
        if zero or scale != 1:
            values = values.astype(np.int64) * int(scale) + int(zero)
    return values


def reference_dq(ref, model, extname="dq"):
    """The reference DQ cut to the science subarray, in the standard bits.

    Returns None when the reference file has no DQ extension.
    """
    if not ref.has(extname) or extname.lower() not in ref.arrays:
        return None
    dq_def = ref.tables.get("dq_def")
    if dq_def is not None and len(dq_def) and "VALUE" in [n.upper() for n in dq_def.dtype.names or ()]:
        values = table_column(ref, "dq_def", "VALUE")
        names = table_column(ref, "dq_def", "NAME")
        if names is None:
            raise ReferenceFileError(ref.path, "DQ_DEF table has no NAME column")
        dq_def = np.zeros(len(values), dtype=[("VALUE", np.int64), ("NAME", "U40")])
        dq_def["VALUE"] = values
        dq_def["NAME"] = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    return translate_dq(cutout(ref, extname, model), dq_def)


def instrument(model):
    """INSTRUME, upper case."""
    return str(model.meta.get("INSTRUME", "")).strip().upper()


def is_miri(model):
    """True for MIRI exposures (detector names MIR*)."""
    detector = str(model.meta.get("DETECTOR", "")).strip().upper()
    return instrument(model) == "MIRI" or detector.startswith("MIR")


def full_shape(model):
    """Full-frame (rows, columns) of the model's detector in DMS orientation."""
    return MIRI_FULL_SHAPE if is_miri(model) else NIR_FULL_SHAPE


def subarray_window(model):
    """(row0, col0, nrows, ncols) of the data, 0-based in the full frame (DMS)."""
    ny, nx = model.data.shape[-2:]
    col0 = int(model.meta.get("SUBSTRT1", 1)) - 1
    row0 = int(model.meta.get("SUBSTRT2", 1)) - 1
    return row0, col0, ny, nx


def is_subarray(model):
    """True when the data are smaller than the detector's full frame."""
    fy, fx = full_shape(model)
    ny, nx = model.data.shape[-2:]
    return ny < fy or nx < fx


def require_ramp(model, name):
    """Check that ``model`` holds 4-D ramp data with group/pixel DQ."""
    data = getattr(model, "data", None)
    if data is None or data.ndim != 4:
        shape = None if data is None else data.shape
        raise InputError(getattr(model, "path", None), f"step {name} needs 4-D ramp data, got shape {shape}")
    nints, ngroups, ny, nx = data.shape
    if getattr(model, "groupdq", None) is None:
        model.groupdq = np.zeros(data.shape, dtype=np.uint8)
    if getattr(model, "pixeldq", None) is None:
        model.pixeldq = np.zeros((ny, nx), dtype=np.uint32)
    if data.dtype != np.float32:
        model.data = data.astype(np.float32)
    return model


def read_pattern_mean(group, nframes):
    """Mean 1-based frame number of ``group`` (0-based) as the official read pattern has it.

    The official read pattern numbers the frames of group g as
    ``g*nframes + 1 ... g*nframes + nframes`` (the group gap is not counted).
    """
    return group * nframes + (nframes + 1) / 2.0


def read_pattern_last(group, nframes):
    """Last 1-based frame number of ``group`` in the official read pattern."""
    return group * nframes + nframes


# -- detector orientation -------------------------------------------------------

def _sign(value):
    return -1 if int(value) < 0 else 1


def to_detector(array, fastaxis, slowaxis):
    """A view of ``array`` (last two axes in DMS orientation) in the detector frame.

    In the detector frame the fast-read direction runs along the last axis
    and the amplifiers are side by side along it.

    Parameters
    ----------
    array : numpy.ndarray
        At least 2-D.
    fastaxis, slowaxis : int
        FASTAXIS and SLOWAXIS (+-1 or +-2).

    Returns
    -------
    numpy.ndarray
        A view (writes go to ``array``).
    """
    if abs(int(fastaxis)) == 1:
        return array[..., :: _sign(slowaxis), :: _sign(fastaxis)]
    return np.swapaxes(array[..., :: _sign(fastaxis), :: _sign(slowaxis)], -2, -1)


def detector_window(model, full=None):
    """Where the data lie in the full frame, in the detector frame.

    Returns
    -------
    row0, col0 : int
        0-based position in the full detector-frame array of element [0, 0]
        of ``to_detector(data)``.
    full_rows, full_cols : int
        Full-frame shape in the detector frame.
    """
    fy, fx = full if full is not None else full_shape(model)
    r0, c0, ny, nx = subarray_window(model)
    fast = int(model.meta.get("FASTAXIS", 1))
    slow = int(model.meta.get("SLOWAXIS", 2))
    if abs(fast) == 1:
        rows = (r0 if slow > 0 else fy - (r0 + ny))
        cols = (c0 if fast > 0 else fx - (c0 + nx))
        return rows, cols, fy, fx
    # flip rows by FASTAXIS, columns by SLOWAXIS, then transpose
    rows_dms = r0 if fast > 0 else fy - (r0 + ny)
    cols_dms = c0 if slow > 0 else fx - (c0 + nx)
    return cols_dms, rows_dms, fx, fy
