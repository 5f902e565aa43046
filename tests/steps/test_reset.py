"""reset (MIRI): per-integration, per-group reset anomaly subtraction."""

import numpy as np
from ref_fixtures import make_ramp, write_reset

from webbflow import dqflags
from webbflow.steps.detector1 import reset

SHAPE = (6, 8)


def _reset_ramp():
    rng = np.random.default_rng(0)
    data = rng.uniform(0, 50, (2, 3, *SHAPE)).astype(np.float32)  # 2 integrations, 3 groups
    data[0, 1, 2, 2] = np.nan
    return data


def test_subtracts_integration_and_group_matched_planes(tmp_path):
    ref = _reset_ramp()
    dq = np.zeros(SHAPE, np.uint32)
    dq[3, 3] = dqflags.PIXEL["HOT"]
    model = make_ramp((3, 5, *SHAPE), value=1000.0, instrument="MIRI")
    reset.run(model, {"reset": write_reset(tmp_path / "reset.fits", ref, dq=dq)}, {})
    clean = np.nan_to_num(ref, nan=0.0)
    for i, k in [(0, 0), (1, 1), (2, 1)]:  # later integrations use the last reset integration
        np.testing.assert_allclose(model.data[i, :3], 1000.0 - clean[k], rtol=1e-6)
        np.testing.assert_array_equal(model.data[i, 3:], 1000.0)  # groups beyond the reference
    assert model.pixeldq[3, 3] == dqflags.PIXEL["HOT"]
    assert model.meta["S_RESET"] == "COMPLETE"


def test_segment_starting_later_uses_absolute_integration_numbers(tmp_path):
    ref = _reset_ramp()
    model = make_ramp((1, 3, *SHAPE), value=0.0, instrument="MIRI", NINTS=4, INTSTART=2, INTEND=2)
    reset.run(model, {"reset": write_reset(tmp_path / "reset.fits", ref)}, {})
    np.testing.assert_allclose(model.data[0], -ref[1], rtol=1e-6)


def test_not_miri_is_skipped():
    model = make_ramp((1, 3, *SHAPE), value=1.0)
    reset.run(model, {"reset": "unused.fits"}, {})
    assert model.meta["S_RESET"] == "SKIPPED"
