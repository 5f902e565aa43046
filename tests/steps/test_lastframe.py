"""lastframe (MIRI): last group DO_NOT_USE."""

from ref_fixtures import make_ramp

from webbflow import dqflags
from webbflow.steps.detector1 import lastframe


def test_flags_only_the_last_group():
    model = make_ramp((2, 4, 3, 3), instrument="MIRI")
    lastframe.run(model, {}, {})
    assert (model.groupdq[:, -1] == dqflags.DO_NOT_USE).all()
    assert not model.groupdq[:, :-1].any()
    assert model.meta["S_LASTFR"] == "COMPLETE"


def test_two_groups_or_nir_data_are_skipped():
    for model in (make_ramp((1, 2, 3, 3), instrument="MIRI"), make_ramp((1, 5, 3, 3))):
        lastframe.run(model, {}, {})
        assert model.meta["S_LASTFR"] == "SKIPPED" and not model.groupdq.any()
