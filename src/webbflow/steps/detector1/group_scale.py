"""group_scale: undo on-board frame averaging by a divisor other than NFRAMES.

When the number of frames averaged on board (NFRAMES) is not a power of
two, the flight software still divides by a power of two (FRMDIVSR). All
groups are rescaled by FRMDIVSR/NFRAMES. Nothing is done when FRMDIVSR is
absent or equal to NFRAMES.
"""

import numpy as np

from webbflow.steps.detector1._common import COMPLETE, merge_params, require_ramp, set_status, skip

NAME = "group_scale"
STATUS_KEYWORD = "S_GRPSCL"
REFTYPES = ()
DEFAULTS = {"skip": False}


def run(model, refs=None, params=None):
    """Rescale all groups by FRMDIVSR/NFRAMES.

    Parameters
    ----------
    model : RampModel
        Modified in place.
    refs : dict, optional
        Unused (no reference file).
    params : dict, optional
        Unused.

    Returns
    -------
    RampModel
    """
    merge_params(DEFAULTS, params)
    require_ramp(model, NAME)
    nframes = model.meta.get("NFRAMES")
    divisor = model.meta.get("FRMDIVSR")
    if nframes is None:
        return skip(model, STATUS_KEYWORD, NAME, "NFRAMES not found")
    nframes = int(nframes)
    if divisor is None:
        if nframes & (nframes - 1) == 0:
            return skip(model, STATUS_KEYWORD, NAME, f"NFRAMES={nframes} is a power of 2")
        return skip(model, STATUS_KEYWORD, NAME, "FRMDIVSR not found")
    divisor = int(divisor)
    if divisor == nframes:
        return skip(model, STATUS_KEYWORD, NAME, "NFRAMES equals FRMDIVSR")
    np.multiply(model.data, np.float32(divisor / nframes), out=model.data)
    return set_status(model, STATUS_KEYWORD, COMPLETE)
