"""reset (MIRI): subtract the reset-anomaly ramp.

After a reset, MIRI pixels relax in a way that adds a signal decaying over
the first groups. The reset reference file holds it per integration and
group (SCI (nints, ngroups, ny, nx)); science integration i has reset
integration i subtracted group by group (the last reset integration for
later ones), over the groups both have. NaNs are treated as zero. The
reset DQ is OR-ed into PIXELDQ. Segmented exposures (INTSTART > 1) are
matched by their absolute integration number.
"""

import numpy as np

from webbflow.steps.detector1._common import (
    COMPLETE,
    cutout,
    is_miri,
    merge_params,
    open_ref,
    reference_dq,
    require_array,
    require_ramp,
    set_status,
    skip,
)

NAME = "reset"
STATUS_KEYWORD = "S_RESET"
REFTYPES = ("reset",)
DEFAULTS = {"skip": False}


def run(model, refs, params=None):
    """Subtract the reset anomaly.

    Parameters
    ----------
    model : RampModel
        Modified in place.
    refs : dict
        ``{"reset": path}``.
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
    ref = open_ref(refs, "reset", NAME)
    if ref is None:
        return skip(model, STATUS_KEYWORD, NAME, "no reset reference file (N/A)")
    require_array(ref, "sci", (3, 4))
    reset = cutout(ref, "sci", model)
    if reset.ndim == 3:
        reset = reset[np.newaxis]
    reset_nints, reset_ngroups = reset.shape[:2]
    dq = reference_dq(ref, model)
    if dq is not None:
        while dq.ndim > 2:
            dq = np.bitwise_or.reduce(dq, axis=0)
        np.bitwise_or(model.pixeldq, dq, out=model.pixeldq)
    nints, ngroups = model.data.shape[:2]
    first = int(model.meta.get("INTSTART", 1) or 1) - 1
    for i in range(nints):
        k = min(first + i, reset_nints - 1)
        for g in range(min(ngroups, reset_ngroups)):
            plane = np.nan_to_num(reset[k, g], nan=0.0).astype(np.float32, copy=False)
            np.subtract(model.data[i, g], plane, out=model.data[i, g])
    return set_status(model, STATUS_KEYWORD, COMPLETE)
