"""ipc: correct interpixel capacitance by convolving each group with a kernel.

The IPC reference file holds a deconvolution kernel, either one small 2-D
image (e.g. 3x3) for the whole detector or a 4-D array (ky, kx, ny, nx)
with a kernel per pixel. Each group of each integration is convolved with
it. Reference pixels are left unchanged and contribute zero where the
kernel overlaps them (also beyond the edge of a subarray).
"""

import numpy as np

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
    region = plane[bottom:bottom + ny, left:left + nx]
    shape = (ny + ky - 1, nx + kx - 1)
    if temp is None or temp.shape != shape:
        temp = np.zeros(shape, dtype=plane.dtype)
    else:
        temp[...] = 0
    temp[pad_y:pad_y + ny, pad_x:pad_x + nx] = region
    per_pixel = kernel.ndim == 4
    if per_pixel:
        kernel = kernel[:, :, bottom:bottom + ny, left:left + nx]
    region[...] = 0.0
    term = np.empty((ny, nx), dtype=plane.dtype)
    centre = (ky // 2, kx // 2)
    order = [(j, i) for j in range(ky) for i in range(kx) if (j, i) != centre] + [centre]
    for j, i in order:
        # output[y, x] += k[j, i] * input[y + (ky-1-j) - pad_y, x + (kx-1-i) - pad_x]
        shifted = temp[ky - 1 - j:ky - 1 - j + ny, kx - 1 - i:kx - 1 - i + nx]
        np.multiply(shifted, kernel[j, i], out=term, casting="unsafe")
        region += term
    return temp


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
