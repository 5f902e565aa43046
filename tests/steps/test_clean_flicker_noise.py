"""clean_flicker_noise (median method): stripe removal, scene masking, flagged groups, orientation."""

import numpy as np
import pytest
from ref_fixtures import make_ramp, science_header

from webbflow import dqflags
from webbflow.datamodels import ImageModel
from webbflow.errors import InputError
from webbflow.steps.detector1 import clean_flicker_noise

NOISE = 5.0      # white noise per group, DN
FLICKER = 2.0    # 1/f offset per line and group, DN (smaller than the pixel noise, as in real data)
NY, NX, NG = 96, 192, 5


def _ramp(rng, stripe_axis=1, **header):
    """A ramp with a background, a wide bright band, white noise and line offsets.

    ``stripe_axis`` is the array axis along which the offsets are constant (1: rows).
    Returns the model and the noiseless truth.
    """
    model = make_ramp((1, NG, NY, NX), subarray="SUB96", **header)
    truth = np.zeros((NG, NY, NX))
    band = np.zeros((NY, NX))
    band[30:50, :120] = 150.0  # covers 60% of these rows: a plain row median would be biased
    for g in range(NG):
        truth[g] = 1000.0 + g * (20.0 + band)
        lines = rng.normal(0, FLICKER, NY if stripe_axis == 1 else NX)
        offsets = lines[:, None] if stripe_axis == 1 else lines[None, :]
        model.data[0, g] = truth[g] + offsets + rng.normal(0, NOISE, (NY, NX))
    return model, truth


def _line_scatter(diff, axis):
    """Scatter between lines of the line medians of a group difference."""
    return np.median(diff, axis=axis).std()


def test_line_offsets_are_removed_and_a_wide_source_is_kept():
    rng = np.random.default_rng(11)
    model, truth = _ramp(rng)
    raw = model.data.copy()
    clean_flicker_noise.run(model, {}, clean_flicker_noise.DEFAULTS)
    np.testing.assert_array_equal(model.data[0, 0], raw[0, 0])  # the first group anchors the ramp
    for g in range(NG - 1):
        before = raw[0, g + 1] - raw[0, g]
        after = model.data[0, g + 1] - model.data[0, g]
        background = np.s_[60:, :]
        assert _line_scatter(before[background], 1) > 2.0
        # left: the error of a median of ~190 pixels of noise NOISE*sqrt(2) per line
        assert _line_scatter(after[background], 1) < 2 * 1.2533 * NOISE * np.sqrt(2) / np.sqrt(NX)
    band_gain = (model.data[0, -1] - model.data[0, 0])[30:50, :120].mean()
    true_gain = (truth[-1] - truth[0])[30:50, :120].mean()
    assert abs(band_gain - true_gain) < 1.0
    assert model.meta["S_CLNFNS"] == "COMPLETE"


def test_nirspec_offsets_are_constant_along_columns():
    rng = np.random.default_rng(12)
    model, _ = _ramp(rng, stripe_axis=0, instrument="NIRSPEC", fastaxis=2, slowaxis=1)
    raw = model.data.copy()
    clean_flicker_noise.run(model, {}, {})
    before = raw[0, 2] - raw[0, 1]
    after = model.data[0, 2] - model.data[0, 1]
    assert _line_scatter(before[:, 130:], 0) > 2.0
    assert _line_scatter(after[:, 130:], 0) < 2 * 1.2533 * NOISE * np.sqrt(2) / np.sqrt(NY)


def test_jump_flagged_pixels_do_not_bias_their_line():
    rng = np.random.default_rng(13)
    model, _ = _ramp(rng)
    model.data[0, 2:, 70, :120] += 500.0  # cosmic rays in most of one line, flagged by jump
    model.groupdq[0, 2, 70, :120] = dqflags.JUMP_DET
    clean_flicker_noise.run(model, {}, {})
    diff = model.data[0, 2, 70, 120:] - model.data[0, 1, 70, 120:]
    assert abs(np.median(diff) - 20.0) < 3 * 1.2533 * NOISE * np.sqrt(2) / np.sqrt(NX - 120)


def test_rate_image_is_cleaned_directly():
    rng = np.random.default_rng(14)
    header = science_header(shape=(1, 1, NY, NX), subarray="SUB96")
    data = 3.0 + rng.normal(0, 1.0, (NY, NX)) + rng.normal(0, 0.5, NY)[:, None]
    model = ImageModel(meta=header, data=data.astype(np.float32))
    assert np.median(model.data, axis=1).std() > 0.4
    clean_flicker_noise.run(model, {}, {})
    assert np.median(model.data, axis=1).std() < 2 * 1.2533 / np.sqrt(NX)
    assert abs(np.median(model.data) - 3.0) < 0.1


def test_defaults_skip_and_unsupported_options_are_refused():
    assert clean_flicker_noise.DEFAULTS["skip"] is True
    model = make_ramp((1, 3, 8, 8), value=1.0)
    with pytest.raises(InputError, match="fit_method"):
        clean_flicker_noise.run(model, {}, {"fit_method": "fft"})
    with pytest.raises(InputError, match="background_method"):
        clean_flicker_noise.run(model, {}, {"background_method": "model"})


def _integer_ramp(rng, background, ngroups=6, shape=(160, 160), noise=3.2):
    """A stripe-free ramp stored in whole DN, as raw groups are: ``background`` DN per group on every pixel."""
    model = make_ramp((1, ngroups) + shape, subarray="SUB160")
    groups = 1000.0 + background * np.arange(ngroups)[:, None, None] + rng.normal(0, noise, (ngroups,) + shape)
    model.data[0] = np.round(groups)
    return model


def _ols_slopes(data):
    """Unweighted least-squares slope per pixel, DN per group."""
    t = np.arange(data.shape[0]) - (data.shape[0] - 1) / 2.0
    return np.tensordot(t, data.astype(np.float64), axes=(0, 0)) / np.sum(t * t)


@pytest.mark.parametrize("statistic", ["mean", "median"])
@pytest.mark.parametrize("background", [0.5, 1.42])
def test_whole_dn_groups_keep_their_background_level(statistic, background):
    # Group differences take whole values: the background median of a difference and the line medians
    # round differently. The cleaning must still not move the level of the exposure.
    rng = np.random.default_rng(21)
    shifts = []
    for _ in range(4):
        model = _integer_ramp(rng, background)
        before = _ols_slopes(model.data[0])
        clean_flicker_noise.run(model, {}, {"line_statistic": statistic})
        after = _ols_slopes(model.data[0])
        shifts.append((after - before).mean() / before.std())
    # left: the line levels are forced to average to zero, to float precision
    assert abs(np.mean(shifts)) < 0.01


def test_mean_statistic_adds_little_line_correlated_noise_to_whole_dn_ramps():
    # A line's level changes every slope of the line alike. With the clipped mean it is the line's
    # own noise average (1/sqrt(n) of the slope noise, n = 160 pixels); independent line medians
    # of consecutive differences (official) leave about 3.3/sqrt(n).
    rng = np.random.default_rng(22)
    change = {}
    for statistic in ("mean", "median"):
        values = []
        for _ in range(4):
            model = _integer_ramp(rng, 1.42)
            before = _ols_slopes(model.data[0])
            clean_flicker_noise.run(model, {}, {"line_statistic": statistic})
            line_change = (_ols_slopes(model.data[0]) - before).mean(axis=1)
            values.append(line_change.std() / before.std())
        change[statistic] = np.mean(values)
    n = 160
    assert change["mean"] < 1.6 / np.sqrt(n)
    assert change["median"] > 2.0 / np.sqrt(n)  # the official statistic, documented in the module


def test_reference_and_dead_pixels_are_not_background():
    # NIRCam corner subarray: 4 reference rows and 4 reference columns without sky signal, and a dead
    # column. With a faint sky they pass the clipping; taken as background they would pull their
    # lines' levels (and, through the common level, every line) down.
    rng = np.random.default_rng(23)
    ny, nx, ng, rate, noise = 64, 256, 6, 1.0, 2.0
    model = make_ramp((1, ng, ny, nx), subarray="SUB64")
    no_sky = np.zeros((ny, nx), dtype=bool)
    no_sky[:4, :] = no_sky[:, :4] = no_sky[:, 30] = True
    model.pixeldq[:4, :] |= dqflags.PIXEL["REFERENCE_PIXEL"]
    model.pixeldq[:, :4] |= dqflags.PIXEL["REFERENCE_PIXEL"]
    model.pixeldq[:, 30] |= dqflags.DO_NOT_USE
    sky = np.where(no_sky, 0.0, rate)
    for g in range(ng):
        model.data[0, g] = 1000.0 + g * sky + rng.normal(0, noise, (ny, nx))
    clean_flicker_noise.run(model, {}, {})
    gain = (model.data[0, -1] - model.data[0, 0]) / (ng - 1)
    # left: 5 sigma of a mean of ~15000 per-group gains (noise*sqrt(2)/5 DN each)
    assert abs(gain[~no_sky].mean() - rate) < 5 * noise * np.sqrt(2) / 5 / np.sqrt((~no_sky).sum())
    # the reference rows keep their zero level (no background pixel in their lines: not corrected)
    assert abs(gain[:4, :].mean()) < 5 * noise * np.sqrt(2) / 5 / np.sqrt(4 * nx)


def test_unknown_line_statistic_is_refused():
    model = make_ramp((1, 3, 8, 8), value=1.0)
    with pytest.raises(InputError, match="line_statistic"):
        clean_flicker_noise.run(model, {}, {"line_statistic": "mode"})


def _fixed_slit_ramp(rng, common):
    """NIRSpec SUBS200A1-like ramp: sky in the slit rows only, line offsets and a frame-wide offset per group.

    Fast reads run along science y (columns of the array), so each array
    column is one read line. ``common`` adds an offset to every pixel of a
    group (what a reference-pixel correction can leave behind).
    Returns the model and the per-group sky increment in the slit.
    """
    ny, nx, sky = 64, 256, 8.0
    model = make_ramp((1, NG, ny, nx), instrument="NIRSPEC", fastaxis=2, slowaxis=1, subarray="SUBS200A1",
                      EXP_TYPE="NRS_FIXEDSLIT", FXD_SLIT="S200A1")
    slit = (np.abs(np.arange(ny) - 31.5) < 16.0)[:, None]
    for g in range(NG):
        model.data[0, g] = (g * sky * slit + rng.normal(0, FLICKER, nx)[None, :] + common[g]
                            + rng.normal(0, NOISE, (ny, nx)))
    return model, sky


def test_fixed_slit_science_regions_are_the_slit_rows():
    model, _ = _fixed_slit_ramp(np.random.default_rng(15), np.zeros(NG))
    regions = clean_flicker_noise.science_regions(model)
    rows = np.flatnonzero(regions[:, 0])
    # S200A1: 3.3 arcsec at 0.1 arcsec per pixel, centred, plus 2 rows each side
    assert rows[0] == 13 and rows[-1] == 50 and regions.all(axis=1)[rows].all()
    imaging = make_ramp((1, NG, NY, NX), subarray="SUB96")
    assert clean_flicker_noise.science_regions(imaging) is None


def test_masked_slit_and_no_background_remove_a_frame_wide_offset():
    common = np.array([0.0, 6.0, -4.0, 9.0, -2.0])
    params = {"background_method": None, "mask_science_regions": True, "line_statistic": "mean"}
    model, sky = _fixed_slit_ramp(np.random.default_rng(16), common)
    clean_flicker_noise.run(model, {}, params)
    dark = np.r_[0:13, 51:64]
    # tolerance: 5 standard errors of a mean over the dark pixels of all lines (difference noise NOISE*sqrt(2))
    tolerance = 5 * NOISE * np.sqrt(2) / np.sqrt(dark.size * 256)
    for g in range(NG - 1):
        diff = model.data[0, g + 1] - model.data[0, g]
        assert abs(diff[dark].mean()) < tolerance
        assert abs(diff[20:44].mean() - sky) < 5 * NOISE * np.sqrt(2) / np.sqrt(24 * 256) + tolerance
    # the official default keeps the background level of each difference, offset included
    model, _ = _fixed_slit_ramp(np.random.default_rng(16), common)
    clean_flicker_noise.run(model, {}, {"mask_science_regions": True})
    diff = model.data[0, 1] - model.data[0, 0]
    assert abs(diff[dark].mean() - (common[1] - common[0])) < 1.0


def test_no_background_fit_does_not_shift_the_level_of_pure_noise():
    # the scene mask selects pixels on their own noise; clipped lopsidedly (3 sigma below, 2 above, the
    # official scene clip) the kept pixels' ramps average ~0.05 sigma low, and with no background
    # restored every pixel would be raised by that much
    rng = np.random.default_rng(17)
    ny, nx = 64, 2048
    model = make_ramp((1, NG, ny, nx), instrument="NIRSPEC", fastaxis=2, slowaxis=1, subarray="SUBS200A1",
                      EXP_TYPE="NRS_FIXEDSLIT", FXD_SLIT="S200A1")
    model.data[...] = rng.normal(0, NOISE, model.data.shape).astype(np.float32)
    clean_flicker_noise.run(model, {}, {"background_method": None, "mask_science_regions": True,
                                        "line_statistic": "mean"})
    dark = np.r_[0:13, 51:64]
    gain = (model.data[0, -1] - model.data[0, 0])[dark]
    sigma = NOISE * np.sqrt(2)  # of one pixel's first-to-last difference
    # 4 standard errors of the mean over the dark pixels: 0.017 sigma, a third of the lopsided clip's shift
    assert abs(gain.mean()) < 4 * sigma / np.sqrt(gain.size)
