"""Ramp data: the ``_uncal`` and ``_ramp`` products (4-D groups)."""

import os
import warnings

import numpy as np
from astropy.io import fits

from webbflow import dqflags
from webbflow.datamodels.base import (
    KNOWN_INSTRUMENTS,
    REQUIRED_KEYWORDS,
    ArraySpec,
    DataModel,
    _read_asdf_hdu,
    _strip_structural,
)
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

    # An ``_uncal`` file is read lazily: ``data`` (and the zero-filled DQ arrays) appear on
    # first access, and :meth:`read_integrations` reads a few integrations at a time.
    _source = None

    def _lazy_array(attr):  # noqa: N805 - a property factory used in the class body
        def get(self):
            if self.__dict__.get("_source") is not None:
                self.load()
            return self.__dict__.get(attr)

        def set_(self, value):
            self.__dict__[attr] = value

        return property(get, set_)

    data = _lazy_array("_data")
    groupdq = _lazy_array("_groupdq")
    pixeldq = _lazy_array("_pixeldq")
    del _lazy_array

    @property
    def shape(self):
        """The shape of the SCI array (known without reading it)."""
        source = self.__dict__.get("_source")
        return source.shape if source is not None else self.data.shape

    @property
    def is_lazy(self):
        """True while the SCI array of the file has not been read."""
        return self.__dict__.get("_source") is not None

    def load(self):
        """Read the whole SCI array now (a no-op when it is in memory)."""
        source = self.__dict__.get("_source")
        if source is None:
            return self
        self._data = source.read(0, source.shape[0])
        self._source = None
        self._fill_missing()
        return self

    def read_integrations(self, start, stop):
        """Integrations ``start:stop`` of SCI as float32 DN, read from the file when lazy."""
        source = self.__dict__.get("_source")
        if source is None:
            return np.array(self.data[start:stop], dtype=np.float32)
        return source.read(start, stop)

    @classmethod
    def read(cls, path):
        """Read and validate a ramp file; an ``_uncal`` file's SCI is read lazily.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        RampModel
        """
        path = os.fspath(path)
        lazy = _UncalSource.probe(path)
        if lazy is None:
            return super().read(path)
        source, meta, sci_meta, int_times, asdf_tree = lazy
        model = cls(meta=meta, sci_meta=sci_meta, int_times=int_times, asdf_tree=asdf_tree)
        model._source = source
        model.path = path
        model.validate(path)
        return model

    @property
    def nints(self):
        """Number of integrations in this file."""
        return self.shape[0]

    @property
    def ngroups(self):
        """Number of groups per integration."""
        return self.shape[1]

    def validate(self, path="<memory>"):
        """Check the keywords detector1 needs and their consistency."""
        if self.is_lazy:
            self._validate_lazy(path)
        else:
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
        nints, ngroups, ny, nx = self.shape
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
        if not self.is_lazy:  # integer counts of an uncal file are always finite
            self._check_finite(path)

    def _validate_lazy(self, path):
        """What :meth:`DataModel.validate` checks, from the header alone."""
        for key in REQUIRED_KEYWORDS:
            if key not in self.meta:
                raise InputError(path, f"missing required keyword {key}")
        instrument = str(self.meta["INSTRUME"]).strip().upper()
        if instrument not in KNOWN_INSTRUMENTS:
            raise InputError(path, f"unknown instrument INSTRUME={instrument!r} (expected one of "
                                   f"{', '.join(KNOWN_INSTRUMENTS)})")

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


class _UncalSource:
    """The SCI array of an ``_uncal`` file on disk (BITPIX=16, BZERO=32768), read by integrations."""

    def __init__(self, path, offset, shape):
        self.path = path
        self.offset = offset  # byte offset of the data in the file
        self.shape = shape  # (nints, ngroups, ny, nx)
        # Held open: the data stay readable if the file is then removed or replaced (a new inode).
        self.fd = os.open(path, os.O_RDONLY)

    def __del__(self):
        fd, self.fd = getattr(self, "fd", None), None
        if fd is not None:
            os.close(fd)

    def __copy__(self):  # a copy opens its own descriptor (each closes its own)
        return type(self)(self.path, self.offset, self.shape)

    def __deepcopy__(self, memo):
        return self.__copy__()

    def __reduce__(self):
        return type(self), (self.path, self.offset, self.shape)

    @classmethod
    def probe(cls, path):
        """(source, meta, sci_meta, int_times, asdf_tree) for an uncal file, None for anything else.

        Anything unusual (not FITS, other layouts, damage) returns None so that
        the eager reader handles it and reports the problem.
        """
        try:
            if not os.path.isfile(path) or os.path.getsize(path) == 0:
                return None
            size = os.path.getsize(path)
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                with fits.open(path, memmap=False, lazy_load_hdus=False) as hdul:
                    names = [hdu.name for hdu in hdul[1:]]
                    if "SCI" not in names or any(n in names for n in ("PIXELDQ", "GROUPDQ", "ERR", "REFOUT")):
                        return None
                    if names.count("SCI") != 1:
                        return None
                    sci = hdul["SCI"]
                    header = sci.header
                    if (not isinstance(sci, fits.ImageHDU) or header.get("BITPIX") != 16 or header.get("NAXIS") != 4
                            or header.get("BZERO") != 32768 or header.get("BSCALE", 1) != 1 or "BLANK" in header):
                        return None
                    for index, _hdu in enumerate(hdul):
                        info = hdul.fileinfo(index)
                        if info["datLoc"] + info["datSpan"] > size:
                            return None
                    shape = tuple(int(header[f"NAXIS{k}"]) for k in (4, 3, 2, 1))
                    offset = hdul.fileinfo(names.index("SCI") + 1)["datLoc"]
                    meta = hdul[0].header.copy()
                    for key in ("SIMPLE", "BITPIX", "NAXIS", "EXTEND", "DATAMODL"):
                        meta.remove(key, ignore_missing=True, remove_all=True)
                    sci_meta = _strip_structural(header)
                    int_times = None
                    if "INT_TIMES" in names and isinstance(hdul["INT_TIMES"], fits.BinTableHDU):
                        int_times = np.asarray(hdul["INT_TIMES"].data).copy()
                    asdf_tree = _read_asdf_hdu(hdul["ASDF"] if "ASDF" in names else None, path)
        except Exception:  # noqa: BLE001 - the eager reader reports it
            return None
        return cls(path, offset, shape), meta, sci_meta, int_times, asdf_tree

    def read(self, start, stop):
        """Integrations ``start:stop`` as float32 DN (the stored value + 32768)."""
        nints, ngroups, ny, nx = self.shape
        start, stop = max(0, int(start)), min(nints, int(stop))
        out = np.empty((max(stop - start, 0), ngroups, ny, nx), dtype=np.float32)
        per_group = ny * nx
        raw = np.empty((ny, nx), dtype=">u2")
        buffer = memoryview(raw.reshape(-1)).cast("B")
        try:
            position = self.offset + start * ngroups * per_group * 2
            for i in range(out.shape[0]):
                for g in range(ngroups):
                    if os.preadv(self.fd, [buffer], position) != buffer.nbytes:
                        raise InputError(self.path, "file is truncated (SCI is incomplete)")
                    position += buffer.nbytes
                    raw ^= np.uint16(0x8000)  # signed storage with BZERO=32768 -> unsigned
                    out[i, g] = raw
        except OSError as exc:
            raise InputError(self.path, f"cannot read SCI ({exc.strerror or exc})") from None
        return out
