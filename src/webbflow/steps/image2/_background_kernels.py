"""numba kernel of bkg_subtract: per-pixel iterative sigma clipping and the mean of what survives."""

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True, error_model="numpy")
def _clip_pixel(values, keep, buffer, sigma, maxiters):
    """Clip ``values`` (1-D) in place of ``keep``; ``buffer`` is scratch space; returns the number kept."""
    n = values.size
    rounds = 0
    while maxiters < 0 or rounds < maxiters:
        m = 0
        total = 0.0
        for i in range(n):
            if keep[i]:
                # insertion sort into buffer[:m + 1]: n is a handful of backgrounds
                value = values[i]
                j = m
                while j > 0 and buffer[j - 1] > value:
                    buffer[j] = buffer[j - 1]
                    j -= 1
                buffer[j] = value
                total += value
                m += 1
        if m == 0:
            return 0
        centre = buffer[m // 2] if m % 2 == 1 else 0.5 * (buffer[m // 2 - 1] + buffer[m // 2])
        mean = total / m
        square = 0.0
        for i in range(m):
            square += (buffer[i] - mean) ** 2
        limit = sigma * np.sqrt(square / m)
        changed = False
        for i in range(n):
            if keep[i] and abs(values[i] - centre) > limit:
                keep[i] = False
                changed = True
        rounds += 1
        if not changed:
            break
    kept = 0
    for i in range(n):
        if keep[i]:
            kept += 1
    return kept


@njit(cache=True, parallel=True, nogil=True, error_model="numpy")
def clipped_mean(stack, var_poisson, var_rnoise, sigma, maxiters):
    """Per pixel of ``stack`` (n, ny, nx, float32): the mean of the values surviving clipping and its variances.

    NaNs never survive. Clipping is about the median, at ``sigma`` times the
    population standard deviation of the surviving values, until nothing
    changes (``maxiters`` < 0) or ``maxiters`` rounds. The variances of the
    mean are ``sum(var) / k**2`` over the k survivors.

    Returns
    -------
    mean, var_poisson, var_rnoise : float64 (ny, nx), NaN where nothing survives
    keep : bool (n, ny, nx)
    """
    n, ny, nx = stack.shape
    mean = np.full((ny, nx), np.nan)
    vp = np.full((ny, nx), np.nan)
    vr = np.full((ny, nx), np.nan)
    keep = np.zeros(stack.shape, dtype=np.bool_)
    for y in prange(ny):
        values = np.empty(n)
        buffer = np.empty(n)
        mask = np.empty(n, dtype=np.bool_)
        for x in range(nx):
            for i in range(n):
                values[i] = stack[i, y, x]
                mask[i] = np.isfinite(values[i])
            kept = _clip_pixel(values, mask, buffer, sigma, maxiters)
            if kept == 0:
                continue
            total = 0.0
            sum_p = 0.0
            sum_r = 0.0
            for i in range(n):
                if mask[i]:
                    keep[i, y, x] = True
                    total += values[i]
                    sum_p += var_poisson[i, y, x]
                    sum_r += var_rnoise[i, y, x]
            mean[y, x] = total / kept
            vp[y, x] = sum_p / (kept * kept)
            vr[y, x] = sum_r / (kept * kept)
    return mean, vp, vr, keep
