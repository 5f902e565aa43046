"""photom: DN/s to MJy/sr with the row of the exposure's optical elements, keywords and the area map."""

import math

import numpy as np
import pytest

from webbflow.errors import ReferenceFileError
from webbflow.steps.image2 import photom

from .fixtures import rate_model, write_area, write_photom

PIXAR_A2 = 0.031**2
PIXAR_SR = PIXAR_A2 * (math.pi / 180 / 3600) ** 2


@pytest.fixture
def nircam_refs(tmp_path):
    rows = [{"filter": "F200W", "pupil": "CLEAR", "photmjsr": 0.25, "uncertainty": 0.01},
            {"filter": "F200W", "pupil": "F162M", "photmjsr": 0.75, "uncertainty": 0.01},
            {"filter": "F090W", "pupil": "CLEAR", "photmjsr": 0.5, "uncertainty": 0.01}]
    area = np.linspace(0.9, 1.1, 64 * 48, dtype=np.float32).reshape(48, 64)
    return {"photom": write_photom(tmp_path / "photom.fits", rows),
            "area": write_area(tmp_path / "area.fits", area, PIXAR_SR, PIXAR_A2)}, area


def test_converts_with_the_matching_row(nircam_refs):
    refs, area = nircam_refs
    model = rate_model(shape=(16, 24), substrt=(11, 21), value=8.0, pupil="F162M")
    model.var_flat = np.full(model.data.shape, 0.04, np.float32)
    var_poisson, err = model.var_poisson.copy(), model.err.copy()
    photom.run(model, refs)
    c = np.float32(0.75)
    np.testing.assert_array_equal(model.data, np.float32(8.0) * c)
    np.testing.assert_array_equal(model.err, err * c)
    np.testing.assert_allclose(model.var_poisson, var_poisson * c * c, rtol=1e-6)
    np.testing.assert_allclose(model.var_flat, 0.04 * 0.75**2, rtol=1e-6)
    sci = model.sci_meta
    assert sci["BUNIT"] == "MJy/sr"
    assert sci["PHOTMJSR"] == pytest.approx(0.75)
    # 1 MJy/sr = 1e12 uJy / 4.2545e10 arcsec^2 = 23.5045 uJy/arcsec^2
    assert sci["PHOTUJA2"] == pytest.approx(0.75 * 23.50443, rel=1e-6)
    assert sci["PIXAR_SR"] == pytest.approx(PIXAR_SR) and sci["PIXAR_A2"] == pytest.approx(PIXAR_A2)
    np.testing.assert_array_equal(model.area, area[20:36, 10:34])
    assert model.meta["S_PHOTOM"] == "COMPLETE"


def test_missing_row_names_the_file_and_the_elements(nircam_refs):
    refs, _ = nircam_refs
    model = rate_model(shape=(8, 8), substrt=(1, 1), filter="F444W")
    with pytest.raises(ReferenceFileError, match=r"photom.fits: PHOTOM table has no row for FILTER=F444W, PUPIL=CLEAR"):
        photom.run(model, refs)


def test_miri_rows_by_subarray_with_a_generic_fallback(tmp_path):
    rows = [{"filter": "F770W", "subarray": "FULL", "photmjsr": 0.3},
            {"filter": "F770W", "subarray": "SUB256", "photmjsr": 0.4},
            {"filter": "F1000W", "subarray": "GENERIC", "photmjsr": 0.9}]
    path = write_photom(tmp_path / "miri_photom.fits", rows, "MIRI", PIXAR_SR=1e-12, PIXAR_A2=0.0121)
    model = rate_model("MIRI", shape=(8, 8), substrt=(1, 1), subarray="SUB256", value=1.0)
    photom.run(model, {"photom": path, "area": "N/A"})
    assert model.data[0, 0] == pytest.approx(0.4)
    # without an area file the pixel area comes from the photom file's header
    assert model.sci_meta["PIXAR_A2"] == pytest.approx(0.0121)
    model = rate_model("MIRI", shape=(8, 8), substrt=(1, 1), subarray="SUB256", value=1.0, filter="F1000W")
    photom.run(model, {"photom": path, "area": "N/A"})
    assert model.data[0, 0] == pytest.approx(0.9)


def test_time_dependent_throughput(tmp_path):
    rows = [{"filter": "F200W", "pupil": "CLEAR", "photmjsr": 0.25}]
    t0, mid = 60000.0, 60384.2505
    timecoeff = {"linear": [{"filter": "F200W", "pupil": "CLEAR", "t0": t0, "lossperyear": 0.01}],
                 "powerlaw": [{"filter": "F200W", "pupil": "CLEAR", "t0": t0, "year1value": 0.98,
                               "tsoft": 10.0, "alpha": -0.05}]}
    path = write_photom(tmp_path / "photom_t.fits", rows, timecoeff=timecoeff)
    model = rate_model(shape=(4, 4), substrt=(1, 1), value=1.0)
    photom.run(model, {"photom": path, "area": "N/A"})
    # the tables hold float32: the coefficients as stored
    t0_32 = float(np.float32(t0))
    linear = 1 - float(np.float32(0.01)) * (mid - t0_32) / 365
    norm = (365 + 10.0) ** float(np.float32(-0.05)) / float(np.float32(0.98))
    power = (mid - t0_32 + 10.0) ** float(np.float32(-0.05)) / norm
    expected = float(np.float32(0.25)) / (linear * power)
    assert model.sci_meta["PHOTMJSR"] == pytest.approx(expected, rel=1e-9)
    # about a year after t0: 1% linear loss and 2% power-law loss raise the factor by about 3%
    assert 1.02 < expected / 0.25 < 1.05
    model = rate_model(shape=(4, 4), substrt=(1, 1), value=1.0)
    photom.run(model, {"photom": path, "area": "N/A"}, {"apply_time_correction": False})
    assert model.sci_meta["PHOTMJSR"] == pytest.approx(0.25)
