"""In-memory data models and their FITS I/O in the official JWST layout."""

import os

from webbflow.datamodels.base import DataModel, _open_fits
from webbflow.datamodels.i2d import I2dModel
from webbflow.datamodels.image import CubeModel, ImageModel
from webbflow.datamodels.ramp import INT_TIMES_DTYPE, RampModel
from webbflow.datamodels.wcs import read_wcs, require_wcs
from webbflow.errors import InputError

__all__ = ["DataModel", "RampModel", "ImageModel", "CubeModel", "I2dModel", "INT_TIMES_DTYPE", "open_model", "read_wcs",
           "require_wcs"]

_BY_SUFFIX = {
    "uncal": RampModel, "ramp": RampModel,
    "rate": ImageModel, "cal": ImageModel, "i2d": I2dModel,
    "rateints": CubeModel, "calints": CubeModel,
}
_BY_DATAMODL = {"RampModel": RampModel, "ImageModel": ImageModel, "CubeModel": CubeModel}
_BY_NDIM = {4: RampModel, 3: CubeModel, 2: ImageModel}


def open_model(path, model_class=None):
    """Read a product, choosing the model from its suffix or contents.

    Parameters
    ----------
    path : str or os.PathLike
        A FITS product in the official layout.
    model_class : type, optional
        Force a model class.

    Returns
    -------
    DataModel

    Raises
    ------
    InputError
        One line naming the file and the problem.
    """
    path = os.fspath(path)
    with _open_fits(path) as hdul:
        cls = model_class
        if cls is None:
            stem = os.path.basename(path).rsplit(".", 1)[0]
            cls = _BY_SUFFIX.get(stem.rsplit("_", 1)[-1])
        if cls is None:
            cls = _BY_DATAMODL.get(str(hdul[0].header.get("DATAMODL", "")))
        if cls is None:
            sci = hdul["SCI"] if "SCI" in hdul else None
            if sci is None or sci.data is None:
                raise InputError(path, "has no SCI extension")
            cls = _BY_NDIM.get(sci.data.ndim)
            if cls is None:
                raise InputError(path, f"SCI has {sci.data.ndim} dimensions; expected 2, 3 or 4")
        return cls.from_hdulist(hdul, path)
