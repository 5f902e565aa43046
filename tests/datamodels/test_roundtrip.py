import numpy as np
import pytest
from astropy.io import fits

from webbflow import dqflags
from webbflow.datamodels import CubeModel, ImageModel, RampModel, open_model
from webbflow.errors import InputError

from .ramp_maker import ramp_model


def test_uncal_layout_and_roundtrip(tmp_path):
    model = ramp_model()
    path = tmp_path / "jw01234001001_01101_00001_nrca1_uncal.fits"
    model.save_uncal(path)
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "INT_TIMES", "ASDF"]
        assert hdul["SCI"].header["BITPIX"] == 16
        assert hdul["SCI"].header["BZERO"] == 32768
        assert hdul["SCI"].data.dtype == np.uint16
        assert hdul["SCI"].data.ndim == 4
    back = open_model(path)
    assert isinstance(back, RampModel)
    np.testing.assert_array_equal(back.data, model.data)
    assert back.data.dtype == np.float32
    assert back.groupdq.shape == model.data.shape and back.pixeldq.shape == model.data.shape[-2:]
    np.testing.assert_array_equal(back.int_times["integration_number"], [1, 2])
    assert back.meta["NGROUPS"] == model.meta["NGROUPS"]


def test_rate_and_rateints_layout(tmp_path):
    rng = np.random.default_rng(1)
    header = ramp_model().meta
    rate = ImageModel(meta=header.copy(), data=rng.normal(size=(16, 20)), dq=np.full((16, 20), dqflags.JUMP_DET))
    ints = CubeModel(meta=header.copy(), data=rng.normal(size=(2, 16, 20)), int_times=ramp_model().int_times)
    rate.save(tmp_path / "x_rate.fits")
    ints.save(tmp_path / "x_rateints.fits")
    with fits.open(tmp_path / "x_rate.fits") as hdul:
        names = [h.name for h in hdul]
        assert names[:6] == ["PRIMARY", "SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE"]
        assert hdul["SCI"].data.dtype.str[1:] == "f4" and hdul["DQ"].data.dtype == np.uint32
        assert hdul["SCI"].header["BUNIT"] == "DN/s"
    with fits.open(tmp_path / "x_rateints.fits") as hdul:
        assert hdul["SCI"].data.shape == (2, 16, 20)
        assert "INT_TIMES" in hdul
    back = open_model(tmp_path / "x_rate.fits")
    np.testing.assert_array_equal(back.data, rate.data)
    np.testing.assert_array_equal(back.dq, rate.dq)
    assert isinstance(open_model(tmp_path / "x_rateints.fits"), CubeModel)


def test_dq_values_match_official():
    stdatamodels = pytest.importorskip("stdatamodels.jwst.datamodels.dqflags")
    assert dqflags.PIXEL == dict(stdatamodels.pixel)
    assert dqflags.GROUP == dict(stdatamodels.group)


def test_atomic_save_leaves_no_temporary(tmp_path):
    model = ramp_model()
    model.meta["BADKEY"] = "x"
    model.save(tmp_path / "a_ramp.fits")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_ramp.fits"]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda h: h.remove("NGROUPS"), "missing required keyword NGROUPS"),
        (lambda h: h.__setitem__("INSTRUME", "WFPC2"), "unknown instrument"),
        (lambda h: h.__setitem__("NGROUPS", 7), "NGROUPS=7"),
        (lambda h: h.__setitem__("SUBSIZE1", 99), "SUBSIZE1"),
        (lambda h: h.__setitem__("TGROUP", "soon"), "TGROUP"),
    ],
)
def test_bad_headers_are_named(tmp_path, change, message):
    model = ramp_model()
    change(model.meta)
    path = tmp_path / "bad_uncal.fits"
    model.save_uncal(path)
    with pytest.raises(InputError) as info:
        open_model(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_truncated_and_empty_files(tmp_path):
    path = tmp_path / "t_uncal.fits"
    ramp_model().save_uncal(path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 3 + 123])  # cut inside the SCI data
    with pytest.raises(InputError, match="not a readable FITS file|truncated"):
        open_model(path)
    empty = tmp_path / "e_uncal.fits"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        open_model(empty)


def test_wrong_dimensions(tmp_path):
    header = ramp_model().meta
    fits.HDUList([fits.PrimaryHDU(header=header), fits.ImageHDU(np.zeros((16, 20), np.uint16), name="SCI")]).writeto(
        tmp_path / "d_uncal.fits"
    )
    with pytest.raises(InputError, match="2 dimensions"):
        open_model(tmp_path / "d_uncal.fits")
