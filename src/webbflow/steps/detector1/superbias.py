"""superbias: subtract the superbias image from every group.

NaNs in the superbias are treated as zero (no correction for those pixels).
The superbias DQ is OR-ed into PIXELDQ; GROUPDQ is unchanged.
"""

import numpy as np

from webbflow.steps.detector1._common import (
    COMPLETE,
    cutout,
    merge_params,
    open_ref,
    reference_dq,
    require_array,
    require_ramp,
    set_status,
    skip,
)

NAME = "superbias"
STATUS_KEYWORD = "S_SUPERB"
REFTYPES = ("superbias",)
DEFAULTS = {"skip": False}


def run(model, refs, params=None):
    """Subtract the superbias.

    Parameters
    ----------
    model : RampModel
        Modified in place.
    refs : dict
        ``{"superbias": path}``.
    params : dict, optional
        Unused.

    Returns
    -------
    RampModel
    """
    merge_params(DEFAULTS, params)
    require_ramp(model, NAME)
    ref = open_ref(refs, "superbias", NAME)
    if ref is None:
        return skip(model, STATUS_KEYWORD, NAME, "no superbias reference file (N/A)")
    require_array(ref, "sci", (2,))
    bias = cutout(ref, "sci", model).astype(np.float32, copy=True)
    bias[np.isnan(bias)] = 0.0
    dq = reference_dq(ref, model)
    if dq is not None:
        np.bitwise_or(model.pixeldq, dq, out=model.pixeldq)
    np.subtract(model.data, bias, out=model.data)
    return set_status(model, STATUS_KEYWORD, COMPLETE)
