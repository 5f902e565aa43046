"""Small synthetic ramps and reference files in the official CRDS formats, for step tests.

A plain module (not a conftest): ``from ref_fixtures import make_ramp, write_mask``.
"""

import numpy as np
from astropy.io import fits

from webbflow import dqflags
from webbflow.datamodels import RampModel

DATAMODELS = {
    "mask": "MaskModel",
    "saturation": "SaturationModel",
    "superbias": "SuperBiasModel",
    "linearity": "LinearityModel",
    "dark": "DarkModel",
    "gain": "GainModel",
    "readnoise": "ReadnoiseModel",
    "ipc": "IPCModel",
    "reset": "ResetModel",
    "rscd": "RSCDModel",
}

DETECTORS = {"NIRCAM": "NRCA1", "NIRISS": "NIS", "NIRSPEC": "NRS1", "FGS": "GUIDER1", "MIRI": "MIRIMAGE"}
EXP_TYPES = {"NIRCAM": "NRC_IMAGE", "NIRISS": "NIS_IMAGE", "NIRSPEC": "NRS_FIXEDSLIT", "FGS": "FGS_IMAGE",
             "MIRI": "MIR_IMAGE"}


def science_header(instrument="NIRCAM", shape=(1, 5, 32, 32), substrt=(1, 1), nframes=1, groupgap=0,
                   subarray=None, fastaxis=1, slowaxis=2, readpatt="RAPID", **extra):
    """A primary header with the keywords detector1 needs."""
    nints, ngroups, ny, nx = shape
    full = (1024, 1032) if instrument == "MIRI" else (2048, 2048)
    if subarray is None:
        subarray = "FULL" if (ny, nx) == full else "SUBARRAY"
    hdr = fits.Header()
    hdr["TELESCOP"] = "JWST"
    hdr["INSTRUME"] = instrument
    hdr["DETECTOR"] = DETECTORS[instrument]
    hdr["EXP_TYPE"] = EXP_TYPES[instrument]
    hdr["READPATT"] = readpatt
    hdr["SUBARRAY"] = subarray
    hdr["NINTS"] = nints
    hdr["NGROUPS"] = ngroups
    hdr["NFRAMES"] = nframes
    hdr["GROUPGAP"] = groupgap
    hdr["TFRAME"] = 10.0
    hdr["TGROUP"] = 10.0 * (nframes + groupgap)
    hdr["SUBSTRT1"] = substrt[0]
    hdr["SUBSTRT2"] = substrt[1]
    hdr["SUBSIZE1"] = nx
    hdr["SUBSIZE2"] = ny
    hdr["FASTAXIS"] = fastaxis
    hdr["SLOWAXIS"] = slowaxis
    hdr["DATE-OBS"] = "2023-01-01"
    hdr["TIME-OBS"] = "00:00:00"
    for key, value in extra.items():
        hdr[key.upper()] = value
    return hdr


def make_ramp(shape=(1, 5, 32, 32), value=0.0, instrument="NIRCAM", **header):
    """A RampModel of ``shape`` filled with ``value`` (or the given array)."""
    data = np.broadcast_to(np.asarray(value, dtype=np.float32), shape).copy()
    hdr = science_header(instrument=instrument, shape=shape, **header)
    return RampModel(meta=hdr, data=data,
                     pixeldq=np.zeros(shape[-2:], dtype=np.uint32),
                     groupdq=np.zeros(shape, dtype=np.uint8))


def dq_def_table(table=dqflags.PIXEL):
    """The DQ_DEF table (BIT, VALUE, NAME, DESCRIPTION) of the standard flags."""
    rows = dqflags.dq_def_rows(table)
    array = np.zeros(len(rows), dtype=[("BIT", ">i4"), ("VALUE", ">u4"), ("NAME", "S40"), ("DESCRIPTION", "S80")])
    for k, (bit, value, name, description) in enumerate(rows):
        array[k] = (bit, value, name, description)
    return array


def write_reference(path, reftype, arrays, tables=None, instrument="NIRCAM", substrt=(1, 1), subarray=None,
                    fastaxis=1, slowaxis=2, dq_def=True, **keywords):
    """Write a reference file: primary header + image HDUs + table HDUs.

    Parameters
    ----------
    arrays : dict
        EXTNAME -> array, written with the array's dtype.
    tables : dict, optional
        EXTNAME -> structured array.
    dq_def : bool or ndarray
        Add the standard DQ_DEF table (True), a given one, or none (False).
    keywords
        Extra primary-header keywords (NFRAMES=..., GAINFACT=...).
    """
    first = next((a for a in arrays.values() if np.ndim(a) >= 2), None)
    ny, nx = (first.shape[-2:] if first is not None else (0, 0))
    hdr = fits.Header()
    hdr["TELESCOP"] = "JWST"
    hdr["INSTRUME"] = instrument
    hdr["DETECTOR"] = DETECTORS[instrument]
    hdr["REFTYPE"] = reftype.upper()
    hdr["DATAMODL"] = DATAMODELS.get(reftype, "ReferenceFileModel")
    hdr["AUTHOR"] = "webbflow tests"
    hdr["PEDIGREE"] = "DUMMY"
    hdr["DESCRIP"] = f"synthetic {reftype} for unit tests"
    hdr["USEAFTER"] = "2022-01-01T00:00:00"
    hdr["FILENAME"] = str(path).rsplit("/", 1)[-1]
    if first is not None:
        full = (1024, 1032) if instrument == "MIRI" else (2048, 2048)
        hdr["SUBARRAY"] = subarray or ("FULL" if (ny, nx) == full else "GENERIC")
        hdr["SUBSTRT1"] = substrt[0]
        hdr["SUBSTRT2"] = substrt[1]
        hdr["SUBSIZE1"] = nx
        hdr["SUBSIZE2"] = ny
        hdr["FASTAXIS"] = fastaxis
        hdr["SLOWAXIS"] = slowaxis
    for key, value in keywords.items():
        hdr[key.upper()] = value
    hdus = [fits.PrimaryHDU(header=hdr)]
    for name, array in arrays.items():
        hdus.append(fits.ImageHDU(np.asarray(array), name=name.upper()))
    for name, table in (tables or {}).items():
        hdus.append(fits.BinTableHDU(table, name=name.upper()))
    if dq_def is not False and "DQ" in {n.upper() for n in arrays}:
        hdus.append(fits.BinTableHDU(dq_def_table() if dq_def is True else dq_def, name="DQ_DEF"))
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return str(path)


def write_mask(path, dq, **kw):
    """MaskModel: DQ uint32 (ny, nx) + DQ_DEF."""
    return write_reference(path, "mask", {"DQ": np.asarray(dq, dtype=np.uint32)}, **kw)


def write_saturation(path, sci, dq=None, **kw):
    """SaturationModel: SCI float32 (ny, nx) in DN, DQ uint32, DQ_DEF."""
    sci = np.asarray(sci, dtype=np.float32)
    dq = np.zeros(sci.shape, np.uint32) if dq is None else np.asarray(dq, dtype=np.uint32)
    return write_reference(path, "saturation", {"SCI": sci, "DQ": dq}, **kw)


def write_superbias(path, sci, dq=None, **kw):
    """SuperBiasModel: SCI, ERR float32 (ny, nx), DQ uint32, DQ_DEF."""
    sci = np.asarray(sci, dtype=np.float32)
    dq = np.zeros(sci.shape, np.uint32) if dq is None else np.asarray(dq, dtype=np.uint32)
    return write_reference(path, "superbias", {"SCI": sci, "ERR": np.zeros_like(sci), "DQ": dq}, **kw)


def write_linearity(path, coeffs, dq=None, inv_coeffs=None, **kw):
    """LinearityModel: COEFFS float32 (ncoeffs, ny, nx), optional INV_COEFFS, DQ, DQ_DEF."""
    coeffs = np.asarray(coeffs, dtype=np.float32)
    dq = np.zeros(coeffs.shape[1:], np.uint32) if dq is None else np.asarray(dq, dtype=np.uint32)
    arrays = {"COEFFS": coeffs, "DQ": dq}
    if inv_coeffs is not None:
        arrays = {"COEFFS": coeffs, "INV_COEFFS": np.asarray(inv_coeffs, dtype=np.float32), "DQ": dq}
    return write_reference(path, "linearity", arrays, **kw)


def write_dark(path, sci, dq=None, nframes=1, groupgap=0, **kw):
    """DarkModel (3-D SCI) or DarkMIRIModel (4-D SCI and DQ): ERR, DQ, DQ_DEF; NFRAMES/GROUPGAP/NGROUPS."""
    sci = np.asarray(sci, dtype=np.float32)
    if dq is None:
        dq = np.zeros(sci.shape if sci.ndim == 4 else sci.shape[-2:], np.uint32)
    ngroups = sci.shape[-3]
    kw.setdefault("NINTS", sci.shape[0] if sci.ndim == 4 else 1)
    path = write_reference(path, "dark", {"SCI": sci, "ERR": np.zeros_like(sci), "DQ": np.asarray(dq, np.uint32)},
                           NFRAMES=nframes, GROUPGAP=groupgap, NGROUPS=ngroups, **kw)
    if sci.ndim == 4:
        with fits.open(path, mode="update") as hdul:
            hdul[0].header["DATAMODL"] = "DarkMIRIModel"
    return path


def write_gain(path, sci, **kw):
    """GainModel: SCI float32 (ny, nx); GAINFACT optional in the header."""
    return write_reference(path, "gain", {"SCI": np.asarray(sci, dtype=np.float32)}, **kw)


def write_readnoise(path, sci, **kw):
    """ReadnoiseModel: SCI float32 (ny, nx)."""
    return write_reference(path, "readnoise", {"SCI": np.asarray(sci, dtype=np.float32)}, **kw)


def write_ipc(path, kernel, **kw):
    """IPCModel: SCI float32, a small 2-D kernel or (ky, kx, ny, nx)."""
    kernel = np.asarray(kernel, dtype=np.float32)
    return write_reference(path, "ipc", {"SCI": kernel}, **kw)


def write_reset(path, sci, dq=None, **kw):
    """ResetModel: SCI, ERR float32 (nints, ngroups, ny, nx), DQ uint32 (ny, nx), DQ_DEF."""
    sci = np.asarray(sci, dtype=np.float32)
    dq = np.zeros(sci.shape[-2:], np.uint32) if dq is None else np.asarray(dq, dtype=np.uint32)
    kw.setdefault("NINTS", sci.shape[0])
    kw.setdefault("NGROUPS", sci.shape[1])
    kw.setdefault("instrument", "MIRI")
    return write_reference(path, "reset", {"SCI": sci, "ERR": np.zeros_like(sci), "DQ": dq}, **kw)


def write_rscd(path, rows, **kw):
    """RSCDModel: the RSCD_GROUP_SKIP table (subarray, readpatt, group_skip1, group_skip)."""
    table = np.zeros(len(rows), dtype=[("subarray", "S17"), ("readpatt", "S12"),
                                       ("group_skip1", ">i4"), ("group_skip", ">i4")])
    for k, row in enumerate(rows):
        table[k] = row
    kw.setdefault("instrument", "MIRI")
    return write_reference(path, "rscd", {}, tables={"RSCD_GROUP_SKIP": table}, **kw)
