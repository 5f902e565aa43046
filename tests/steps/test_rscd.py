"""rscd (MIRI): initial groups DO_NOT_USE from the RSCD_GROUP_SKIP table."""

import numpy as np
from ref_fixtures import make_ramp, write_rscd

from webbflow import dqflags
from webbflow.steps.detector1 import rscd

DNU = dqflags.DO_NOT_USE
SAT = dqflags.SATURATED
ROWS = [("FULL", "FASTR1", 3, 2), ("BRIGHTSKY", "FASTR1", 1, 1), ("FULL", "SLOWR1", 0, 0)]


def _run(tmp_path, model):
    return rscd.run(model, {"rscd": write_rscd(tmp_path / "rscd.fits", ROWS)}, {})


def test_flags_group_skip1_in_the_first_and_group_skip_in_later_integrations(tmp_path):
    model = make_ramp((3, 10, 4, 4), instrument="MIRI", subarray="FULL", readpatt="FASTR1")
    _run(tmp_path, model)
    first = (model.groupdq[0, :, 0, 0] & DNU) != 0
    later = (model.groupdq[1:, :, 0, 0] & DNU) != 0
    np.testing.assert_array_equal(first, [True] * 3 + [False] * 7)
    np.testing.assert_array_equal(later, [[True] * 2 + [False] * 8] * 2)
    assert (model.meta["INT1SKIP"], model.meta["INT2SKIP"]) == (3, 2)
    assert model.meta["S_RSCD"] == "COMPLETE"


def test_early_saturation_keeps_two_usable_groups(tmp_path):
    model = make_ramp((1, 10, 4, 4), instrument="MIRI", subarray="FULL", readpatt="FASTR1")
    model.groupdq[0, 4:, 1, 1] = SAT  # first saturated group index 4: flag at most 4 - 2 = 2 groups
    model.groupdq[0, :, 2, 2] = SAT   # saturated from the first group: unchanged
    _run(tmp_path, model)
    np.testing.assert_array_equal((model.groupdq[0, :4, 1, 1] & DNU) != 0, [True, True, False, False])
    np.testing.assert_array_equal((model.groupdq[0, :4, 2, 2] & DNU) != 0, [True, True, True, False])
    assert model.pixeldq[1, 1] == dqflags.PIXEL["FLUX_ESTIMATED"]
    assert model.pixeldq.sum() == dqflags.PIXEL["FLUX_ESTIMATED"]


def test_few_groups_limit_the_count(tmp_path):
    model = make_ramp((1, 5, 2, 2), instrument="MIRI", subarray="FULL", readpatt="FASTR1")
    _run(tmp_path, model)  # 5 groups or fewer: one group
    np.testing.assert_array_equal((model.groupdq[0, :, 0, 0] & DNU) != 0, [True, False, False, False, False])
    model = make_ramp((1, 2, 2, 2), instrument="MIRI", subarray="FULL", readpatt="FASTR1")
    _run(tmp_path, model)
    assert model.meta["S_RSCD"] == "SKIPPED"


def test_readout_not_in_the_table_is_skipped(tmp_path):
    model = make_ramp((1, 8, 2, 2), instrument="MIRI", subarray="MASK1550", readpatt="FASTR1")
    _run(tmp_path, model)
    assert model.meta["S_RSCD"] == "SKIPPED"
    assert not model.groupdq.any()
