"""jump: flag cosmic-ray jumps in ramps by the two-point difference method.

The official algorithm (stcal ``jump``, JWST ``jump`` step documentation),
with the per-pixel work in :mod:`webbflow.steps.detector1._jump_kernels`:

1. Group differences in electrons (DN times the gain), with saturated and
   DO_NOT_USE groups excluded; their noise is
   ``sqrt(|median difference| + (gain readnoise)**2 / NFRAMES)``.
2. Detection, pooling all integrations of a pixel: iterative search for the
   largest outlier (fewer than ``min_diffs_single_pass`` usable differences
   per integration, the usual case), thresholds ``rejection_threshold`` (4
   sigma, five or more usable groups), ``four_group_rejection_threshold`` (5,
   four groups) and ``three_group_rejection_threshold`` (6, three groups);
   a single pass against the median for long ramps; sigma clipping across
   integrations when there are at least ``minimum_sigclip_groups``
   integrations. JUMP_DET goes on the group after the jump.
3. The four neighbours of jumps between ``min_jump_to_flag_neighbors`` and
   ``max_jump_to_flag_neighbors`` sigma are flagged (``flag_4_neighbors``).
4. Optionally the groups following large jumps (``after_jump_flag_*``).
5. JUMP_DET is removed where the group is already SATURATED or DO_NOT_USE.
6. Optional large-event flagging (see :mod:`webbflow.steps.detector1._jump_events`):
   snowballs (``expand_large_events``) and MIRI showers (``find_showers``).

Exposures with NGROUPS <= 2 are returned unchanged (the step does not apply),
with S_JUMP = SKIPPED. Pixels whose gain is zero, negative or NaN get
NO_GAIN_VALUE | DO_NOT_USE in PIXELDQ. The header gets PRIMECRS (primary
jumps per 1000 pixels per second) and EXTNCRS (large events per million
pixels per second), as officially.
"""

import logging

import numpy as np

from webbflow import dqflags
from webbflow.errors import WebbflowError

from . import _jump_kernels as kernels
from .ramp_fit import reference_arrays

log = logging.getLogger(__name__)

NAME = "jump"
STATUS_KEYWORD = "S_JUMP"
REFTYPES = ("gain", "readnoise")
DEFAULTS = {
    "rejection_threshold": 4.0,  # sigma, five or more usable groups
    "three_group_rejection_threshold": 6.0,  # sigma, three usable groups (two differences)
    "four_group_rejection_threshold": 5.0,  # sigma, four usable groups (three differences)
    "flag_4_neighbors": True,  # flag the four perpendicular neighbours of each jump
    "max_jump_to_flag_neighbors": 1000.0,  # sigma; larger jumps do not flag neighbours
    "min_jump_to_flag_neighbors": 10.0,  # sigma; smaller jumps do not flag neighbours
    "after_jump_flag_dn1": 0.0,  # DN; jumps above this flag the following groups ...
    "after_jump_flag_time1": 0.0,  # ... for this long (s)
    "after_jump_flag_dn2": 0.0,
    "after_jump_flag_time2": 0.0,
    "min_diffs_single_pass": 10,  # differences per integration to flag all outliers in one pass
    "minimum_groups": 3,  # groups needed for jump detection
    "minimum_sigclip_groups": 100,  # integrations (or groups) needed for sigma clipping
    "only_use_ints": True,  # sigma clipping compares a difference across integrations only
    # snowballs (near-infrared large events)
    "expand_large_events": False,
    "min_jump_area": 5.0,  # pixels
    "min_sat_area": 1.0,  # pixels
    "expand_factor": 2.0,
    "sat_required_snowball": True,
    "min_sat_radius_extend": 2.5,  # pixels
    "sat_expand": 2,  # pixels added to the radius of extended saturated cores
    "edge_size": 25,  # pixels from the edge where a saturated core is not required
    "mask_snowball_core_next_int": True,
    "snowball_time_masked_next_int": 4000.0,  # s
    "max_extended_radius": 200,  # pixels
    # MIRI showers
    "find_showers": False,
    "max_shower_amplitude": 4.0,  # DN/s
    "extend_snr_threshold": 1.2,
    "extend_min_area": 90,  # pixels
    "extend_inner_radius": 1.0,
    "extend_outer_radius": 2.6,
    "extend_ellipse_expand_ratio": 1.1,
    "time_masked_after_shower": 15.0,  # s
}

__all__ = ["NAME", "STATUS_KEYWORD", "REFTYPES", "DEFAULTS", "run", "detect_jumps"]


def _native(array, dtype):
    """``array`` as a C-contiguous native-order array of ``dtype`` (no copy when it already is one)."""
    array = np.asarray(array)
    if array.dtype != np.dtype(dtype) or not array.dtype.isnative:
        array = array.astype(dtype)
    return np.ascontiguousarray(array)


def detection_mode(groupdq, params, all_dnu=None):
    """Choose the detection mode as the official step does.

    Parameters
    ----------
    groupdq : ndarray, uint8 (nints, ngroups, ny, nx)
    params : dict
    all_dnu : ndarray of bool (nints, ngroups), optional
        Groups DO_NOT_USE for every pixel, when known (a block of rows does not know it).

    Returns
    -------
    mode : int or None
        A kernel mode, or None when there are too few usable groups.
    all_dnu : ndarray of bool (nints, ngroups)
        Groups that are DO_NOT_USE for every pixel.
    """
    nints, ngroups = groupdq.shape[:2]
    if all_dnu is None:
        all_dnu = kernels.planes_all_flagged(groupdq, dqflags.DO_NOT_USE)
    per_int = all_dnu.sum(axis=1)
    min_usable_groups = ngroups - int(per_int.max())
    total_groups = nints * ngroups - int(per_int.sum())
    only_ints = bool(params["only_use_ints"])
    min_sig = int(params["minimum_sigclip_groups"])
    sigclip_groups = nints if only_ints else total_groups
    sigclip_ok = sigclip_groups >= min_sig
    if min_usable_groups < int(params["minimum_groups"]) and not sigclip_ok:
        return None, all_dnu
    if sigclip_ok:
        return kernels.SIGMA_CLIP, all_dnu
    if min_usable_groups - 1 >= int(params["min_diffs_single_pass"]):
        return kernels.SINGLE_PASS, all_dnu
    return kernels.ITERATIVE, all_dnu


def detect_jumps(data, groupdq, pixeldq, gain, readnoise, *, nframes, tgroup, params=None,
                 all_dnu=None, rows=None, unflag_planes=None):
    """Flag jumps in arrays (the array-level API of :func:`run`).

    Parameters
    ----------
    data : ndarray (nints, ngroups, ny, nx)
        Ramps in DN (float32 used without a copy).
    groupdq : ndarray, uint8 (nints, ngroups, ny, nx)
        Group DQ, updated in place (must be native uint8).
    pixeldq : ndarray, uint32 (ny, nx)
        Pixel DQ, updated in place (NO_GAIN_VALUE | DO_NOT_USE for bad gains).
    gain, readnoise : ndarray (ny, nx)
        e-/DN and CDS read noise in DN.
    nframes : int
    tgroup : float
        Group time, s.
    params : dict, optional
        :data:`DEFAULTS` updated.
    all_dnu, rows, unflag_planes : optional
        For a block of rows of a larger exposure (the pipeline's chunked
        path): the exposure's all-DO_NOT_USE groups (nints, ngroups); the
        rows ``(r0, r1)`` of the block that are its own (the others are halo,
        counted by the neighbouring blocks); the (nints, ngroups) groups
        whose JUMP-only flags sigma clipping removes (decided on the whole
        exposure; see ``all_flagged`` in the result).

    Returns
    -------
    dict
        ``n_primary`` (JUMP_DET flags after detection, before neighbours),
        ``n_events`` (snowballs or showers), ``mode`` (None if skipped),
        ``all_dnu`` (nints, ngroups), ``all_flagged`` (nints, ngroups: groups
        JUMP_DET or DO_NOT_USE at every pixel of ``rows`` after sigma clipping).
    """
    settings = dict(DEFAULTS)
    settings.update(params or {})
    if groupdq.dtype != np.uint8 or not groupdq.flags.c_contiguous:
        raise WebbflowError(None, "GROUPDQ must be a C-contiguous uint8 array to be flagged in place")
    data = _native(data, np.float32)
    gain = _native(gain, np.float32)
    readnoise = _native(readnoise, np.float32)
    nints, ngroups, ny, nx = data.shape

    bad_gain = ~(gain > 0)
    if bad_gain.any():
        pixeldq[bad_gain] |= np.uint32(dqflags.NO_GAIN_VALUE | dqflags.DO_NOT_USE)

    mode, all_dnu = detection_mode(groupdq, settings, all_dnu)
    r0, r1 = (0, ny) if rows is None else rows
    result = {"n_primary": 0, "n_events": 0, "mode": mode, "all_dnu": all_dnu,
              "all_flagged": np.zeros((nints, ngroups), dtype=bool)}
    if mode is None:
        log.info("jump detection skipped: fewer than %s usable groups", settings["minimum_groups"])
        return result

    med0 = np.empty((ny, nx), np.float32)
    sig0 = np.empty((ny, nx), np.float32)
    kernels.detect(
        data, groupdq, gain, readnoise, int(nframes), int(mode),
        float(settings["rejection_threshold"]), float(settings["four_group_rejection_threshold"]),
        float(settings["three_group_rejection_threshold"]), bool(settings["only_use_ints"]), med0, sig0,
    )
    own = groupdq if rows is None else np.ascontiguousarray(groupdq[:, :, r0:r1])
    if mode == kernels.SIGMA_CLIP:
        result["all_flagged"] = _all_jump_planes(own)
        _unflag_planes(groupdq, result["all_flagged"] if unflag_planes is None else unflag_planes)
        if rows is not None:
            own = np.ascontiguousarray(groupdq[:, :, r0:r1])
    result["n_primary"] = int(kernels.count_flag(own, dqflags.JUMP_DET))

    if settings["flag_4_neighbors"]:
        trig = np.empty((ny, nx), dtype=np.bool_)
        kernels.flag_neighbours(
            data, groupdq, gain, med0, sig0,
            float(settings["min_jump_to_flag_neighbors"]), float(settings["max_jump_to_flag_neighbors"]), trig,
        )
    n1 = int(float(settings["after_jump_flag_time1"]) // tgroup)
    n2 = int(float(settings["after_jump_flag_time2"]) // tgroup)
    if n1 > 0 or n2 > 0:
        median_gain = float(np.nanmedian(gain))
        e1 = float(settings["after_jump_flag_dn1"]) * median_gain
        e2 = float(settings["after_jump_flag_dn2"]) * median_gain
        kernels.flag_after_jumps(data, groupdq, gain, med0, e1, n1, e2, n2)
    kernels.drop_redundant_jumps(groupdq)

    if settings["expand_large_events"] or settings["find_showers"]:
        from . import _jump_events as events

        if settings["expand_large_events"]:
            result["n_events"] = events.flag_snowballs(groupdq, tgroup, settings)
        if settings["find_showers"]:
            result["n_events"] = events.flag_showers(
                data, groupdq, pixeldq, gain, readnoise, med0, sig0, all_dnu, nframes, tgroup, settings)
    return result


def _all_jump_planes(groupdq):
    """(nints, ngroups) bool: groups flagged JUMP_DET or DO_NOT_USE at every pixel."""
    return kernels.planes_all_flagged(groupdq, np.uint8(dqflags.JUMP_DET | dqflags.DO_NOT_USE))


def _unflag_planes(groupdq, planes):
    """After sigma clipping, a group flagged JUMP/DO_NOT_USE everywhere keeps no JUMP-only flags (as officially)."""
    for i, g in zip(*np.nonzero(planes), strict=True):
        plane = groupdq[i, g]
        plane[plane == dqflags.JUMP_DET] = 0


def record_rates(meta, result, shape, tgroup):
    """PRIMECRS and EXTNCRS in ``meta`` from a :func:`detect_jumps` result (as officially).

    Parameters
    ----------
    meta : astropy.io.fits.Header
    result : dict
        ``n_primary``, ``n_events``, ``mode`` and ``all_dnu`` of the whole exposure.
    shape : tuple
        (nints, ngroups, ny, nx) of the exposure.
    tgroup : float
    """
    nints, ngroups, ny, nx = shape
    total_groups = nints * ngroups - int(result["all_dnu"].sum()) - nints
    if result["mode"] is not None and total_groups >= 1:
        total_time = tgroup * total_groups
        npix = ny * nx
        meta["PRIMECRS"] = (1000.0 * result["n_primary"] / (total_time * npix),
                            "primary CRs per 1000 pixels per second")
        meta["EXTNCRS"] = (1.0e6 * result["n_events"] / (total_time * npix),
                           "large events per million pixels per s")


def run(model, refs, params):
    """Flag jumps in a ramp.

    Parameters
    ----------
    model : webbflow.datamodels.RampModel
        Ramps in DN; GROUPDQ (JUMP_DET added) and PIXELDQ are updated in place.
    refs : dict
        ``{"gain": path, "readnoise": path}``; full-frame references are cut
        to the science subarray.
    params : dict
        :data:`DEFAULTS` updated by the user's settings.

    Returns
    -------
    webbflow.datamodels.RampModel
        The same model.

    Raises
    ------
    ReferenceFileError
        A reference file is missing or does not cover the science array.
    """
    nints, ngroups, ny, nx = model.data.shape
    if ngroups <= 2:
        log.warning("jump detection needs NGROUPS > 2 (NGROUPS=%d); step skipped", ngroups)
        model.meta[STATUS_KEYWORD] = "SKIPPED"
        return model
    gain, readnoise = reference_arrays(model, refs)
    model.groupdq = np.ascontiguousarray(model.groupdq, dtype=np.uint8)
    model.pixeldq = np.ascontiguousarray(model.pixeldq, dtype=np.uint32)
    tgroup = float(model.meta["TGROUP"])
    result = detect_jumps(model.data, model.groupdq, model.pixeldq, gain, readnoise,
                          nframes=int(model.meta.get("NFRAMES", 1)), tgroup=tgroup, params=params)
    record_rates(model.meta, result, model.data.shape, tgroup)
    return model
