"""resample: flux and surface-brightness conservation, weights, context, errors, the output grid, the i2d file.

Tolerances: the kernels accumulate in float32 (relative round-off ~1e-7
per addition, a few additions per pixel) and the inputs are noiseless, so
identities that hold exactly in the algorithm are checked to 1e-5
(relative); flux conservation is checked to the issue's 0.1%.
"""

import math

import numpy as np
import pytest
from astropy.io import fits

from webbflow import dqflags
from webbflow.datamodels.i2d import I2dModel
from webbflow.errors import InputError
from webbflow.steps.image3 import resample
from webbflow.steps.image3._drizzle_kernels import interpolate_points

from .fixtures import CRVAL, SCALE, gaussian_source, nircam_cal, tan_cal

KERNELS = ("square", "turbo", "point")


def _source_at(model, ra, dec, sigma=1.0, peak=1000.0):
    """Put a Gaussian source at (ra, dec) into a model (sampled at pixel centres)."""
    x0, y0 = model.wcs.backward_transform(ra, dec)
    model.data = gaussian_source(model.data.shape, float(x0), float(y0), sigma, peak)
    return model


def _flux(model, scale):
    """Total flux in units of (data unit) x arcsec^2: sum(SCI) x pixel area."""
    return float(np.nansum(model.data.astype(np.float64))) * scale * scale


# -- flux conservation -------------------------------------------------------------

@pytest.mark.parametrize("kernel", ["square", "turbo"])
def test_flux_of_a_point_source_is_conserved_pixfrac_1(kernel):
    # square: any rotation (exact overlaps). turbo drops are squares aligned with the output axes, so
    # they tile the output (and conserve flux exactly) only when the input is aligned with it.
    rotation = 20.0 if kernel == "square" else 0.0
    model = _source_at(tan_cal(shape=(64, 80), rotation=rotation, crpix=(39.3, 31.8)), *CRVAL)
    out = resample.run(model, {"kernel": kernel, "pixfrac": 1.0})
    # a Gaussian of sigma 1 pixel sampled at pixel centres sums to its integral to ~1e-8
    assert _flux(out, SCALE) == pytest.approx(_flux(model, SCALE), rel=1e-3)


@pytest.mark.parametrize("kernel", ["square", "turbo"])
def test_flux_of_a_point_source_is_conserved_pixfrac_half_dithered(kernel):
    # the classic drizzle: four exposures dithered by half a pixel, pixfrac 0.5, output pixels half as large
    ra0, dec0 = CRVAL
    inputs = []
    for dx, dy in ((0.0, 0.0), (0.5, 0.0), (0.0, 0.5), (0.5, 0.5)):
        model = tan_cal(shape=(64, 80), rotation=0.0, crpix=(39.5 + dx, 31.5 + dy))
        inputs.append(_source_at(model, ra0 + 1e-5, dec0 - 2e-5, sigma=1.2))
    out = resample.run(inputs, {"kernel": kernel, "pixfrac": 0.5, "pixel_scale_ratio": 0.5})
    expected = np.mean([_flux(m, SCALE) for m in inputs])
    assert _flux(out, SCALE / 2) == pytest.approx(expected, rel=1e-3)
    assert np.isfinite(out.data[4:-4, 4:-4]).all()  # the dithers fill every output pixel


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("pixfrac", [1.0, 0.5])
def test_flat_field_flux_and_surface_brightness(kernel, pixfrac):
    model = tan_cal(shape=(40, 50), rotation=20.0, value=5.0)
    out = resample.run(model, {"kernel": kernel, "pixfrac": pixfrac, "weight_type": "exptime"})
    covered = out.wht > 0
    # a constant surface brightness stays that constant wherever anything landed
    np.testing.assert_allclose(out.data[covered], 5.0, rtol=1e-5)
    assert np.isnan(out.data[~covered]).all()
    # each drop hands out its weight in fractions summing to 1, so sum(WHT) = sum of the input weights and
    # sum(SCI x WHT) = sum(weight x data): the flux, edges included
    w = 100.0  # exptime weights
    assert out.wht.sum(dtype=np.float64) == pytest.approx(w * model.data.size, rel=1e-5)
    assert float(np.nansum(out.data.astype(np.float64) * out.wht)) == pytest.approx(
        w * model.data.sum(dtype=np.float64), rel=1e-5)


@pytest.mark.parametrize("kernel", KERNELS)
def test_constant_surface_brightness_through_a_distorted_wcs(tmp_path, kernel):
    model, _ = nircam_cal(tmp_path, shape=(64, 80))
    model.data[:] = 2.5
    out = resample.run(model, {"kernel": kernel, "pixfrac": 0.7})
    covered = out.wht > 0
    assert covered.sum() > 0.9 * model.data.size
    np.testing.assert_allclose(out.data[covered], 2.5, rtol=1e-5)


# -- weights and DQ -----------------------------------------------------------------

def test_ivm_weights_and_good_bits():
    model = tan_cal(shape=(30, 40), rotation=0.0, value=1.0, var_rnoise=0.04)
    model.var_rnoise[:, 20:] = 0.01  # right half weighs 4x
    model.data[5, 5] = 1e6
    model.dq[5, 5] = dqflags.DO_NOT_USE
    model.data[10, 10] = 7.0
    model.dq[10, 10] = dqflags.SATURATED  # not excluded by the default good_bits
    out = resample.run(model, {"kernel": "point"})
    weights = resample.input_weights(model, "ivm", resample.DEFAULTS["good_bits"])
    assert weights[5, 5] == 0 and weights[10, 10] == pytest.approx(25.0)
    assert out.wht.sum(dtype=np.float64) == pytest.approx(weights.sum(dtype=np.float64), rel=1e-6)
    assert np.nanmax(out.data) == pytest.approx(7.0)  # the DO_NOT_USE pixel is gone, the saturated one is used
    strict = resample.run(model, {"kernel": "point", "good_bits": 0})
    assert np.nanmax(strict.data) == pytest.approx(1.0)
    assert strict.wht.sum(dtype=np.float64) == pytest.approx(out.wht.sum(dtype=np.float64) - 25.0, rel=1e-6)


def test_good_bits_parsing():
    dq = np.array([0, dqflags.DO_NOT_USE, dqflags.SATURATED, dqflags.PIXEL["NON_SCIENCE"], dqflags.JUMP_DET],
                  np.uint32)
    assert resample.good_pixel_mask(dq, "~DO_NOT_USE+NON_SCIENCE").tolist() == [True, False, True, False, True]
    assert resample.good_pixel_mask(dq, None).tolist() == [True, False, False, False, False]
    assert resample.good_pixel_mask(dq, "SATURATED,4").tolist() == [True, False, True, False, True]
    with pytest.raises(InputError, match="NOT_A_FLAG"):
        resample.good_pixel_mask(dq, "NOT_A_FLAG")


# -- context and errors -------------------------------------------------------------------

def test_context_bits_mark_the_contributing_inputs():
    inputs = [tan_cal(shape=(20, 30), rotation=0.0, crpix=(14.5 + 12 * k, 9.5)) for k in range(3)]
    out = resample.run(inputs, {"kernel": "square"})
    assert out.con.shape == (1,) + out.data.shape
    for k, model in enumerate(inputs):
        alone = resample.run(model, {"output_wcs": out.wcs})
        has_bit = (out.con[0] & (1 << k)) != 0
        np.testing.assert_array_equal(has_bit, alone.wht > 0)
    # the footprints (30 pixels wide, 12 apart) give pixels seen by one, two and all three inputs
    assert {0b001, 0b011, 0b111, 0b110, 0b100} <= set(np.unique(out.con[0]).tolist())


def test_context_has_a_plane_per_32_inputs():
    inputs = [tan_cal(shape=(6, 6), rotation=0.0) for _ in range(33)]
    out = resample.run(inputs, {"kernel": "point"})
    assert out.con.shape[0] == 2
    assert (out.con[0][out.wht > 0] == -1).all()  # all 32 bits (int32)
    assert (out.con[1][out.wht > 0] == 1).all()


@pytest.mark.parametrize("weight_type", ["ivm", "exptime"])
def test_variances_combine_with_squared_weights(weight_type):
    # N identical exposures of the same field: each gives var on the output grid, the weighted mean
    # of N gives var / N (equal weights); ERR^2 is the sum of the three variances.
    n = 3
    inputs = [tan_cal(shape=(30, 40), rotation=15.0, var_rnoise=0.01, var_poisson=0.04, var_flat=0.0025)
              for _ in range(n)]
    out = resample.run(inputs, {"weight_type": weight_type})
    covered = out.wht > 0
    for name, var in (("var_rnoise", 0.01), ("var_poisson", 0.04), ("var_flat", 0.0025)):
        np.testing.assert_allclose(getattr(out, name)[covered], var / n, rtol=1e-5)
    np.testing.assert_allclose(out.err[covered] ** 2, (0.01 + 0.04 + 0.0025) / n, rtol=1e-5)
    assert np.isnan(out.err[~covered]).all()


def test_unequal_ivm_weights_and_pixel_scale_ratio():
    a = tan_cal(shape=(30, 40), rotation=0.0, var_rnoise=0.01, var_poisson=0.0, var_flat=0.0)
    b = tan_cal(shape=(30, 40), rotation=0.0, var_rnoise=0.04, var_poisson=0.0, var_flat=0.0)
    out = resample.run([a, b], {"kernel": "point"})
    covered = out.wht > 0
    wa, wb = 100.0, 25.0
    expected = (0.01 * wa**2 + 0.04 * wb**2) / (wa + wb) ** 2  # = 1 / (wa + wb)
    np.testing.assert_allclose(out.var_rnoise[covered], expected, rtol=1e-5)
    # an output pixel twice as large averages 4 input pixels: the official scaling by 1 / ratio^2
    big = resample.run([a, b], {"kernel": "square", "pixel_scale_ratio": 2.0})
    inner = big.wht > 0.99 * np.nanmax(big.wht)
    np.testing.assert_allclose(big.var_rnoise[inner], expected / 4, rtol=1e-4)
    assert big.meta["PXSCLRT"] == pytest.approx(2.0, rel=1e-6)


# -- output grid -----------------------------------------------------------------

def test_pixmap_grid_interpolation_is_accurate(tmp_path):
    # the kernels interpolate the exact transform between nodes 8 pixels apart
    model, _ = nircam_cal(tmp_path, shape=(64, 80))
    out = resample.run(model, {"kernel": "point"})
    gx, gy = resample.pixmap_grid(model.wcs, out.wcs, model.data.shape, 8)
    rng = np.random.default_rng(2)
    x = rng.uniform(-0.5, 79.5, 500)
    y = rng.uniform(-0.5, 63.5, 500)
    ix, iy = np.empty(500), np.empty(500)
    interpolate_points(gx, gy, 8, x, y, ix, iy)
    ex, ey = out.wcs.backward_transform(*model.wcs.forward_transform(x, y))
    assert np.max(np.hypot(ix - ex, iy - ey)) < 1e-3


def test_output_grid_is_north_up_and_covers_the_inputs():
    inputs = [tan_cal(shape=(40, 50), rotation=33.0, crpix=(24.5 + 30 * k, 19.5 - 10 * k)) for k in range(2)]
    out = resample.run(inputs, {"kernel": "point"})
    ny, nx = out.data.shape
    # north up at the reference pixel (elsewhere the meridians converge: ~1e-4 deg at 50 pixels)
    crpix = (out.sci_meta["CRPIX1"] - 1, out.sci_meta["CRPIX2"] - 1)
    assert resample._position_angle(out.wcs, out.data.shape, crpix) == pytest.approx(0.0, abs=1e-8)
    assert resample.measured_pixel_scale(out.wcs, nx / 2, ny / 2) == pytest.approx(SCALE, rel=1e-6)
    for model in inputs:
        ra, dec = resample.footprint(model.wcs, model.data.shape)
        x, y = out.wcs.backward_transform(ra, dec)
        assert x.min() >= -0.5 - 1e-6 and x.max() <= nx - 0.5 + 1e-6
        assert y.min() >= -0.5 - 1e-6 and y.max() <= ny - 0.5 + 1e-6
    rotated = resample.run(inputs, {"kernel": "point", "rotation": None, "pixel_scale": 0.05})
    crpix = (rotated.sci_meta["CRPIX1"] - 1, rotated.sci_meta["CRPIX2"] - 1)
    assert resample._position_angle(rotated.wcs, rotated.data.shape, crpix) == pytest.approx(33.0, abs=1e-3)
    assert rotated.sci_meta["PIXAR_A2"] == pytest.approx(0.05**2)
    fixed = resample.run(inputs, {"kernel": "point", "output_shape": [101, 77], "crval": CRVAL})
    assert fixed.data.shape == (77, 101)


def test_output_wcs_from_an_asdf_file(tmp_path):
    import asdf

    inputs = [tan_cal(shape=(20, 30), crpix=(14.5 + 5 * k, 9.5)) for k in range(2)]
    first = resample.run(inputs)
    asdf.AsdfFile({"wcs": first.wcs}).write_to(tmp_path / "grid.asdf")
    again = resample.run(inputs, {"output_wcs": str(tmp_path / "grid.asdf"), "pixfrac": 0.5})
    assert again.data.shape == first.data.shape
    covered = again.wht > 0
    np.testing.assert_allclose(again.data[covered], 5.0, rtol=1e-5)
    asdf.AsdfFile({"other": 1}).write_to(tmp_path / "nogrid.asdf")
    with pytest.raises(InputError, match="nogrid.asdf.*no gwcs"):
        resample.run(inputs, {"output_wcs": str(tmp_path / "nogrid.asdf")})


def test_an_absent_variance_array_is_nan(tmp_path):
    model = tan_cal(shape=(20, 30))
    path = model.save(tmp_path / "novarflat_cal.fits")
    with fits.open(path) as hdul:
        del hdul["VAR_FLAT"]
        hdul.writeto(tmp_path / "x_cal.fits")
    out = resample.run(str(tmp_path / "x_cal.fits"))
    covered = out.wht > 0
    assert np.isnan(out.var_flat).all()
    np.testing.assert_allclose(out.err[covered] ** 2, 0.01 + 0.02, rtol=1e-5)


# -- the product --------------------------------------------------------------------

def test_i2d_file_layout_and_keywords(tmp_path):
    model = tan_cal(shape=(30, 40))
    model.data = np.random.default_rng(0).normal(5, 1, model.data.shape).astype(np.float32)
    out = resample.run([model, tan_cal(shape=(30, 40), crpix=(25.0, 10.0))], {"pixfrac": 0.8})
    path = out.save(tmp_path / "x_i2d.fits")
    with fits.open(path) as hdul:
        names = [hdu.name for hdu in hdul]
        assert names == ["PRIMARY", "SCI", "ERR", "CON", "WHT", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT", "ASDF"]
        assert hdul["CON"].data.dtype == np.dtype(">i4") and hdul["CON"].data.ndim == 3
        primary, sci = hdul[0].header, hdul["SCI"].header
        assert primary["S_RESAMP"] == "COMPLETE" and primary["NDRIZ"] == 2 and primary["RESWHT"] == "ivm"
        assert primary["PIXFRAC"] == pytest.approx(0.8) and primary["DATAMODL"] == "ImageModel"
        assert sci["BUNIT"] == "MJy/sr" and sci["S_REGION"].startswith("POLYGON ICRS")
        assert sci["CTYPE1"] == "RA---TAN" and sci["PIXAR_SR"] == pytest.approx(
            (SCALE * math.pi / 180 / 3600) ** 2, rel=1e-6)
    back = I2dModel.read(path)
    np.testing.assert_array_equal(back.data, out.data)
    ra, dec = back.wcs(10.0, 12.0)
    np.testing.assert_allclose((ra, dec), out.wcs(10.0, 12.0), rtol=0, atol=1e-10)
    # the FITS TAN keywords describe the same grid as the gwcs
    from astropy.wcs import WCS

    fits_ra, fits_dec = WCS(fits.getheader(path, "SCI")).all_pix2world(10.0, 12.0, 0)
    assert abs(fits_ra - ra) * 3600 * math.cos(math.radians(dec)) < 1e-3 * SCALE
    assert abs(fits_dec - dec) * 3600 < 1e-3 * SCALE


def test_files_give_what_models_give(tmp_path):
    def make(k):
        model = tan_cal(shape=(20, 30), crpix=(14.5 + 5 * k, 9.5))
        model.data[3, 4 + k] = 1e5
        model.dq[3, 4 + k] = dqflags.DO_NOT_USE | dqflags.SATURATED  # uint32 DQ, stored with BZERO in the file
        return model

    paths = [make(k).save(tmp_path / f"in{k}_cal.fits") for k in range(2)]
    from_files = resample.run(paths)
    in_memory = resample.run([make(k) for k in range(2)])
    assert np.nanmax(from_files.data) < 10
    for name in ("data", "wht", "con", "err", "var_rnoise", "var_poisson", "var_flat"):
        np.testing.assert_array_equal(getattr(from_files, name), getattr(in_memory, name))


def test_bad_inputs_are_one_line_errors(tmp_path):
    model = tan_cal(shape=(10, 10))
    with pytest.raises(InputError, match="kernel"):
        resample.run(model, {"kernel": "lanczos7"})
    with pytest.raises(InputError, match="pixfrac"):
        resample.run(model, {"pixfrac": 0.0})
    model.wcs = None
    with pytest.raises(InputError, match="has no WCS"):
        resample.run(model)
    no_wcs = tan_cal(shape=(10, 10))
    no_wcs.wcs = None
    path = no_wcs.save(tmp_path / "nowcs_cal.fits")
    with pytest.raises(InputError, match="nowcs_cal.fits.*has no WCS"):
        resample.run([tan_cal(shape=(10, 10)), path])
