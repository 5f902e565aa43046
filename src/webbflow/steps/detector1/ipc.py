"""ipc: correct interpixel capacitance by convolving each group with a kernel.

The IPC reference file holds a deconvolution kernel, either one small 2-D
image (e.g. 3x3) for the whole detector or a 4-D array (ky, kx, ny, nx)
with a kernel per pixel. Each group of each integration is convolved with
it. Reference pixels are left unchanged and contribute zero where the
kernel overlaps them (also beyond the edge of a subarray).
"""

import numpy as np
from numba import njit, prange

from webbflow.steps.detector1._common import (
    COMPLETE,
    cutout,
    is_miri,
    merge_params,
    open_ref,
    require_array,
    require_ramp,
    set_status,
    skip,
    subarray_window,
)

NAME = "ipc"
STATUS_KEYWORD = "S_IPC"
REFTYPES = ("ipc",)
DEFAULTS = {"skip": False}


def reference_border(model):
    """Number of reference rows/columns inside the data: (bottom, top, left, right).

    NIR detectors have 4 reference rows and columns on every edge of the
    2048x2048 frame; MIRI has 4 reference columns on each side of its
    1032-column frame and no reference rows.
    """
    row0, col0, ny, nx = subarray_window(model)
    if is_miri(model):
        return 0, 0, max(0, 4 - col0), max(0, col0 + nx - 1028)
    return (max(0, 4 - row0), max(0, row0 + ny - 2044), max(0, 4 - col0), max(0, col0 + nx - 2044))


def convolve_group(plane, kernel, border, temp=None):
    """Convolve one group (in place) with a 2-D or 4-D IPC kernel.

    Parameters
    ----------
    plane : ndarray, float32 (ny, nx)
    kernel : ndarray, (ky, kx) or (ky, kx, ny, nx)
        For 4-D, the kernel of each output pixel (same grid as ``plane``).
    border : tuple of int
        (bottom, top, left, right) reference rows/columns to leave untouched.
    temp : ndarray, optional
        Work buffer from a previous call, reused when its shape fits.

    Returns
    -------
    ndarray or None
        The work buffer, to pass to the next call.
    """
    bottom, top, left, right = border
    ny = plane.shape[0] - bottom - top
    nx = plane.shape[1] - left - right
    if ny <= 0 or nx <= 0:
        return temp
    ky, kx = kernel.shape[:2]
    pad_y, pad_x = ky // 2, kx // 2
    shape = (ny + ky - 1, nx + kx - 1)
    if temp is None or temp.shape != shape:
        temp = np.zeros(shape, dtype=np.float32)
    if kernel.ndim == 2:  # one kernel: a 4-D view with zero strides over the pixels
        kernel = kernel.reshape(ky, kx, 1, 1)
    centre = (ky // 2, kx // 2)
    # the centre term last: the order of the float32 sums is part of the result
    order = np.array([(j, i) for j in range(ky) for i in range(kx) if (j, i) != centre] + [centre], dtype=np.int64)
    _convolve(plane, np.ascontiguousarray(kernel, dtype=np.float32), temp, order, bottom, left, ny, nx, pad_y, pad_x)
    return temp


@njit(parallel=True, cache=True, nogil=True)
def _convolve(plane, kernel, temp, order, bottom, left, ny, nx, pad_y, pad_x):
    """``plane[bottom:bottom+ny, left:left+nx]`` convolved in place; ``temp`` is the zero-padded copy.

    output[y, x] = sum over (j, i) in ``order`` of k[j, i] * input[y + (ky-1-j) - pad_y, x + (kx-1-i) - pad_x],
    each product and sum in float32, term by term over a row (so that the loop over x vectorises).
    """
    ky, kx = kernel.shape[:2]
    per_pixel = kernel.shape[2] > 1 or kernel.shape[3] > 1
    for y in prange(ny):
        temp[pad_y + y, pad_x:pad_x + nx] = plane[bottom + y, left:left + nx]
    for y in prange(ny):
        acc = np.zeros(nx, dtype=np.float32)
        for n in range(order.shape[0]):
            j = order[n, 0]
            i = order[n, 1]
            row = temp[y + ky - 1 - j, kx - 1 - i:kx - 1 - i + nx]
            if per_pixel:
                krow = kernel[j, i, bottom + y, left:left + nx]
                for x in range(nx):
                    acc[x] = acc[x] + row[x] * krow[x]
            else:
                k = kernel[j, i, 0, 0]
                for x in range(nx):
                    acc[x] = acc[x] + row[x] * k
        plane[bottom + y, left:left + nx] = acc


def run(model, refs, params=None):
    """Apply the IPC correction.

    Parameters
    ----------
    model : RampModel
        Modified in place.
    refs : dict
        ``{"ipc": path}``.
    params : dict, optional
        Unused.

    Returns
    -------
    RampModel
    """
    merge_params(DEFAULTS, params)
    require_ramp(model, NAME)
    ref = open_ref(refs, "ipc", NAME)
    if ref is None:
        return skip(model, STATUS_KEYWORD, NAME, "no ipc reference file (N/A)")
    kernel = require_array(ref, "sci", (2, 4))
    if kernel.ndim == 4:
        kernel = cutout(ref, "sci", model)
    kernel = np.asarray(kernel, dtype=np.float32)
    border = reference_border(model)
    nints, ngroups = model.data.shape[:2]
    temp = None
    for i in range(nints):
        for g in range(ngroups):
            temp = convolve_group(model.data[i, g], kernel, border, temp)
    return set_status(model, STATUS_KEYWORD, COMPLETE)
