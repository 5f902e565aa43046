"""rscd (MIRI): flag the first groups affected by the reset switch charge decay.

The RSCD reference table (RSCD_GROUP_SKIP: SUBARRAY, READPATT,
GROUP_SKIP1, GROUP_SKIP) gives, for the exposure's subarray and readout
pattern, how many initial groups to flag DO_NOT_USE in the first
integration (GROUP_SKIP1) and in later ones (GROUP_SKIP). As in the
official step:

* exposures with fewer than 3 groups are skipped; with 5 groups or fewer,
  one group is flagged; the count is lowered so that at least 3 groups
  remain;
* a pixel that saturates early keeps at least two unsaturated groups
  after the flagged ones (its count is lowered, and it is flagged
  FLUX_ESTIMATED in PIXELDQ), unless its first group is already saturated;
* the numbers used are written to INT1SKIP and INT2SKIP (and the numbers
  of pixels kept with a lowered count to INT1BORS/INT2BORS, of pixels
  left with no flagged group to INT1UGP1/INT2UGP1).

A subarray/readout combination missing from the table skips the step.
"""

import numpy as np

from webbflow import dqflags
from webbflow.errors import ReferenceFileError
from webbflow.steps.detector1._common import (
    COMPLETE,
    is_miri,
    log,
    merge_params,
    open_ref,
    require_ramp,
    set_status,
    skip,
)

NAME = "rscd"
STATUS_KEYWORD = "S_RSCD"
REFTYPES = ("rscd",)
DEFAULTS = {"skip": False}

TABLE = "rscd_group_skip"


def _text(value):
    return (value.decode() if isinstance(value, bytes) else str(value)).strip().upper()


def group_skips(table, subarray, readpatt):
    """(skip for integration 1, skip for later integrations) from the table, or None."""
    if subarray == "SUBPRISM":
        subarray = "SLITLESSPRISM"
    names = {name.lower(): name for name in table.dtype.names}
    for row in table:
        if _text(row[names["subarray"]]) == subarray and _text(row[names["readpatt"]]) == readpatt:
            return int(row[names["group_skip1"]]), int(row[names["group_skip"]])
    return None


def flag_initial_groups(groupdq, pixeldq, skip_groups):
    """Flag the first ``skip_groups`` groups DO_NOT_USE, backing off for early saturation.

    Parameters
    ----------
    groupdq : ndarray, uint8 (nints, ngroups, ny, nx)
        The integrations concerned; modified in place.
    pixeldq : ndarray, uint32 (ny, nx)
        FLUX_ESTIMATED is added for pixels whose count was lowered.
    skip_groups : int

    Returns
    -------
    lowered : int
        Pixels whose count was lowered.
    none_flagged : int
        Pixels left with no flagged group in some integration.
    """
    ngroups = groupdq.shape[1]
    sat = np.uint8(dqflags.SATURATED)
    saturated = (groupdq & sat) != 0
    # index of the first saturated group (ngroups when none)
    first_sat = np.where(saturated.any(axis=1), saturated.argmax(axis=1), ngroups)
    skips = np.full(first_sat.shape, skip_groups, dtype=np.int32)
    # keep two unsaturated groups after the flagged ones, unless group 1 is saturated
    early = (first_sat >= 1) & (first_sat <= skip_groups + 1)
    skips[early] = np.maximum(np.minimum(skip_groups, first_sat[early] - 2), 0)
    lowered_pix = (skips < skip_groups).any(axis=0)
    pixeldq[lowered_pix] |= np.uint32(dqflags.PIXEL["FLUX_ESTIMATED"])
    dnu = np.uint8(dqflags.DO_NOT_USE)
    for g in range(min(skip_groups, ngroups)):
        plane = groupdq[:, g]
        plane[skips > g] |= dnu
    none_flagged = int((skips == 0).any(axis=0).sum()) if early.any() else 0
    return int(lowered_pix.sum()), none_flagged


def run(model, refs, params=None):
    """Flag the initial groups affected by RSCD.

    Parameters
    ----------
    model : RampModel
        GROUPDQ and PIXELDQ modified in place.
    refs : dict
        ``{"rscd": path}``.
    params : dict, optional
        Unused.

    Returns
    -------
    RampModel
    """
    merge_params(DEFAULTS, params)
    require_ramp(model, NAME)
    if not is_miri(model):
        return skip(model, STATUS_KEYWORD, NAME, "only for MIRI data")
    ref = open_ref(refs, "rscd", NAME)
    if ref is None:
        return skip(model, STATUS_KEYWORD, NAME, "no rscd reference file (N/A)")
    table = ref.tables.get(TABLE)
    if table is None:
        raise ReferenceFileError(ref.path, "rscd reference file has no RSCD_GROUP_SKIP table")
    missing = {"subarray", "readpatt", "group_skip1", "group_skip"} - {n.lower() for n in table.dtype.names}
    if missing:
        raise ReferenceFileError(ref.path, f"RSCD_GROUP_SKIP lacks columns {sorted(missing)}")
    subarray = _text(model.meta.get("SUBARRAY", ""))
    readpatt = _text(model.meta.get("READPATT", ""))
    found = group_skips(table, subarray, readpatt)
    if found is None:
        return skip(model, STATUS_KEYWORD, NAME, f"SUBARRAY={subarray}, READPATT={readpatt} not in {ref.path}")
    skip1, skip2 = found
    if skip1 < 0:
        skip1 = 1
    nints, ngroups = model.data.shape[:2]
    if ngroups < 3:
        return skip(model, STATUS_KEYWORD, NAME, f"only {ngroups} groups")
    if ngroups <= 5:
        skip1 = skip2 = 1
    if ngroups < skip1 + 3:
        skip1 = max(0, ngroups - 3)
    total_ints = int(model.meta.get("NINTS", nints))
    if total_ints > 1 and ngroups < skip2 + 3:
        skip2 = max(0, ngroups - 3)
    log.info("rscd: flagging %d initial groups in integration 1, %d in later ones", skip1, skip2)
    first_is_int1 = int(model.meta.get("INTSTART", 1) or 1) == 1
    later_start = 1 if first_is_int1 else 0
    if first_is_int1:
        lowered, none_flagged = flag_initial_groups(model.groupdq[:1], model.pixeldq, skip1)
        model.meta["INT1SKIP"] = skip1
        model.meta["INT1BORS"] = lowered
        model.meta["INT1UGP1"] = none_flagged
    if total_ints > 1 and later_start < nints:
        lowered, none_flagged = flag_initial_groups(model.groupdq[later_start:], model.pixeldq, skip2)
        model.meta["INT2SKIP"] = skip2
        model.meta["INT2BORS"] = lowered
        model.meta["INT2UGP1"] = none_flagged
    return set_status(model, STATUS_KEYWORD, COMPLETE)
