"""A small in-memory data model backed by the official JWST FITS layout."""

import io
import os
import re
import warnings
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from webbflow.atomic import publish, temporary_beside
from webbflow.errors import InputError, OutputError


@dataclass(frozen=True)
class ArraySpec:
    """One image extension of a product.

    Parameters
    ----------
    extname : str
        The FITS EXTNAME (``SCI``, ``DQ`` ...).
    attr : str
        The model attribute holding the array.
    dtype : numpy dtype
        The in-memory (and, unless ``file_dtype`` is given, on-disk) type.
    required : bool
        Whether the extension must be present on read.
    grid : str
        Which shape the array has: ``"full"`` (the model's full shape),
        ``"image"`` (the last two axes) or ``"free"`` (any shape).
    """

    extname: str
    attr: str
    dtype: object
    required: bool = False
    grid: str = "full"


# Keywords every science product carries in its primary header.
REQUIRED_KEYWORDS = ("INSTRUME", "DETECTOR")

KNOWN_INSTRUMENTS = ("NIRCAM", "NIRISS", "NIRSPEC", "MIRI", "FGS")


class DataModel:
    """Base class: a primary header plus named arrays and tables.

    Attributes
    ----------
    meta : astropy.io.fits.Header
        The primary header (all exposure metadata lives here, as in the
        official products).
    sci_meta : astropy.io.fits.Header
        Extra keywords of the SCI extension (BUNIT, WCS ...).
    int_times : numpy.ndarray or None
        The INT_TIMES table as a structured array.
    asdf_tree : dict
        Extra items stored in the ASDF extension (a WCS, for instance).
    """

    arrays = ()
    ndim = 2
    model_type = "DataModel"
    bunit = None

    def __init__(self, meta=None, sci_meta=None, int_times=None, asdf_tree=None, **arrays):
        self.meta = fits.Header() if meta is None else meta
        self.sci_meta = fits.Header() if sci_meta is None else sci_meta
        self.int_times = int_times
        self.asdf_tree = {} if asdf_tree is None else asdf_tree
        self.path = None
        known = {spec.attr for spec in self.arrays}
        unknown = set(arrays) - known
        if unknown:
            raise TypeError(f"{type(self).__name__} has no arrays {sorted(unknown)}")
        for spec in self.arrays:
            value = arrays.get(spec.attr)
            setattr(self, spec.attr, None if value is None else np.asarray(value, dtype=spec.dtype))
        self._fill_missing()

    # -- shapes ---------------------------------------------------------
    @property
    def shape(self):
        """The shape of the SCI array."""
        return self.data.shape

    def _fill_missing(self):
        """Create absent optional arrays, zero-filled, once ``data`` is known."""
        if getattr(self, "data", None) is None:
            return
        for spec in self.arrays:
            if getattr(self, spec.attr) is None and spec.grid != "free":
                shape = self.data.shape if spec.grid == "full" else self.data.shape[-2:]
                setattr(self, spec.attr, np.zeros(shape, dtype=spec.dtype))

    # -- writing ----------------------------------------------------------
    def to_hdulist(self):
        """Build the FITS HDU list in the official layout."""
        primary = fits.PrimaryHDU(header=self.meta.copy())
        primary.header["DATAMODL"] = self.model_type
        hdus = [primary]
        for spec in self.arrays:
            value = getattr(self, spec.attr)
            if value is None:
                continue
            hdus.append(self._image_hdu(spec, value))
        if self.int_times is not None:
            hdus.append(fits.BinTableHDU(np.asarray(self.int_times), name="INT_TIMES"))
        hdus.append(_asdf_hdu(self._asdf_payload()))
        return fits.HDUList(hdus)

    def _image_hdu(self, spec, value):
        header = self.sci_meta.copy() if spec.extname == "SCI" else fits.Header()
        if spec.extname == "SCI" and self.bunit and "BUNIT" not in header:
            header["BUNIT"] = self.bunit
        return fits.ImageHDU(np.ascontiguousarray(value, dtype=spec.dtype), header=header, name=spec.extname)

    def _asdf_payload(self):
        return dict(self.asdf_tree)

    def save(self, path):
        """Write the model to ``path`` atomically (temporary name, then rename).

        Parameters
        ----------
        path : str or os.PathLike
            The product file name.
        """
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):
            raise OutputError(path, "is a directory, not a file name for the product")
        try:
            tmp = temporary_beside(path, suffix=".fits")
        except FileExistsError:
            raise OutputError(directory, "output directory is not a directory (a file has that name)") from None
        except NotADirectoryError:
            raise OutputError(directory, "output directory is not a directory (a file is in its path)") from None
        except OSError as exc:
            raise OutputError(directory, f"output directory is not writable ({exc.strerror or exc})") from None
        try:
            self.to_hdulist().writeto(tmp, overwrite=True, checksum=False)
            publish(tmp, path)
        except BaseException as exc:
            if os.path.exists(tmp):
                os.remove(tmp)
            if isinstance(exc, OSError) and not isinstance(exc, InputError):
                raise OutputError(path, f"cannot write the product ({exc.strerror or exc})") from None
            raise
        self.path = path
        return path

    # -- reading ------------------------------------------------------------
    @classmethod
    def from_hdulist(cls, hdul, path="<memory>"):
        """Build a model from an open HDU list, validating it.

        Raises
        ------
        InputError
            When a required extension or keyword is missing or an array has
            the wrong shape.
        """
        meta = hdul[0].header.copy()
        for key in ("SIMPLE", "BITPIX", "NAXIS", "EXTEND", "DATAMODL"):
            meta.remove(key, ignore_missing=True, remove_all=True)
        names = {hdu.name: hdu for hdu in hdul[1:]}
        arrays = {}
        sci_meta = fits.Header()
        for spec in cls.arrays:
            hdu = names.get(spec.extname)
            if hdu is None:
                if spec.required:
                    raise InputError(path, f"has no {spec.extname} extension")
                continue
            if not isinstance(hdu, (fits.ImageHDU, fits.CompImageHDU)) or hdu.data is None:
                raise InputError(path, f"extension {spec.extname} is not an image")
            arrays[spec.attr] = cls._read_array(spec, hdu, path)
            if spec.extname == "SCI":
                sci_meta = _strip_structural(hdu.header)
        int_times = None
        if "INT_TIMES" in names and isinstance(names["INT_TIMES"], fits.BinTableHDU):
            int_times = np.asarray(names["INT_TIMES"].data).copy()
        asdf_tree = _read_asdf_hdu(names.get("ASDF"), path)
        model = cls(meta=meta, sci_meta=sci_meta, int_times=int_times, asdf_tree=asdf_tree, **arrays)
        model.path = path
        model.validate(path)
        return model

    @classmethod
    def _read_array(cls, spec, hdu, path):
        data = hdu.data
        if not np.issubdtype(data.dtype, np.number):
            raise InputError(path, f"extension {spec.extname} holds non-numeric data ({data.dtype})")
        return np.asarray(data, dtype=spec.dtype)

    @classmethod
    def read(cls, path):
        """Read and validate a product file.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        DataModel
        """
        path = os.fspath(path)
        with _open_fits(path) as hdul:
            return cls.from_hdulist(hdul, path)

    def validate(self, path="<memory>"):
        """Check keywords and array shapes; raise InputError naming ``path``."""
        for key in REQUIRED_KEYWORDS:
            if key not in self.meta:
                raise InputError(path, f"missing required keyword {key}")
        instrument = str(self.meta["INSTRUME"]).strip().upper()
        if instrument not in KNOWN_INSTRUMENTS:
            raise InputError(path, f"unknown instrument INSTRUME={instrument!r} (expected one of {', '.join(KNOWN_INSTRUMENTS)})")
        if self.data is None:
            raise InputError(path, "has no SCI data")
        if self.data.ndim != self.ndim:
            raise InputError(path, f"SCI has {self.data.ndim} dimensions, {type(self).__name__} needs {self.ndim}")
        for spec in self.arrays:
            value = getattr(self, spec.attr)
            if value is None or spec.grid == "free":
                continue
            expected = self.data.shape if spec.grid == "full" else self.data.shape[-2:]
            if value.shape != expected:
                raise InputError(path, f"{spec.extname} has shape {value.shape}, expected {expected}")

    def copy_meta_from(self, other):
        """Take the primary and SCI keywords of another model."""
        self.meta = other.meta.copy()
        self.sci_meta = other.sci_meta.copy()
        self.int_times = None if other.int_times is None else other.int_times.copy()
        return self


def _strip_structural(header):
    out = header.copy()
    for key in ("XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "NAXIS4",
                "PCOUNT", "GCOUNT", "EXTNAME", "BZERO", "BSCALE", "EXTVER"):
        out.remove(key, ignore_missing=True, remove_all=True)
    return out


class _open_fits:
    """Open a FITS file, turning every failure into one InputError line."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        if not os.path.exists(self.path):
            raise InputError(self.path, "file does not exist")
        if os.path.isdir(self.path):
            raise InputError(self.path, "is a directory, not a FITS file")
        if os.path.getsize(self.path) == 0:
            raise InputError(self.path, "file is empty (0 bytes)")
        size = os.path.getsize(self.path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # astropy only warns about truncation
                self.hdul = fits.open(self.path, memmap=False, lazy_load_hdus=False)
                for index, hdu in enumerate(self.hdul):
                    info = self.hdul.fileinfo(index)
                    if info["datLoc"] + info["datSpan"] > size:
                        raise InputError(self.path, f"file is truncated (extension {index} {hdu.name} is incomplete)")
                    _ = hdu.data  # read now so that damage shows up here
        except InputError:
            raise
        except Exception as exc:  # astropy raises OSError, ValueError, TypeError ...
            raise InputError(self.path, f"not a readable FITS file ({_short(exc)})") from None
        return self.hdul

    def __exit__(self, *exc):
        self.hdul.close()
        return False


def _short(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# The ASDF file the asdf library writes for an empty tree (as asdf 5.x writes it). Written
# without the library: creating an AsdfFile loads every installed ASDF extension through
# entry points (jwst, stdatamodels, gwcs, astropy ... when installed), which costs seconds.
_EMPTY_ASDF = """#ASDF 1.0.0
#ASDF_STANDARD 1.6.0
%YAML 1.1
%TAG ! tag:stsci.edu:asdf/
--- !core/asdf-1.1.0
asdf_library: !core/software-1.0.0 {{author: The ASDF Developers, homepage: 'http://github.com/asdf-format/asdf',
  name: asdf, version: {asdf}}}
history:
  extensions:
  - !core/extension_metadata-1.0.0
    extension_class: asdf.extension._manifest.ManifestExtension
    extension_uri: asdf://asdf-format.org/core/extensions/core-1.6.0
    manifest_software: !core/software-1.0.0 {{name: asdf_standard, version: {standard}}}
    software: !core/software-1.0.0 {{name: asdf, version: {asdf}}}
...
"""
_BOOKKEEPING_KEYS = {"asdf_library", "history"}
_TOP_LEVEL_KEY = re.compile(r"^([^\s#%.\-][^:\s]*)\s*:", re.M)


def _empty_asdf_bytes():
    from importlib.metadata import PackageNotFoundError, version

    try:
        versions = {"asdf": version("asdf"), "standard": version("asdf_standard")}
    except PackageNotFoundError:
        return None
    return _EMPTY_ASDF.format(**versions).encode()


def _is_empty_tree(raw):
    """Whether an ASDF file holds only the library's bookkeeping (no tree items, no blocks)."""
    if not raw.startswith(b"#ASDF ") or b"\xd3BLK" in raw:
        return False
    text = raw.decode("utf-8", errors="replace")
    document = text.split("\n...", 1)[0]
    return set(_TOP_LEVEL_KEY.findall(document)) <= _BOOKKEEPING_KEYS


def write_asdf(tree, target, **kwargs):
    """Write an ASDF file whose bytes depend on ``tree`` alone.

    The asdf library lists the extensions it used in ``history`` in the
    order of a set, which changes from process to process; here they are
    sorted by URI, so that the same tree always gives the same bytes.

    Parameters
    ----------
    tree : dict
    target : str or file-like
        Path or writable binary buffer.
    **kwargs
        Passed to ``asdf.AsdfFile.write_to`` (e.g. ``all_array_storage``).
    """
    import asdf

    class _SortedHistory(asdf.AsdfFile):
        def _update_extension_history(self, tree, serialization_context):
            super()._update_extension_history(tree, serialization_context)
            history = tree.get("history")
            if isinstance(history, dict) and isinstance(history.get("extensions"), list):
                history["extensions"].sort(key=lambda meta: (str(meta.get("extension_uri", "")),
                                                             str(meta.get("extension_class", ""))))

    _SortedHistory(tree).write_to(target, **kwargs)


def _asdf_hdu(tree):
    """The ASDF extension: the ASDF tree as bytes in a one-column table."""
    payload = _empty_asdf_bytes() if not tree else None
    if payload is None:
        buffer = io.BytesIO()
        write_asdf(tree, buffer)
        payload = buffer.getvalue()
    raw = np.frombuffer(payload, dtype=np.uint8)
    column = fits.Column(name="ASDF_METADATA", format=f"{raw.size}B", array=raw[np.newaxis, :])
    return fits.BinTableHDU.from_columns([column], name="ASDF")


def _read_asdf_hdu(hdu, path):
    if hdu is None:
        return {}
    import asdf

    try:
        raw = bytes(np.asarray(hdu.data["ASDF_METADATA"][0], dtype=np.uint8))
        if _is_empty_tree(raw):
            return {}  # nothing to convert: skip loading the asdf extensions
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # official trees name tags we do not convert
            with asdf.open(io.BytesIO(raw), lazy_load=False, memmap=False) as af:
                return {k: v for k, v in af.tree.items() if not k.startswith("asdf_library") and k != "history"}
    except Exception:
        # The official files keep a tree that points into the FITS HDUs;
        # we only need its extra items (a WCS), so an unreadable tree is dropped.
        return {}
