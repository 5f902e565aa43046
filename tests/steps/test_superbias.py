"""superbias: subtraction, NaN as zero, DQ propagation, subarray cut-out."""

import numpy as np
from ref_fixtures import make_ramp, write_superbias

from webbflow import dqflags
from webbflow.steps.detector1 import superbias


def test_subtracts_the_bias_from_every_group_with_nan_as_zero(tmp_path):
    bias = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
    bias[20, 20] = np.nan
    dq = np.zeros((64, 64), np.uint32)
    dq[20, 20] = dqflags.PIXEL["UNRELIABLE_BIAS"]
    model = make_ramp((2, 3, 16, 16), value=20000.0, substrt=(11, 13))
    superbias.run(model, {"superbias": write_superbias(tmp_path / "bias.fits", bias, dq=dq)}, {})
    cut = bias[12:28, 10:26]
    expected = 20000.0 - np.nan_to_num(cut, nan=0.0)
    for i in range(2):
        for g in range(3):
            np.testing.assert_array_equal(model.data[i, g], expected.astype(np.float32))
    assert model.pixeldq[20 - 12, 20 - 10] == dqflags.PIXEL["UNRELIABLE_BIAS"]
    assert model.pixeldq.sum() == dqflags.PIXEL["UNRELIABLE_BIAS"]
    assert not model.groupdq.any()
    assert model.meta["S_SUPERB"] == "COMPLETE"
