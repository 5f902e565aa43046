"""charge_migration: CHARGELOSS + DO_NOT_USE from the threshold crossing on, pixel and 4 neighbours."""

import numpy as np
from ref_fixtures import make_ramp

from webbflow import dqflags
from webbflow.steps.detector1 import charge_migration

FLAG = dqflags.CHARGELOSS | dqflags.DO_NOT_USE
DNU = dqflags.DO_NOT_USE


def test_flags_the_crossing_group_onwards_in_the_pixel_and_its_four_neighbours():
    model = make_ramp((1, 6, 9, 9), value=1000.0)
    model.data[0, :, 4, 4] = [5000, 12000, 20000, 26000, 30000, 24000]  # exceeds 25000 in group 3
    charge_migration.run(model, {}, {"signal_threshold": 25000.0})
    cross = [(4, 4), (3, 4), (5, 4), (4, 3), (4, 5)]
    for y, x in cross:
        np.testing.assert_array_equal(model.groupdq[0, :, y, x], [0, 0, 0, FLAG, FLAG, FLAG])
    untouched = model.groupdq.copy()
    for y, x in cross:
        untouched[0, :, y, x] = 0
    assert not untouched.any()  # diagonals and everything else unflagged
    assert model.meta["S_CHGMIG"] == "COMPLETE"


def test_groups_flagged_only_do_not_use_do_not_trigger():
    model = make_ramp((1, 4, 5, 5), value=1000.0)
    model.data[0, :, 2, 2] = [30000, 30000, 30000, 30000]
    model.groupdq[0, :, 2, 2] = DNU
    charge_migration.run(model, {}, {})
    assert model.groupdq[0, :, 1, 2].sum() == 0


def test_defaults_and_few_groups():
    assert charge_migration.DEFAULTS == {"skip": True, "signal_threshold": 25000.0}
    model = make_ramp((1, 2, 3, 3), value=40000.0)
    charge_migration.run(model, {}, {})
    assert model.meta["S_CHGMIG"] == "SKIPPED"
    assert not model.groupdq.any()
