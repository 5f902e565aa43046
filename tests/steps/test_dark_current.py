"""dark_current: direct and frame-averaged subtraction, extrapolation, MIRI per-integration darks."""

import numpy as np
from ref_fixtures import make_ramp, write_dark

from webbflow import dqflags
from webbflow.steps.detector1 import dark_current

SHAPE = (6, 5)


def _dark_frames(nframes, seed=0):
    """A dark ramp of nframes frames with a different value in every pixel and frame."""
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.uniform(0, 10, (nframes, *SHAPE)), axis=0).astype(np.float32)


def test_same_readout_subtracts_dark_group_by_group(tmp_path):
    dark = _dark_frames(10)
    model = make_ramp((2, 4, *SHAPE), value=1000.0)
    dark_current.run(model, {"dark": write_dark(tmp_path / "dark.fits", dark)}, {})
    for i in range(2):
        np.testing.assert_allclose(model.data[i], 1000.0 - dark[:4], rtol=1e-6)
    assert model.meta["S_DARK"] == "COMPLETE"


def test_frame_averaged_groups_subtract_the_mean_of_their_frames(tmp_path):
    nframes, groupgap, ngroups = 4, 2, 3
    dark = _dark_frames(20)
    model = make_ramp((1, ngroups, *SHAPE), value=1000.0, nframes=nframes, groupgap=groupgap)
    dark_current.run(model, {"dark": write_dark(tmp_path / "dark.fits", dark)}, {})
    for g in range(ngroups):
        start = g * (nframes + groupgap)  # frames 0-3, 6-9, 12-15
        np.testing.assert_allclose(model.data[0, g], 1000.0 - dark[start:start + nframes].mean(axis=0), rtol=1e-6)


def test_short_dark_is_extended_linearly(tmp_path):
    rate = np.linspace(1, 3, SHAPE[0] * SHAPE[1]).reshape(SHAPE)
    dark = (rate[None] * np.arange(1, 5)[:, None, None]).astype(np.float32)  # 4 frames of a linear ramp
    model = make_ramp((1, 7, *SHAPE), value=0.0)
    dark_current.run(model, {"dark": write_dark(tmp_path / "dark.fits", dark)}, {})
    expected = -(rate[None] * np.arange(1, 8)[:, None, None])
    np.testing.assert_allclose(model.data[0], expected, rtol=1e-5)


def test_dark_with_more_frames_per_group_than_the_science_is_skipped(tmp_path):
    model = make_ramp((1, 3, *SHAPE), value=5.0, nframes=1)
    dark_current.run(model, {"dark": write_dark(tmp_path / "dark.fits", _dark_frames(10), nframes=2)}, {})
    assert model.meta["S_DARK"] == "SKIPPED"
    np.testing.assert_array_equal(model.data, 5.0)


def test_nan_is_zero_and_dq_goes_to_pixeldq(tmp_path):
    dark = _dark_frames(3)
    dark[:, 1, 2] = np.nan
    dq = np.zeros(SHAPE, np.uint32)
    dq[4, 4] = dqflags.PIXEL["UNRELIABLE_DARK"]
    model = make_ramp((1, 3, *SHAPE), value=100.0)
    dark_current.run(model, {"dark": write_dark(tmp_path / "dark.fits", dark, dq=dq)}, {})
    np.testing.assert_array_equal(model.data[0, :, 1, 2], 100.0)
    assert model.pixeldq[4, 4] == dqflags.PIXEL["UNRELIABLE_DARK"]
    assert model.pixeldq.sum() == dqflags.PIXEL["UNRELIABLE_DARK"]


def test_miri_dark_is_per_integration_and_the_last_serves_later_integrations(tmp_path):
    dark = np.stack([_dark_frames(8, seed=1), _dark_frames(8, seed=2)])  # (2 ints, 8 groups, ny, nx)
    dq = np.zeros(dark.shape, np.uint32)
    dq[0, 0, 0, 0] = dqflags.PIXEL["HOT"]
    dq[1, 0, 1, 1] = dqflags.PIXEL["WARM"]
    dq[1, 3, 2, 2] = dqflags.PIXEL["DEAD"]  # only the first group's DQ is used
    model = make_ramp((3, 4, *SHAPE), value=500.0, instrument="MIRI", nframes=1)
    dark_current.run(model, {"dark": write_dark(tmp_path / "dark.fits", dark, dq=dq, instrument="MIRI")}, {})
    for i, k in [(0, 0), (1, 1), (2, 1)]:
        np.testing.assert_allclose(model.data[i], 500.0 - dark[k, :4], rtol=1e-6)
    assert model.pixeldq[0, 0] == dqflags.PIXEL["HOT"]
    assert model.pixeldq[1, 1] == dqflags.PIXEL["WARM"]
    assert model.pixeldq[2, 2] == 0


def test_full_frame_dark_is_cut_to_the_subarray(tmp_path):
    dark = np.arange(2 * 20 * 30, dtype=np.float32).reshape(2, 20, 30)
    model = make_ramp((1, 2, *SHAPE), value=0.0, substrt=(11, 5))
    dark_current.run(model, {"dark": write_dark(tmp_path / "dark.fits", dark)}, {})
    np.testing.assert_array_equal(model.data[0], -dark[:, 4:10, 10:15])
