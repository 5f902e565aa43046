"""dq_init: mask DQ into PIXELDQ, DO_NOT_USE into GROUPDQ, subarray cut-outs."""

import numpy as np
import pytest
from ref_fixtures import make_ramp, write_mask

from webbflow import dqflags
from webbflow.errors import ReferenceFileError
from webbflow.steps.detector1 import dq_init

HOT = dqflags.PIXEL["HOT"]
DEAD = dqflags.PIXEL["DEAD"]
REF = dqflags.REFERENCE_PIXEL
DNU = dqflags.DO_NOT_USE


def _mask(shape):
    dq = np.zeros(shape, np.uint32)
    dq[:4, :] = REF
    dq[10, 12] = DEAD | DNU
    dq[11, 13] = HOT
    return dq


def test_mask_is_copied_to_pixeldq_and_do_not_use_to_every_group(tmp_path):
    mask = _mask((32, 32))
    model = make_ramp((2, 3, 32, 32))
    model.pixeldq[5, 5] = dqflags.PIXEL["WARM"]  # existing flags are kept
    dq_init.run(model, {"mask": write_mask(tmp_path / "mask.fits", mask)}, {})
    expected = mask.copy()
    expected[5, 5] |= dqflags.PIXEL["WARM"]
    np.testing.assert_array_equal(model.pixeldq, expected)
    assert (model.groupdq[:, :, 10, 12] == DNU).all()
    assert model.groupdq.sum() == DNU * 2 * 3
    assert model.meta["S_DQINIT"] == "COMPLETE"


def test_full_frame_mask_is_cut_to_the_subarray(tmp_path):
    mask = np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) & (HOT | DEAD | REF)
    model = make_ramp((1, 2, 16, 24), substrt=(9, 17))  # x from 9, y from 17 (1-based)
    dq_init.run(model, {"mask": write_mask(tmp_path / "mask.fits", mask)}, {})
    np.testing.assert_array_equal(model.pixeldq, mask[16:32, 8:32])


def test_mask_that_does_not_cover_the_subarray_names_the_file(tmp_path):
    path = write_mask(tmp_path / "small_mask.fits", np.zeros((16, 16), np.uint32))
    model = make_ramp((1, 2, 16, 16), substrt=(9, 1))
    with pytest.raises(ReferenceFileError, match="small_mask.fits"):
        dq_init.run(model, {"mask": path}, {})


def test_missing_reference_is_an_error_and_na_skips():
    model = make_ramp((1, 2, 4, 4))
    with pytest.raises(ReferenceFileError, match="mask"):
        dq_init.run(model, {}, {})
    dq_init.run(model, {"mask": "N/A"}, {})
    assert model.meta["S_DQINIT"] == "SKIPPED"
    assert not model.pixeldq.any()
