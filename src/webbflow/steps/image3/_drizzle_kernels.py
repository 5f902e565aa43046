"""Numba kernels of the drizzle algorithm (Fruchter & Hook 2002).

Each input pixel is shrunk about its centre by ``pixfrac`` (a "drop") and
mapped onto the output grid; its value is added to every output pixel
the drop overlaps, with the weight ``w * a / A`` where ``w`` is the input
pixel's weight, ``a`` the overlap area and ``A`` the area of the whole
drop on the output grid. The output value is the weighted mean of the
values that landed on it, so a surface brightness stays a surface
brightness and the total flux (value x area) is conserved.

Kernels:

``square``
    The drop is the quadrilateral through the four mapped (shrunken)
    corners; the overlap with each output pixel is computed exactly by
    integrating (Green's theorem: the area of a region is the integral
    over x of its column lengths) the heights of its edges, clamped to each
    output row, over each output column the drop crosses.
``turbo``
    The drop is a square aligned with the output axes, of side
    ``pixfrac / pixel_scale_ratio`` output pixels, centred on the mapped
    centre (fast, approximate where the grids are rotated).
``point``
    All of the drop goes to the output pixel that holds the mapped centre.

The mapping is given on a coarse grid of input pixel *corners*: node
``(k, l)`` is the input point ``(x, y) = (-0.5 + l * step, -0.5 + k *
step)`` and holds its output coordinates; corners in between are
bilinearly interpolated. Pixel centres are the mean of their four corners.
"""

import numpy as np
from numba import njit

KERNELS = {"square": 0, "turbo": 1, "point": 2}


@njit(cache=True, nogil=True)
def _interp_edge(gx, gy, step, y, nx, ex, ey):
    """Output coordinates of the corners ``(i - 0.5, y)``, i = 0..nx, into ``ex``, ``ey``."""
    ny_nodes, nx_nodes = gx.shape
    fy = (y + 0.5) / step
    k = min(max(int(np.floor(fy)), 0), ny_nodes - 2)
    ty = fy - k
    for i in range(nx + 1):
        fx = i / step
        m = min(int(fx), nx_nodes - 2)
        tx = fx - m
        w00 = (1.0 - tx) * (1.0 - ty)
        w01 = tx * (1.0 - ty)
        w10 = (1.0 - tx) * ty
        w11 = tx * ty
        ex[i] = w00 * gx[k, m] + w01 * gx[k, m + 1] + w10 * gx[k + 1, m] + w11 * gx[k + 1, m + 1]
        ey[i] = w00 * gy[k, m] + w01 * gy[k, m + 1] + w10 * gy[k + 1, m] + w11 * gy[k + 1, m + 1]


@njit(cache=True, nogil=True)
def _strip_integral(yu, yv, length, y0, y1):
    """Integral over an edge piece of length ``length`` (in x) of its height clamped to [y0, y1], minus y0.

    The height is linear along the piece, so only the fractions of its x
    extent below y0, inside, and above y1 matter.
    """
    lo = min(yu, yv)
    hi = max(yu, yv)
    if hi <= y0:
        return 0.0
    if lo >= y1:
        return length * (y1 - y0)
    if lo >= y0 and hi <= y1:
        return length * (0.5 * (yu + yv) - y0)
    span = hi - lo
    below = min(max((y0 - lo) / span, 0.0), 1.0)
    above = min(max((hi - y1) / span, 0.0), 1.0)
    middle = 1.0 - below - above
    return length * (above * (y1 - y0) + middle * (0.5 * (max(lo, y0) + min(hi, y1)) - y0))


@njit(cache=True, nogil=True, inline="always")
def _deposit(num, wht, local, con, jj, ii, dow, values, j, i, bit):
    num[jj, ii] += dow * values[0, j, i]
    wht[jj, ii] += dow
    con[jj, ii] |= bit
    if local.shape[2] > 0:
        local[jj, ii, 0] += dow
        for q in range(1, values.shape[0]):
            local[jj, ii, q] += dow * values[q, j, i]


@njit(cache=True, nogil=True)
def drizzle_image(values, weights, gx, gy, step, num, wht, local, con, bit, kernel, pixfrac, pscale_ratio):
    """Drizzle one input image onto the output accumulators.

    Parameters
    ----------
    values : ndarray, float32 (nv, ny, nx)
        The quantities drizzled with the same drops: ``values[0]`` the
        science data, then (optionally) the errors ``sqrt(var)`` of each
        variance array.
    weights : ndarray, float32 (ny, nx)
        The input weights; pixels with weight <= 0 are skipped.
    gx, gy : ndarray, float64 (my, mx)
        Output coordinates (0-based pixel centres) of the corner grid nodes.
    step : int
        Input pixels between grid nodes.
    num, wht : ndarray, float32 (oy, ox)
        The output sums (views of the window this input reaches):
        ``num`` += drop weight x values[0], ``wht`` += drop weight.
    local : ndarray, float32 (oy, ox, nv) or (oy, ox, 0)
        This input's own sums, for its variances: ``local[..., 0]`` +=
        drop weight, ``local[..., q]`` += drop weight x values[q] (q >= 1);
        the sums of a pixel sit together in memory (one cache line).
    con : ndarray, int32 (oy, ox)
        The context plane; ``bit`` is set where a drop with weight > 0 lands.
    bit : int
        This input's context bit (1 << (index % 32), as an int32).
    kernel : int
        0 square, 1 turbo, 2 point.
    pixfrac : float
        Linear shrink factor of the drops.
    pscale_ratio : float
        Output over input pixel scale (sets the turbo drop size).

    Returns
    -------
    int
        The number of input pixels whose drop fell outside the output.
    """
    nv, ny, nx = values.shape
    oy, ox = num.shape
    lox = np.empty(nx + 1)
    loy = np.empty(nx + 1)
    hix = np.empty(nx + 1)
    hiy = np.empty(nx + 1)
    px = np.empty(4)
    py = np.empty(4)
    seg_yu = np.empty(4)
    seg_yv = np.empty(4)
    seg_len = np.empty(4)
    seg_sign = np.empty(4)
    half = 0.5 * pixfrac / pscale_ratio
    turbo_area = (2.0 * half) ** 2
    missed = 0
    _interp_edge(gx, gy, step, -0.5, nx, lox, loy)
    for j in range(ny):
        _interp_edge(gx, gy, step, j + 0.5, nx, hix, hiy)
        for i in range(nx):
            w = weights[j, i]
            if not w > 0.0:
                continue
            # corners counter-clockwise in input pixels: (-,-) (+,-) (+,+) (-,+)
            c0x, c0y = lox[i], loy[i]
            c1x, c1y = lox[i + 1], loy[i + 1]
            c2x, c2y = hix[i + 1], hiy[i + 1]
            c3x, c3y = hix[i], hiy[i]
            cx = 0.25 * (c0x + c1x + c2x + c3x)
            cy = 0.25 * (c0y + c1y + c2y + c3y)
            if not (np.isfinite(cx) and np.isfinite(cy)):
                missed += 1
                continue
            hit = False
            if kernel == 2:
                ii = int(np.floor(cx + 0.5))
                jj = int(np.floor(cy + 0.5))
                if 0 <= ii < ox and 0 <= jj < oy:
                    hit = True
                    _deposit(num, wht, local, con, jj, ii, w, values, j, i, bit)
            elif kernel == 1:
                xlo, xhi = cx - half, cx + half
                ylo, yhi = cy - half, cy + half
                i0 = max(int(np.floor(xlo + 0.5)), 0)
                i1 = min(int(np.floor(xhi + 0.5)), ox - 1)
                j0 = max(int(np.floor(ylo + 0.5)), 0)
                j1 = min(int(np.floor(yhi + 0.5)), oy - 1)
                for jj in range(j0, j1 + 1):
                    dy = min(yhi, jj + 0.5) - max(ylo, jj - 0.5)
                    if dy <= 0.0:
                        continue
                    for ii in range(i0, i1 + 1):
                        dx = min(xhi, ii + 0.5) - max(xlo, ii - 0.5)
                        if dx <= 0.0:
                            continue
                        dow = w * (dx * dy / turbo_area)
                        hit = True
                        _deposit(num, wht, local, con, jj, ii, dow, values, j, i, bit)
            else:
                px[0] = cx + pixfrac * (c0x - cx)
                px[1] = cx + pixfrac * (c1x - cx)
                px[2] = cx + pixfrac * (c2x - cx)
                px[3] = cx + pixfrac * (c3x - cx)
                py[0] = cy + pixfrac * (c0y - cy)
                py[1] = cy + pixfrac * (c1y - cy)
                py[2] = cy + pixfrac * (c2y - cy)
                py[3] = cy + pixfrac * (c3y - cy)
                area = 0.5 * abs((px[2] - px[0]) * (py[3] - py[1]) - (px[3] - px[1]) * (py[2] - py[0]))
                if not area > 0.0:
                    missed += 1
                    continue
                xmin = min(min(px[0], px[1]), min(px[2], px[3]))
                xmax = max(max(px[0], px[1]), max(px[2], px[3]))
                ymin = min(min(py[0], py[1]), min(py[2], py[3]))
                ymax = max(max(py[0], py[1]), max(py[2], py[3]))
                i0 = max(int(np.floor(xmin + 0.5)), 0)
                i1 = min(int(np.floor(xmax + 0.5)), ox - 1)
                j0 = max(int(np.floor(ymin + 0.5)), 0)
                j1 = min(int(np.floor(ymax + 0.5)), oy - 1)
                if i0 == i1 and j0 == j1 and xmin >= i0 - 0.5 and xmax <= i0 + 0.5 \
                        and ymin >= j0 - 0.5 and ymax <= j0 + 0.5:
                    # the drop lies wholly inside one output pixel
                    hit = True
                    _deposit(num, wht, local, con, j0, i0, w, values, j, i, bit)
                    continue
                for ii in range(i0, i1 + 1):
                    # the parts of the drop's edges over this output column, once for all its rows
                    x0 = ii - 0.5
                    x1 = ii + 0.5
                    nseg = 0
                    for k in range(4):
                        kb = k + 1 if k < 3 else 0
                        xa, ya, xb, yb = px[k], py[k], px[kb], py[kb]
                        if xa == xb:
                            continue
                        sg = 1.0 if xb > xa else -1.0
                        if xa > xb:
                            xa, xb, ya, yb = xb, xa, yb, ya
                        u = max(xa, x0)
                        v = min(xb, x1)
                        if u >= v:
                            continue
                        slope = (yb - ya) / (xb - xa)
                        seg_yu[nseg] = ya + slope * (u - xa)
                        seg_yv[nseg] = ya + slope * (v - xa)
                        seg_len[nseg] = v - u
                        seg_sign[nseg] = sg
                        nseg += 1
                    if nseg == 0:
                        continue
                    for jj in range(j0, j1 + 1):
                        y0 = jj - 0.5
                        y1 = jj + 0.5
                        a = 0.0
                        for k in range(nseg):
                            a -= seg_sign[k] * _strip_integral(seg_yu[k], seg_yv[k], seg_len[k], y0, y1)
                        a = abs(a)
                        if a <= 0.0:
                            continue
                        dow = w * (a / area)
                        hit = True
                        _deposit(num, wht, local, con, jj, ii, dow, values, j, i, bit)
            if not hit:
                missed += 1
        for i in range(nx + 1):
            lox[i] = hix[i]
            loy[i] = hiy[i]
    return missed


@njit(cache=True, nogil=True)
def interpolate_points(gx, gy, step, x, y, outx, outy):
    """Bilinear interpolation of the corner grid at input points (x, y) (for tests and footprints)."""
    ny_nodes, nx_nodes = gx.shape
    for n in range(x.size):
        fx = (x[n] + 0.5) / step
        fy = (y[n] + 0.5) / step
        m = min(max(int(np.floor(fx)), 0), nx_nodes - 2)
        k = min(max(int(np.floor(fy)), 0), ny_nodes - 2)
        tx = fx - m
        ty = fy - k
        outx[n] = ((1 - tx) * (1 - ty) * gx[k, m] + tx * (1 - ty) * gx[k, m + 1]
                   + (1 - tx) * ty * gx[k + 1, m] + tx * ty * gx[k + 1, m + 1])
        outy[n] = ((1 - tx) * (1 - ty) * gy[k, m] + tx * (1 - ty) * gy[k, m + 1]
                   + (1 - tx) * ty * gy[k + 1, m] + tx * ty * gy[k + 1, m + 1])


@njit(cache=True, nogil=True)
def pixel_weights(data, dq, bad_bits, var_rnoise, use_ivm, exptime):
    """Input weights: 0 where ``dq & bad_bits`` or the data are not finite, else 1 / var_rnoise
    (``use_ivm``; 0 where the variance is not positive and finite) or ``exptime``."""
    ny, nx = data.shape
    out = np.zeros((ny, nx), np.float32)
    for j in range(ny):
        for i in range(nx):
            if (dq[j, i] & bad_bits) != 0 or not np.isfinite(data[j, i]):
                continue
            if use_ivm:
                v = var_rnoise[j, i]
                if v > 0.0 and np.isfinite(v):
                    out[j, i] = 1.0 / v
            else:
                out[j, i] = exptime
    return out


@njit(cache=True, nogil=True)
def fold_variances(local, var_sum, var_wt, var_index, rn_q, use_ivm, exptime):
    """Add one input's variances, drizzled in its window, to the output sums.

    ``local`` (oy, ox, 1 + nq) holds the input's (weight, weight x error_q
    ...) of :func:`drizzle_image`; its variance ``v_q`` on the output grid is
    ``(local[..., q] / local[..., 0])**2``, added as ``v_q W**2`` to
    ``var_sum[var_index[q - 1]]``, and ``W`` to ``var_wt`` (one weight array
    for all variances): ``W`` = 1 / v(rnoise) (``use_ivm``; ``rn_q`` is its
    q) or ``exptime``. A pixel where any of the input's variances is not
    finite takes nothing from this input.
    """
    nq = var_index.size
    for j in range(local.shape[0]):
        for i in range(local.shape[1]):
            w = local[j, i, 0]
            if not w > 0.0:
                continue
            if use_ivm:
                e = local[j, i, rn_q] / w
                big_w = 1.0 / (e * e) if e * e > 0.0 and np.isfinite(e) else 0.0
            else:
                big_w = exptime
            if not big_w > 0.0:
                continue
            ok = True
            for q in range(1, nq + 1):
                if not np.isfinite(local[j, i, q]):
                    ok = False
            if not ok:
                continue
            for q in range(1, nq + 1):
                e = local[j, i, q] / w
                var_sum[var_index[q - 1], j, i] += e * e * big_w * big_w
            var_wt[j, i] += big_w


@njit(cache=True, nogil=True)
def finalize(num, wht, var_sum, var_wt, scaling, fill):
    """In place: ``num`` becomes SCI (``fill`` where WHT = 0), ``var_sum`` the variances
    (``var_sum * scaling / var_wt**2``, NaN where no weight; ``var_wt`` is shared by all); returns ERR = sqrt(sum of the
    finite variances), NaN where none is finite."""
    ny, nx = num.shape
    nv = var_sum.shape[0]
    err = np.empty((ny, nx), np.float32)
    for j in range(ny):
        for i in range(nx):
            w = wht[j, i]
            num[j, i] = num[j, i] / w if w > 0.0 else fill
            total = 0.0
            anyv = False
            for q in range(nv):
                t = var_wt[j, i]
                if t > 0.0:
                    v = var_sum[q, j, i] * scaling / t / t
                    var_sum[q, j, i] = v
                    if np.isfinite(v):
                        total += v
                        anyv = True
                else:
                    var_sum[q, j, i] = np.nan
            err[j, i] = np.sqrt(total) if anyv else np.nan
    return err
