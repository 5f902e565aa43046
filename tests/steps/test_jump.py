"""jump against synthetic ramps with injected jumps (tests/steps/ramp_fixtures.py).

Noise-free ramps test the thresholds exactly (gain 1 e-/DN, CDS read noise
1 DN, one frame per group: the noise of a difference is then 1 electron, so
a jump of A DN is an A-sigma event). Noisy ramps test completeness and the
false-alarm rate, with bounds from Gaussian statistics.
"""

import math
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ramp_fixtures as rf  # noqa: E402

from webbflow import dqflags  # noqa: E402
from webbflow.steps.detector1 import jump  # noqa: E402

DNU = dqflags.DO_NOT_USE
SAT = dqflags.SATURATED
JUMP = dqflags.JUMP_DET
CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)


def detect(r, **params):
    gdq = r.groupdq.copy()
    pdq = r.pixeldq.copy()
    result = jump.detect_jumps(r.data, gdq, pdq, r.gain, r.readnoise, nframes=r.meta["NFRAMES"],
                               tgroup=r.tgroup, params=params)
    return gdq, pdq, result


def flat(ny, nx, ngroups, nints=1):
    """Noise-free flat ramps: every difference is 0 and its noise is 1 electron."""
    r = rf.make_ramps(ny=ny, nx=nx, ngroups=ngroups, nints=nints, rates=np.zeros((ny, nx)),
                      gain=np.ones((ny, nx)), readnoise=np.ones((ny, nx)), seed=0)
    r.data[...] = 1000.0
    return r


def test_module_contract():
    assert jump.NAME == "jump"
    assert jump.STATUS_KEYWORD == "S_JUMP"
    assert set(jump.REFTYPES) == {"gain", "readnoise"}
    d = jump.DEFAULTS
    assert (d["rejection_threshold"], d["three_group_rejection_threshold"], d["four_group_rejection_threshold"]) == (4.0, 6.0, 5.0)
    assert d["flag_4_neighbors"] is True
    assert (d["max_jump_to_flag_neighbors"], d["min_jump_to_flag_neighbors"]) == (1000.0, 10.0)
    assert d["expand_large_events"] is False and d["find_showers"] is False
    assert (d["min_jump_area"], d["min_sat_area"], d["expand_factor"], d["edge_size"]) == (5.0, 1.0, 2.0, 25)


@pytest.mark.parametrize("ngroups, threshold", [(3, 6.0), (4, 5.0), (5, 4.0), (10, 4.0)])
def test_threshold_depends_on_usable_groups(ngroups, threshold):
    r = flat(1, 2, ngroups)
    g = ngroups - 1  # the jump happens before the last group
    r.data[0, g:, 0, 0] += threshold - 0.1
    r.data[0, g:, 0, 1] += threshold + 0.1
    gdq, _, result = detect(r)
    assert result["mode"] == jump.kernels.ITERATIVE
    assert not gdq[0, :, 0, 0].any()
    assert gdq[0, g, 0, 1] == JUMP and gdq[0, :, 0, 1].sum() == JUMP


def test_iterative_search_finds_several_jumps_and_flags_the_group_after():
    r = flat(1, 1, 10)
    r.data[0, 3:, 0, 0] += 50.0
    r.data[0, 7:, 0, 0] += 20.0
    r.data[0, 8:, 0, 0] -= 30.0  # a negative jump too
    gdq, _, _ = detect(r)
    assert list(np.nonzero(gdq[0, :, 0, 0] & JUMP)[0]) == [3, 7, 8]


def test_single_pass_for_long_ramps():
    r = flat(1, 1, 15)
    r.data[0, 5:, 0, 0] += 30.0
    r.data[0, 9:, 0, 0] += 4.5
    gdq, _, result = detect(r)
    assert result["mode"] == jump.kernels.SINGLE_PASS
    assert list(np.nonzero(gdq[0, :, 0, 0] & JUMP)[0]) == [5, 9]


def test_sigma_clipping_for_many_integrations():
    r = rf.make_ramps(ny=6, nx=6, ngroups=4, nints=120, seed=30)
    sigma = r.diff_sigma()
    r.data[7, 2:, 3, 3] += 30 * sigma[3, 3]
    gdq, _, result = detect(r)
    assert result["mode"] == jump.kernels.SIGMA_CLIP
    assert gdq[7, 2, 3, 3] & JUMP


def test_saturated_and_do_not_use_groups_are_left_out():
    r = flat(1, 3, 10)
    r.data[0, 6:, 0, 0] = 5000.0  # the jump into saturation is not a cosmic ray
    r.groupdq[0, 6:, 0, 0] = SAT
    r.data[0, 4, 0, 1] = 9000.0  # a bad group
    r.groupdq[0, 4, 0, 1] = DNU
    r.data[0, 8:, 0, 2] += 40.0  # a real jump
    r.groupdq[0, 2, 0, 2] = DNU
    gdq, _, _ = detect(r, flag_4_neighbors=False)
    assert not (gdq[0, :, 0, 0] & JUMP).any()
    assert not (gdq[0, :, 0, 1] & JUMP).any()
    assert list(np.nonzero(gdq[0, :, 0, 2] & JUMP)[0]) == [8]


def test_four_neighbours_of_significant_jumps():
    r = flat(7, 15, 8)
    r.data[0, 4:, 3, 3] += 50.0  # flags its neighbours
    r.data[0, 4:, 3, 8] += 8.0  # above threshold, below min_jump_to_flag_neighbors
    r.data[0, 4:, 3, 12] += 2000.0  # above max_jump_to_flag_neighbors
    r.groupdq[0, 4, 2, 3] = SAT  # a saturated neighbour stays unflagged
    gdq, _, result = detect(r)
    flagged = (gdq[0, 4] & JUMP) != 0
    expected = np.zeros_like(flagged)
    expected[3, 2:5] = True
    expected[4, 3] = True
    expected[3, 8] = True
    expected[3, 12] = True
    np.testing.assert_array_equal(flagged, expected)
    assert result["n_primary"] == 3
    assert not (gdq[0, [0, 1, 2, 3, 5, 6, 7]] & JUMP).any()
    gdq, _, _ = detect(r, flag_4_neighbors=False)
    assert ((gdq[0, 4] & JUMP) != 0).sum() == 3


def test_groups_after_large_jumps():
    r = flat(1, 2, 10)
    r.data[0, 3:, 0, 0] += 500.0
    r.data[0, 3:, 0, 1] += 50.0
    gdq, _, _ = detect(r, after_jump_flag_dn1=100.0, after_jump_flag_time1=2.5 * r.tgroup)
    assert list(np.nonzero(gdq[0, :, 0, 0] & JUMP)[0]) == [3, 4, 5]
    assert list(np.nonzero(gdq[0, :, 0, 1] & JUMP)[0]) == [3]


def test_bad_gain_sets_pixel_flags_and_no_jumps():
    r = flat(1, 3, 6)
    r.gain[0, 0] = np.nan
    r.gain[0, 1] = 0.0
    r.data[0, 3:, 0, :] += 100.0
    gdq, pdq, _ = detect(r, flag_4_neighbors=False)
    assert pdq[0, 0] == dqflags.NO_GAIN_VALUE | DNU and pdq[0, 1] == dqflags.NO_GAIN_VALUE | DNU
    assert not gdq[0, :, 0, :2].any()
    assert gdq[0, 3, 0, 2] == JUMP


@pytest.fixture(scope="module")
def noisy():
    r = rf.make_ramps(ny=200, nx=200, ngroups=10, nints=2, seed=31, jump_fraction=0.05, jump_sigma=(10.0, 50.0))
    gdq, _, result = detect(r)
    return r, gdq, result


def test_completeness(noisy):
    r, gdq, _ = noisy
    found = (gdq & JUMP) != 0
    assert found[r.jumps].mean() >= 0.99
    # and flagged on the group after the jump, not a neighbouring group
    assert found[r.jumps].sum() == r.jumps.sum()


def expected_false_rate(ngroups, nints, threshold=4.0):
    """False alarms per pixel per integration for Gaussian differences.

    Each of the ngroups - 1 differences is compared with the median of the
    others (N - 1 of them, N = all differences of the pixel); the median
    carries a variance pi / (2 (N - 1)) sigma**2, so the two-sided tail is
    taken at threshold / sqrt(1 + pi / (2 (N - 1))).
    """
    n_all = nints * (ngroups - 1)
    z = threshold / math.sqrt(1.0 + math.pi / (2.0 * (n_all - 1)))
    per_diff = math.erfc(z / math.sqrt(2.0))
    return (ngroups - 1) * per_diff


def test_false_jump_rate(noisy):
    r, gdq, _ = noisy
    injected = r.jumps.any(axis=1)
    near = np.array([ndimage.binary_dilation(m, CROSS) for m in injected])
    false = ((gdq & JUMP) != 0).any(axis=1)[~near]
    bound = expected_false_rate(10, 2)
    assert false.mean() <= bound + 3 * math.sqrt(bound / false.size)


@pytest.mark.parametrize("nints", [1, 2])
def test_false_jump_rate_without_cosmic_rays(nints):
    r = rf.make_ramps(ny=250, nx=250, ngroups=10, nints=nints, seed=32 + nints)
    gdq, _, _ = detect(r)
    flagged = ((gdq & JUMP) != 0).any(axis=1)
    n = flagged.size
    # read-noise-limited pixels (mean difference below its noise): at most 1e-3 per pixel per integration
    faint = np.broadcast_to(r.rate * r.tgroup < r.diff_sigma(), flagged.shape)
    assert flagged[faint].mean() <= 1e-3
    # all pixels: the official statistic (4 sigma against the median of 9 x nints differences)
    bound = expected_false_rate(10, nints)
    assert flagged.mean() <= bound + 3 * math.sqrt(bound / n)


def make_snowball(r, cy, cx, group, rcore=4.0, rhalo=9.0, amp=3000.0, level=60000.0):
    yy, xx = np.mgrid[:r.data.shape[2], :r.data.shape[3]]
    rr = np.hypot(yy - cy, xx - cx)
    r.data[:, group:, rr <= rhalo] += amp
    r.data[:, group:, rr <= rcore] = level
    r.groupdq[:, group:, rr <= rcore] |= SAT
    return rr


def test_snowballs():
    r = rf.make_ramps(ny=100, nx=100, ngroups=8, nints=2, rates=np.full((100, 100), 2.0), seed=33)
    rr = make_snowball(r, 50, 45, 4)
    plain, _, _ = detect(r)
    assert not (plain[0, 4][(rr > 12) & (rr < 16)] & JUMP).any()
    gdq, _, result = detect(r, expand_large_events=True)
    assert result["n_events"] == 2  # one per integration
    # the jump ring (4 < r <= 9) has moment axes of ~19 pixels; doubled, it flags out to ~19 pixels
    ring = (gdq[0, 4] & JUMP) != 0
    assert ring[(rr > 4.5) & (rr < 17)].all()
    added = ring & ((plain[0, 4] & JUMP) == 0)  # beyond what the plain detection flags (noise included)
    assert not added[rr > 21].any()
    # the saturated core (radius 4; moment diameter 6.9) grows by 4 pixels in diameter from that group on
    grown = (rr > 4) & (rr < 4.95)
    for g in range(4, 8):
        assert (gdq[0, g][grown] & SAT).all()
        assert not (gdq[0, g][rr > 5.5] & SAT).any()
    assert not (gdq[0, 3] & SAT).any()
    # and its (ungrown, moment radius 3) core is flagged as a jump early in the next integration
    core = rr < 2.95
    assert (gdq[1, 1:4][:, core] & JUMP).all()


def test_miri_showers():
    ny = nx = 160
    r = rf.make_ramps(ny=ny, nx=nx, ngroups=12, nints=1, rates=np.full((ny, nx), 1.0), gain=4.0, readnoise=14.0,
                      tframe=2.775, seed=34)
    yy, xx = np.mgrid[:ny, :nx]
    shower = np.hypot(yy - 80, xx - 70) < 25
    r.data[:, 6:, shower] += 2.0 * np.median(r.diff_sigma())  # a faint, extended 2-sigma event
    plain, _, _ = detect(r)
    assert ((plain[0, 6] & JUMP) != 0)[shower].mean() < 0.05
    gdq, _, result = detect(r, find_showers=True)
    assert result["n_events"] == 1
    flagged = (gdq[0] & JUMP) != 0
    assert flagged[6][shower].mean() > 0.9
    assert flagged[11][shower].mean() > 0.9  # the groups within time_masked_after_shower
    assert flagged[6][np.hypot(yy - 80, xx - 70) > 35].mean() < 0.01


def test_run_on_a_model(tmp_path):
    r = rf.make_ramps(ny=40, nx=30, ngroups=6, nints=2, seed=35, jump_fraction=0.05)
    refs, substrt = rf.reference_files(tmp_path, r)
    model = rf.ramp_model(r, substrt=substrt)
    out = jump.run(model, refs, dict(jump.DEFAULTS))
    assert out is model
    expected, _, result = detect(r)
    np.testing.assert_array_equal(model.groupdq, expected)
    assert model.meta["PRIMECRS"] > 0 and model.meta["EXTNCRS"] == 0
    total_time = r.tgroup * (2 * 6 - 2)
    assert model.meta["PRIMECRS"] == pytest.approx(1000 * result["n_primary"] / (total_time * 40 * 30))


def test_two_group_ramps_are_skipped(tmp_path):
    r = rf.make_ramps(ny=10, nx=10, ngroups=2, seed=36)
    r.data[0, 1, 0, 0] += 1e4
    refs, substrt = rf.reference_files(tmp_path, r)
    model = rf.ramp_model(r, substrt=substrt)
    jump.run(model, refs, {})
    assert model.meta["S_JUMP"] == "SKIPPED"
    assert not model.groupdq.any()


def test_memory_is_a_few_planes():
    r = rf.make_ramps(ny=256, nx=256, ngroups=10, nints=2, seed=37, jump_fraction=0.01)
    detect(flat(2, 2, 4))  # compile outside the measurement
    gdq = r.groupdq.copy()
    pdq = r.pixeldq.copy()
    tracemalloc.start()
    jump.detect_jumps(r.data, gdq, pdq, r.gain, r.readnoise, nframes=1, tgroup=r.tgroup)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    plane = 256 * 256
    assert peak < 12 * plane + 2**20, peak  # two float32 planes + a boolean plane
