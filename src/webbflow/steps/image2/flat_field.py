"""flat_field: divide by the pixel-to-pixel flat field and propagate its uncertainty.

For each pixel with flat value f (the ``flat`` reference file's SCI, cut
to the science subarray) and flat uncertainty s_f (its ERR)::

    SCI         -> SCI / f
    VAR_POISSON -> VAR_POISSON / f**2,  VAR_RNOISE -> VAR_RNOISE / f**2
    VAR_FLAT    =  (SCI / f)**2 * (s_f / f)**2      (a new array)
    ERR         =  sqrt(VAR_POISSON + VAR_RNOISE + VAR_FLAT)
    DQ          |= the flat's DQ (through its DQ_DEF table)

As in the official products, a flat pixel that is NaN or zero gets
DO_NOT_USE | NO_FLAT_FIELD, a flat pixel flagged NO_FLAT_FIELD gets
DO_NOT_USE too, and pixels the flat marks DO_NOT_USE are left undivided
(f = 1). Pixels DO_NOT_USE or NaN in any array end NaN in all of them and
DO_NOT_USE in DQ.
"""

import numpy as np

from webbflow import dqflags
from webbflow.steps.detector1._common import COMPLETE, cutout, merge_params, open_ref, reference_dq, set_status, skip
from webbflow.steps.image2._common import match_invalid, require_image

NAME = "flat_field"
STATUS_KEYWORD = "S_FLAT"
REFTYPES = ("flat",)
DEFAULTS = {"skip": False}


def run(model, refs, params=None):
    """Flat-field a rate (or rateints) model in place.

    Parameters
    ----------
    model : ImageModel or CubeModel
    refs : dict
        ``{"flat": path}`` (``"N/A"``: the step is skipped).
    params : dict, optional
        Unused.

    Returns
    -------
    ImageModel or CubeModel
    """
    merge_params(DEFAULTS, params)
    require_image(model, NAME)
    ref = open_ref(refs, "flat", NAME)
    if ref is None:
        return skip(model, STATUS_KEYWORD, NAME, "no flat reference file (N/A)")
    flat = np.array(cutout(ref, "sci", model), dtype=np.float32)
    flat_err = (np.array(cutout(ref, "err", model), dtype=np.float32) if ref.has("err")
                else np.zeros_like(flat))
    flat_dq = reference_dq(ref, model)
    if flat_dq is None:
        flat_dq = np.zeros(flat.shape, dtype=np.uint32)
    apply_flat(model, flat, flat_err, flat_dq)
    return set_status(model, STATUS_KEYWORD, COMPLETE)


def apply_flat(model, flat, flat_err, flat_dq):
    """Divide ``model`` by ``flat`` (2-D, the science subarray's shape) and propagate errors and flags.

    Parameters
    ----------
    model : ImageModel or CubeModel
        Modified in place; VAR_FLAT is created.
    flat, flat_err : numpy.ndarray
        float32 flat field and its uncertainty.
    flat_dq : numpy.ndarray
        uint32 flags of the flat in the standard bits (modified).
    """
    no_flat = np.uint32(dqflags.DO_NOT_USE | dqflags.PIXEL["NO_FLAT_FIELD"])
    flat_dq[~np.isfinite(flat) | (flat == 0)] |= no_flat
    flat_dq[(flat_dq & np.uint32(dqflags.PIXEL["NO_FLAT_FIELD"])) != 0] |= np.uint32(dqflags.DO_NOT_USE)
    flat = flat.copy()
    flat[(flat_dq & np.uint32(dqflags.DO_NOT_USE)) != 0] = 1.0
    flat_sq = flat * flat
    np.divide(model.data, flat, out=model.data)
    with np.errstate(invalid="ignore", over="ignore"):
        model.var_flat = (model.data * model.data / flat_sq * (flat_err * flat_err)).astype(np.float32)
    for attr in ("var_poisson", "var_rnoise"):
        value = getattr(model, attr)
        np.divide(value, flat_sq, out=value)
    model.err = np.sqrt(model.var_poisson + model.var_rnoise + model.var_flat).astype(np.float32)
    np.bitwise_or(model.dq, flat_dq, out=model.dq)
    return match_invalid(model)
