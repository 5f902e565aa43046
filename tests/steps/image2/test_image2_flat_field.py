"""flat_field: a uniform sky seen through a known pixel response comes back uniform, with honest errors."""

import numpy as np
import pytest

from webbflow import dqflags
from webbflow.errors import ReferenceFileError
from webbflow.steps.image2 import flat_field

from .fixtures import rate_model, write_flat

NO_FLAT = dqflags.PIXEL["NO_FLAT_FIELD"]


def test_recovers_a_uniform_sky_with_errors_that_match_the_scatter(tmp_path):
    rng = np.random.default_rng(11)
    shape, substrt = (200, 220), (301, 401)
    sky, var_pixel = 40.0, 0.25  # DN/s, and the rate variance of each pixel
    response = rng.normal(1.0, 0.05, shape).astype(np.float32)  # the true flat
    flat_sigma = 0.02  # the flat reference is the truth measured with 2% noise
    # measured = truth / (1 + e): the flat-fielded sky is then sky * (1 + e), unbiased
    measured = (response / (1 + rng.normal(0, flat_sigma, shape))).astype(np.float32)
    window = np.ones((260, 300), np.float32)  # the reference covers a larger window than the science
    errs = np.zeros_like(window)
    window[10:210, 20:240] = measured
    errs[10:210, 20:240] = measured * flat_sigma
    path = write_flat(tmp_path / "flat.fits", window, errs, substrt=(281, 391))
    model = rate_model(shape=shape, substrt=substrt, value=sky * response + rng.normal(0, np.sqrt(var_pixel), shape))
    model.var_poisson[:] = var_pixel
    model.var_rnoise[:] = 0.0
    flat_field.run(model, {"flat": path})
    assert model.meta["S_FLAT"] == "COMPLETE"
    residual = (model.data - sky).astype(np.float64)
    n = residual.size
    # unbiased: the mean residual is within 4 standard errors of zero (n = 44000)
    assert abs(residual.mean()) < 4 * residual.std() / np.sqrt(n)
    # ERR**2 (which includes VAR_FLAT) predicts the scatter: the sample variance has a relative
    # standard error of sqrt(2/n) for Gaussian noise; without VAR_FLAT it would be 2.6x too small
    assert residual.var() / np.mean(model.err.astype(np.float64) ** 2) == pytest.approx(1, abs=4 * np.sqrt(2 / n))
    # VAR_FLAT is the flat's relative variance times the flat-fielded signal squared
    np.testing.assert_allclose(model.var_flat, model.data**2 * flat_sigma**2, rtol=1e-5)
    np.testing.assert_allclose(model.var_poisson, var_pixel / measured**2, rtol=1e-6)


def test_bad_flat_pixels_follow_the_official_conventions(tmp_path):
    shape = (8, 10)
    flat = np.full(shape, 2.0, np.float32)
    dq = np.zeros(shape, np.uint32)
    flat[1, 1] = np.nan
    flat[2, 2] = 0.0
    dq[3, 3] = NO_FLAT
    dq[4, 4] = dqflags.DO_NOT_USE
    dq[5, 5] = dqflags.PIXEL["HOT"]
    path = write_flat(tmp_path / "flat.fits", flat, np.zeros(shape), dq, substrt=(1, 1))
    model = rate_model(shape=shape, substrt=(1, 1), value=10.0)
    model.data[6, 6] = np.nan  # a pixel the rate already lost
    flat_field.run(model, {"flat": path})
    for y, x in ((1, 1), (2, 2), (3, 3)):
        assert model.dq[y, x] & (dqflags.DO_NOT_USE | NO_FLAT) == dqflags.DO_NOT_USE | NO_FLAT
    assert model.dq[4, 4] == dqflags.DO_NOT_USE
    assert model.dq[5, 5] == dqflags.PIXEL["HOT"] and model.data[5, 5] == pytest.approx(5.0)
    bad = (model.dq & dqflags.DO_NOT_USE) != 0
    assert bad.sum() == 5  # (1,1) (2,2) (3,3) (4,4) and the NaN rate pixel (6,6)
    for attr in ("data", "err", "var_poisson", "var_rnoise", "var_flat"):
        values = getattr(model, attr)
        assert np.isnan(values[bad]).all() and np.isfinite(values[~bad]).all(), attr
    np.testing.assert_allclose(model.data[~bad], 5.0)


def test_flat_smaller_than_the_subarray_is_named(tmp_path):
    path = write_flat(tmp_path / "small_flat.fits", np.ones((16, 16)), substrt=(1, 1))
    model = rate_model(shape=(32, 32), substrt=(1, 1))
    with pytest.raises(ReferenceFileError, match="small_flat.fits: .* not inside it"):
        flat_field.run(model, {"flat": path})


def test_not_applicable_flat_skips(tmp_path):
    model = rate_model(shape=(8, 8), substrt=(1, 1))
    before = model.data.copy()
    flat_field.run(model, {"flat": "N/A"})
    assert model.meta["S_FLAT"] == "SKIPPED"
    np.testing.assert_array_equal(model.data, before)
