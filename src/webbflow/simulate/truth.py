"""Truth files: what a perfect detector1 pipeline should find in each exposure.

``truth/<stem>_truth.fits`` (``<stem>`` = the uncal name without
``_uncal.fits``) holds:

=========  ==========================================================
HDU        contents
=========  ==========================================================
PRIMARY    FILENAME, UNCAL (the exposure), INSTRUME, DETECTOR, SEED,
           SUBARRAY and SUBSTRT1/2, SUBSIZE1/2
RATE       float32 (ny, nx), DN/s: the true count rate, what a perfect
           detector1 with the ipc step recovers; 0 on reference pixels,
           NaN on dead pixels (DO_NOT_USE in the mask)
RATE_IPC   float32 (ny, nx), DN/s: the rate seen through IPC (what a
           pipeline that skips the ipc step recovers, to first order;
           not next to saturated pixels, whose IPC stops growing)
DQ         uint32 (ny, nx): the mask reference cut to the subarray
CRS        table: integration, group, frame (0-based; ``group`` is the
           first group containing the hit, ``frame`` the read frame),
           y, x (0-based, science frame), amplitude (DN, before IPC),
           fraction (share of the hit in that first group's average)
SATURATED  table: integration, y, x, group -- the first group whose
           noise-free value reaches the saturation reference or that
           contains a frame on the saturation plateau (the official
           saturation step, which also flags the neighbours of saturated
           pixels, often flags a group or two earlier)
CAL        imaging program only (webbflow.simulate.imaging): float32,
           MJy/sr, what a perfect image2 gives (RATE / FLAT * PHOTMJSR);
           the primary header then also holds the true pointing (TRA_REF,
           TDEC_REF, TROLLREF), its error PNTGERR (arcsec), PHOTMJSR and
           PIXAR_SR
FLAT       imaging program only: the flat field cut to the subarray
=========  ==========================================================
"""

import os
import tempfile

import numpy as np
from astropy.io import fits

from webbflow.atomic import publish
from webbflow.simulate.program import set_card

__all__ = ["truth_name", "write_truth", "read_truth"]


def truth_name(uncal_name):
    """``jw..._nrcb1_uncal.fits`` -> ``jw..._nrcb1_truth.fits``."""
    base = os.path.basename(os.fspath(uncal_name))
    stem = base[: -len("_uncal.fits")] if base.endswith("_uncal.fits") else os.path.splitext(base)[0]
    return stem + "_truth.fits"


def write_truth(path, exp, truth, seed, extra_cards=(), extra_images=()):
    """Write one truth file.

    Parameters
    ----------
    path : str or os.PathLike
    exp : Exposure
    truth : dict
        As returned by :func:`webbflow.simulate.ramps.simulate_exposure`.
    seed : int
    extra_cards : iterable of (keyword, value, comment), optional
        More primary-header keywords (the imaging program's true pointing).
    extra_images : iterable of (EXTNAME, array, BUNIT), optional
        More image extensions, after SATURATED (the imaging program's CAL and FLAT).
    """
    path = os.fspath(path)
    sub = exp.sub
    h = fits.Header()
    for key, value, comment in [
        ("FILENAME", os.path.basename(path), "name of the file"),
        ("UNCAL", exp.uncal_name, "the simulated exposure"),
        ("TELESCOP", "JWST", ""),
        ("INSTRUME", exp.instrument, ""),
        ("DETECTOR", exp.detector, ""),
        ("EXP_TYPE", exp.exp_type, ""),
        ("SUBARRAY", sub.name, ""),
        ("SUBSTRT1", sub.xstart, ""), ("SUBSTRT2", sub.ystart, ""),
        ("SUBSIZE1", sub.xsize, ""), ("SUBSIZE2", sub.ysize, ""),
        ("NINTS", exp.nints, ""), ("NGROUPS", exp.ngroups, ""),
        ("SEED", int(seed), "simulator seed"),
        ("BUNIT", "DN/s", "units of RATE and RATE_IPC"),
        *extra_cards,
    ]:
        set_card(h, key, value, comment)
    hdus = [
        fits.PrimaryHDU(header=h),
        fits.ImageHDU(truth["rate"].astype(np.float32), name="RATE"),
        fits.ImageHDU(truth["rate_ipc"].astype(np.float32), name="RATE_IPC"),
        fits.ImageHDU(truth["dq"].astype(np.uint32), name="DQ"),
        fits.BinTableHDU(truth["crs"], name="CRS"),
        fits.BinTableHDU(truth["saturated"], name="SATURATED"),
    ]
    hdus[1].header["BUNIT"] = "DN/s"
    hdus[2].header["BUNIT"] = "DN/s"
    hdus[4].header["BUNIT"] = "DN"
    for name, array, unit in extra_images:
        hdus.append(fits.ImageHDU(np.asarray(array, dtype=np.float32), name=name))
        if unit:
            hdus[-1].header["BUNIT"] = unit
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=".fits", dir=directory)
    os.close(fd)
    try:
        fits.HDUList(hdus).writeto(tmp, overwrite=True)
        publish(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def read_truth(path):
    """Read a truth file.

    Returns
    -------
    dict
        ``meta`` (primary header), ``rate``, ``rate_ipc``, ``dq`` arrays,
        ``crs`` and ``saturated`` structured arrays.
    """
    with fits.open(os.fspath(path), memmap=False) as hdul:
        return {
            "meta": hdul[0].header.copy(),
            "rate": np.asarray(hdul["RATE"].data, dtype=np.float32),
            "rate_ipc": np.asarray(hdul["RATE_IPC"].data, dtype=np.float32),
            "dq": np.asarray(hdul["DQ"].data, dtype=np.uint32),
            "crs": np.asarray(hdul["CRS"].data).copy(),
            "saturated": np.asarray(hdul["SATURATED"].data).copy(),
        }
