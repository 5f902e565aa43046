"""detector1 in chunks of integrations and blocks of rows writes the same products as in memory."""

import filecmp

import numpy as np
import pytest
from astropy.io import fits

from webbflow.datamodels import RampModel
from webbflow.pipelines import detector1, detector1_chunked


@pytest.fixture(scope="module")
def exposure(tmp_path_factory):
    """A NIRCam SUB160 exposure, 6 integrations x 6 groups, with cosmic rays and saturation."""
    from webbflow.refs.select import configure_crds, current_context
    from webbflow.simulate import simulate_program
    from webbflow.simulate.program import Exposure
    from webbflow.workflow import select_detector1_references

    root = tmp_path_factory.mktemp("chunking")
    spec = Exposure(observation=1, visit=1, exposure=1, detector="NRCB1", exp_type="NRC_TSIMAGE", subarray="SUB160",
                    readpatt="RAPID", ngroups=6, nints=6, filter="F150W", pupil="CLEAR", module="B",
                    channel="SHORT", template="NIRCam Time Series", extra={"TSOVISIT": True})
    summary = simulate_program(root / "sim", seed=11, exposures=[spec], full_frame_refs=False)
    # Every simulated cache names its context jwst_0001.pmap, with other instruments in it: CRDS's
    # in-process caches of mappings must not carry over between test modules.
    from crds.core.utils import clear_function_caches

    clear_function_caches()
    configure_crds(summary["crds_cache"])
    uncal = summary["uncal"][0]
    yield root, uncal, select_detector1_references(uncal, {}), current_context(summary["context"])
    clear_function_caches()


def _products(root, name, uncal, refs, context, config=None, **chunks):
    out = root / name
    out.mkdir(exist_ok=True)
    rate, rateints = out / "x_rate.fits", out / "x_rateints.fits"
    detector1.run_file(uncal, str(rate), str(rateints), refs, config=config, context=context, threads=1, **chunks)
    assert not [p.name for p in out.iterdir() if p.name.startswith(".tmp")]  # scratch files removed
    return rate, rateints


def _same_files(a, b):
    if filecmp.cmp(a, b, shallow=False):
        return
    with fits.open(a) as ha, fits.open(b) as hb:  # name what differs
        for x, y in zip(ha, hb, strict=True):
            assert x.header == y.header, (x.name, fits.HeaderDiff(x.header, y.header).report())
            if x.data is not None and x.name != "ASDF":
                np.testing.assert_array_equal(x.data, y.data, err_msg=x.name)
    raise AssertionError(f"{a} and {b} differ")


# Sigma clipping across 6 integrations: a value lies at most sqrt(5) = 2.2 population standard
# deviations from the mean, so the default 4 sigma could never flag; 2 sigma flags some.
SIGMA_CLIP = {"steps": {"jump": {"minimum_sigclip_groups": 4, "rejection_threshold": 2.0}}}


@pytest.mark.parametrize("config", [None, SIGMA_CLIP], ids=["iterative", "sigma-clip"])
def test_chunked_products_are_bit_identical(exposure, config):
    root, uncal, refs, context = exposure
    tag = "sig" if config else "it"
    memory = _products(root, f"memory-{tag}", uncal, refs, context, config=config, memory_budget=2 ** 40)  # in memory
    # 4 chunks of integrations (the last one short) and 7 blocks of rows (one row of halo each)
    chunked = _products(root, f"chunked-{tag}", uncal, refs, context, config=config, chunk_ints=2, chunk_rows=23)
    for a, b in zip(memory, chunked, strict=True):
        _same_files(a, b)
    with fits.open(memory[1]) as hdul:
        assert hdul["SCI"].data.shape == (6, 160, 160)
        assert np.count_nonzero(hdul["DQ"].data & 4), "no jump flagged: the comparison would prove little"
        assert "PRIMECRS" in hdul[0].header


def test_chunking_plan_chooses_by_memory(exposure):
    _root, uncal, _refs, _context = exposure
    model = RampModel.read(uncal)
    assert model.is_lazy
    planned = detector1.plan(model.meta)
    ramp_bytes = 6 * 6 * 160 * 160 * 5
    assert detector1_chunked.chunking_plan(model, planned, ramp_bytes) is None  # fits: in memory
    ints, rows = detector1_chunked.chunking_plan(model, planned, ramp_bytes // 3)
    assert ints == 2 and 1 <= rows < 160
    custom = detector1.plan(model.meta, {"steps": {"ipc": {"callable": "numpy:copy"}}})
    assert detector1_chunked.chunking_plan(model, custom, ramp_bytes // 3) is None  # a user's step: in memory
    model.meta["INSTRUME"] = "MIRI"
    assert detector1_chunked.chunking_plan(model, planned, ramp_bytes // 3) is None


def test_lazy_read_matches_eager(exposure):
    _root, uncal, _refs, _context = exposure
    lazy = RampModel.read(uncal)
    with fits.open(uncal) as hdul:
        raw = np.asarray(hdul["SCI"].data, dtype=np.float32)  # astropy applies BZERO
    np.testing.assert_array_equal(lazy.read_integrations(2, 5), raw[2:5])
    assert lazy.is_lazy
    assert lazy.groupdq.shape == raw.shape and not lazy.is_lazy  # DQ access reads the file
    np.testing.assert_array_equal(lazy.data, raw)
