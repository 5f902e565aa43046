"""charge_migration: flag groups affected by charge migrating out of bright pixels.

In NIR detectors, charge spills from pixels with high signal into their
neighbours, so a ramp stops being linear before it saturates. Once a group
of a pixel exceeds ``signal_threshold`` DN (groups flagged only DO_NOT_USE
are not considered), that group and every later group of the integration
are flagged CHARGELOSS and DO_NOT_USE, in the pixel and in its four nearest
neighbours (up, down, left, right). Exposures with fewer than 3 groups are
skipped. The official pipeline skips this step by default.
"""

import numpy as np

from webbflow import dqflags
from webbflow.steps.detector1._common import COMPLETE, merge_params, require_ramp, set_status, skip

NAME = "charge_migration"
STATUS_KEYWORD = "S_CHGMIG"
REFTYPES = ()
DEFAULTS = {"skip": True, "signal_threshold": 25000.0}

_FLAG = np.uint8(dqflags.CHARGELOSS | dqflags.DO_NOT_USE)
_DNU = np.uint8(dqflags.DO_NOT_USE)


def run(model, refs=None, params=None):
    """Flag charge-migration groups.

    Parameters
    ----------
    model : RampModel
        GROUPDQ is modified in place.
    refs : dict, optional
        Unused (no reference file).
    params : dict, optional
        ``signal_threshold`` (DN, 25000).

    Returns
    -------
    RampModel
    """
    p = merge_params(DEFAULTS, params)
    require_ramp(model, NAME)
    nints, ngroups = model.data.shape[:2]
    if ngroups < 3:
        return skip(model, STATUS_KEYWORD, NAME, f"only {ngroups} groups per integration")
    threshold = np.float32(p["signal_threshold"])
    for i in range(nints):
        data, gdq = model.data[i], model.groupdq[i]
        onset = np.zeros(data.shape[-2:], dtype=bool)
        for g in range(ngroups):
            onset |= (data[g] > threshold) & (gdq[g] != _DNU)
            if not onset.any():
                continue
            hit = onset.copy()
            hit[1:, :] |= onset[:-1, :]
            hit[:-1, :] |= onset[1:, :]
            hit[:, 1:] |= onset[:, :-1]
            hit[:, :-1] |= onset[:, 1:]
            gdq[g][hit] |= _FLAG
    return set_status(model, STATUS_KEYWORD, COMPLETE)
