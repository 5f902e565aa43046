"""The image2 pipeline: rate -> cal with every step, keywords, provenance and atomic writing."""

import json
import os

import numpy as np
import pytest

from webbflow import dqflags
from webbflow.datamodels import CubeModel, open_model
from webbflow.errors import InputError, ReferenceFileError, WebbflowError
from webbflow.pipelines import image2

from .fixtures import imaging_references, rate_model


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    return imaging_references(tmp_path_factory.mktemp("image2_refs"), "NIRCAM", offsets=(0.5, 0.25))


def test_rate_to_cal(tmp_path, refs):
    rate = rate_model(shape=(160, 160), substrt=(1001, 961), value=6.0)
    rate.save(tmp_path / "jw_sci_rate.fits")
    bkg = rate_model(shape=(160, 160), substrt=(1001, 961), value=1.0)
    bkg.save(tmp_path / "jw_bkg_rate.fits")
    lines = []
    image2.run_file(str(tmp_path / "jw_sci_rate.fits"), str(tmp_path / "jw_sci_cal.fits"), refs,
                    backgrounds=[str(tmp_path / "jw_bkg_rate.fits")], context="jwst_0001.pmap", log=lines.append)
    cal = open_model(tmp_path / "jw_sci_cal.fits")
    assert lines == ["bkg_subtract: COMPLETE", "assign_wcs: COMPLETE", "flat_field: COMPLETE", "photom: COMPLETE"]
    for key in ("S_BKDSUB", "S_WCS", "S_FLAT", "S_PHOTOM"):
        assert cal.meta[key] == "COMPLETE"
    assert cal.meta["R_DISTOR"] == "crds://nircam_distortion.asdf"
    assert cal.meta["R_FILOFF"] == "crds://nircam_filteroffset.asdf"
    assert cal.meta["R_FLAT"] == "crds://nircam_flat.fits"
    assert cal.meta["R_PHOTOM"] == "crds://nircam_photom.fits"
    assert cal.meta["R_AREA"] == "crds://nircam_area.fits"
    assert cal.meta["CRDS_CTX"] == "jwst_0001.pmap" and cal.meta["FILENAME"] == "jw_sci_cal.fits"
    assert cal.sci_meta["BUNIT"] == "MJy/sr" and cal.wcs is not None
    # (6 - 1) DN/s through the flat and PHOTMJSR = 0.25
    from astropy.io import fits

    flat = fits.getdata(refs["flat"], "SCI")[960:1120, 1000:1160]
    good = (cal.dq & dqflags.DO_NOT_USE) == 0
    np.testing.assert_allclose(cal.data[good], (5.0 / flat * np.float32(0.25))[good], rtol=1e-5)
    record = cal.asdf_tree[image2.PROVENANCE_KEY]
    assert record["stage"] == "image2" and record["steps"]["photom"]["status"] == "COMPLETE"
    assert sorted(os.listdir(tmp_path)) == ["jw_bkg_rate.fits", "jw_sci_cal.fits", "jw_sci_rate.fits"]


def test_calints_from_rateints(tmp_path, refs):
    rate = rate_model(shape=(32, 32), substrt=(1001, 961), value=2.0)
    cube = CubeModel(meta=rate.meta, sci_meta=rate.sci_meta, data=np.repeat(rate.data[None], 3, axis=0),
                     var_poisson=np.repeat(rate.var_poisson[None], 3, axis=0),
                     var_rnoise=np.repeat(rate.var_rnoise[None], 3, axis=0))
    out = image2.run_file(cube, str(tmp_path / "x_calints.fits"), refs)
    back = open_model(tmp_path / "x_calints.fits")
    assert isinstance(back, CubeModel) and back.data.shape == (3, 32, 32) and back.wcs is not None
    np.testing.assert_allclose(back.data[2], out.data[0], rtol=0)


def test_failure_leaves_no_product(tmp_path, refs):
    rate = rate_model(shape=(16, 16), substrt=(1001, 961), filter="F444W")  # no photom row for it
    rate.save(tmp_path / "x_rate.fits")
    with pytest.raises(ReferenceFileError, match="no row for FILTER=F444W"):
        image2.run_file(str(tmp_path / "x_rate.fits"), str(tmp_path / "x_cal.fits"), refs)
    assert os.listdir(tmp_path) == ["x_rate.fits"]


def test_skips_and_config(tmp_path, refs):
    rate = rate_model(shape=(16, 16), substrt=(1001, 961))
    config = {"steps": {"flat_field": {"skip": True}}, "instruments": {"NIRCAM": {"steps": {"photom": {"skip": True}}}}}
    cal = image2.run(rate, refs, config=config)
    assert (cal.meta["S_BKDSUB"], cal.meta["S_WCS"], cal.meta["S_FLAT"], cal.meta["S_PHOTOM"]) == \
        ("SKIPPED", "COMPLETE", "SKIPPED", "SKIPPED")
    assert "R_FLAT" not in cal.meta
    assert image2.required_reftypes(rate.meta) == ["area", "distortion", "filteroffset", "flat", "photom"]
    assert image2.required_reftypes(rate.meta, config) == ["distortion", "filteroffset"]
    with pytest.raises(WebbflowError, match="bkg_subtract: parameter sigma='x' must be a float"):
        image2.run(rate_model(shape=(16, 16), substrt=(1001, 961)), refs,
                   config={"steps": {"bkg_subtract": {"sigma": "x"}}})


def test_cal_input_is_refused(tmp_path, refs):
    rate = rate_model(shape=(16, 16), substrt=(1001, 961))
    image2.run_file(rate, str(tmp_path / "a_cal.fits"), refs)
    with pytest.raises(InputError, match="a_cal.fits: is already calibrated"):
        image2.run_file(str(tmp_path / "a_cal.fits"), str(tmp_path / "b_cal.fits"), refs)


def test_backgrounds_from_asn(tmp_path):
    asn = {"asn_pool": "pool.csv", "products": [
        {"name": "jw1", "members": [{"expname": "jw1_rate.fits", "exptype": "science"},
                                    {"expname": "jw9_rate.fits", "exptype": "background"}]},
        {"name": "jw2", "members": [{"expname": "jw2_rate.fits", "exptype": "science"}]}]}
    path = tmp_path / "l2_asn.json"
    path.write_text(json.dumps(asn))
    assert image2.backgrounds_from_asn(str(path), "/data/jw1_rate.fits") == [str(tmp_path / "jw9_rate.fits")]
    assert image2.backgrounds_from_asn(str(path), "jw2_rate.fits") == []
    with pytest.raises(InputError, match="has no product with science member jw3_rate.fits"):
        image2.backgrounds_from_asn(str(path), "jw3_rate.fits")


def test_ramp_input_is_refused(tmp_path, refs):
    from webbflow.datamodels import RampModel

    rate = rate_model(shape=(8, 8), substrt=(1001, 961))
    ramp = RampModel(meta=rate.meta, sci_meta=rate.sci_meta, data=np.zeros((1, 5, 8, 8), np.float32))
    with pytest.raises(InputError, match="is a RampModel; image2 needs a rate or rateints file"):
        image2.run_file(ramp, str(tmp_path / "x_cal.fits"), refs)
    assert os.listdir(tmp_path) == []
