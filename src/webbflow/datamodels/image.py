"""Count-rate and calibrated images: ``_rate`` and ``_cal`` (2-D)."""

import numpy as np

from webbflow.datamodels.base import ArraySpec, DataModel
from webbflow.datamodels.wcs import WcsMixin

_IMAGE_ARRAYS = (
    ArraySpec("SCI", "data", np.float32, required=True),
    ArraySpec("ERR", "err", np.float32),
    ArraySpec("DQ", "dq", np.uint32),
    ArraySpec("VAR_POISSON", "var_poisson", np.float32),
    ArraySpec("VAR_RNOISE", "var_rnoise", np.float32),
    ArraySpec("VAR_FLAT", "var_flat", np.float32, grid="free"),
    ArraySpec("AREA", "area", np.float32, grid="free"),  # pixel area map, attached by photom
)


class _CalibratedImage(WcsMixin):
    """What ``_cal`` products add: a WCS (``model.wcs``) and BUNIT on ERR as on SCI."""

    def _image_hdu(self, spec, value):
        hdu = super()._image_hdu(spec, value)
        if spec.extname == "ERR" and "BUNIT" not in hdu.header:
            hdu.header["BUNIT"] = self.sci_meta.get("BUNIT", self.bunit)
        return hdu


class ImageModel(_CalibratedImage, DataModel):
    """A 2-D image with SCI, ERR, DQ and the variance arrays."""

    arrays = _IMAGE_ARRAYS
    ndim = 2
    model_type = "ImageModel"
    bunit = "DN/s"


class CubeModel(_CalibratedImage, DataModel):
    """Per-integration images: ``_rateints`` and ``_calints`` (3-D + INT_TIMES)."""

    arrays = _IMAGE_ARRAYS
    ndim = 3
    model_type = "CubeModel"
    bunit = "DN/s"


def save_cube_streamed(model, path, shape, read, chunk_ints=16):
    """Write a :class:`CubeModel` whose arrays are read piece by piece, not held in memory.

    The file is byte for byte what ``model.save(path)`` writes when the model
    holds the arrays; it is written under a temporary name and renamed.

    Parameters
    ----------
    model : CubeModel
        Supplies the headers, INT_TIMES and the ASDF tree (its arrays are not used).
    path : str
        The product.
    shape : tuple of int
        (nints, ny, nx) of the arrays.
    read : callable
        ``read(attr, start, stop)`` returns integrations ``start:stop`` of the
        array ``attr`` (``data``, ``err``, ``dq``, ``var_poisson``, ``var_rnoise``).
    chunk_ints : int
        Integrations read and written at a time.
    """
    import os

    from webbflow.atomic import publish, temporary_beside
    from webbflow.errors import OutputError

    nints, ny, nx = shape
    specs = [spec for spec in CubeModel.arrays if spec.grid != "free"]
    tiny = CubeModel(meta=model.meta, sci_meta=model.sci_meta, int_times=model.int_times, asdf_tree=model.asdf_tree,
                     **{spec.attr: np.zeros((1, 1, 1), spec.dtype) for spec in specs})
    hdul = tiny.to_hdulist()
    tmp = temporary_beside(path, suffix=".fits")
    try:
        with open(tmp, "wb") as f:
            f.write(_hdu_bytes(hdul[0], primary=True))
            for spec, hdu in zip(specs, hdul[1:1 + len(specs)], strict=True):
                header = hdu.header.copy()
                header["NAXIS1"], header["NAXIS2"], header["NAXIS3"] = nx, ny, nints
                f.write(header.tostring().encode("ascii"))
                written = 0
                for start in range(0, nints, chunk_ints):
                    block = np.array(read(spec.attr, start, min(start + chunk_ints, nints)),
                                     dtype=np.dtype(spec.dtype).newbyteorder(">"))
                    if block.dtype.kind == "u":  # stored signed with BZERO = 2**(bits-1), as astropy does
                        block ^= block.dtype.type(1 << (8 * block.dtype.itemsize - 1))
                    f.write(block.tobytes())
                    written += block.nbytes
                f.write(b"\0" * (-written % 2880))
            for hdu in hdul[1 + len(specs):]:
                f.write(_hdu_bytes(hdu))
        publish(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(exc, OSError):
            raise OutputError(path, f"cannot write the product ({exc.strerror or exc})") from None
        raise
    model.path = path
    return path


def _hdu_bytes(hdu, primary=False):
    """The bytes astropy writes for one HDU of a file (the primary, or an extension)."""
    import io

    from astropy.io import fits

    if primary:
        buffer = io.BytesIO()
        fits.HDUList([hdu]).writeto(buffer, checksum=False)
        return buffer.getvalue()
    empty = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU()]).writeto(empty, checksum=False)
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buffer, checksum=False)
    return buffer.getvalue()[len(empty.getvalue()):]
