"""group_scale: FRMDIVSR/NFRAMES rescaling."""

import numpy as np
from ref_fixtures import make_ramp

from webbflow.steps.detector1 import group_scale


def test_rescales_by_frmdivsr_over_nframes():
    model = make_ramp((2, 3, 4, 5), value=1000.0, nframes=5, FRMDIVSR=4)
    group_scale.run(model, {}, group_scale.DEFAULTS)
    np.testing.assert_allclose(model.data, 800.0, rtol=1e-6)
    assert model.meta["S_GRPSCL"] == "COMPLETE"


def test_skipped_when_divisor_equals_nframes_or_is_absent_for_a_power_of_two():
    for extra in ({"FRMDIVSR": 4}, {}):
        model = make_ramp((1, 2, 3, 3), value=7.0, nframes=4, **extra)
        group_scale.run(model, {}, {})
        np.testing.assert_array_equal(model.data, 7.0)
        assert model.meta["S_GRPSCL"] == "SKIPPED"
