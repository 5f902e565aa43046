"""Count-rate and calibrated images: ``_rate`` and ``_cal`` (2-D)."""

import numpy as np

from webbflow.datamodels.base import ArraySpec, DataModel

_IMAGE_ARRAYS = (
    ArraySpec("SCI", "data", np.float32, required=True),
    ArraySpec("ERR", "err", np.float32),
    ArraySpec("DQ", "dq", np.uint32),
    ArraySpec("VAR_POISSON", "var_poisson", np.float32),
    ArraySpec("VAR_RNOISE", "var_rnoise", np.float32),
    ArraySpec("VAR_FLAT", "var_flat", np.float32, grid="free"),
)


class ImageModel(DataModel):
    """A 2-D image with SCI, ERR, DQ and the variance arrays."""

    arrays = _IMAGE_ARRAYS
    ndim = 2
    model_type = "ImageModel"
    bunit = "DN/s"


class CubeModel(DataModel):
    """Per-integration images: ``_rateints`` and ``_calints`` (3-D + INT_TIMES)."""

    arrays = _IMAGE_ARRAYS
    ndim = 3
    model_type = "CubeModel"
    bunit = "DN/s"
