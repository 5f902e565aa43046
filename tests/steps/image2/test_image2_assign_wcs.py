"""assign_wcs against geometric truth: reference point, scale, orientation, subarrays, offsets, DVA."""

import math

import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from webbflow.datamodels import ImageModel, open_model
from webbflow.datamodels.wcs import read_wcs, require_wcs
from webbflow.errors import InputError, ReferenceFileError
from webbflow.steps.image2 import assign_wcs

from .fixtures import FULL, GEOMETRY, POINTING, distortion_model, rate_model, write_distortion, write_filteroffset

NO_SIP = {"sip_approx": False}


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    root = tmp_path_factory.mktemp("wcs_refs")
    return {
        "straight": write_distortion(root / "straight.asdf", quadratic=0.0),
        "distorted": write_distortion(root / "distorted.asdf", quadratic=2e-7),
        "miri": write_distortion(root / "miri.asdf", "MIRI", quadratic=0.0),
        "offsets": write_filteroffset(root / "offsets.asdf", [
            {"filter": "F200W", "pupil": "CLEAR", "column_offset": 2.0, "row_offset": -3.0},
            {"filter": "F200W", "pupil": "F162M", "column_offset": 9.0, "row_offset": 9.0}]),
    }


def _wcs(model, distortion, offsets="N/A", **params):
    return assign_wcs.run(model, {"distortion": distortion, "filteroffset": offsets}, {**NO_SIP, **params}).wcs


def _centre(model):
    """The full-frame centre (the fixture's reference point) in the model's pixel coordinates."""
    ny, nx = FULL[model.meta["INSTRUME"]]
    return (nx - 1) / 2 - (model.meta["SUBSTRT1"] - 1), (ny - 1) / 2 - (model.meta["SUBSTRT2"] - 1)


def test_reference_pixel_points_at_ra_dec_ref(refs):
    model = rate_model(shape=(2048, 2048), substrt=(1, 1), value=0.0)
    wcs = _wcs(model, refs["distorted"])
    ra, dec = wcs(*_centre(model))
    # the distortion maps the centre exactly to (V2_REF, V3_REF), which the rotation sends to RA_REF, DEC_REF
    assert ra == pytest.approx(POINTING["RA_REF"], abs=1e-10)
    assert dec == pytest.approx(POINTING["DEC_REF"], abs=1e-10)


def test_scale_and_orientation_on_the_sky(refs):
    model = rate_model(shape=(2048, 2048), substrt=(1, 1), value=0.0)
    wcs = _wcs(model, refs["straight"])
    scale, v2_ref, v3_ref, yang = GEOMETRY["NIRCAM"]
    cx, cy = _centre(model)
    centre = SkyCoord(*wcs(cx, cy), unit="deg")
    step = 200.0
    # the fixture's pixel axes: +y is V3I_YANG from +V3, +x is the same angle from -V2 (parity -1)
    a = math.radians(yang)
    along_v3 = (step * math.sin(a), step * math.cos(a))  # pixel offset that moves purely along +V3
    along_v2 = (-step * math.cos(a), step * math.sin(a))
    # V2, V3 are longitude and latitude on the sphere: a V3 step is a great-circle arc, a V2 step
    # at latitude V3_REF spans cos(V3_REF) times its length
    cos_v3 = math.cos(math.radians(v3_ref / 3600))
    for (dx, dy), expected_pa, length in ((along_v3, POINTING["ROLL_REF"], step * scale),
                                          (along_v2, POINTING["ROLL_REF"] + 90.0, step * scale * cos_v3)):
        point = SkyCoord(*wcs(cx + dx, cy + dy), unit="deg")
        # second-order terms of a 6" arc are (6"/206265")^2 ~ 1e-9 relative
        assert centre.separation(point).arcsec == pytest.approx(length, rel=1e-8)
        # V3 points at ROLL_REF east of north, V2 90 degrees further (V2 = east at zero roll)
        pa = centre.position_angle(point).deg
        assert (pa - expected_pa + 180) % 360 - 180 == pytest.approx(0, abs=1e-4)


def test_subarray_pixels_are_the_full_frame_ones_shifted(refs):
    full = _wcs(rate_model(shape=(2048, 2048), substrt=(1, 1), value=0.0), refs["distorted"])
    sub_model = rate_model(shape=(64, 80), substrt=(1001, 961))
    sub = _wcs(sub_model, refs["distorted"])
    x, y = np.meshgrid(np.arange(0.0, 80, 7), np.arange(0.0, 64, 5))
    ra_s, dec_s = sub(x, y)
    ra_f, dec_f = full(x + 1000, y + 960)
    np.testing.assert_allclose(ra_s, ra_f, rtol=0, atol=1e-12)
    np.testing.assert_allclose(dec_s, dec_f, rtol=0, atol=1e-12)
    # the bounding box is the subarray, in its own pixels (pixel edges at -0.5 and n - 0.5)
    assert tuple(map(tuple, sub.bounding_box)) == ((-0.5, 79.5), (-0.5, 63.5))
    assert np.isnan(sub(80.0, 10.0)[0])


def test_filter_offset_shifts_the_pixels_of_the_filter(refs):
    model = rate_model(shape=(64, 80), substrt=(1001, 961))
    plain = _wcs(model, refs["distorted"])
    shifted = _wcs(rate_model(shape=(64, 80), substrt=(1001, 961)), refs["distorted"], refs["offsets"])
    x, y = np.array([3.0, 40.0, 70.0]), np.array([5.0, 30.0, 60.0])
    np.testing.assert_allclose(shifted(x, y), plain(x + 2.0, y - 3.0, with_bounding_box=False), rtol=0, atol=1e-12)
    # another pupil has its own row; no row at all: no shift
    other = _wcs(rate_model(shape=(64, 80), substrt=(1001, 961), pupil="F162M"), refs["distorted"], refs["offsets"])
    np.testing.assert_allclose(other(x, y), plain(x + 9.0, y + 9.0, with_bounding_box=False), rtol=0, atol=1e-12)
    none = _wcs(rate_model(shape=(64, 80), substrt=(1001, 961), filter="F444W"), refs["distorted"], refs["offsets"])
    np.testing.assert_allclose(none(x, y), plain(x, y), rtol=0, atol=1e-12)


def test_velocity_aberration_scales_about_the_reference_point(refs):
    plain = _wcs(rate_model(shape=(2048, 2048), substrt=(1, 1), value=0.0), refs["straight"])
    model = rate_model(shape=(2048, 2048), substrt=(1, 1), value=0.0)
    model.sci_meta["VA_SCALE"] = 1.0001
    aberrated = _wcs(model, refs["straight"])
    cx, cy = _centre(model)
    centre = SkyCoord(*plain(cx, cy), unit="deg")
    assert centre.separation(SkyCoord(*aberrated(cx, cy), unit="deg")).arcsec < 1e-9
    far_plain = SkyCoord(*plain(cx + 900, cy + 900), unit="deg")
    far_ab = SkyCoord(*aberrated(cx + 900, cy + 900), unit="deg")
    assert centre.separation(far_ab).arcsec / centre.separation(far_plain).arcsec == pytest.approx(1.0001, rel=1e-8)


def test_sip_keywords_approximate_the_wcs(refs):
    from astropy.wcs import WCS

    model = rate_model(shape=(256, 256), substrt=(801, 801))
    wcs = assign_wcs.run(model, {"distortion": refs["distorted"], "filteroffset": "N/A"}, {}).wcs
    fits_wcs = WCS(model.sci_meta)
    x, y = np.meshgrid(np.linspace(0, 255, 9), np.linspace(0, 255, 9))
    ra, dec = fits_wcs.all_pix2world(x, y, 0)
    sep = SkyCoord(ra, dec, unit="deg").separation(SkyCoord(*wcs(x, y), unit="deg")).arcsec
    # the fit is asked to be within sip_max_pix_error = 0.01 pixel
    assert np.max(sep) / GEOMETRY["NIRCAM"][0] < 0.01
    assert model.sci_meta["S_REGION"].startswith("POLYGON ICRS ")
    assert len(model.sci_meta["S_REGION"].split()) == 2 + 8


def test_miri_matches_filter_only(tmp_path, refs):
    offsets = write_filteroffset(tmp_path / "miri_offsets.asdf", [
        {"filter": "F770W", "column_offset": 1.5, "row_offset": 0.5}], "MIRI")
    plain = _wcs(rate_model("MIRI", shape=(64, 72), substrt=(401, 301)), refs["miri"])
    shifted = _wcs(rate_model("MIRI", shape=(64, 72), substrt=(401, 301)), refs["miri"], offsets)
    np.testing.assert_allclose(shifted(10.0, 20.0), plain(11.5, 20.5), rtol=0, atol=1e-12)


def test_wcs_survives_the_file_round_trip(tmp_path, refs):
    model = rate_model(shape=(64, 80), substrt=(1001, 961))
    wcs = _wcs(model, refs["distorted"], refs["offsets"])
    path = tmp_path / "x_cal.fits"
    model.save(path)
    back = open_model(path)
    x, y = np.meshgrid(np.arange(0.0, 80, 9), np.arange(0.0, 64, 7))
    np.testing.assert_array_equal(np.array(back.wcs(x, y)), np.array(wcs(x, y)))
    np.testing.assert_array_equal(np.array(read_wcs(path)(x, y)), np.array(wcs(x, y)))
    assert back.wcs.available_frames == ["detector", "v2v3", "v2v3vacorr", "world"]


def test_missing_pointing_keyword_names_the_file(tmp_path, refs):
    model = rate_model(shape=(32, 32))
    del model.sci_meta["RA_REF"]
    model.save(tmp_path / "nopoint_rate.fits")
    model = open_model(tmp_path / "nopoint_rate.fits")
    with pytest.raises(InputError, match=r"nopoint_rate.fits: has no RA_REF keyword"):
        _wcs(model, refs["straight"])


def test_bad_references_are_named(tmp_path, refs):
    model = rate_model(shape=(32, 32))
    with pytest.raises(ReferenceFileError, match="is a MIRI reference file"):
        _wcs(model, refs["miri"])
    fits_file = tmp_path / "flat.fits"
    fits_file.write_bytes(b"SIMPLE  =                    T" + b" " * 2850)
    with pytest.raises(ReferenceFileError, match="flat.fits: is not a readable ASDF distortion"):
        _wcs(model, str(fits_file))
    degrees = write_distortion(tmp_path / "deg.asdf", output_units="deg", model=distortion_model())
    with pytest.raises(ReferenceFileError, match="output_units is deg"):
        _wcs(model, degrees)
    with pytest.raises(ReferenceFileError, match="needs a distortion reference file"):
        assign_wcs.run(model, {"distortion": "N/A"}, NO_SIP)


def test_spectroscopic_exposure_is_refused(refs):
    model = rate_model(shape=(32, 32), exp_type="NRC_WFSS")
    with pytest.raises(InputError, match="EXP_TYPE=NRC_WFSS is not an imaging exposure type"):
        _wcs(model, refs["straight"])


def test_cal_without_wcs_is_a_clear_error(tmp_path):
    model = rate_model(shape=(16, 16))
    model.save(tmp_path / "plain_cal.fits")
    back = open_model(tmp_path / "plain_cal.fits")
    assert isinstance(back, ImageModel) and back.wcs is None
    with pytest.raises(InputError, match=r"plain_cal.fits: has no WCS .* resample needs"):
        require_wcs(back, "resample")
