"""Parity with the official algorithms (jwst/stcal) on the same synthetic inputs.

Needs the ``compare`` extra; skipped without it. The official functions are
called directly (no CRDS), on official data models built from our ramps.
"""

import warnings

import numpy as np
import pytest
from ref_fixtures import (
    make_ramp,
    write_dark,
    write_ipc,
    write_linearity,
    write_rscd,
    write_saturation,
    write_superbias,
)

from webbflow import dqflags
from webbflow.steps.detector1 import (
    charge_migration,
    dark_current,
    ipc,
    linearity,
    refpix,
    rscd,
    saturation,
)

pytestmark = [pytest.mark.compare, pytest.mark.filterwarnings("ignore")]
dm = pytest.importorskip("stdatamodels.jwst.datamodels")
pytest.importorskip("jwst")
pytest.importorskip("stcal")


def official_ramp(model):
    """An official RampModel with our model's arrays and keywords."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ramp = dm.RampModel(data=model.data.copy(), pixeldq=model.pixeldq.copy(), groupdq=model.groupdq.copy())
        h = model.meta
        ramp.meta.instrument.name = h["INSTRUME"]
        ramp.meta.instrument.detector = h["DETECTOR"]
        exposure, subarray = ramp.meta.exposure, ramp.meta.subarray
        exposure.nframes, exposure.groupgap = h["NFRAMES"], h["GROUPGAP"]
        exposure.ngroups, exposure.nints = h["NGROUPS"], h["NINTS"]
        exposure.readpatt, exposure.type = h["READPATT"], h["EXP_TYPE"]
        exposure.noutputs = h.get("NOUTPUTS")
        subarray.name = h["SUBARRAY"]
        subarray.xstart, subarray.ystart = h["SUBSTRT1"], h["SUBSTRT2"]
        subarray.xsize, subarray.ysize = h["SUBSIZE1"], h["SUBSIZE2"]
        subarray.fastaxis, subarray.slowaxis = h["FASTAXIS"], h["SLOWAXIS"]
    return ramp


def _ramp(rng, shape=(2, 8, 40, 48), **header):
    model = make_ramp(shape, **header)
    rate = rng.uniform(-50, 9000, shape[-2:])
    start = rng.uniform(500, 15000, shape[-2:])
    model.data[...] = start + rate * np.arange(shape[1])[:, None, None] + rng.normal(0, 10, shape)
    model.data[0, 3, 5, 5] = 0.0
    model.pixeldq[rng.random(shape[-2:]) < 0.05] = dqflags.PIXEL["HOT"]
    return model


@pytest.mark.parametrize("case", [
    dict(shape=(1, 2, 2048, 64), instrument="NIRSPEC", fastaxis=2, slowaxis=1, NOUTPUTS=4, substrt=(1985, 1)),
    dict(shape=(1, 2, 64, 2048), instrument="NIRCAM", fastaxis=1, slowaxis=-2, NOUTPUTS=4, substrt=(1, 1985)),
    dict(shape=(2, 2, 64, 64), instrument="NIRCAM", fastaxis=-1, slowaxis=2, NOUTPUTS=1, substrt=(1, 1)),
    dict(shape=(1, 3, 1024, 1032), instrument="MIRI"),
])
def test_refpix(case):
    from jwst.refpix import reference_pixels

    rng = np.random.default_rng(0)
    case = dict(case)
    shape = case.pop("shape")
    model = make_ramp(shape, **case)
    model.data[...] = rng.normal(100, 5, shape) + rng.normal(0, 20, shape[-1]) + 50.0 * np.arange(shape[1])[:, None, None]
    model.pixeldq[rng.random(shape[-2:]) < 0.01] = dqflags.DO_NOT_USE
    if shape[-1] == 64:
        model.pixeldq[:4, :] |= dqflags.REFERENCE_PIXEL
        model.pixeldq[:, :4] |= dqflags.REFERENCE_PIXEL
    official = official_ramp(model)
    kernel = {"refpix_algorithm": "median", "sirs_kernel_model": None, "sigreject": 4.0, "gaussmooth": 1.0,
              "halfwidth": 30}
    reference_pixels.correct_model(official, True, True, 11, 1.0, True, kernel, 3.0)
    refpix.run(model, {}, refpix.DEFAULTS)
    np.testing.assert_allclose(model.data, official.data, atol=1e-4)


@pytest.mark.parametrize("nframes", [1, 4])
def test_saturation(tmp_path, nframes):
    from jwst.saturation import saturation as official_saturation

    rng = np.random.default_rng(1)
    model = _ramp(rng, nframes=nframes, substrt=(5, 9))
    threshold = rng.uniform(40000, 60000, (64, 64))
    threshold[10, 10] = np.nan
    sat_dq = np.zeros((64, 64), np.uint32)
    sat_dq[12, 14] = dqflags.NO_SAT_CHECK
    bias = rng.uniform(10000, 12000, (64, 64))
    refs = {"saturation": write_saturation(tmp_path / "sat.fits", threshold, dq=sat_dq),
            "superbias": write_superbias(tmp_path / "bias.fits", bias)}
    official = official_ramp(model)
    bias_model = dm.SuperBiasModel(data=bias[8:48, 4:52].astype(np.float32))
    official = official_saturation.flag_saturation(official, dm.SaturationModel(refs["saturation"]), 1, True,
                                                   bias_model=bias_model)
    saturation.run(model, refs, saturation.DEFAULTS)
    np.testing.assert_array_equal(model.groupdq, official.groupdq)
    np.testing.assert_array_equal(model.pixeldq, official.pixeldq)


@pytest.mark.parametrize("nframes", [1, 4])
def test_linearity(tmp_path, nframes):
    from stcal.linearity.linearity import linearity_correction

    rng = np.random.default_rng(2)
    model = _ramp(rng, nframes=nframes)
    model.groupdq[0, 5:, 3, 3] = dqflags.SATURATED
    coeffs = np.zeros((4, 40, 48), np.float32)
    coeffs[1], coeffs[2], coeffs[3] = 1.0, rng.uniform(1e-7, 3e-7, (40, 48)), 1e-13
    coeffs[2, 7, 7], coeffs[1, 8, 8] = np.nan, 0.0
    inverse = np.zeros((3, 40, 48), np.float32)
    inverse[1], inverse[2] = 1.0, -coeffs[2]
    lin_dq = np.zeros((40, 48), np.uint32)
    lin_dq[9, 9] = dqflags.NO_LIN_CORR
    path = write_linearity(tmp_path / "lin.fits", coeffs, dq=lin_dq, inv_coeffs=inverse)
    pattern = [[x + 1 + g * nframes for x in range(nframes)] for g in range(8)] if nframes > 1 else None
    data, pdq, _ = linearity_correction(model.data.copy(), model.groupdq.copy(), model.pixeldq.copy(),
                                        coeffs.copy(), lin_dq, dqflags.PIXEL,
                                        ilin_coeffs=inverse.copy() if nframes > 1 else None, read_pattern=pattern)
    linearity.run(model, {"linearity": path}, {})
    np.testing.assert_allclose(model.data, data, rtol=1e-6)
    np.testing.assert_array_equal(model.pixeldq, pdq)


@pytest.mark.parametrize("nframes,groupgap,instrument", [(1, 0, "NIRCAM"), (4, 2, "NIRCAM"), (2, 0, "MIRI")])
def test_dark_current(tmp_path, nframes, groupgap, instrument):
    from stcal.dark_current import dark_sub

    rng = np.random.default_rng(3)
    model = _ramp(rng, nframes=nframes, groupgap=groupgap, instrument=instrument)
    if instrument == "MIRI":
        dark = rng.uniform(0, 100, (2, 60, 40, 48)).astype(np.float32)
        dark_dq = np.zeros(dark.shape, np.uint32)
        dark_dq[1, 0, 2, 2] = dqflags.PIXEL["WARM"]
        dark_model = dm.DarkMIRIModel(data=dark.copy(), dq=dark_dq.copy())
    else:
        dark = rng.uniform(0, 100, (30, 40, 48)).astype(np.float32)  # too short for 4+2: extrapolated
        dark_dq = np.zeros((40, 48), np.uint32)
        dark_dq[2, 2] = dqflags.PIXEL["WARM"]
        dark_model = dm.DarkModel(data=dark.copy(), dq=dark_dq.copy())
    dark_model.meta.exposure.nframes, dark_model.meta.exposure.groupgap = 1, 0
    dark_model.meta.exposure.ngroups = dark.shape[-3]
    path = write_dark(tmp_path / "dark.fits", dark, dq=dark_dq, instrument=instrument)
    out, _ = dark_sub.do_correction(official_ramp(model), dark_model)
    dark_current.run(model, {"dark": path}, {})
    np.testing.assert_allclose(model.data, out.data, rtol=1e-5, atol=0.02)
    np.testing.assert_array_equal(model.pixeldq, out.pixeldq)


def test_ipc_4d(tmp_path):
    from jwst.ipc import ipc_corr

    rng = np.random.default_rng(4)
    kernel = rng.uniform(0, 0.02, (3, 3, 64, 64)).astype(np.float32)
    kernel[1, 1] = 0.9
    model = _ramp(rng, substrt=(1, 1))
    path = write_ipc(tmp_path / "ipc.fits", kernel)
    official = official_ramp(model)
    ipc_corr.do_correction(official, dm.IPCModel(path))
    ipc.run(model, {"ipc": path}, {})
    np.testing.assert_allclose(model.data, official.data, rtol=1e-6)


def test_charge_migration():
    from jwst.charge_migration import charge_migration as official_cm

    model = _ramp(np.random.default_rng(5))
    model.groupdq[0, :, 4, 4] = dqflags.DO_NOT_USE
    official = official_ramp(model)
    official_cm.charge_migration(official, 25000.0)
    charge_migration.run(model, {}, {"signal_threshold": 25000.0})
    np.testing.assert_array_equal(model.groupdq, official.groupdq)


@pytest.mark.parametrize("ngroups", [4, 8])
def test_rscd(tmp_path, ngroups):
    from jwst.rscd import rscd_sub

    model = make_ramp((3, ngroups, 20, 20), instrument="MIRI", subarray="FULL", readpatt="FASTR1")
    model.groupdq[:, 3:, 2, 2] = dqflags.SATURATED
    model.groupdq[:, 1:, 3, 3] = dqflags.SATURATED
    model.groupdq[:, :, 4, 4] = dqflags.SATURATED
    model.groupdq[1, 5:, 6, 6] = dqflags.SATURATED
    path = write_rscd(tmp_path / "rscd.fits", [("FULL", "FASTR1", 4, 3)])
    official = rscd_sub.do_correction(official_ramp(model), dm.RSCDModel(path))
    rscd.run(model, {"rscd": path}, {})
    np.testing.assert_array_equal(model.groupdq, official.groupdq)
    np.testing.assert_array_equal(model.pixeldq, official.pixeldq)
    assert model.meta["INT1SKIP"] == official.meta.rscd.ngroups_skip_int1
    assert model.meta["INT2SKIP"] == official.meta.rscd.ngroups_skip_int2p
