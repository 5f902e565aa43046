"""firstframe (MIRI): first group DO_NOT_USE, kept for bright pixels."""

import numpy as np
from ref_fixtures import make_ramp

from webbflow import dqflags
from webbflow.steps.detector1 import firstframe

DNU = dqflags.DO_NOT_USE
SAT = dqflags.SATURATED


def test_flags_the_first_group_except_pixels_saturated_by_the_third():
    model = make_ramp((2, 5, 4, 4), instrument="MIRI")
    model.groupdq[1, 2:, 1, 1] = SAT
    firstframe.run(model, {}, firstframe.DEFAULTS)
    expected = np.full((2, 4, 4), DNU, np.uint8)
    expected[1, 1, 1] = 0
    np.testing.assert_array_equal(model.groupdq[:, 0], expected)
    assert not model.groupdq[:, 1].any()
    assert model.pixeldq[1, 1] == dqflags.PIXEL["FLUX_ESTIMATED"]
    assert model.meta["S_FRSTFR"] == "COMPLETE"
    assert firstframe.DEFAULTS["skip"] is True


def test_without_bright_exception_and_too_few_groups_or_not_miri():
    model = make_ramp((1, 4, 3, 3), instrument="MIRI")
    model.groupdq[0, 2:] = SAT
    firstframe.run(model, {}, {"bright_use_group1": False})
    assert (model.groupdq[0, 0] & DNU).all()
    for m in (make_ramp((1, 3, 3, 3), instrument="MIRI"), make_ramp((1, 6, 3, 3))):
        firstframe.run(m, {}, {})
        assert m.meta["S_FRSTFR"] == "SKIPPED" and not m.groupdq.any()
