"""Large cosmic-ray events for the jump step: snowballs and MIRI showers.

Our own versions of the official options, on whole 2-D planes with
``scipy.ndimage`` (connected regions, moments). What is implemented:

Snowballs (``expand_large_events``), per integration and group:

* regions of JUMP_DET pixels (8-connected) with an area, holes filled, of at
  least ``min_jump_area`` are described by their moment ellipse (centroid,
  axes from the second moments as ``4 sqrt(eigenvalue) - 1``, orientation);
* a region is a snowball when a newly saturated region (saturated in this
  group but not the previous one, or in the next group but not this one, of
  area >= ``min_sat_area``) has its centroid inside the region's ellipse, or
  when its centroid is within ``edge_size`` pixels of the array edge (or
  always, with ``sat_required_snowball`` off);
* each snowball ellipse is enlarged (minor axis times ``expand_factor``, the
  major axis by the same number of pixels, capped at
  ``2 * max_extended_radius``) and its unsaturated pixels flagged JUMP_DET
  in that group;
* newly saturated cores whose minor axis exceeds ``min_sat_radius_extend``
  are grown by ``sat_expand`` pixels in radius and flagged SATURATED from
  that group to the end of the integration; with
  ``mask_snowball_core_next_int`` the (ungrown) cores are flagged JUMP_DET in
  groups 1 .. ``snowball_time_masked_next_int / TGROUP`` of the next
  integration.

Showers (``find_showers``, MIRI), per integration and group:

* the significance of each group difference against the pixel's median
  difference (pixels already flagged, or reference pixels, left out) is
  smoothed with a ring kernel (``extend_inner_radius`` ..
  ``extend_outer_radius``), normalised by the kernel weight of the unmasked
  pixels;
* regions above ``extend_snr_threshold`` with at least ``extend_min_area``
  pixels become ellipses enlarged by ``extend_ellipse_expand_ratio``, whose
  pixels are flagged JUMP_DET in that group and the groups within
  ``time_masked_after_shower`` seconds after it (saturated pixels excepted);
* flags are reverted for pixels whose mean group difference changes by more
  than ``max_shower_amplitude`` (DN/s, times TGROUP) or becomes undefined.

Differences from the official code: the official one uses
scikit-image region properties and ellipse drawing (ours: scipy moments and
our own drawing), overwrites grown cores with SATURATED (ours: ORs it in and
clears JUMP_DET) and sets reference pixels DO_NOT_USE when looking for
showers (ours: only leaves them out); the shower amplitude check is in DN.
"""

import math
import warnings

import numpy as np
from scipy import ndimage, signal

DNU = 1
SAT = 2
JUMP = 4
_EIGHT = np.ones((3, 3), dtype=bool)


def regions(mask, min_area):
    """Ellipses of the 8-connected regions of ``mask`` with a filled area >= ``min_area``.

    Returns
    -------
    list of tuple
        ``(cy, cx, major, minor, theta)``: centroid, full axis lengths
        (moment axes minus one pixel, as officially) and the angle of the
        major axis from the x (column) axis in radians.
    """
    labels, n = ndimage.label(mask, structure=_EIGHT)
    if n == 0:
        return []
    out = []
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        sub = labels[box] == index
        area = int(ndimage.binary_fill_holes(sub).sum()) if sub.size > 4 else int(sub.sum())
        if area < min_area:
            continue
        yy, xx = np.nonzero(sub)
        yy = yy + box[0].start
        xx = xx + box[1].start
        cy, cx = yy.mean(), xx.mean()
        dy, dx = yy - cy, xx - cx
        syy, sxx, sxy = (dy * dy).mean(), (dx * dx).mean(), (dx * dy).mean()
        half_tr = 0.5 * (sxx + syy)
        root = math.sqrt(max(0.25 * (sxx - syy) ** 2 + sxy * sxy, 0.0))
        l1, l2 = half_tr + root, max(half_tr - root, 0.0)
        theta = 0.5 * math.atan2(2.0 * sxy, sxx - syy)
        major = 4.0 * math.sqrt(l1) - 1.0
        minor = 4.0 * math.sqrt(l2) - 1.0
        out.append((cy, cx, major, minor, theta))
    return out


def inside(point, ellipse):
    """Whether (y, x) ``point`` lies inside the ellipse (full axes)."""
    cy, cx, major, minor, theta = ellipse
    a = max(major, 1.0) / 2.0
    b = max(minor, 1.0) / 2.0
    dy, dx = point[0] - cy, point[1] - cx
    u = dx * math.cos(theta) + dy * math.sin(theta)
    v = -dx * math.sin(theta) + dy * math.cos(theta)
    return (u / a) ** 2 + (v / b) ** 2 <= 1.0


def ellipse_mask(shape, cy, cx, a, b, theta):
    """A filled ellipse (semi-axes ``a`` along ``theta``, ``b`` across) in a box of ``shape``.

    Returns
    -------
    (slice, slice), ndarray of bool
        The box and the mask inside it.
    """
    ny, nx = shape
    r = int(math.ceil(max(a, b))) + 1
    y0, y1 = max(int(round(cy)) - r, 0), min(int(round(cy)) + r + 1, ny)
    x0, x1 = max(int(round(cx)) - r, 0), min(int(round(cx)) + r + 1, nx)
    if y1 <= y0 or x1 <= x0 or a <= 0 or b <= 0:
        return (slice(0, 0), slice(0, 0)), np.zeros((0, 0), bool)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    dy, dx = yy - cy, xx - cx
    u = dx * math.cos(theta) + dy * math.sin(theta)
    v = -dx * math.sin(theta) + dy * math.cos(theta)
    return (slice(y0, y1), slice(x0, x1)), (u / a) ** 2 + (v / b) ** 2 < 1.0


def _expanded_axes(major, minor, factor, max_width):
    """Semi-axes of an enlarged ellipse: the minor axis scaled, the major grown by as many pixels."""
    minor = max(minor, 0.0)
    major = max(major, minor)
    new_minor = min(minor * factor, max_width)
    new_major = min(major + (factor - 1.0) * minor, max_width)
    return round(new_major / 2.0), round(new_minor / 2.0)


def flag_snowballs(gdq, tgroup, p):
    """Flag snowballs in ``gdq`` (nints, ngroups, ny, nx) in place; return their number."""
    nints, ngroups, ny, nx = gdq.shape
    edge = int(p["edge_size"])
    max_width = 2.0 * float(p["max_extended_radius"])
    persist = np.zeros((nints, ny, nx), dtype=bool)
    total = 0
    for i in range(nints):
        for g in range(1, ngroups):
            cur_sat = (gdq[i, g] & SAT) != 0
            new_sat = cur_sat & ((gdq[i, g - 1] & SAT) == 0)
            sat_cores = regions(new_sat, p["min_sat_area"]) if new_sat.any() else []
            next_cores = []
            if g < ngroups - 1:
                next_new = ((gdq[i, g + 1] & SAT) != 0) & ~cur_sat
                next_cores = regions(next_new, p["min_sat_area"]) if next_new.any() else []
            jump_plane = (gdq[i, g] & JUMP) != 0
            events = regions(jump_plane, p["min_jump_area"]) if jump_plane.any() else []
            snowballs = []
            for ev in events:
                cy, cx = ev[0], ev[1]
                near_edge = cy < edge or cx < edge or cy > ny - edge or cx > nx - edge
                if (not p["sat_required_snowball"]) or near_edge or any(
                        inside(core[:2], ev) for core in sat_cores + next_cores):
                    snowballs.append(ev)
            # grow the large saturated cores through the rest of the integration
            for cy, cx, major, minor, theta in sat_cores:
                if min(major, minor) > float(p["min_sat_radius_extend"]):
                    grow = 2.0 * float(p["sat_expand"])
                    a = round(min(major + grow, max_width) / 2.0)
                    b = round(min(minor + grow, max_width) / 2.0)
                    box, mask = ellipse_mask((ny, nx), cy, cx, a, b, theta)
                    if mask.size:
                        block = gdq[i, g:, box[0], box[1]]
                        block[:, mask] = (block[:, mask] | SAT) & ~np.uint8(JUMP)
                    box, mask = ellipse_mask((ny, nx), cy, cx, round(major / 2.0), round(minor / 2.0), theta)
                    if mask.size:
                        persist[i, box[0], box[1]] |= mask
            for cy, cx, major, minor, theta in snowballs:
                a, b = _expanded_axes(major, minor, float(p["expand_factor"]), max_width)
                box, mask = ellipse_mask((ny, nx), cy, cx, a, b, theta)
                if mask.size:
                    plane = gdq[i, g, box[0], box[1]]
                    hit = mask & ((plane & SAT) == 0)
                    plane[hit] |= JUMP
            total += len(snowballs)
    if p["mask_snowball_core_next_int"]:
        ngrp_flag = int(float(p["snowball_time_masked_next_int"]) // tgroup)
        last = min(ngrp_flag, ngroups)
        if ngrp_flag >= 1:
            for i in range(1, nints):
                if persist[i - 1].any():
                    block = gdq[i, 1:last]
                    block[:, persist[i - 1]] |= JUMP
    return total


def _ring_kernel(inner, outer):
    """A normalised annulus kernel (1 between the radii, 0 elsewhere)."""
    r = int(math.ceil(outer))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    rr = np.hypot(yy, xx)
    k = ((rr >= inner) & (rr <= outer)).astype(float)
    return k / k.sum()


def _smooth_nan(image, kernel):
    """Convolve ignoring NaNs (normalised by the kernel weight of valid pixels); NaN stays NaN."""
    good = np.isfinite(image)
    filled = np.where(good, image, 0.0)
    num = signal.oaconvolve(filled, kernel, mode="same")
    norm = signal.oaconvolve(good.astype(float), kernel, mode="same")
    ok = good & (norm > 1e-3 * kernel.mean())
    out = np.full(image.shape, np.nan)
    out[ok] = num[ok] / norm[ok]
    return out


def flag_showers(data, gdq, pdq, gain, readnoise, med0, sig0, all_dnu, nframes, tgroup, p):
    """Flag MIRI showers in ``gdq`` in place; return their number."""
    from webbflow import dqflags

    nints, ngroups, ny, nx = data.shape
    total_diffs = nints * (ngroups - 1) - int(all_dnu.sum())
    if total_diffs < 10:
        return 0
    before = gdq.copy()
    invalid = np.uint8(DNU | SAT | JUMP)
    refpix = (pdq & np.uint32(dqflags.REFERENCE_PIXEL)) != 0
    pixel_bad = ((pdq & np.uint32(DNU | SAT | JUMP)) != 0) | refpix
    kernel = _ring_kernel(float(p["extend_inner_radius"]), float(p["extend_outer_radius"]))
    g_after = int(float(p["time_masked_after_shower"]) // tgroup)
    max_width = 2.0 * float(p["max_extended_radius"])
    g32 = gain.astype(np.float64)
    found = []
    for i in range(nints):
        first_good = 0
        for g in range(ngroups):
            if not all_dnu[i, g]:
                first_good = g
                break
        for g in range(first_good + 1, ngroups):
            bad = ((before[i, g] | before[i, g - 1]) & invalid) != 0
            diff = (data[i, g].astype(np.float64) - data[i, g - 1]) * g32
            ratio = np.abs(diff - med0) / sig0
            ratio[bad | pixel_bad | ((gdq[i, g] & invalid) != 0)] = np.nan
            smooth = _smooth_nan(ratio, kernel)
            with np.errstate(invalid="ignore"):
                emission = smooth > float(p["extend_snr_threshold"])
            ellipses = regions(emission, p["extend_min_area"])
            if ellipses:
                found.append((i, g, ellipses))
    count = 0
    for i, g, ellipses in found:
        for cy, cx, major, minor, theta in ellipses:
            a, b = _expanded_axes(major, minor, float(p["extend_ellipse_expand_ratio"]), max_width)
            box, mask = ellipse_mask((ny, nx), cy, cx, a, b, theta)
            if not mask.size:
                continue
            for gg in range(g, min(g + g_after + 1, ngroups)):
                plane = gdq[i, gg, box[0], box[1]]
                plane[mask & ((plane & SAT) == 0)] |= JUMP
            count += 1
    if count:
        _revert_large_changes(data, before, gdq, float(p["max_shower_amplitude"]) * tgroup)
    return count


def _mean_diff(data_int, flags_int):
    valid = (flags_int & np.uint8(DNU | SAT | JUMP)) == 0
    vals = np.where(valid, data_int, np.nan)
    diffs = np.diff(vals, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(diffs, axis=0)


def _revert_large_changes(data, before, gdq, max_amplitude):
    """Restore the pre-shower flags where the mean difference moved by more than ``max_amplitude`` DN."""
    for i in range(data.shape[0]):
        if np.array_equal(before[i], gdq[i]):
            continue
        change = np.abs(_mean_diff(data[i], before[i]) - _mean_diff(data[i], gdq[i]))
        revert = ~np.isfinite(change) | (change > max_amplitude)
        changed = np.any(before[i] != gdq[i], axis=0)
        revert &= changed
        if revert.any():
            gdq[i][:, revert] = before[i][:, revert]
