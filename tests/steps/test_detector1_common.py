"""Shared detector1 helpers: detector orientation and reference DQ translation."""

import numpy as np
import pytest
from ref_fixtures import make_ramp, write_mask

from webbflow import dqflags
from webbflow.refs import open_reference
from webbflow.steps.detector1._common import detector_window, reference_dq, to_detector, translate_dq


@pytest.mark.parametrize("fast,slow", [(1, 2), (-1, 2), (1, -2), (-1, -2), (2, 1), (-2, 1), (2, -1), (-2, -1)])
def test_detector_window_places_the_subarray_where_the_full_frame_transform_puts_it(fast, slow):
    full = np.arange(64 * 48).reshape(64, 48)  # a small "full frame", DMS orientation
    r0, c0, ny, nx = 10, 5, 20, 30
    model = make_ramp((1, 1, ny, nx), substrt=(c0 + 1, r0 + 1), fastaxis=fast, slowaxis=slow)
    sub = full[r0:r0 + ny, c0:c0 + nx]
    det_full = to_detector(full, fast, slow)
    det_sub = to_detector(sub, fast, slow)
    row0, col0, frows, fcols = detector_window(model, full=full.shape)
    assert (frows, fcols) == det_full.shape
    np.testing.assert_array_equal(det_full[row0:row0 + det_sub.shape[0], col0:col0 + det_sub.shape[1]], det_sub)


def test_to_detector_is_a_writable_view():
    a = np.zeros((4, 6), np.float32)
    to_detector(a, -2, 1)[0, 0] = 5
    assert a.sum() == 5


def test_translate_dq_maps_bits_by_name_and_drops_undefined_bits():
    dq_def = np.array([(1, "HOT"), (2, "DEAD")], dtype=[("VALUE", "i8"), ("NAME", "U40")])
    dq = np.array([1, 2, 3, 4], dtype=np.uint32)  # bit 4 is not defined
    out = translate_dq(dq, dq_def)
    hot, dead = dqflags.PIXEL["HOT"], dqflags.PIXEL["DEAD"]
    np.testing.assert_array_equal(out, [hot, dead, hot | dead, 0])


def test_reference_dq_reads_the_unsigned_dq_def_values_written_by_astropy(tmp_path):
    # DQ_DEF VALUE is uint32, stored by FITS as signed with TZERO: the real value must come back
    dq = np.zeros((8, 8), np.uint32)
    dq[1, 1] = dqflags.PIXEL["REFERENCE_PIXEL"] | dqflags.DO_NOT_USE
    ref = open_reference(write_mask(tmp_path / "mask.fits", dq))
    model = make_ramp((1, 1, 8, 8))
    np.testing.assert_array_equal(reference_dq(ref, model), dq)
