"""firstframe (MIRI): flag the first group of each integration DO_NOT_USE.

The first group of MIRI ramps is affected by reset transients. With more
than 3 groups, group 1 is flagged DO_NOT_USE in every integration; with
``bright_use_group1`` (the default) it is kept for pixels whose third
group is saturated, which are flagged FLUX_ESTIMATED instead. The official
pipeline has deprecated this step in favour of rscd and skips it by
default; so does this one.
"""

import numpy as np

from webbflow import dqflags
from webbflow.steps.detector1._common import COMPLETE, is_miri, merge_params, require_ramp, set_status, skip

NAME = "firstframe"
STATUS_KEYWORD = "S_FRSTFR"
REFTYPES = ()
DEFAULTS = {"skip": True, "bright_use_group1": True}


def run(model, refs=None, params=None):
    """Flag the first group.

    Parameters
    ----------
    model : RampModel
        GROUPDQ (and PIXELDQ) modified in place.
    refs : dict, optional
        Unused.
    params : dict, optional
        ``bright_use_group1`` (True).

    Returns
    -------
    RampModel
    """
    p = merge_params(DEFAULTS, params)
    require_ramp(model, NAME)
    if not is_miri(model):
        return skip(model, STATUS_KEYWORD, NAME, "only for MIRI data")
    ngroups = model.data.shape[1]
    if ngroups <= 3:
        return skip(model, STATUS_KEYWORD, NAME, f"only {ngroups} groups")
    dnu = np.uint8(dqflags.DO_NOT_USE)
    if p["bright_use_group1"]:
        bright = (model.groupdq[:, 2] & np.uint8(dqflags.SATURATED)) != 0
        first = model.groupdq[:, 0]
        first[~bright] |= dnu
        model.pixeldq[bright.any(axis=0)] |= np.uint32(dqflags.PIXEL["FLUX_ESTIMATED"])
    else:
        model.groupdq[:, 0] |= dnu
    return set_status(model, STATUS_KEYWORD, COMPLETE)
