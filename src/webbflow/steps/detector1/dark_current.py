"""dark_current: subtract the dark ramp, averaged to the science group structure.

The dark reference holds a ramp of dark signal (SCI), normally one frame
per group (NFRAMES=1, GROUPGAP=0 in its header): 3-D (ngroups, ny, nx) for
NIR detectors, 4-D (nints, ngroups, ny, nx) for MIRI, whose darks differ
per integration.

* When the science NFRAMES and GROUPGAP equal the dark's, dark group g is
  subtracted from science group g.
* Otherwise science group g is matched by the mean of dark frames
  ``g*(NFRAMES+GROUPGAP) ... g*(NFRAMES+GROUPGAP)+NFRAMES-1``.
* A dark with larger NFRAMES or GROUPGAP than the science cannot be
  matched: the step is skipped.
* A dark shorter than the science exposure is extended linearly from the
  difference of its last two groups (with a warning).

MIRI integration i uses dark integration i, or the dark's last integration
beyond its end (and for every integration of a segment that does not start
at the first integration). NaNs in the dark are treated as zero. The dark
DQ is OR-ed into PIXELDQ (for MIRI, the DQ of the first group of every
dark integration).
"""

import numpy as np

from webbflow.steps.detector1._common import (
    COMPLETE,
    cutout,
    is_miri,
    log,
    merge_params,
    open_ref,
    reference_dq,
    require_array,
    require_ramp,
    set_status,
    skip,
)

NAME = "dark_current"
STATUS_KEYWORD = "S_DARK"
REFTYPES = ("dark",)
DEFAULTS = {"skip": False}


class _DarkRamp:
    """One integration of the dark, with linear extension past its last group."""

    def __init__(self, groups, nframes, groupgap):
        self.groups = groups  # (ngroups, ny, nx), a view into the reference array
        self.nframes = nframes
        self.groupgap = groupgap

    def group(self, k):
        """Dark group ``k`` (float32, NaN as 0), extrapolated when ``k`` is past the end."""
        n = self.groups.shape[0]
        if k < n:
            return np.nan_to_num(self.groups[k], nan=0.0, copy=True)
        last = np.nan_to_num(self.groups[n - 1], nan=0.0)
        previous = np.nan_to_num(self.groups[n - 2], nan=0.0) if n > 1 else np.zeros_like(last)
        return (last + (k - n + 1) * (last - previous)).astype(np.float32)

    def averaged(self, g, nframes, groupgap):
        """The dark matching science group ``g`` of an exposure with ``nframes``/``groupgap``."""
        if nframes == self.nframes and groupgap == self.groupgap:
            return self.group(g)
        start = g * (nframes + groupgap)
        if nframes == 1:
            return self.group(start)
        total = np.zeros(self.groups.shape[1:], dtype=np.float32)
        for k in range(start, start + nframes):
            total += self.group(k)
        total /= np.float32(nframes)
        return total


def _dark_dq(ref, model, miri):
    dq = reference_dq(ref, model)
    if dq is None:
        return None
    if dq.ndim == 4:  # MIRI: first group of each integration
        return np.bitwise_or.reduce(dq[:, 0], axis=0)
    if dq.ndim == 3:
        return dq[0] if miri else np.bitwise_or.reduce(dq, axis=0)
    return dq


def run(model, refs, params=None):
    """Subtract the dark current.

    Parameters
    ----------
    model : RampModel
        Modified in place.
    refs : dict
        ``{"dark": path}``.
    params : dict, optional
        Unused.

    Returns
    -------
    RampModel
    """
    merge_params(DEFAULTS, params)
    require_ramp(model, NAME)
    ref = open_ref(refs, "dark", NAME)
    if ref is None:
        return skip(model, STATUS_KEYWORD, NAME, "no dark reference file (N/A)")
    miri = is_miri(model)
    require_array(ref, "sci", (3, 4))
    dark = cutout(ref, "sci", model)
    if dark.ndim == 3:
        dark = dark[np.newaxis]
    dark_nints, dark_ngroups = dark.shape[:2]
    drk_nframes = int(ref.meta.get("NFRAMES", 1))
    drk_groupgap = int(ref.meta.get("GROUPGAP", 0))
    nints, ngroups = model.data.shape[:2]
    nframes = int(model.meta.get("NFRAMES", 1))
    groupgap = int(model.meta.get("GROUPGAP", 0))

    sci_frames = ngroups * nframes + (ngroups - 1) * groupgap
    drk_frames = dark_ngroups * drk_nframes + (dark_ngroups - 1) * drk_groupgap
    if sci_frames > drk_frames:
        log.warning("dark %s covers %d frames, the science %d: extrapolating the dark linearly",
                    ref.path, drk_frames, sci_frames)
    if drk_nframes > nframes or drk_groupgap > groupgap:
        return skip(model, STATUS_KEYWORD, NAME,
                    f"the dark has NFRAMES={drk_nframes}, GROUPGAP={drk_groupgap}, more than the science "
                    f"NFRAMES={nframes}, GROUPGAP={groupgap}")

    dq = _dark_dq(ref, model, miri)
    if dq is not None:
        np.bitwise_or(model.pixeldq, dq, out=model.pixeldq)

    if dark_nints == 1:
        ramp = _DarkRamp(dark[0], drk_nframes, drk_groupgap)
        for g in range(ngroups):
            plane = ramp.averaged(g, nframes, groupgap)
            np.subtract(model.data[:, g], plane, out=model.data[:, g])
        return set_status(model, STATUS_KEYWORD, COMPLETE)

    int_start = int(model.meta.get("INTSTART", 1) or 1)
    for i in range(nints):
        k = i if (i < dark_nints and int_start == 1) else dark_nints - 1
        ramp = _DarkRamp(dark[k], drk_nframes, drk_groupgap)
        for g in range(ngroups):
            np.subtract(model.data[i, g], ramp.averaged(g, nframes, groupgap), out=model.data[i, g])
    return set_status(model, STATUS_KEYWORD, COMPLETE)
