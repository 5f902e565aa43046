"""Ramp data: the ``_uncal`` and ``_ramp`` products (4-D groups)."""

import numpy as np
from astropy.io import fits

from webbflow import dqflags
from webbflow.datamodels.base import ArraySpec, DataModel
from webbflow.errors import InputError

# Keywords without which detector1 cannot run.
RAMP_KEYWORDS = (
    "INSTRUME", "DETECTOR", "EXP_TYPE", "READPATT", "SUBARRAY", "NINTS", "NGROUPS",
    "NFRAMES", "GROUPGAP", "TFRAME", "TGROUP", "SUBSTRT1", "SUBSTRT2",
    "SUBSIZE1", "SUBSIZE2", "FASTAXIS", "SLOWAXIS", "DATE-OBS", "TIME-OBS",
)

#: The first letters of the EXP_TYPEs of each instrument.
EXP_TYPE_PREFIX = {"NIRCAM": "NRC_", "NIRISS": "NIS_", "NIRSPEC": "NRS_", "MIRI": "MIR_", "FGS": "FGS_"}

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
        for key in ("NINTS", "NGROUPS", "NFRAMES", "SUBSTRT1", "SUBSTRT2", "SUBSIZE1", "SUBSIZE2"):
            if self.meta[key] < 1:
                raise InputError(path, f"keyword {key}={self.meta[key]!r} must be 1 or more")
        if self.meta["GROUPGAP"] < 0:
            raise InputError(path, f"keyword GROUPGAP={self.meta['GROUPGAP']!r} must not be negative")
        self._check_exp_type(path)
        self._check_date_time(path)
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
        start, end = self.meta.get("INTSTART", 1), self.meta.get("INTEND", self.meta["NINTS"])
        for key, value in (("INTSTART", start), ("INTEND", end)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InputError(path, f"keyword {key}={value!r} is not an integration number (1 or more)")
        if start > end:
            raise InputError(path, f"keyword INTSTART={start} is after INTEND={end}")
        expected_ints = end - start + 1
        if nints != expected_ints:
            raise InputError(path, f"SCI has {nints} integrations but the header says {expected_ints}")
        self._check_finite(path)

    def _check_exp_type(self, path):
        """EXP_TYPE must be a JWST exposure type of this instrument."""
        from webbflow.associations.exptypes import KNOWN_EXP_TYPES

        exp_type = str(self.meta["EXP_TYPE"]).strip().upper()
        instrument = str(self.meta["INSTRUME"]).strip().upper()
        prefix = EXP_TYPE_PREFIX.get(instrument)
        if exp_type.lower() not in KNOWN_EXP_TYPES or exp_type in ("ANY", "N/A"):
            raise InputError(path, f"unknown EXP_TYPE={exp_type!r} (not a JWST exposure type)")
        if prefix and not exp_type.startswith(prefix):
            raise InputError(path, f"EXP_TYPE={exp_type!r} is not an exposure type of {instrument} "
                                   f"(those start with {prefix})")

    def _check_date_time(self, path):
        """DATE-OBS (yyyy-mm-dd) and TIME-OBS (hh:mm:ss.sss): CRDS selects by them."""
        import datetime

        date, time = str(self.meta["DATE-OBS"]).strip(), str(self.meta["TIME-OBS"]).strip()
        try:
            datetime.date.fromisoformat(date[:10])
            if len(date) > 10 and date[10] != "T":
                raise ValueError(date)
            datetime.time.fromisoformat(time)
        except ValueError:
            raise InputError(path, f"DATE-OBS={date!r} TIME-OBS={time!r} is not a date (yyyy-mm-dd) "
                                   "and time (hh:mm:ss.sss)") from None

    def _check_finite(self, path):
        """NaN or Inf counts are only allowed in groups flagged DO_NOT_USE."""
        bad = ~np.isfinite(self.data)
        if not bad.any():
            return
        if self.groupdq is not None:
            bad &= (self.groupdq & dqflags.DO_NOT_USE) == 0
        if self.pixeldq is not None:
            bad &= ((self.pixeldq & dqflags.DO_NOT_USE) == 0)[np.newaxis, np.newaxis]
        if not bad.any():
            return
        nan = int(np.count_nonzero(np.isnan(self.data) & bad))
        inf = int(np.count_nonzero(bad)) - nan
        counts = " and ".join(text for n, text in ((nan, f"{nan} NaN"), (inf, f"{inf} Inf")) if n)
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(path, f"SCI holds {counts} value(s) in groups not flagged DO_NOT_USE "
                               f"(first at integration {first[0] + 1}, group {first[1] + 1}, "
                               f"pixel x={first[3] + 1}, y={first[2] + 1})")

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
