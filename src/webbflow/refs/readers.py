"""Read reference files in the official CRDS formats and cut them to a subarray."""

import os

import numpy as np
from astropy.io import fits

from webbflow.errors import ReferenceFileError


class ReferenceModel:
    """An opened reference file.

    Attributes
    ----------
    path : str
    meta : astropy.io.fits.Header
        The primary header (REFTYPE, INSTRUME, DETECTOR, SUBSTRT*, ...).
    arrays : dict of str -> numpy.ndarray
        Image extensions by lower-case EXTNAME (``sci``, ``err``, ``dq``,
        ``coeffs`` ...).
    tables : dict of str -> numpy.ndarray
        Table extensions by lower-case EXTNAME (``dq_def`` ...).
    headers : dict of str -> astropy.io.fits.Header
        The header of every extension by lower-case EXTNAME.
    """

    def __init__(self, path, meta, arrays, tables, headers):
        self.path = path
        self.meta = meta
        self.arrays = arrays
        self.tables = tables
        self.headers = headers

    @property
    def reftype(self):
        """The REFTYPE keyword, lower case."""
        return str(self.meta.get("REFTYPE", "")).lower()

    def array(self, name):
        """The array of extension ``name``; a clear error when absent."""
        key = name.lower()
        if key not in self.arrays:
            raise ReferenceFileError(self.path, f"{self.reftype or 'reference'} file has no {name.upper()} extension")
        return self.arrays[key]

    def has(self, name):
        """Whether extension ``name`` is present."""
        return name.lower() in self.arrays or name.lower() in self.tables

    def cutout(self, name, science_meta):
        """The array of extension ``name`` cut to the science subarray.

        The last two axes are cut; leading axes (groups, coefficients) are kept.

        Parameters
        ----------
        name : str
            Extension name.
        science_meta : astropy.io.fits.Header
            The science header with SUBSTRT1/2 and SUBSIZE1/2 (1-based).

        Raises
        ------
        ReferenceFileError
            When the science subarray is not inside the reference's.
        """
        data = self.array(name)
        if data.ndim < 2:
            return data
        ny, nx = data.shape[-2:]
        rx0 = int(self.meta.get("SUBSTRT1", 1))
        ry0 = int(self.meta.get("SUBSTRT2", 1))
        sx0 = int(science_meta.get("SUBSTRT1", 1))
        sy0 = int(science_meta.get("SUBSTRT2", 1))
        sx = int(science_meta.get("SUBSIZE1", nx))
        sy = int(science_meta.get("SUBSIZE2", ny))
        x0, y0 = sx0 - rx0, sy0 - ry0
        if x0 < 0 or y0 < 0 or x0 + sx > nx or y0 + sy > ny:
            raise ReferenceFileError(
                self.path,
                f"{self.reftype or 'reference'} covers x {rx0}..{rx0 + nx - 1}, y {ry0}..{ry0 + ny - 1}; "
                f"the science subarray x {sx0}..{sx0 + sx - 1}, y {sy0}..{sy0 + sy - 1} is not inside it",
            )
        if (x0, y0, sx, sy) == (0, 0, nx, ny):
            return data
        return data[..., y0:y0 + sy, x0:x0 + sx]


def open_reference(path):
    """Open a reference file.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ReferenceModel

    Raises
    ------
    ReferenceFileError
        When the file is missing, empty or not readable FITS.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ReferenceFileError(path, "reference file does not exist")
    size = os.path.getsize(path)
    if size == 0:
        raise ReferenceFileError(path, "reference file is empty (0 bytes)")
    try:
        with fits.open(path, memmap=False) as hdul:
            if size % 2880:  # FITS is whole 2880-byte blocks: a file cut inside a header reads as fewer HDUs
                raise ValueError(f"truncated: {size} bytes is not a whole number of 2880-byte blocks")
            meta = hdul[0].header.copy()
            tables, headers, where = {}, {}, {}
            for index, hdu in enumerate(hdul):
                info = hdul.fileinfo(index)
                if info["datLoc"] + info["datSpan"] > size:
                    raise ValueError(f"extension {index} {hdu.name} is truncated")
                if index == 0:
                    continue
                key = hdu.name.lower()
                headers[key] = hdu.header.copy()
                if isinstance(hdu, fits.BinTableHDU):
                    tables[key] = _scaled_table(hdu.data)
                elif hdu.header.get("NAXIS", 0) > 0:
                    where[key] = index
            if hdul[0].header.get("NAXIS", 0) > 0 and "sci" not in where:
                where["sci"] = 0
        arrays = _LazyArrays(path, where)
    except Exception as exc:
        text = str(exc).strip().splitlines()
        raise ReferenceFileError(path, f"reference file is not readable FITS ({text[0] if text else type(exc).__name__})") from None
    return ReferenceModel(path, meta, arrays, tables, headers)


def _scaled_table(data):
    """A table as a structured array with TZERO/TSCAL applied (unsigned columns)."""
    if data is None:
        return None
    columns = [np.asarray(data[name]) for name in data.names]
    return np.rec.fromarrays(columns, names=list(data.names))


class _LazyArrays(dict):
    """Image extensions of a reference file, each read whole on first access.

    A step reads only the extensions it needs: the ERR of a dark (as large as
    its SCI) is never read by the dark step.
    """

    def __init__(self, path, where):
        super().__init__()
        self._path = path
        self._where = dict(where)  # lower-case EXTNAME -> HDU index

    def __contains__(self, key):
        return key in self._where

    def __getitem__(self, key):
        if not dict.__contains__(self, key):
            if key not in self._where:
                raise KeyError(key)
            try:
                with fits.open(self._path, memmap=False) as hdul:
                    value = hdul[self._where[key]].data  # read whole (memmap off): owned, no copy needed
            except Exception as exc:
                text = str(exc).strip().splitlines()
                raise ReferenceFileError(self._path, f"extension {key.upper()} is not readable "
                                                     f"({text[0] if text else type(exc).__name__})") from None
            dict.__setitem__(self, key, value)
        return dict.__getitem__(self, key)

    def __setitem__(self, key, value):
        dict.__setitem__(self, key, value)
        self._where.setdefault(key, None)

    def get(self, key, default=None):
        return self[key] if key in self else default

    def keys(self):
        return self._where.keys()

    def __iter__(self):
        return iter(self._where)

    def __len__(self):
        return len(self._where)

    def items(self):
        return [(key, self[key]) for key in self._where]

    def values(self):
        return [self[key] for key in self._where]
