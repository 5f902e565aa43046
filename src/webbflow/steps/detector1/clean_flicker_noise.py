"""clean_flicker_noise: remove 1/f ("flicker") noise stripes, median method.

1/f noise in the readout electronics adds an offset that changes slowly in
time, so it is nearly constant along each line read in the fast direction
and shows up as stripes. For a ramp:

1. A draft count-rate image (mean of the usable group differences) is
   made, and a scene mask keeps only background pixels: reference pixels
   and pixels flagged DO_NOT_USE in PIXELDQ (no sky signal) and pixels
   without data are dropped, and so is everything above the sigma-clipped
   background median by more than ``n_sigma`` sigma (or below it by more
   than 3 sigma). One mask serves all integrations (``single_mask``) or
   there is one per integration.
2. For each difference of consecutive groups, pixels flagged DO_NOT_USE
   or JUMP_DET in the later group are masked too; the background level
   (median of the masked difference after clipping outliers against the
   lower half of its histogram) is subtracted, outliers are clipped again
   at ``n_sigma``, and the level of the remaining pixels along each
   fast-read line (per amplifier with ``fit_by_channel``) is removed.
3. The cleaned differences are accumulated back onto the first group.

Rate images (2-D, 3-D) are cleaned directly, the mask made from the image.
The fast-read direction is the axis of SLOWAXIS's complement: along rows
for NIRCam/NIRISS/FGS, along columns for NIRSpec; MIRI images are
corrected along columns, as the official pipeline does. The official step
is skipped by default; so is this one.

Two deliberate departures from the official median method, both for the
short, integer-valued group differences of raw JWST data (a group is
stored as whole DN, so a difference of two groups takes whole values and
its median jumps in 1 DN steps):

* The line offsets only move lines relative to each other: their mean over
  the lines is removed before they are subtracted, so the cleaning never
  shifts the background level of a difference. Officially the restored
  background (one median of the whole difference) and the line medians
  round differently, which shifts every pixel of the difference by up to
  half a DN, the same sign in every group: a bias of the slopes of a
  whole exposure (up to ~0.4 sigma for a 160-pixel NIRCam subarray with
  1.4 s groups). With ``background_method=None`` the offsets are removed
  as they are (the background goes with them), as officially.
* ``line_statistic`` (webbflow's own parameter) chooses the line level:
  ``"median"`` (default), the official statistic, or ``"mean"``, the
  mean of the line's background pixels inside the clipping window
  (``n_sigma``, 3 sigma when that is 0). The mean is linear, so the
  corrections of consecutive differences add up to the correction of the
  whole ramp and keep the anti-correlation of consecutive differences; it
  does not jump in whole DN. Each line median, instead, adds an
  independent error of its own to every difference (its sampling error
  plus the 1 DN rounding): on a 160-pixel line that is about 0.2-0.25
  sigma of line-correlated slope error, against about 0.1 sigma with the
  mean. The clipping window bounds what an unmasked faint source can do
  to the mean.

``mask_science_regions`` leaves the known illuminated pixels out of the
fit. Officially they come from the WCS of the slits; here only NIRSpec
fixed-slit subarrays (``SUBS...``, centred on their slit) are known: the
rows of the slit named by FXD_SLIT (its length at 0.1 arcsec per pixel)
plus 2 rows each side. The rest of such a subarray sees no sky, so with
``background_method=None`` the line levels measure the 1/f noise *and*
the bias-drift residual that the reference-pixel correction leaves in
every pixel of a group, and remove both.

Only the official ``median`` fit with a ``median`` (or no) background is
implemented; the FFT (NSClean) fit, the ``model`` and ``median_image``
backgrounds, flat fielding and WCS-based science regions are not.
"""

import warnings

import numpy as np

from webbflow import dqflags
from webbflow.errors import InputError
from webbflow.steps.detector1._common import (
    COMPLETE,
    FAILED,
    is_miri,
    log,
    merge_params,
    set_status,
)

NAME = "clean_flicker_noise"
STATUS_KEYWORD = "S_CLNFNS"
REFTYPES = ()
DEFAULTS = {
    "skip": True,
    "fit_method": "median",
    "fit_by_channel": False,
    "background_method": "median",
    "n_sigma": 2.0,
    "single_mask": True,
    "line_statistic": "median",  # the official statistic; "mean" (clipped mean) is steadier on whole-DN data
    "mask_science_regions": False,
}

# NIRSpec fixed slits: length (arcsec) of the slit named by FXD_SLIT; the fixed-slit subarrays
# (SUBS200A1 ...) are centred on their slit, which is dispersed along science x. NIRSpec pixels are
# 0.10 arcsec; two more rows on each side cover the spread of the trace.
NRS_SLIT_LENGTH = {"S200A1": 3.3, "S200A2": 3.3, "S200B1": 3.3, "S400A1": 3.8, "S1600A1": 1.6}
NRS_PIXEL_SCALE = 0.10
NRS_SLIT_MARGIN = 2

_SIGMA_LIMIT = 3.0
_CHANNEL = 512
_UNUSABLE = np.uint8(dqflags.DO_NOT_USE | dqflags.JUMP_DET)
_NO_SKY = np.uint32(dqflags.PIXEL["REFERENCE_PIXEL"] | dqflags.PIXEL["DO_NOT_USE"])
_STATISTICS = ("mean", "median")
_BAD_FOR_RATE = np.uint8(dqflags.DO_NOT_USE | dqflags.SATURATED | dqflags.JUMP_DET)


def sigma_clipped_stats(values, sigma=_SIGMA_LIMIT, maxiters=5):
    """Mean, median and standard deviation after iterative median-centred clipping.

    Values farther than ``sigma`` standard deviations from the median are
    dropped, up to ``maxiters`` times or until nothing changes (as
    astropy's ``sigma_clipped_stats`` with its defaults).

    Parameters
    ----------
    values : ndarray, 1-D

    Returns
    -------
    mean, median, std : float
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return np.nan, np.nan, np.nan
    for _ in range(maxiters):
        median = np.median(v)
        std = v.std()
        keep = (v >= median - sigma * std) & (v <= median + sigma * std)
        if keep.all():
            break
        v = v[keep]
        if v.size == 0:
            return np.nan, np.nan, np.nan
    return float(v.mean()), float(np.median(v)), float(v.std())


def clip_to_background(image, mask, sigma_lower=3.0, sigma_upper=2.0, lower_half_only=False):
    """Drop from ``mask`` (in place) the pixels outside the background distribution.

    The background centre is the clipped median of the masked pixels; its
    width is their clipped standard deviation or, with ``lower_half_only``,
    that of the lower half mirrored about the centre (robust against
    sources, which only add signal).
    """
    values = image[mask]
    if values.size == 0:
        return
    _, centre, sigma = sigma_clipped_stats(values)
    if lower_half_only:
        low = values[values <= centre].astype(np.float64)
        _, centre, sigma = sigma_clipped_stats(np.concatenate((low, 2.0 * centre - low)))
    if not np.isfinite(centre) or not np.isfinite(sigma):
        return
    mask &= image >= centre - sigma_lower * sigma
    mask &= image <= centre + sigma_upper * sigma


def background_level(image, mask, method="median"):
    """The background of ``image`` from the pixels in ``mask`` (``mask`` is refined in place)."""
    if method is None:
        return 0.0
    clip_to_background(image, mask, _SIGMA_LIMIT, _SIGMA_LIMIT, lower_half_only=True)
    if not mask.any():
        return 0.0
    return float(np.median(image[mask]))


def line_levels(image, mask, axis, fit_by_channel=False, statistic="median"):
    """The level of the masked pixels of every line (per 512-pixel channel if asked).

    Parameters
    ----------
    image : ndarray, 2-D
    mask : ndarray of bool
        Pixels to use.
    axis : int
        Array axis along which the stripes are constant (0 or 1): the
        levels are taken along it.
    fit_by_channel : bool
        Separate levels in each amplifier's 512 pixels along ``axis`` (full
        2048-pixel lines only).
    statistic : {"median", "mean"}

    Returns
    -------
    ndarray, float64
        Same shape as ``image``, each pixel holding the level of its line
        (and channel); NaN where the line has no pixel in ``mask``.
    """
    length = image.shape[axis]
    by_channel = fit_by_channel and length == 2048
    size = _CHANNEL if by_channel else length
    reduce = np.nanmedian if statistic == "median" else np.nanmean
    masked = np.where(mask, np.asarray(image, dtype=np.float64), np.nan)
    levels = np.empty(image.shape, dtype=np.float64)
    for start in range(0, length, size):
        part = (slice(None), slice(start, start + size)) if axis == 1 else (slice(start, start + size), slice(None))
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            levels[part] = reduce(masked[part], axis=axis, keepdims=True)
    return levels


def median_clean(image, mask, axis, fit_by_channel=False, statistic="median", keep_level=False):
    """Remove the level of every fast-read line (per 512-pixel channel if asked).

    Parameters
    ----------
    image : ndarray, 2-D float32
        Modified in place.
    mask : ndarray of bool
        Pixels to use for the line levels.
    axis : int
        Array axis along which the stripes are constant (0 or 1).
    fit_by_channel : bool
        Separate levels in each amplifier's 512 pixels along ``axis``.
    statistic : {"median", "mean"}
        How a line's level is measured (see the module notes).
    keep_level : bool
        Remove the mean of the line levels first, so that only line-to-line
        differences are subtracted and the image's overall level stays.
    """
    levels = line_levels(image, mask, axis, fit_by_channel, statistic)
    good = np.isfinite(levels)
    if keep_level and good.any():
        levels -= levels[good].mean()
    levels[~good] = 0.0
    image -= levels.astype(np.float32)


def clean_image(image, mask, axis, background_method="median", n_sigma=2.0, fit_by_channel=False,
                statistic="median"):
    """Clean one 2-D image of stripes.

    Parameters
    ----------
    image : ndarray, 2-D
        Not modified.
    mask : ndarray of bool
        Background pixels to use; modified in place.
    axis : int
        Array axis along which the stripes are constant.
    background_method : {"median", None}
        Remove (and restore) a median background before the line levels are
        taken; with None the line levels include the background, which is
        then removed with them.
    n_sigma : float
        Clipping level of the background window (0: no clipping, except a
        3-sigma window for the mean statistic).
    fit_by_channel : bool
    statistic : {"median", "mean"}

    Returns
    -------
    ndarray or None
        The cleaned image (float32), or None when no pixel is usable.
    """
    image = np.array(image, dtype=np.float32)
    nan = np.isnan(image)
    image[nan] = 0.0
    mask &= ~nan
    if not mask.any():
        return None
    background = background_level(image, mask, background_method)
    image -= np.float32(background)
    if n_sigma > 0:
        clip_to_background(image, mask, n_sigma, n_sigma, lower_half_only=True)
    elif statistic == "mean":
        clip_to_background(image, mask, _SIGMA_LIMIT, _SIGMA_LIMIT, lower_half_only=True)
    median_clean(image, mask, axis, fit_by_channel, statistic, keep_level=background_method is not None)
    image += np.float32(background)
    image[nan] = np.nan
    return image


def draft_rate(model, per_integration):
    """Mean usable group difference per second, per integration or for the exposure.

    Differences touching a group flagged DO_NOT_USE, SATURATED or JUMP_DET
    are left out; pixels with no usable difference are NaN.
    """
    data, gdq = model.data, model.groupdq
    nints, ngroups, ny, nx = data.shape
    tgroup = float(model.meta.get("TGROUP", 1.0) or 1.0)
    shape = (nints, ny, nx) if per_integration else (1, ny, nx)
    total = np.zeros(shape, dtype=np.float32)
    count = np.zeros(shape, dtype=np.int32)
    for i in range(nints):
        k = i if per_integration else 0
        for g in range(1, ngroups):
            ok = ((gdq[i, g] | gdq[i, g - 1]) & _BAD_FOR_RATE) == 0
            total[k] += np.where(ok, data[i, g] - data[i, g - 1], np.float32(0))
            count[k] += ok
    with np.errstate(all="ignore"):
        rate = total / (count * np.float32(tgroup))
    rate[count == 0] = np.nan
    return rate if per_integration else rate[0]


def scene_mask(image, n_sigma, no_sky=None, sigma_lower=3.0):
    """Background pixels of a rate image: data present and within the clipped background.

    Parameters
    ----------
    image : ndarray, 2-D or 3-D
        Rate image(s).
    n_sigma : float
        Upper clipping level (0: no clipping).
    no_sky : ndarray of bool, 2-D, optional
        Pixels that see no sky (reference pixels, DO_NOT_USE pixels): never
        background pixels, and left out before the background is measured.
    sigma_lower : float
        Lower clipping level (3 sigma officially). Clipping selects on each
        pixel's own noise: with a lower level above ``n_sigma`` the kept
        pixels' slopes average low by ~0.05 sigma, which only cancels when a
        background level is restored afterwards; without one, pass
        ``n_sigma`` to clip symmetrically.

    Returns
    -------
    ndarray of bool, shape of ``image``
    """
    mask = ~(np.isnan(image) | (image == 0))
    if no_sky is not None:
        mask &= ~no_sky
    if n_sigma > 0:
        if image.ndim == 3:
            for i in range(image.shape[0]):
                clip_to_background(image[i], mask[i], sigma_lower=sigma_lower, sigma_upper=n_sigma)
        else:
            clip_to_background(image, mask, sigma_lower=sigma_lower, sigma_upper=n_sigma)
    return mask


def science_regions(model):
    """Pixels known to be illuminated, from the instrument geometry (None when not known).

    NIRSpec fixed-slit exposures in a subarray centred on its slit
    (``SUBS...``): the rows of the slit named by FXD_SLIT, plus a margin.
    The rest of such a subarray sees no sky, so with these rows masked the
    line levels measure the 1/f noise and the bias drift with no background
    under them (``background_method=None``).
    """
    exp_type = str(model.meta.get("EXP_TYPE", "")).upper()
    subarray = str(model.meta.get("SUBARRAY", "")).strip().upper()
    slit = str(model.meta.get("FXD_SLIT", "")).strip().upper()
    if exp_type not in ("NRS_FIXEDSLIT", "NRS_BRIGHTOBJ") or not subarray.startswith("SUBS") or slit not in NRS_SLIT_LENGTH:
        return None
    ny, nx = model.data.shape[-2:]
    half = round(0.5 * NRS_SLIT_LENGTH[slit] / NRS_PIXEL_SCALE, 6) + NRS_SLIT_MARGIN
    rows = np.abs(np.arange(ny) - 0.5 * (ny - 1)) <= half
    return np.broadcast_to(rows[:, np.newaxis], (ny, nx))


def _axis(model):
    if is_miri(model):
        return 0
    return abs(int(model.meta.get("SLOWAXIS", 2))) - 1


def run(model, refs=None, params=None):
    """Remove 1/f noise from a ramp (or a rate image).

    Parameters
    ----------
    model : RampModel, ImageModel or CubeModel
        Modified in place.
    refs : dict, optional
        Unused.
    params : dict, optional
        ``fit_method`` ("median"), ``fit_by_channel`` (False),
        ``background_method`` ("median" or None), ``n_sigma`` (2.0),
        ``single_mask`` (True), ``line_statistic`` ("mean" or "median"),
        ``mask_science_regions`` (False; NIRSpec fixed-slit subarrays only).

    Returns
    -------
    model

    Raises
    ------
    InputError
        For options that are not implemented.
    """
    p = merge_params(DEFAULTS, params)
    if str(p["fit_method"]).lower() != "median":
        raise InputError(None, f"clean_flicker_noise: fit_method={p['fit_method']!r} is not supported (only 'median')")
    background_method = p["background_method"]
    if background_method is not None and str(background_method).lower() == "none":
        background_method = None
    if background_method not in (None, "median"):
        raise InputError(None, f"clean_flicker_noise: background_method={background_method!r} is not supported "
                               "(only 'median' or None)")
    statistic = str(p["line_statistic"]).lower()
    if statistic not in _STATISTICS:
        raise InputError(None, f"clean_flicker_noise: line_statistic={p['line_statistic']!r} is not supported "
                               "('mean' or 'median')")
    exp_type = str(model.meta.get("EXP_TYPE", "")).upper()
    if exp_type.startswith("MIR") and exp_type != "MIR_IMAGE":
        log.warning("clean_flicker_noise: EXP_TYPE %s is not supported; nothing done", exp_type)
        return set_status(model, STATUS_KEYWORD, FAILED)
    subarray = str(model.meta.get("SUBARRAY", "FULL")).strip().upper()
    fit_by_channel = bool(p["fit_by_channel"]) and subarray == "FULL" and not is_miri(model)
    n_sigma = float(p["n_sigma"])
    axis = _axis(model)
    data = model.data
    pixeldq = getattr(model, "pixeldq", None) if data.ndim == 4 else getattr(model, "dq", None)
    no_sky = None
    if pixeldq is not None:
        no_sky = (np.asarray(pixeldq) & _NO_SKY) != 0
        if no_sky.ndim == 3:  # CubeModel DQ: per integration; a pixel without sky in any
            no_sky = no_sky.any(axis=0)

    # with no background restored, a lopsided clip of the scene would shift the level removed (scene_mask)
    sigma_lower = 3.0 if background_method is not None or n_sigma <= 0 else n_sigma
    if p["mask_science_regions"]:
        regions = science_regions(model)
        if regions is None:
            log.warning("clean_flicker_noise: no known science regions for EXP_TYPE %s, SUBARRAY %s; none masked",
                        exp_type, subarray)
        else:
            no_sky = regions.copy() if no_sky is None else (no_sky | regions)

    if data.ndim == 4:
        nints, ngroups = data.shape[:2]
        rate = draft_rate(model, per_integration=not p["single_mask"])
        mask = scene_mask(rate, n_sigma, no_sky, sigma_lower)
        for i in range(nints):
            base = mask if mask.ndim == 2 else mask[i]
            previous = data[i, 0].copy()
            for j in range(ngroups - 1):
                current = data[i, j + 1].copy()
                use = base & ((model.groupdq[i, j + 1] & _UNUSABLE) == 0)
                cleaned = clean_image(current - previous, use, axis, background_method, n_sigma, fit_by_channel,
                                      statistic)
                if cleaned is None:
                    log.info("clean_flicker_noise: no usable data in integration %d, group %d", i + 1, j + 2)
                else:
                    np.add(data[i, j], cleaned, out=data[i, j + 1])
                previous = current
        return set_status(model, STATUS_KEYWORD, COMPLETE)

    images = data[np.newaxis] if data.ndim == 2 else data
    mask = scene_mask(images, n_sigma, no_sky, sigma_lower)
    if p["single_mask"]:
        mask = np.all(mask, axis=0)
    for i in range(images.shape[0]):
        use = (mask if mask.ndim == 2 else mask[i]).copy()
        cleaned = clean_image(images[i], use, axis, background_method, n_sigma, fit_by_channel, statistic)
        if cleaned is not None:
            images[i] = cleaned
    return set_status(model, STATUS_KEYWORD, COMPLETE)
