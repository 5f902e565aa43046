"""ramp_fit against synthetic ramps of known rate (tests/steps/ramp_fixtures.py).

Tolerances come from the noise model: a pull (fit - truth) / ERR must have
mean 0 and standard deviation 1 within the accuracy of ERR as the official
algorithm defines it (|mean| <= 0.05, 0.9 <= std <= 1.1), or, for small
samples, within a few standard errors of the mean.
"""

import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ramp_fixtures as rf  # noqa: E402

from webbflow import dqflags  # noqa: E402
from webbflow.errors import ReferenceFileError, WebbflowError  # noqa: E402
from webbflow.steps.detector1 import ramp_fit  # noqa: E402

DNU = dqflags.DO_NOT_USE
SAT = dqflags.SATURATED
JUMP = dqflags.JUMP_DET
NO_GAIN = dqflags.NO_GAIN_VALUE


def fit(r, **kw):
    """ramp_fit.fit_arrays on a Ramps bundle."""
    return ramp_fit.fit_arrays(r.data, r.groupdq, r.pixeldq, r.gain, r.readnoise,
                               nframes=r.meta["NFRAMES"], tgroup=r.tgroup, tframe=r.meta["TFRAME"], **kw)


def assert_pull(pull, label):
    pull = pull[np.isfinite(pull)]
    assert pull.size > 100, label
    mean, std = pull.mean(), pull.std()
    assert abs(mean) <= 0.05, f"{label}: pull mean {mean:.4f}"
    assert 0.9 <= std <= 1.1, f"{label}: pull std {std:.4f}"


@pytest.fixture(scope="module")
def clean():
    return rf.make_ramps(ny=200, nx=200, ngroups=10, nints=1, seed=11)


def test_module_contract():
    assert ramp_fit.NAME == "ramp_fit"
    assert ramp_fit.STATUS_KEYWORD == "S_RAMP"
    assert set(ramp_fit.REFTYPES) == {"gain", "readnoise"}
    assert ramp_fit.DEFAULTS["algorithm"] == "OLS"
    assert ramp_fit.DEFAULTS["suppress_one_group"] is True


def test_pull_clean_ramps(clean):
    rate, ints = fit(clean)
    assert rate["slope"].dtype == np.float32 and rate["dq"].dtype == np.uint32
    assert np.all(rate["dq"] == 0)
    pull = (rate["slope"] - clean.rate) / rate["err"]
    assert_pull(pull, "all pixels")
    # both noise regimes: read-noise limited (faint) and Poisson limited (bright)
    faint = clean.rate < 5.0
    assert_pull(pull[faint], "faint pixels")
    assert_pull(pull[clean.rate > 50.0], "bright pixels")
    # one integration: rateints equals rate
    np.testing.assert_array_equal(ints["slope"][0], rate["slope"])
    np.testing.assert_allclose(rate["err"] ** 2, rate["var_poisson"] + rate["var_rnoise"], rtol=1e-5)
    # the read-noise variance of a clean 10-group ramp is 12 R**2 / ((n**3 - n) tgroup**2) with R per read
    n = 10
    expected = 12 * (clean.readnoise / np.sqrt(2)) ** 2 / ((n ** 3 - n) * clean.tgroup ** 2)
    np.testing.assert_allclose(rate["var_rnoise"], expected, rtol=1e-5)


def test_pull_several_integrations():
    r = rf.make_ramps(ny=120, nx=120, ngroups=8, nints=3, seed=12)
    rate, ints = fit(r)
    assert_pull((rate["slope"] - r.rate) / rate["err"], "rate")
    assert_pull((ints["slope"] - r.rate[None]) / ints["err"], "rateints")
    # the exposure read-noise variance is the inverse sum over integrations
    np.testing.assert_allclose(1 / rate["var_rnoise"], (1 / ints["var_rnoise"]).sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(1 / rate["var_poisson"], (1 / ints["var_poisson"]).sum(axis=0), rtol=1e-5)


def test_segments_between_jumps():
    r = rf.make_ramps(ny=150, nx=150, ngroups=10, nints=2, seed=13, jump_fraction=0.05)
    r.groupdq[r.jumps] |= JUMP  # flags as the jump step would set them
    rate, ints = fit(r)
    assert_pull((rate["slope"] - r.rate) / rate["err"], "rate with 5 % jumps")
    jumped = r.jumps.any(axis=(0, 1))
    pull = ((rate["slope"] - r.rate) / rate["err"])[jumped]
    # the jumps are removed: no bias beyond the statistical error of the mean
    assert abs(pull.mean()) <= 4 * pull.std() / np.sqrt(pull.size)
    # without the flags the jumps would bias these pixels by many sigma
    unflagged = rf.make_ramps(ny=150, nx=150, ngroups=10, nints=2, seed=13, jump_fraction=0.05)
    bad, _ = fit(unflagged)
    assert np.mean((bad["slope"] - r.rate)[jumped] / bad["err"][jumped]) > 5
    # DQ: JUMP_DET per integration where a jump was flagged, and in the rate
    per_int = r.jumps.any(axis=1)
    np.testing.assert_array_equal((ints["dq"] & JUMP) != 0, per_int)
    np.testing.assert_array_equal((rate["dq"] & JUMP) != 0, jumped)


def test_saturated_pixels_keep_slope_from_unsaturated_groups():
    rng = np.random.default_rng(14)
    rates = rng.uniform(100.0, 1500.0, size=(120, 120))
    r = rf.make_ramps(ny=120, nx=120, ngroups=10, nints=1, rates=rates, seed=14, sat_level=5000.0 + 40000.0)
    ngood = (r.groupdq[0] & SAT == 0).sum(axis=0)
    assert (ngood < 10).mean() > 0.5 and (ngood >= 3).mean() > 0.5  # the setup saturates most pixels part-way
    rate, ints = fit(r)
    usable = ngood >= 2
    assert np.all(np.isfinite(rate["slope"][usable]))
    assert_pull(((rate["slope"] - r.rate) / rate["err"])[usable & (ngood < 10)], "partly saturated")
    partial = ngood < 10
    np.testing.assert_array_equal((rate["dq"] & SAT) != 0, partial)
    np.testing.assert_array_equal((ints["dq"][0] & SAT) != 0, partial)
    # ramps with a single unsaturated group are suppressed (default)
    single = ngood == 1
    if single.any():
        assert np.all(np.isnan(rate["slope"][single]))
        assert np.all(rate["dq"][single] & DNU)


def small(ngroups, nints=1, ny=4, nx=5, rate=20.0, bias=0.0, seed=15):
    return rf.make_ramps(ny=ny, nx=nx, ngroups=ngroups, nints=nints, rates=np.full((ny, nx), rate),
                         bias=bias, seed=seed)


def test_one_group_exposure():
    r = small(1)
    rate, ints = fit(r)
    t_first = (r.meta["NFRAMES"] + 1) * r.meta["TFRAME"] / 2
    np.testing.assert_allclose(rate["slope"], r.data[0, 0] / t_first, rtol=1e-6)
    np.testing.assert_allclose(rate["var_rnoise"], (r.readnoise / t_first) ** 2, rtol=1e-5)
    assert np.all(rate["dq"] == 0)
    np.testing.assert_array_equal(ints["slope"][0], rate["slope"])


def test_two_group_exposure():
    r = small(2, bias=1000.0)
    rate, _ = fit(r)
    np.testing.assert_allclose(rate["slope"], (r.data[0, 1] - r.data[0, 0]) / r.tgroup, rtol=1e-5)
    np.testing.assert_allclose(rate["var_rnoise"], (r.readnoise / r.tgroup) ** 2, rtol=1e-5)
    np.testing.assert_allclose(rate["var_poisson"], 20.0 / (r.tgroup * r.gain), rtol=0.5)


def test_fully_saturated_and_do_not_use():
    r = small(5, nints=2, bias=1000.0)
    r.groupdq[:, :, 0, 0] = SAT  # saturated from the first group in both integrations
    r.groupdq[0, :, 0, 1] = SAT  # only in the first integration
    r.groupdq[:, :, 1, 0] = DNU  # every group DO_NOT_USE
    r.pixeldq[1, 1] = DNU  # pixel DO_NOT_USE
    rate, ints = fit(r)
    for y, x in ((0, 0), (1, 0), (1, 1)):
        assert np.isnan(rate["slope"][y, x])
        assert rate["err"][y, x] == 0 and rate["var_poisson"][y, x] == 0 and rate["var_rnoise"][y, x] == 0
        assert rate["dq"][y, x] & DNU
    assert rate["dq"][0, 0] == SAT | DNU
    assert np.all(ints["dq"][:, 0, 0] == SAT | DNU)
    assert np.all(np.isnan(ints["slope"][:, 0, 0]))
    # saturated in one integration only: the other one gives the rate
    assert np.isnan(ints["slope"][0, 0, 1]) and np.isfinite(ints["slope"][1, 0, 1])
    assert rate["slope"][0, 1] == pytest.approx(ints["slope"][1, 0, 1], rel=1e-6)
    assert rate["dq"][0, 1] == SAT
    assert ints["dq"][0, 0, 1] == SAT | DNU and ints["dq"][1, 0, 1] == 0


def test_single_good_group():
    r = small(6, bias=0.0)
    r.groupdq[0, 1:, 0, 0] = SAT  # only the first group is good
    r.groupdq[0, :3, 0, 1] = DNU
    r.groupdq[0, 4:, 0, 1] = SAT  # only a later group is good
    rate, _ = fit(r)
    assert np.isnan(rate["slope"][0, 0]) and rate["dq"][0, 0] == SAT | DNU
    assert np.isnan(rate["slope"][0, 1]) and rate["dq"][0, 1] == SAT | DNU
    rate, _ = fit(r, suppress_one_group=False)
    t_first = (r.meta["NFRAMES"] + 1) * r.meta["TFRAME"] / 2
    assert rate["slope"][0, 0] == pytest.approx(r.data[0, 0, 0, 0] / t_first, rel=1e-6)
    assert rate["dq"][0, 0] == SAT
    # a lone later group: its value over the group time (the official special case)
    assert rate["slope"][0, 1] == pytest.approx(r.data[0, 3, 0, 1] / r.tgroup, rel=1e-6)
    assert rate["dq"][0, 1] == SAT


def test_bad_gain_and_pixel_flags():
    r = small(5, bias=1000.0)
    r.gain[0, 0] = np.nan
    r.gain[0, 1] = 0.0
    r.gain[0, 2] = -1.0
    r.pixeldq[1, 0] = dqflags.PIXEL["HOT"]
    rate, ints = fit(r)
    for x in range(3):
        assert np.isnan(rate["slope"][0, x])
        assert rate["dq"][0, x] == NO_GAIN | DNU
        assert ints["dq"][0, 0, x] == NO_GAIN | DNU
    assert np.isfinite(rate["slope"][1, 0]) and rate["dq"][1, 0] == dqflags.PIXEL["HOT"]
    assert np.all(np.isfinite(rate["slope"][2:]))


def test_firstgroup_lastgroup_select_groups():
    r = rf.make_ramps(ny=20, nx=20, ngroups=10, seed=16)
    rate, _ = fit(r, firstgroup=2, lastgroup=6)
    sub = rf.make_ramps(ny=20, nx=20, ngroups=10, seed=16)
    sub.data = np.ascontiguousarray(r.data[:, 2:7])
    sub.groupdq = np.ascontiguousarray(r.groupdq[:, 2:7])
    expected, _ = fit(sub)
    np.testing.assert_allclose(rate["slope"], expected["slope"], rtol=1e-6)
    np.testing.assert_allclose(rate["var_rnoise"], expected["var_rnoise"], rtol=1e-6)


def test_miri_all_do_not_use_first_and_last_groups_are_dropped():
    r = rf.make_ramps(ny=20, nx=20, ngroups=8, seed=17)
    r.groupdq[:, 0] = DNU
    r.groupdq[:, -1] = DNU
    rate, _ = fit(r, instrument="MIRI")
    sub = rf.make_ramps(ny=20, nx=20, ngroups=8, seed=17)
    sub.data = np.ascontiguousarray(r.data[:, 1:-1])
    sub.groupdq = np.zeros_like(sub.data, dtype=np.uint8)
    expected, _ = fit(sub)
    np.testing.assert_allclose(rate["slope"], expected["slope"], rtol=1e-6)


def test_run_on_a_model_with_subarray_references(tmp_path):
    from webbflow.datamodels import CubeModel, ImageModel

    r = rf.make_ramps(ny=40, nx=30, ngroups=6, nints=2, seed=18)
    refs, substrt = rf.reference_files(tmp_path, r)
    model = rf.ramp_model(r, substrt=substrt)
    model.sci_meta["BUNIT"] = "DN"
    before = model.groupdq.copy()
    rate, rateints = ramp_fit.run(model, refs, dict(ramp_fit.DEFAULTS))
    assert isinstance(rate, ImageModel) and isinstance(rateints, CubeModel)
    assert rate.data.shape == (40, 30) and rateints.data.shape == (2, 40, 30)
    assert rate.data.dtype == np.float32 and rate.dq.dtype == np.uint32 and rateints.err.dtype == np.float32
    assert rate.sci_meta["BUNIT"] == "DN/s" and rateints.sci_meta["BUNIT"] == "DN/s"
    assert rate.meta["INSTRUME"] == "NIRCAM" and rate.meta["GAINFACT"] == 1.0
    assert rate.int_times is None
    np.testing.assert_array_equal(rateints.int_times, model.int_times)
    np.testing.assert_array_equal(model.groupdq, before)  # the input is not modified
    expected, expected_ints = fit(r)  # the references cut to the subarray are the simulation's
    np.testing.assert_array_equal(rate.data, expected["slope"])
    np.testing.assert_array_equal(rateints.var_rnoise, expected_ints["var_rnoise"])
    np.testing.assert_array_equal(rate.err, expected["err"])


def test_errors_name_the_problem(tmp_path):
    r = small(4)
    refs, substrt = rf.reference_files(tmp_path, r)
    model = rf.ramp_model(r, substrt=substrt)
    with pytest.raises(ReferenceFileError, match="readnoise"):
        ramp_fit.run(model, {"gain": refs["gain"], "readnoise": None}, {})
    with pytest.raises(WebbflowError, match="GLS"):
        ramp_fit.run(model, refs, {"algorithm": "GLS"})
    model.meta["SUBSTRT1"] = 1000  # outside the reference
    with pytest.raises(ReferenceFileError):
        ramp_fit.run(model, refs, {})


def test_memory_stays_near_the_output_size():
    r = rf.make_ramps(ny=256, nx=256, ngroups=10, nints=2, seed=19)
    fit(small(3))  # compile outside the measurement
    tracemalloc.start()
    rate, ints = fit(r)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    outputs = sum(a.nbytes for a in rate.values()) + sum(a.nbytes for a in ints.values())
    assert peak < 1.5 * outputs + 2**20, (peak, outputs, r.data.nbytes)
    assert peak < r.data.nbytes  # no copy of the ramps


def test_dark_current_adds_to_the_poisson_variance():
    r = rf.make_ramps(ny=20, nx=20, ngroups=6, seed=20)
    rate, _ = fit(r)
    dark = np.full((20, 20), 0.5, np.float32)
    with_dark, _ = fit(r, dark_current=dark)
    np.testing.assert_array_equal(with_dark["slope"], rate["slope"])
    added = with_dark["var_poisson"] - rate["var_poisson"]
    np.testing.assert_allclose(added, 0.5 / (r.tgroup * r.gain * 5), rtol=1e-4)
