"""The official jwst.datamodels opens our products (compare extra)."""

import numpy as np
import pytest

from webbflow.datamodels import CubeModel, ImageModel

from ..datamodels.ramp_maker import ramp_model

pytestmark = pytest.mark.compare
dm = pytest.importorskip("stdatamodels.jwst.datamodels")


def test_official_opens_our_uncal(tmp_path):
    ours = ramp_model(nints=2, ngroups=5)
    path = tmp_path / "jw01234001001_01101_00001_nrca1_uncal.fits"
    ours.save_uncal(path)
    with dm.RampModel(str(path)) as official:
        np.testing.assert_array_equal(official.data, ours.data)
        assert official.meta.exposure.ngroups == 5
        assert official.meta.instrument.detector == "NRCA1"
        assert len(official.int_times) == 2


def test_official_opens_our_rate_and_rateints(tmp_path):
    rng = np.random.default_rng(3)
    meta = ramp_model().meta
    rate = ImageModel(meta=meta.copy(), data=rng.normal(size=(16, 20)), err=np.ones((16, 20)),
                      dq=rng.integers(0, 8, size=(16, 20)))
    ints = CubeModel(meta=meta.copy(), data=rng.normal(size=(2, 16, 20)), int_times=ramp_model().int_times)
    rate.save(tmp_path / "a_rate.fits")
    ints.save(tmp_path / "a_rateints.fits")
    with dm.open(str(tmp_path / "a_rate.fits")) as official:
        assert isinstance(official, dm.ImageModel)
        np.testing.assert_array_equal(official.data, rate.data)
        np.testing.assert_array_equal(official.dq, rate.dq)
        np.testing.assert_array_equal(official.var_poisson, rate.var_poisson)
    with dm.open(str(tmp_path / "a_rateints.fits")) as official:
        assert isinstance(official, dm.CubeModel)
        assert official.data.shape == (2, 16, 20)
        assert len(official.int_times) == 2
