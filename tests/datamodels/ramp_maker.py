"""Small, valid ramp models for data-model tests."""

import numpy as np
from astropy.io import fits

from webbflow.datamodels import INT_TIMES_DTYPE, RampModel


def ramp_header(nints=2, ngroups=4, ny=16, nx=20, instrument="NIRCAM", detector="NRCA1"):
    """A primary header with every keyword detector1 needs."""
    header = fits.Header()
    values = {
        "TELESCOP": "JWST", "INSTRUME": instrument, "DETECTOR": detector, "EXP_TYPE": "NRC_IMAGE",
        "READPATT": "RAPID", "SUBARRAY": "SUB160", "NINTS": nints, "NGROUPS": ngroups, "NFRAMES": 1,
        "GROUPGAP": 0, "TFRAME": 0.27864, "TGROUP": 0.27864, "TSAMPLE": 10.0, "SUBSTRT1": 1,
        "SUBSTRT2": 1, "SUBSIZE1": nx, "SUBSIZE2": ny, "FASTAXIS": -1, "SLOWAXIS": 2,
        "DATE-OBS": "2024-01-01", "TIME-OBS": "00:00:00.000", "PROGRAM": "01234",
    }
    for key, value in values.items():
        header[key] = value
    return header


def ramp_model(seed=0, **kwargs):
    """A ramp of uniform random counts with an INT_TIMES table."""
    header = ramp_header(**kwargs)
    rng = np.random.default_rng(seed)
    shape = (header["NINTS"], header["NGROUPS"], header["SUBSIZE2"], header["SUBSIZE1"])
    data = np.sort(rng.integers(1000, 60000, size=shape), axis=1).astype(np.float32)
    times = np.zeros(header["NINTS"], dtype=INT_TIMES_DTYPE)
    times["integration_number"] = np.arange(1, header["NINTS"] + 1)
    times["int_mid_MJD_UTC"] = 60310.0 + np.arange(header["NINTS"]) * 1e-4
    return RampModel(meta=header, data=data, int_times=times)
