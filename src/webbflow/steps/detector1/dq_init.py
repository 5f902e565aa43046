"""dq_init: initialise the pixel and group DQ arrays from the bad-pixel mask.

The mask reference file's DQ (translated to the standard bits through its
DQ_DEF table and cut to the science subarray) is OR-ed into PIXELDQ; its
DO_NOT_USE bit is also set in every group of GROUPDQ, as the official step
does. Absent PIXELDQ/GROUPDQ arrays are created zero-filled.
"""

import numpy as np

from webbflow import dqflags
from webbflow.errors import ReferenceFileError
from webbflow.steps.detector1._common import (
    COMPLETE,
    merge_params,
    open_ref,
    reference_dq,
    require_ramp,
    set_status,
    skip,
)

NAME = "dq_init"
STATUS_KEYWORD = "S_DQINIT"
REFTYPES = ("mask",)
DEFAULTS = {"skip": False}


def run(model, refs, params=None):
    """Apply the bad-pixel mask to PIXELDQ and GROUPDQ.

    Parameters
    ----------
    model : RampModel
        Modified in place.
    refs : dict
        ``{"mask": path}``.
    params : dict, optional
        Unused.

    Returns
    -------
    RampModel

    Raises
    ------
    ReferenceFileError
        When the mask is missing, unreadable or does not cover the subarray.
    """
    merge_params(DEFAULTS, params)
    require_ramp(model, NAME)
    ref = open_ref(refs, "mask", NAME)
    if ref is None:
        return skip(model, STATUS_KEYWORD, NAME, "no mask reference file (N/A)")
    mask = reference_dq(ref, model)
    if mask is None:
        raise ReferenceFileError(ref.path, "mask reference file has no DQ extension")
    if mask.ndim != 2:
        raise ReferenceFileError(ref.path, f"mask DQ has {mask.ndim} dimensions, expected 2")
    np.bitwise_or(model.pixeldq, mask, out=model.pixeldq)
    dnu = (mask & np.uint32(dqflags.DO_NOT_USE)).astype(np.uint8)
    if dnu.any():
        np.bitwise_or(model.groupdq, dnu, out=model.groupdq)
    return set_status(model, STATUS_KEYWORD, COMPLETE)
