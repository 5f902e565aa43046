"""The linear-time median of the jump step equals the sorting one (and numpy's)."""

import numpy as np
import pytest

from webbflow.steps.detector1._jump_kernels import fast_nan_median
from webbflow.steps.detector1._ramp_kernels import nan_median


@pytest.mark.parametrize("n", [0, 1, 2, 3, 16, 17, 18, 77, 78, 79, 200])
def test_fast_median_equals_sorting_median(n):
    rng = np.random.default_rng(n)
    for trial in range(50):
        values = rng.normal(size=n)
        if trial % 3 == 1:
            values = np.round(values * 2)  # ties
        values[rng.random(n) < 0.1 * (trial % 4)] = np.nan
        buf = np.empty(n + 1)
        expected = nan_median(values, n, buf)
        got = fast_nan_median(values.copy(), n, np.empty(n + 1))
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            assert np.isnan(got) and np.isnan(expected)
        else:
            assert got == expected == np.median(finite)
