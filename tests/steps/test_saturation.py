"""saturation: threshold flags, A/D floor, growth, NO_SAT_CHECK, frame-averaged groups."""

import numpy as np
from ref_fixtures import make_ramp, write_saturation, write_superbias

from webbflow import dqflags
from webbflow.steps.detector1 import saturation

SAT = dqflags.SATURATED
DNU = dqflags.DO_NOT_USE
FLOOR = dqflags.AD_FLOOR
NO_SAT_CHECK = dqflags.NO_SAT_CHECK
T = 35000.0


def _ramp(nframes=1, ngroups=6):
    model = make_ramp((1, ngroups, 8, 8), value=1000.0, nframes=nframes)
    return model


def _refs(tmp_path, threshold=T, dq=None, bias=None):
    refs = {"saturation": write_saturation(tmp_path / "sat.fits", np.full((8, 8), threshold), dq=dq)}
    refs["superbias"] = "N/A" if bias is None else write_superbias(tmp_path / "bias.fits", np.full((8, 8), bias))
    return refs


def test_flags_exactly_the_groups_at_or_above_threshold_and_later(tmp_path):
    model = _ramp()
    model.data[0, :, 2, 3] = [1000, 11000, 21000, T, 20000, 45000]  # reaches T in group 3, then drops
    saturation.run(model, _refs(tmp_path), {"n_pix_grow_sat": 0})
    flags = model.groupdq[0, :, 2, 3]
    np.testing.assert_array_equal(flags & SAT, [0, 0, 0, SAT, SAT, SAT])
    others = model.groupdq.copy()
    others[0, :, 2, 3] = 0
    assert not others.any()
    assert model.meta["S_SATURA"] == "COMPLETE"


def test_a_d_floor_flags_only_the_groups_at_or_below_zero(tmp_path):
    model = _ramp()
    model.data[0, :, 5, 5] = [100, 0, -5, 100, 200, 300]
    saturation.run(model, _refs(tmp_path), {"n_pix_grow_sat": 0})
    np.testing.assert_array_equal(model.groupdq[0, :, 5, 5], [0, FLOOR | DNU, FLOOR | DNU, 0, 0, 0])


def test_saturation_grows_into_the_eight_neighbours(tmp_path):
    model = _ramp()
    model.data[0, 4:, 4, 4] = 50000
    saturation.run(model, _refs(tmp_path), {"n_pix_grow_sat": 1})
    flagged = (model.groupdq[0, 5] & SAT) != 0
    expected = np.zeros((8, 8), bool)
    expected[3:6, 3:6] = True
    np.testing.assert_array_equal(flagged, expected)
    assert not (model.groupdq[0, 3] & SAT).any()


def test_no_sat_check_and_nan_thresholds_are_never_saturated(tmp_path):
    dq = np.zeros((8, 8), np.uint32)
    dq[1, 1] = NO_SAT_CHECK
    threshold = np.full((8, 8), T)
    threshold[6, 6] = np.nan
    refs = {"saturation": write_saturation(tmp_path / "sat.fits", threshold, dq=dq), "superbias": "N/A"}
    model = _ramp()
    model.data[0, :, 1, 1] = 60000
    model.data[0, :, 6, 6] = 60000
    saturation.run(model, refs, {"n_pix_grow_sat": 0})
    assert not model.groupdq.any()
    assert model.pixeldq[1, 1] == NO_SAT_CHECK
    assert model.pixeldq[6, 6] == NO_SAT_CHECK


def test_frame_averaged_groups_flag_the_diluted_group_before_saturation(tmp_path):
    # NFRAMES=4: group g averages frames 4g+1..4g+4, so a pixel that saturates in the last
    # frames of group g shows only mean/last = (4g+2.5)/(4g+4) of the threshold
    t = 40000.0
    model = _ramp(nframes=4)
    model.data[0, :, 2, 2] = [1000, 5000, 9000, 36500, 41000, 41000]   # 36500 >= 0.906 t: flagged
    model.data[0, :, 3, 3] = [1000, 5000, 9000, 30000, 41000, 41000]   # 30000 <  0.906 t: not flagged
    model.data[0, :, 4, 4] = [1000, 36000, 41000, 41000, 41000, 41000]  # second group saturating late
    saturation.run(model, _refs(tmp_path, threshold=t, bias=0.0), {"n_pix_grow_sat": 0, "use_readpatt": True})
    np.testing.assert_array_equal(model.groupdq[0, :, 2, 2], [0, 0, 0, DNU, SAT, SAT])
    np.testing.assert_array_equal(model.groupdq[0, :, 3, 3], [0, 0, 0, 0, SAT, SAT])
    np.testing.assert_array_equal(model.groupdq[0, :, 4, 4], [0, DNU, SAT, SAT, SAT, SAT])

    plain = _ramp(nframes=4)
    plain.data[...] = model.data
    plain.groupdq[...] = 0
    saturation.run(plain, _refs(tmp_path, threshold=t), {"n_pix_grow_sat": 0, "use_readpatt": False})
    np.testing.assert_array_equal(plain.groupdq[0, :, 2, 2], [0, 0, 0, 0, SAT, SAT])


def test_reference_dq_is_ored_into_pixeldq(tmp_path):
    dq = np.zeros((8, 8), np.uint32)
    dq[0, 7] = dqflags.PIXEL["HOT"]
    model = _ramp()
    saturation.run(model, _refs(tmp_path, dq=dq), {})
    assert model.pixeldq[0, 7] == dqflags.PIXEL["HOT"]
