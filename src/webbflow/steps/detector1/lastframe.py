"""lastframe (MIRI): flag the last group of each integration DO_NOT_USE.

The last group of MIRI ramps is affected by the reset of the next
integration. With more than 2 groups, it is flagged DO_NOT_USE.
"""

import numpy as np

from webbflow import dqflags
from webbflow.steps.detector1._common import COMPLETE, is_miri, merge_params, require_ramp, set_status, skip

NAME = "lastframe"
STATUS_KEYWORD = "S_LASTFR"
REFTYPES = ()
DEFAULTS = {"skip": False}


def run(model, refs=None, params=None):
    """Flag the last group.

    Parameters
    ----------
    model : RampModel
        GROUPDQ modified in place.
    refs : dict, optional
        Unused.
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
    ngroups = model.data.shape[1]
    if ngroups <= 2:
        return skip(model, STATUS_KEYWORD, NAME, f"only {ngroups} groups")
    model.groupdq[:, -1] |= np.uint8(dqflags.DO_NOT_USE)
    return set_status(model, STATUS_KEYWORD, COMPLETE)
