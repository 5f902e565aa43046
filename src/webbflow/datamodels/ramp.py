"""Ramp data: the ``_uncal`` and ``_ramp`` products (4-D groups)."""

import numpy as np
from astropy.io import fits

from webbflow.datamodels.base import ArraySpec, DataModel
from webbflow.errors import InputError

# Keywords without which detector1 cannot run.
RAMP_KEYWORDS = (
    "INSTRUME", "DETECTOR", "EXP_TYPE", "READPATT", "SUBARRAY", "NINTS", "NGROUPS",
    "NFRAMES", "GROUPGAP", "TFRAME", "TGROUP", "SUBSTRT1", "SUBSTRT2",
    "SUBSIZE1", "SUBSIZE2", "FASTAXIS", "SLOWAXIS", "DATE-OBS", "TIME-OBS",
)

INT_TIMES_DTYPE = np.dtype([
    ("integration_number", ">i4"),
    ("int_start_MJD_UTC", ">f8"), ("int_mid_MJD_UTC", ">f8"), ("int_end_MJD_UTC", ">f8"),
    ("int_start_BJD_TDB", ">f8"), ("int_mid_BJD_TDB", ">f8"), ("int_end_BJD_TDB", ">f8"),
])


class RampModel(DataModel):
    """Groups of one exposure: ``data`` has shape (nints, ngroups, ny, nx).

    In memory ``data`` is float32 DN. An ``_uncal`` file stores SCI as
    uint16 (BZERO=32768) and has no DQ arrays; a ``_ramp`` file stores
    float32 SCI with PIXELDQ, GROUPDQ and ERR.
    """

    arrays = (
        ArraySpec("SCI", "data", np.float32, required=True),
        ArraySpec("PIXELDQ", "pixeldq", np.uint32, grid="image"),
        ArraySpec("GROUPDQ", "groupdq", np.uint8),
        ArraySpec("ERR", "err", np.float32),
        ArraySpec("REFOUT", "refout", np.float32, grid="free"),
    )
    ndim = 4
    model_type = "RampModel"
    bunit = "DN"

    @property
    def nints(self):
        """Number of integrations in this file."""
        return self.data.shape[0]

    @property
    def ngroups(self):
        """Number of groups per integration."""
        return self.data.shape[1]

    def validate(self, path="<memory>"):
        """Check the keywords detector1 needs and their consistency."""
        super().validate(path)
        for key in RAMP_KEYWORDS:
            if key not in self.meta:
                raise InputError(path, f"missing required keyword {key}")
        for key in ("NINTS", "NGROUPS", "NFRAMES", "GROUPGAP", "SUBSTRT1", "SUBSTRT2", "SUBSIZE1", "SUBSIZE2"):
            value = self.meta[key]
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise InputError(path, f"keyword {key}={value!r} is not an integer")
        for key in ("TFRAME", "TGROUP"):
            value = self.meta[key]
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value) or value <= 0:
                raise InputError(path, f"keyword {key}={value!r} is not a positive number")
        nints, ngroups, ny, nx = self.data.shape
        if ngroups != self.meta["NGROUPS"]:
            raise InputError(path, f"SCI has {ngroups} groups but NGROUPS={self.meta['NGROUPS']}")
        if (ny, nx) != (self.meta["SUBSIZE2"], self.meta["SUBSIZE1"]):
            raise InputError(
                path,
                f"SCI is {nx}x{ny} pixels but SUBSIZE1 x SUBSIZE2 = "
                f"{self.meta['SUBSIZE1']}x{self.meta['SUBSIZE2']}",
            )
        expected_ints = self.meta.get("INTEND", self.meta["NINTS"]) - self.meta.get("INTSTART", 1) + 1
        if nints != expected_ints:
            raise InputError(path, f"SCI has {nints} integrations but the header says {expected_ints}")

    def save_uncal(self, path):
        """Write as an official ``_uncal`` file (uint16 SCI, no DQ arrays)."""
        saved = {}
        for attr in ("pixeldq", "groupdq", "err"):
            saved[attr] = getattr(self, attr)
            setattr(self, attr, None)
        try:
            return self.save(path)
        finally:
            for attr, value in saved.items():
                setattr(self, attr, value)

    def _image_hdu(self, spec, value):
        if spec.extname == "SCI" and self.pixeldq is None:
            # uncal: unsigned 16-bit counts, stored as BITPIX=16 with BZERO=32768
            counts = np.clip(np.rint(value), 0, 65535).astype(np.uint16)
            header = self.sci_meta.copy()
            header["BUNIT"] = "DN"
            return fits.ImageHDU(counts, header=header, name="SCI")
        return super()._image_hdu(spec, value)
