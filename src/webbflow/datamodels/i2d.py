"""Resampled images: ``_i2d`` (SCI, ERR, CON, WHT, VAR_* and the output gwcs)."""

import numpy as np

from webbflow.datamodels.base import ArraySpec, DataModel
from webbflow.datamodels.image import _CalibratedImage

_I2D_ARRAYS = (
    ArraySpec("SCI", "data", np.float32, required=True),
    ArraySpec("ERR", "err", np.float32),
    ArraySpec("CON", "con", np.int32, grid="free"),  # (planes, ny, nx): bit k of plane p = input 32 p + k
    ArraySpec("WHT", "wht", np.float32),
    ArraySpec("VAR_POISSON", "var_poisson", np.float32),
    ArraySpec("VAR_RNOISE", "var_rnoise", np.float32),
    ArraySpec("VAR_FLAT", "var_flat", np.float32),
)


class I2dModel(_CalibratedImage, DataModel):
    """A drizzled image in the official ``_i2d`` layout (opens as the official ``ImageModel``)."""

    arrays = _I2D_ARRAYS
    ndim = 2
    model_type = "ImageModel"
    bunit = "MJy/sr"
