"""bkg_subtract: the clipped mean of the background members, placed by subarray, with its noise."""

import numpy as np
import pytest

from webbflow import dqflags
from webbflow.errors import InputError
from webbflow.steps.image2 import background

from .fixtures import rate_model

SKY, SIGMA = 4.0, 0.2  # DN/s; the rate noise of every exposure


def _exposure(rng, shape=(120, 140), substrt=(101, 201), **kw):
    model = rate_model(shape=shape, substrt=substrt, value=SKY + rng.normal(0, SIGMA, shape), **kw)
    model.var_poisson[:] = SIGMA**2 * 0.75
    model.var_rnoise[:] = SIGMA**2 * 0.25
    model.err[:] = SIGMA
    return model


def test_subtracts_the_sky_and_propagates_its_noise():
    rng = np.random.default_rng(2)
    science = _exposure(rng)
    science.data[50:55, 60:65] += 30.0  # a source
    backgrounds = [_exposure(rng) for _ in range(4)]
    background.run(science, None, None, backgrounds=backgrounds)
    assert science.meta["S_BKDSUB"] == "COMPLETE"
    sky = np.ones(science.data.shape, bool)
    sky[50:55, 60:65] = False
    residual = science.data[sky].astype(np.float64)
    n = residual.size
    # the sky is gone: mean residual within 4 standard errors of 0
    assert abs(residual.mean()) < 4 * residual.std() / np.sqrt(n)
    # the noise of a rate minus the mean of 4: SIGMA^2 (1 + 1/4); ERR says so, and so does the scatter
    np.testing.assert_allclose(science.err, SIGMA * np.sqrt(1.25), rtol=1e-6)
    assert residual.var() / (SIGMA**2 * 1.25) == pytest.approx(1, abs=4 * np.sqrt(2 / n))
    assert science.data[50:55, 60:65].mean() == pytest.approx(30.0, abs=0.2)


def test_official_error_convention_leaves_err_alone():
    rng = np.random.default_rng(3)
    science = _exposure(rng)
    err = science.err.copy()
    background.run(science, None, {"propagate_errors": False}, backgrounds=[_exposure(rng) for _ in range(2)])
    np.testing.assert_array_equal(science.err, err)


def test_clipping_removes_an_outlier_background_value():
    rng = np.random.default_rng(4)
    science = _exposure(rng, shape=(10, 10), substrt=(1, 1))
    backgrounds = [_exposure(rng, shape=(10, 10), substrt=(1, 1)) for _ in range(8)]
    for b in backgrounds:
        b.data[3, 3] = SKY
    # a cosmic ray in one background: beside 7 equal values it sits 8/sqrt(7) = 3.02 standard
    # deviations (its own included) from the median, whatever its size, and is clipped
    backgrounds[2].data[3, 3] = 500.0
    truth = science.data[3, 3] - SKY
    background.run(science, None, None, backgrounds=backgrounds)
    assert science.data[3, 3] == pytest.approx(truth, abs=1e-5)
    # mean of 7 survivors: variance sum / 7**2
    assert science.var_poisson[3, 3] == pytest.approx(SIGMA**2 * 0.75 * (1 + 1 / 7), rel=1e-5)


def test_backgrounds_are_placed_by_subarray():
    rng = np.random.default_rng(5)
    science = _exposure(rng, shape=(20, 30), substrt=(11, 21))
    ramp = np.arange(60 * 50, dtype=np.float32).reshape(50, 60)  # a background that shows where it was cut
    bkg = rate_model(shape=(50, 60), substrt=(1, 1), value=ramp)
    before = science.data.copy()
    background.run(science, None, None, backgrounds=[bkg])
    np.testing.assert_allclose(before - science.data, ramp[20:40, 10:40], rtol=1e-6)
    # a background that does not cover part of the science subarray: those pixels are lost
    science = _exposure(rng, shape=(20, 30), substrt=(11, 21))
    part = rate_model(shape=(10, 30), substrt=(11, 21), value=1.0)
    background.run(science, None, None, backgrounds=[part])
    lost = (science.dq & dqflags.DO_NOT_USE) != 0
    assert lost[10:].all() and not lost[:10].any()
    assert np.isnan(science.data[10:]).all() and np.isfinite(science.data[:10]).all()


def test_a_bad_background_pixel_uses_the_others():
    rng = np.random.default_rng(6)
    science = _exposure(rng, shape=(6, 6), substrt=(1, 1))
    good = _exposure(rng, shape=(6, 6), substrt=(1, 1))
    bad = _exposure(rng, shape=(6, 6), substrt=(1, 1))
    bad.dq[2, 2] = dqflags.DO_NOT_USE | dqflags.PIXEL["HOT"]
    bad.data[2, 2] = 1e6
    expected = science.data[2, 2] - good.data[2, 2]
    background.run(science, None, None, backgrounds=[good, bad])
    assert science.data[2, 2] == pytest.approx(expected, rel=1e-6)
    assert science.dq[2, 2] == dqflags.PIXEL["HOT"]  # flags carried over, not the lost background pixel


def test_mismatched_filter_is_refused_and_no_members_skips(tmp_path):
    rng = np.random.default_rng(7)
    science = _exposure(rng)
    other = _exposure(rng, filter="F150W")
    other.save(tmp_path / "other_rate.fits")
    other.path = str(tmp_path / "other_rate.fits")
    with pytest.raises(InputError, match="other_rate.fits: background exposure has FILTER=F150W"):
        background.run(science, None, None, backgrounds=[other])
    background.run(science, None, None, backgrounds=[])
    assert science.meta["S_BKDSUB"] == "SKIPPED"


@pytest.mark.filterwarnings("ignore:Input data contains invalid values")
def test_sigma_clip_mask_matches_astropy():
    from astropy.stats import sigma_clip

    rng = np.random.default_rng(8)
    stack = rng.normal(0, 1, (9, 40, 40)).astype(np.float32)
    stack[rng.random(stack.shape) < 0.05] += 20
    stack[0, 0, 0] = np.nan
    ours = background.sigma_clip_mask(stack, 3.0, None)
    theirs = ~sigma_clip(stack, sigma=3.0, maxiters=None, axis=0, masked=True).mask
    np.testing.assert_array_equal(ours, theirs)
