"""refpix: NIR amplifier/odd-even offsets and side-pixel drifts, subarrays, MIRI."""

import numpy as np
import pytest
from ref_fixtures import make_ramp
from scipy import stats

from webbflow import dqflags
from webbflow.errors import InputError
from webbflow.steps.detector1 import refpix
from webbflow.steps.detector1._common import to_detector

REF = dqflags.REFERENCE_PIXEL
DNU = dqflags.DO_NOT_USE
SIGMA = 5.0  # white noise per pixel, DN


def _offsets(ngroups, seed=0):
    """Per group, amplifier and column parity offsets of tens of DN."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-50, 50, (ngroups, 4, 2))


def _inject(det, offsets, col0=0):
    """Add offsets[g, amp, parity] to a detector-frame view (nints, ngroups, ny, nx)."""
    nx = det.shape[-1]
    cols = col0 + np.arange(nx)
    for g in range(det.shape[1]):
        per_col = offsets[g, cols // 512, cols % 2]
        det[:, g] += per_col[np.newaxis, np.newaxis, :].astype(np.float32)


def _residual_offsets(det, rows, cols, col0=0):
    """Mean of det over the given rows/cols, per group, amplifier and parity (NaN where none)."""
    out = np.full((det.shape[1], 4, 2), np.nan)
    glob = col0 + cols
    for amp in range(4):
        for parity in range(2):
            sel = cols[(glob // 512 == amp) & (glob % 2 == parity)]
            if sel.size:
                out[:, amp, parity] = det[0][:, rows][:, :, sel].mean(axis=(1, 2))
    return out


def _tolerance(nref):
    # five standard errors of a mean of nref reference pixels (plus the side-signal average)
    return 5 * np.hypot(SIGMA / np.sqrt(nref), 0.05)


@pytest.mark.parametrize("fast,slow", [(-1, 2), (2, 1)])
def test_full_frame_amplifier_odd_even_offsets_are_removed(fast, slow):
    rng = np.random.default_rng(1)
    model = make_ramp((1, 2, 2048, 2048), fastaxis=fast, slowaxis=slow,
                      instrument="NIRCAM" if fast == -1 else "NIRSPEC")
    model.data[...] = rng.normal(0, SIGMA, model.data.shape).astype(np.float32)
    det = to_detector(model.data, fast, slow)
    offsets = _offsets(2)
    _inject(det, offsets)
    refpix.run(model, {}, refpix.DEFAULTS)
    science_rows, science_cols = np.arange(4, 2044), np.arange(4, 2044)
    residual = _residual_offsets(det, science_rows, science_cols)
    # each offset is the mean of top+bottom reference pixels of one amplifier and parity
    assert np.abs(residual).max() < _tolerance(2 * 4 * 256), residual
    assert model.meta["S_REFPIX"] == "COMPLETE"


def test_side_reference_pixels_remove_a_slow_row_drift():
    rng = np.random.default_rng(2)
    drift = 20 * np.sin(np.arange(2048) / 90.0)  # common to all amplifiers, varies along the slow axis

    def corrected(params):
        model = make_ramp((1, 1, 2048, 2048))
        model.data[...] = rng.normal(0, SIGMA, model.data.shape).astype(np.float32)
        model.data += drift[None, None, :, None].astype(np.float32)
        refpix.run(model, {}, params)
        return model.data[0, 0, 4:2044, 4:2044].mean(axis=1)

    rows = corrected(refpix.DEFAULTS)
    # a running median of 11 rows x 4 columns per side, left and right averaged
    expected_noise = 1.2533 * SIGMA / np.sqrt(11 * 4) / np.sqrt(2)
    assert rows.std() < 1.5 * expected_noise
    assert corrected({**refpix.DEFAULTS, "use_side_ref_pixels": False}).std() > 10
    half = corrected({**refpix.DEFAULTS, "side_gain": 0.5})
    np.testing.assert_allclose(half.std(), (drift[4:2044] - drift[4:2044].mean()).std() / 2, rtol=0.1)


def test_do_not_use_reference_pixels_are_ignored():
    rng = np.random.default_rng(3)
    model = make_ramp((1, 1, 2048, 2048))
    model.data[...] = rng.normal(0, SIGMA, model.data.shape).astype(np.float32)
    model.data[0, 0, :4, 512:1024] += 40.0  # amplifier B's bottom reference rows are bad ...
    model.pixeldq[:4, 512:1024] = REF | DNU  # ... and flagged
    refpix.run(model, {}, {"use_side_ref_pixels": False})
    residual = model.data[0, 0, 4:2044, 516:1020].mean()
    assert abs(residual) < _tolerance(4 * 256)


def test_single_output_subarray_uses_flagged_reference_pixels_by_detector_column_parity():
    rng = np.random.default_rng(4)
    # 64x64 in the corner of a detector read right to left: 4 reference rows and columns
    model = make_ramp((2, 3, 64, 64), substrt=(1, 1), fastaxis=-1, slowaxis=2, NOUTPUTS=1)
    model.data[...] = rng.normal(0, SIGMA, model.data.shape).astype(np.float32)
    model.pixeldq[:4, :] = REF
    model.pixeldq[:, :4] = REF
    det = to_detector(model.data, -1, 2)
    col0 = 2048 - 64  # detector column of the subarray's first detector-frame column
    for g in range(3):
        even = ((col0 + np.arange(64)) % 2) == 0
        det[:, g, :, even] += 30.0 + g
        det[:, g, :, ~even] -= 20.0 + g
    refpix.run(model, {}, {})
    science = det[:, :, 4:, :60]  # detector frame: reference rows first, reference columns last
    even = ((col0 + np.arange(60)) % 2) == 0
    nref = (4 * 64 + 60 * 4) // 2
    assert abs(science[..., even].mean()) < _tolerance(nref)
    assert abs(science[..., ~even].mean()) < _tolerance(nref)
    assert model.meta["S_REFPIX"] == "COMPLETE"


def _corner_subarray_with_row_burst(rng, burst):
    """64x64 one-output corner subarray (detector frame: reference rows first, reference columns last).

    Every group gets a drift common to all pixels, by column parity; the
    reference rows, read in a burst at the start of the frame, also get
    ``burst`` (the 1/f offset of that moment). Returns the model and its
    detector-frame view.
    """
    model = make_ramp((1, 3, 64, 64), substrt=(1, 1), fastaxis=-1, slowaxis=2, NOUTPUTS=1)
    model.data[...] = rng.normal(0, SIGMA, model.data.shape).astype(np.float32)
    model.pixeldq[:4, :] = REF
    model.pixeldq[:, :4] = REF
    det = to_detector(model.data, -1, 2)
    even = ((2048 - 64 + np.arange(64)) % 2) == 0
    for g in range(3):
        det[:, g, :, even] += 30.0 + g
        det[:, g, :, ~even] -= 20.0 + g
        det[:, g, :4, :] += burst
    return model, det


def test_single_output_subarray_side_columns_only_ignores_the_reference_row_burst():
    burst = 40.0
    model, det = _corner_subarray_with_row_burst(np.random.default_rng(5), burst)
    refpix.run(model, {}, {"subarray_side_columns_only": True})
    science = det[:, :, 4:, :60]
    nside = 60 * 4 // 2  # side-column pixels per parity (the corner belongs to the burst rows)
    assert abs(science.mean()) < _tolerance(nside)
    assert model.meta["S_REFPIX"] == "COMPLETE"

    # the official choice, all reference pixels: the burst leaks in with the rows' share of them
    model, det = _corner_subarray_with_row_burst(np.random.default_rng(5), burst)
    refpix.run(model, {}, {})
    share = 4 * 64 / (4 * 64 + 60 * 4)
    assert abs(det[:, :, 4:, :60].mean() + share * burst) < _tolerance(nside)


def test_side_columns_only_falls_back_to_the_rows_without_side_columns():
    rng = np.random.default_rng(6)
    # bottom stripe away from the side edges: reference rows only
    model = make_ramp((1, 2, 64, 64), substrt=(1001, 1), NOUTPUTS=1)
    model.data[...] = rng.normal(0, SIGMA, model.data.shape).astype(np.float32) + 25.0
    model.pixeldq[:4, :] = REF
    refpix.run(model, {}, {"subarray_side_columns_only": True})
    assert abs(model.data[:, :, 4:, :].mean()) < _tolerance(4 * 64 // 2)
    assert model.meta["S_REFPIX"] == "COMPLETE"


def test_subarray_without_reference_pixels_is_skipped():
    model = make_ramp((1, 2, 32, 32), value=100.0, substrt=(200, 300), NOUTPUTS=1)
    refpix.run(model, {}, {})
    assert model.meta["S_REFPIX"] == "SKIPPED"
    np.testing.assert_array_equal(model.data, 100.0)


def test_nirspec_edgeless_subarray_uses_its_outer_columns():
    rng = np.random.default_rng(5)
    model = make_ramp((1, 2, 32, 32), instrument="NIRSPEC", substrt=(1000, 1000), subarray="SUB32",
                      fastaxis=2, slowaxis=1, NOUTPUTS=1)
    model.data[...] = rng.normal(0, SIGMA, model.data.shape).astype(np.float32) + 500.0
    refpix.run(model, {}, {"odd_even_columns": False})
    assert abs(model.data.mean()) < _tolerance(2 * 4 * 32)


def test_four_output_subarray_uses_the_reference_rows_it_has():
    rng = np.random.default_rng(6)
    model = make_ramp((1, 2, 64, 2048), substrt=(1, 1), NOUTPUTS=4)  # bottom stripe: bottom rows only
    model.data[...] = rng.normal(0, SIGMA, model.data.shape).astype(np.float32)
    det = to_detector(model.data, 1, 2)
    offsets = _offsets(2, seed=7)
    _inject(det, offsets)
    refpix.run(model, {}, {})
    residual = _residual_offsets(det, np.arange(4, 64), np.arange(4, 2044))
    assert np.abs(residual).max() < _tolerance(4 * 256) + 5 * 1.2533 * SIGMA / np.sqrt(44 * 2 * 60 / 11)


def test_clipped_mean_matches_scipy_sigmaclip():
    rng = np.random.default_rng(8)
    values = np.concatenate([rng.normal(10, 2, 500), [80, 90, -70]])
    clipped, _, _ = stats.sigmaclip(values, 3.0, 3.0)
    assert np.isclose(refpix._clipped_mean(values.copy(), values.size, 3.0), clipped.mean())


def test_miri_reference_columns_remove_amplifier_and_row_parity_drifts():
    rng = np.random.default_rng(9)
    model = make_ramp((1, 3, 1024, 1032), instrument="MIRI")
    first = rng.uniform(1000, 2000, (1024, 1032)).astype(np.float32)
    model.data[0, 0] = first
    offsets = rng.uniform(-30, 30, (3, 4, 2))
    rows, cols = np.arange(1024), np.arange(1032)
    for g in (1, 2):
        drift = offsets[g][cols[None, :] % 4, rows[:, None] % 2]
        model.data[0, g] = first + 100.0 * g + drift + rng.normal(0, SIGMA, (1024, 1032))
    refpix.run(model, {}, {})
    np.testing.assert_array_equal(model.data[0, 0], first)
    for g in (1, 2):
        diff = model.data[0, g] - first
        for amp in range(4):
            for parity in range(2):
                mean = diff[parity::2, 4 + amp:1028:4].mean()
                # the common signal (100 g) is in the reference columns too and is removed with the drift
                assert abs(mean) < 5 * SIGMA / np.sqrt(1024), (g, amp, parity, mean)


def test_miri_subarray_is_skipped_and_irs2_is_refused():
    model = make_ramp((1, 2, 64, 72), instrument="MIRI", substrt=(1, 1))
    refpix.run(model, {}, {})
    assert model.meta["S_REFPIX"] == "SKIPPED"
    irs2 = make_ramp((1, 1, 16, 16), instrument="NIRSPEC", readpatt="NRSIRS2")
    with pytest.raises(InputError, match="IRS2"):
        refpix.run(irs2, {}, {})
