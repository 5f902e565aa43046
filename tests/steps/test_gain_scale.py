"""gain_scale: GAINFACT scaling of rate and rateints products."""

import numpy as np
from ref_fixtures import science_header, write_gain

from webbflow.datamodels import CubeModel, ImageModel
from webbflow.steps.detector1 import gain_scale


def _rate(cls, shape):
    header = science_header(shape=(1, 1, *shape[-2:]))
    ones = np.ones(shape, np.float32)
    return cls(meta=header, data=3 * ones, err=0.5 * ones, var_poisson=0.2 * ones, var_rnoise=0.05 * ones)


def test_scales_data_err_and_variances(tmp_path):
    for cls, shape in ((ImageModel, (4, 5)), (CubeModel, (2, 4, 5))):
        model = _rate(cls, shape)
        gain_scale.run(model, {"gain": write_gain(tmp_path / "gain.fits", np.ones((4, 5)), GAINFACT=1.5)}, {})
        np.testing.assert_allclose(model.data, 4.5, rtol=1e-6)
        np.testing.assert_allclose(model.err, 0.75, rtol=1e-6)
        np.testing.assert_allclose(model.var_poisson, 0.45, rtol=1e-6)
        np.testing.assert_allclose(model.var_rnoise, 0.1125, rtol=1e-6)
        assert model.meta["GAINFACT"] == 1.5
        assert model.meta["S_GANSCL"] == "COMPLETE"


def test_skipped_without_gainfact(tmp_path):
    model = _rate(ImageModel, (4, 5))
    gain_scale.run(model, {"gain": write_gain(tmp_path / "gain.fits", np.ones((4, 5)))}, {})
    np.testing.assert_array_equal(model.data, 3.0)
    assert model.meta["S_GANSCL"] == "SKIPPED"
    assert "GAINFACT" not in model.meta
