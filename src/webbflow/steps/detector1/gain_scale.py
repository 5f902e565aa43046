"""gain_scale: rescale count rates taken with a non-standard gain setting.

Some exposures (NIRSpec) are read with a gain different from the one the
reference files were made for; the gain reference file then carries the
ratio in its GAINFACT keyword. The rate (or rateints) SCI and ERR are
multiplied by GAINFACT, VAR_POISSON and VAR_RNOISE by its square, and
GAINFACT is recorded in the product header. A GAINFACT already in the
science header is used instead of the reference file's. Without GAINFACT
the step is skipped.
"""

import numpy as np

from webbflow.errors import InputError
from webbflow.steps.detector1._common import COMPLETE, merge_params, open_ref, set_status, skip

NAME = "gain_scale"
STATUS_KEYWORD = "S_GANSCL"
REFTYPES = ("gain",)
DEFAULTS = {"skip": False}


def run(model, refs, params=None):
    """Apply the gain factor to a rate or rateints product.

    Parameters
    ----------
    model : ImageModel or CubeModel
        Modified in place.
    refs : dict
        ``{"gain": path}``.
    params : dict, optional
        Unused.

    Returns
    -------
    ImageModel or CubeModel
    """
    merge_params(DEFAULTS, params)
    if getattr(model, "data", None) is None or model.data.ndim not in (2, 3):
        raise InputError(getattr(model, "path", None), "gain_scale needs a rate (2-D) or rateints (3-D) product")
    factor = model.meta.get("GAINFACT")
    if factor is None:
        ref = open_ref(refs, "gain", NAME)
        factor = None if ref is None else ref.meta.get("GAINFACT")
    if factor is None:
        return skip(model, STATUS_KEYWORD, NAME, "no GAINFACT in the gain reference file")
    factor = float(factor)
    scale = np.float32(factor)
    for attr in ("data", "err"):
        value = getattr(model, attr, None)
        if value is not None and value.size:
            np.multiply(value, scale, out=value)
    for attr in ("var_poisson", "var_rnoise"):
        value = getattr(model, attr, None)
        if value is not None and value.size:
            np.multiply(value, np.float32(factor * factor), out=value)
    model.meta["GAINFACT"] = factor
    return set_status(model, STATUS_KEYWORD, COMPLETE)
