"""Parity of ramp_fit and jump with the official stcal code on the same ramps.

stcal is called directly (its array-level API, one process); both codes get
the same ramps, group DQ, gain and read noise. Required: for clean pixels
the median |slope_ours - slope_stcal| is at most 1e-3 ERR, and the jump flags
agree on at least 99.5 % of the pixels. Both agree far better than that;
the stricter checks below document how close.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

stcal = pytest.importorskip("stcal")
from stcal.jump.jump import detect_jumps_data  # noqa: E402
from stcal.jump.jump_class import JumpData  # noqa: E402
from stcal.ramp_fitting import ramp_fit as stcal_ramp_fit  # noqa: E402
from stcal.ramp_fitting.ramp_fit_class import RampData  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "steps"))
import ramp_fixtures as rf  # noqa: E402

from webbflow import dqflags  # noqa: E402
from webbflow.steps.detector1 import jump, ramp_fit  # noqa: E402

pytestmark = pytest.mark.compare

JUMP = dqflags.JUMP_DET
CHARGELOSS = dqflags.CHARGELOSS


def stcal_fit(r, suppress=True, instrument="NIRCAM"):
    """stcal OLS_C ramp fitting, one process."""
    rd = RampData()
    orig = r.groupdq.copy() if np.any(r.groupdq & CHARGELOSS) else None
    rd.set_arrays(r.data.copy(), r.groupdq.copy(), r.pixeldq.copy(), np.zeros(r.gain.shape, np.float32), orig_gdq=orig)
    rd.set_meta(name=instrument, frame_time=r.meta["TFRAME"], group_time=r.tgroup, groupgap=r.meta["GROUPGAP"],
                nframes=r.meta["NFRAMES"], drop_frames1=None)
    rd.algorithm = "OLS_C"
    rd.set_dqflags(dqflags.PIXEL)
    rd.start_row = 0
    rd.num_rows = r.data.shape[2]
    rd.suppress_one_group_ramps = suppress and r.data.shape[1] > 1
    image, integ, _ = stcal_ramp_fit.ramp_fit_data(rd, False, r.readnoise.copy(), r.gain.copy(), "OLS_C", "optimal", "none")
    return image, integ


def ours_fit(r, suppress=True, instrument="NIRCAM"):
    return ramp_fit.fit_arrays(r.data, r.groupdq, r.pixeldq, r.gain, r.readnoise, nframes=r.meta["NFRAMES"],
                               tgroup=r.tgroup, tframe=r.meta["TFRAME"], suppress_one_group=suppress,
                               instrument=instrument)


def stcal_jumps(r, **settings):
    """stcal two-point difference jump detection, one process."""
    jd = JumpData(gain2d=r.gain.copy(), rnoise2d=r.readnoise.copy(), dqflags=dqflags.PIXEL)
    jd.init_arrays_from_arrays(r.data.copy(), r.groupdq.copy(), r.pixeldq.copy())
    jd.nframes = r.meta["NFRAMES"]
    jd.dt_group = np.ones(1)
    jd.n_reads_groupdiff = np.ones(1) * 2 * jd.nframes
    jd.max_cores = "none"
    for key, value in settings.items():
        setattr(jd, key, value)
    gdq, pdq, n_primary, _ = detect_jumps_data(jd)
    return gdq, pdq, n_primary


def ours_jumps(r, **params):
    gdq = r.groupdq.copy()
    pdq = r.pixeldq.copy()
    result = jump.detect_jumps(r.data, gdq, pdq, r.gain, r.readnoise, nframes=r.meta["NFRAMES"], tgroup=r.tgroup,
                               params=params)
    return gdq, pdq, result["n_primary"]


def with_flags(r, seed):
    """Jumps flagged where injected, some DO_NOT_USE and PERSISTENCE groups, bad gains and pixels."""
    rng = np.random.default_rng(seed)
    r.groupdq[r.jumps] |= JUMP
    u = rng.random(r.groupdq.shape)
    r.groupdq[u < 0.01] |= dqflags.DO_NOT_USE
    r.groupdq[(u > 0.01) & (u < 0.02)] |= dqflags.PIXEL["PERSISTENCE"]
    r.gain[0, :3] = np.nan
    r.gain[1, :2] = 0.0
    r.pixeldq[2, :4] = dqflags.DO_NOT_USE
    r.pixeldq[3, :4] = dqflags.PIXEL["HOT"]
    return r


def compare_fits(r, suppress=True, instrument="NIRCAM"):
    image, integ = stcal_fit(r, suppress, instrument)
    rate, ints = ours_fit(r, suppress, instrument)
    for ours, theirs in ((rate, image), (ints, integ)):
        np.testing.assert_array_equal(ours["dq"], theirs["dq"])
        np.testing.assert_array_equal(np.isnan(ours["slope"]), np.isnan(theirs["slope"]))
        for key in ("slope", "var_poisson", "var_rnoise", "err"):
            np.testing.assert_allclose(ours[key], theirs[key], rtol=2e-6, atol=0, equal_nan=True, err_msg=key)
    return rate, image


def test_ramp_fit_parity():
    r = with_flags(rf.make_ramps(ny=200, nx=200, ngroups=10, nints=2, seed=41, jump_fraction=0.05,
                                 sat_level=45000.0), seed=41)
    rate, image = compare_fits(r)
    clean = (rate["dq"] == 0) & (image["dq"] == 0)
    assert clean.mean() > 0.5
    diff = np.abs(rate["slope"] - image["slope"])[clean] / image["err"][clean]
    assert np.median(diff) <= 1e-3  # in fact identical up to float32 rounding (compare_fits: rtol 2e-6)


@pytest.mark.parametrize("ngroups", [1, 2, 3, 5])
@pytest.mark.parametrize("suppress", [True, False])
def test_ramp_fit_parity_short_ramps(ngroups, suppress):
    r = rf.make_ramps(ny=60, nx=60, ngroups=ngroups, nints=2, seed=42 + ngroups, sat_level=20000.0,
                      jump_fraction=0.05 if ngroups > 2 else 0.0)
    compare_fits(with_flags(r, seed=ngroups), suppress)


def test_ramp_fit_parity_chargeloss_and_miri():
    r = rf.make_ramps(ny=60, nx=60, ngroups=6, nints=2, seed=47)
    u = np.random.default_rng(47).random(r.groupdq.shape)
    r.groupdq[u < 0.1] |= CHARGELOSS | dqflags.DO_NOT_USE
    compare_fits(r)
    r = rf.make_ramps(ny=60, nx=60, ngroups=8, nints=2, seed=48)
    r.groupdq[:, 0] |= dqflags.DO_NOT_USE
    r.groupdq[:, -1] |= dqflags.DO_NOT_USE
    r.groupdq[:, 1, :10] |= JUMP
    compare_fits(r, instrument="MIRI")
    compare_fits(r, suppress=False, instrument="MIRI")


def assert_same_flags(ours, theirs):
    agree = np.all(ours == theirs, axis=(0, 1)).mean()
    assert agree >= 0.995
    np.testing.assert_array_equal(ours, theirs)  # in fact identical


@pytest.mark.parametrize("ngroups, nints", [(10, 1), (10, 2), (3, 1), (4, 2), (6, 1), (14, 1)])
def test_jump_parity(ngroups, nints):
    r = rf.make_ramps(ny=120, nx=120, ngroups=ngroups, nints=nints, seed=50 + ngroups + nints,
                      jump_fraction=0.05, sat_level=40000.0)
    r.gain[0, :3] = np.nan
    u = np.random.default_rng(ngroups).random(r.groupdq.shape)
    r.groupdq[u < 0.01] |= dqflags.DO_NOT_USE
    gdq, pdq, n_primary = ours_jumps(r)
    sgdq, spdq, s_primary = stcal_jumps(r)
    assert_same_flags(gdq, sgdq)
    np.testing.assert_array_equal(pdq, spdq)
    assert n_primary == s_primary


def test_jump_parity_sigma_clipping_and_options():
    r = rf.make_ramps(ny=16, nx=16, ngroups=5, nints=100, seed=60, jump_fraction=0.02)
    assert_same_flags(ours_jumps(r)[0], stcal_jumps(r)[0])
    assert_same_flags(ours_jumps(r, only_use_ints=False)[0], stcal_jumps(r, only_use_ints=False)[0])
    r = rf.make_ramps(ny=100, nx=100, ngroups=10, nints=2, seed=61, jump_fraction=0.05)
    ours = ours_jumps(r, after_jump_flag_dn1=100.0, after_jump_flag_time1=2.5 * r.tgroup,
                      after_jump_flag_dn2=1000.0, after_jump_flag_time2=4.5 * r.tgroup)[0]
    theirs = stcal_jumps(r, after_jump_flag_dn1=100.0, after_jump_flag_n1=2,
                         after_jump_flag_dn2=1000.0, after_jump_flag_n2=4)[0]
    assert_same_flags(ours, theirs)
    assert_same_flags(ours_jumps(r, flag_4_neighbors=False)[0], stcal_jumps(r, flag_4_neighbors=False)[0])


def test_snowball_parity():
    """Large events: not required to be identical (different region and drawing code); they agree closely."""
    r = rf.make_ramps(ny=160, nx=160, ngroups=8, nints=2, rates=np.full((160, 160), 2.0), seed=62)
    yy, xx = np.mgrid[:160, :160]
    for cy, cx, a, b, theta, group in ((80, 70, 14, 6, 0.5, 4), (40, 120, 10, 4, -1.0, 3), (120, 40, 9, 9, 0.0, 5)):
        dy, dx = yy - cy, xx - cx
        u = dx * np.cos(theta) + dy * np.sin(theta)
        v = -dx * np.sin(theta) + dy * np.cos(theta)
        halo = (u / a) ** 2 + (v / b) ** 2 <= 1
        core = (u / (a / 2.5)) ** 2 + (v / (b / 2.5)) ** 2 <= 1
        r.data[:, group:, halo] += 3000.0
        r.data[:, group:, core] = 60000.0
        r.groupdq[:, group:, core] |= dqflags.SATURATED
    ours = ours_jumps(r, expand_large_events=True)[0]
    theirs = stcal_jumps(r, expand_large_events=True, sat_expand=4, max_extended_width=400,
                         persist_grps_flagged=int(4000 // r.tgroup))[0]
    flagged_ours = (ours & (JUMP | dqflags.SATURATED)) != 0
    flagged_theirs = (theirs & (JUMP | dqflags.SATURATED)) != 0
    union = (flagged_ours | flagged_theirs).sum()
    assert (flagged_ours & flagged_theirs).sum() >= 0.99 * union
