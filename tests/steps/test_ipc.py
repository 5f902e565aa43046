"""ipc: convolution with a 2-D or per-pixel 4-D kernel, reference pixels untouched."""

import numpy as np
from ref_fixtures import make_ramp, write_ipc
from scipy import ndimage

from webbflow.steps.detector1 import ipc

KERNEL = np.array([[0.001, 0.010, 0.002],
                   [0.012, 0.950, 0.011],
                   [0.003, 0.009, 0.004]], dtype=np.float32)


def test_2d_kernel_convolves_the_science_region_and_leaves_reference_pixels(tmp_path):
    rng = np.random.default_rng(3)
    # a 40x40 subarray in the detector's lower-left corner: 4 reference rows and columns
    model = make_ramp((1, 2, 40, 40), substrt=(1, 1))
    model.data[...] = rng.uniform(100, 1000, model.data.shape).astype(np.float32)
    before = model.data.copy()
    ipc.run(model, {"ipc": write_ipc(tmp_path / "ipc.fits", KERNEL)}, {})
    for g in range(2):
        science = before[0, g, 4:, 4:].astype(np.float64)
        expected = ndimage.convolve(science, KERNEL.astype(np.float64), mode="constant", cval=0.0)
        np.testing.assert_allclose(model.data[0, g, 4:, 4:], expected, rtol=2e-6)
    np.testing.assert_array_equal(model.data[0, :, :4, :], before[0, :, :4, :])
    np.testing.assert_array_equal(model.data[0, :, :, :4], before[0, :, :, :4])
    assert model.meta["S_IPC"] == "COMPLETE"


def test_point_source_spreads_as_the_kernel(tmp_path):
    model = make_ramp((1, 1, 32, 32), substrt=(100, 100))  # no reference pixels
    model.data[0, 0, 10, 20] = 1000.0
    ipc.run(model, {"ipc": write_ipc(tmp_path / "ipc.fits", KERNEL)}, {})
    np.testing.assert_allclose(model.data[0, 0, 9:12, 19:22], 1000.0 * KERNEL, rtol=1e-6)
    assert np.isclose(model.data.sum(), 1000.0 * KERNEL.sum(), rtol=1e-6)


def test_4d_kernel_uses_each_pixels_own_kernel_cut_to_the_subarray(tmp_path):
    full = np.zeros((3, 3, 64, 64), np.float32)
    full[1, 1] = 1.0
    full[1, 2, 30, 40] = 0.5  # only output pixel (30, 40) of the full frame takes half its right neighbour
    model = make_ramp((1, 1, 16, 16), substrt=(33, 25))  # covers full-frame x 32..47, y 24..39
    model.data[...] = np.arange(256, dtype=np.float32).reshape(16, 16)
    before = model.data.copy()
    ipc.run(model, {"ipc": write_ipc(tmp_path / "ipc4d.fits", full)}, {})
    y, x = 30 - 24, 40 - 32
    expected = before.copy()
    # kernel[j, i] multiplies input[y + (1 - j), x + (1 - i)]: [1, 2] is the left neighbour
    expected[0, 0, y, x] += 0.5 * before[0, 0, y, x - 1]
    np.testing.assert_allclose(model.data, expected, rtol=1e-6)
