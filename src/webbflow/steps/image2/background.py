"""background: subtract the mean of the association's background exposures.

The level-2 association of an exposure may list ``background`` members:
rate files of the same detector pointed at empty sky. Each is placed on
the science subarray (pixels outside its own subarray are missing); a
background pixel flagged DO_NOT_USE or NaN is missing too. Per pixel, the
backgrounds are sigma-clipped about their median (``sigma`` times their
standard deviation, repeated until nothing more is clipped or
``maxiters`` rounds) and the mean of the rest is subtracted. The
backgrounds' DQ flags are OR-ed into the science DQ.

Error propagation (``propagate_errors``, default True): the mean of n
backgrounds has variance ``sum(VAR_x) / n**2`` for each of VAR_POISSON and
VAR_RNOISE; these are added to the science variances and ERR recomputed.
The official step leaves ERR unchanged (it underestimates the noise of a
background-subtracted image); ``propagate_errors=False`` reproduces it.
A pixel with no usable background becomes NaN and DO_NOT_USE.
"""

import warnings

import numpy as np

from webbflow import dqflags
from webbflow.errors import InputError
from webbflow.steps.detector1._common import COMPLETE, merge_params, set_status, skip
from webbflow.steps.image2._common import check_subarray_size, log, match_invalid, require_image

NAME = "bkg_subtract"
STATUS_KEYWORD = "S_BKDSUB"
REFTYPES = ()
DEFAULTS = {"skip": False, "sigma": 3.0, "maxiters": None, "propagate_errors": True}


def run(model, refs=None, params=None, backgrounds=()):
    """Subtract the clipped mean of ``backgrounds`` from ``model`` in place.

    Parameters
    ----------
    model : ImageModel or CubeModel
        The science rate (rateints: the mean background is subtracted from
        every integration).
    refs : dict, optional
        Unused (imaging backgrounds need no reference file).
    params : dict, optional
        ``sigma`` (float), ``maxiters`` (int or None: until convergence),
        ``propagate_errors`` (bool).
    backgrounds : sequence of ImageModel or CubeModel
        The association's background members, already read.

    Returns
    -------
    ImageModel or CubeModel
    """
    params = merge_params(DEFAULTS, params)
    require_image(model, NAME)
    if not backgrounds:
        return skip(model, STATUS_KEYWORD, NAME, "the association lists no background exposures")
    _check_backgrounds(model, backgrounds)
    mean, var_poisson, var_rnoise, dq = combine(model, backgrounds, params["sigma"], params["maxiters"])
    np.subtract(model.data, mean, out=model.data)
    np.bitwise_or(model.dq, dq, out=model.dq)
    if params["propagate_errors"]:
        model.var_poisson += var_poisson
        model.var_rnoise += var_rnoise
        total = model.var_poisson + model.var_rnoise
        if model.var_flat is not None and model.var_flat.shape == model.data.shape:
            total = total + model.var_flat
        model.err = np.sqrt(total).astype(np.float32)
    model.dq[..., ~np.isfinite(mean)] |= np.uint32(dqflags.DO_NOT_USE)
    match_invalid(model)
    return set_status(model, STATUS_KEYWORD, COMPLETE)


def _check_backgrounds(model, backgrounds):
    for bkg in backgrounds:
        if getattr(bkg, "data", None) is None or bkg.data.ndim not in (2, 3):
            raise InputError(getattr(bkg, "path", None), "background exposure is not a rate or rateints image")
        check_subarray_size(bkg)
    for key in ("INSTRUME", "DETECTOR", "FILTER", "PUPIL"):
        ours = str(model.meta.get(key, "")).strip().upper()
        for bkg in backgrounds:
            theirs = str(bkg.meta.get(key, "")).strip().upper()
            if ours and theirs and ours != theirs:
                raise InputError(getattr(bkg, "path", None), f"background exposure has {key}={theirs}, "
                                                             f"the science exposure {key}={ours}")


def placed(model, bkg, array, fill):
    """``array`` of ``bkg`` (2-D or 3-D) placed on the science subarray of ``model``; ``fill`` elsewhere."""
    ny, nx = model.data.shape[-2:]
    out = np.full(array.shape[:-2] + (ny, nx), fill, dtype=array.dtype)
    sx, sy = int(model.meta.get("SUBSTRT1", 1)), int(model.meta.get("SUBSTRT2", 1))
    bx, by = int(bkg.meta.get("SUBSTRT1", 1)), int(bkg.meta.get("SUBSTRT2", 1))
    bny, bnx = array.shape[-2:]
    x0, x1 = max(sx, bx), min(sx + nx, bx + bnx)
    y0, y1 = max(sy, by), min(sy + ny, by + bny)
    if x1 > x0 and y1 > y0:
        out[..., y0 - sy:y1 - sy, x0 - sx:x1 - sx] = array[..., y0 - by:y1 - by, x0 - bx:x1 - bx]
    return out


def _background_planes(model, bkg):
    """One background's rate, variances and DQ on the science grid (per-integration data averaged)."""
    good = (bkg.dq & np.uint32(dqflags.DO_NOT_USE)) == 0
    data = np.where(good, bkg.data, np.float32(np.nan)).astype(np.float32)
    vp = np.where(good, bkg.var_poisson, np.float32(np.nan)).astype(np.float32)
    vr = np.where(good, bkg.var_rnoise, np.float32(np.nan)).astype(np.float32)
    dq = bkg.dq
    if data.ndim == 3:  # rateints: the mean over integrations (its variance: sum / n**2)
        n = np.sum(np.isfinite(data), axis=0)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice": a pixel bad in every integration
            data = np.nanmean(data, axis=0)
            vp = (np.nansum(vp, axis=0) / n**2).astype(np.float32)
            vr = (np.nansum(vr, axis=0) / n**2).astype(np.float32)
        dq = np.bitwise_or.reduce(dq, axis=0)
    return (placed(model, bkg, data, np.nan), placed(model, bkg, vp, np.nan),
            placed(model, bkg, vr, np.nan), placed(model, bkg, dq, 0))


def combine(model, backgrounds, sigma=3.0, maxiters=None):
    """The sigma-clipped mean background on the science grid and its variances.

    Returns
    -------
    mean, var_poisson, var_rnoise : numpy.ndarray
        float32 (ny, nx); NaN where no background is usable.
    dq : numpy.ndarray
        uint32 (ny, nx): the OR of the backgrounds' flags.
    """
    from webbflow.steps.image2._background_kernels import clipped_mean

    planes = [_background_planes(model, bkg) for bkg in backgrounds]
    mean, var_poisson, var_rnoise, _keep = clipped_mean(
        np.stack([p[0] for p in planes]), np.stack([p[1] for p in planes]), np.stack([p[2] for p in planes]),
        float(sigma), -1 if maxiters is None else int(maxiters))
    dq = np.bitwise_or.reduce(np.stack([p[3] for p in planes]), axis=0).astype(np.uint32)
    # what is missing in the mean is flagged in the science, not the backgrounds' own bad pixels
    dq &= ~np.uint32(dqflags.DO_NOT_USE)
    log.info("bkg_subtract: mean of %d background(s), %d pixel(s) without background",
             len(backgrounds), int(np.count_nonzero(~np.isfinite(mean))))
    return (mean.astype(np.float32), var_poisson.astype(np.float32), var_rnoise.astype(np.float32), dq)


def sigma_clip_mask(stack, sigma=3.0, maxiters=None):
    """Which values of ``stack`` (along axis 0) survive iterative clipping about the median.

    A value is clipped when it is more than ``sigma`` standard deviations
    (population, of the surviving values) from their median; rounds
    repeat until none is clipped or ``maxiters`` rounds are done. NaNs
    never survive.

    Returns
    -------
    numpy.ndarray of bool, the shape of ``stack``
    """
    from webbflow.steps.image2._background_kernels import clipped_mean

    stack = np.ascontiguousarray(stack, dtype=np.float32)  # the kernel's one compiled signature
    zeros = np.zeros_like(stack)
    return clipped_mean(stack, zeros, zeros, float(sigma), -1 if maxiters is None else int(maxiters))[3]
