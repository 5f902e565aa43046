"""linearity: polynomial inversion, saturated groups, NO_LIN_CORR, frame-level correction."""

import numpy as np
from ref_fixtures import make_ramp, write_linearity

from webbflow import dqflags
from webbflow.steps.detector1 import linearity

NO_LIN_CORR = dqflags.NO_LIN_CORR
SAT = dqflags.SATURATED
A = 2e-7  # detector non-linearity: measured = true - A * true**2


def _measured(true):
    return true - A * true**2


def _inverse_coeffs(shape, order=4):
    """Series inverse of m = s - A s^2: s = m + A m^2 + 2A^2 m^3 + 5A^3 m^4."""
    terms = [0.0, 1.0, A, 2 * A**2, 5 * A**3][: order + 1]
    return np.stack([np.full(shape, c, np.float32) for c in terms])


def test_linearises_a_known_non_linear_ramp(tmp_path):
    true = np.linspace(500, 30000, 8)
    model = make_ramp((1, 8, 6, 7))
    model.data[...] = _measured(true)[None, :, None, None].astype(np.float32)
    linearity.run(model, {"linearity": write_linearity(tmp_path / "lin.fits", _inverse_coeffs((6, 7)))}, {})
    # truncation of the series is 14 A^4 m^5 < 0.6 DN at 30000 DN; float32 rounding ~ 2e-3 DN
    np.testing.assert_allclose(model.data[0, :, 3, 3], true, atol=0.7)
    np.testing.assert_allclose(model.data[0, :4, 3, 3], true[:4], atol=0.01)
    assert model.meta["S_LINEAR"] == "COMPLETE"


def test_saturated_groups_and_unusable_coefficients_are_left_alone(tmp_path):
    shape = (6, 7)
    coeffs = _inverse_coeffs(shape)
    coeffs[2, 1, 1] = np.nan  # NaN coefficient
    coeffs[1, 2, 2] = 0.0     # zero linear term
    dq = np.zeros(shape, np.uint32)
    dq[3, 3] = NO_LIN_CORR    # flagged in the reference
    model = make_ramp((1, 4, *shape), value=20000.0)
    model.groupdq[0, 2:, 4, 4] = SAT
    linearity.run(model, {"linearity": write_linearity(tmp_path / "lin.fits", coeffs, dq=dq)}, {})
    corrected = 20000.0 + A * 20000.0**2 + 2 * A**2 * 20000.0**3 + 5 * A**3 * 20000.0**4
    for y, x in [(1, 1), (2, 2), (3, 3)]:
        np.testing.assert_array_equal(model.data[0, :, y, x], 20000.0)
        assert model.pixeldq[y, x] == NO_LIN_CORR
    np.testing.assert_allclose(model.data[0, :2, 4, 4], corrected, rtol=1e-6)
    np.testing.assert_array_equal(model.data[0, 2:, 4, 4], 20000.0)
    assert model.pixeldq.sum() == 3 * NO_LIN_CORR
    np.testing.assert_allclose(model.data[0, :, 0, 0], corrected, rtol=1e-6)


def test_full_frame_coefficients_are_cut_to_the_subarray(tmp_path):
    coeffs = np.zeros((2, 40, 40), np.float32)
    coeffs[1] = 1.0 + np.arange(40 * 40).reshape(40, 40) / 1e4  # a gain-like linear term per pixel
    model = make_ramp((1, 2, 8, 10), value=100.0, substrt=(21, 11))
    linearity.run(model, {"linearity": write_linearity(tmp_path / "lin.fits", coeffs)}, {})
    np.testing.assert_allclose(model.data[0, 1], 100.0 * coeffs[1, 10:18, 20:30], rtol=1e-6)


def test_frame_averaged_groups_use_the_frame_level_correction(tmp_path):
    # NFRAMES=4: each group is the average of 4 non-linear frames; the frame-level correction
    # with the inverse (forward) polynomial recovers the average of the true linear frames
    nframes, ngroups, rate = 8, 4, 1000.0
    frames = rate * np.arange(1, nframes * ngroups + 1)
    groups_true = frames.reshape(ngroups, nframes).mean(axis=1)
    groups_meas = _measured(frames).reshape(ngroups, nframes).mean(axis=1)
    shape = (3, 3)
    forward = np.stack([np.zeros(shape), np.ones(shape), np.full(shape, -A)]).astype(np.float32)
    path = write_linearity(tmp_path / "lin.fits", _inverse_coeffs(shape), inv_coeffs=forward)

    model = make_ramp((1, ngroups, *shape), nframes=nframes)
    model.data[...] = groups_meas[None, :, None, None].astype(np.float32)
    linearity.run(model, {"linearity": path}, {})
    frame_level = model.data[0, :, 1, 1].astype(np.float64)

    plain = make_ramp((1, ngroups, *shape), nframes=1)
    plain.data[...] = groups_meas[None, :, None, None].astype(np.float32)
    linearity.run(plain, {"linearity": path}, {})
    group_level = plain.data[0, :, 1, 1].astype(np.float64)

    assert np.abs(frame_level - groups_true).max() < 0.05
    # correcting the average of non-linear frames as one value is biased by A * var(frames) ~ 1 DN
    assert np.abs(group_level - groups_true).max() > 0.5
