"""Every product records the software versions, CRDS context, references and step parameters."""

import io
from importlib import metadata

import asdf
import numpy as np
import pytest
from astropy.io import fits

from webbflow.datamodels import open_model
from webbflow.pipelines import detector1
from webbflow.refs.reftypes import REFTYPE_KEYWORDS

pytestmark = pytest.mark.slow

CONFIG = {"steps": {"jump": {"rejection_threshold": 5.5}, "superbias": {"skip": True}}}


@pytest.fixture(scope="module")
def products(tmp_path_factory):
    """One NIRISS exposure through detector1 with a changed parameter and a skipped step."""
    from webbflow.refs.select import configure_crds, current_context
    from webbflow.simulate import simulate_program
    from webbflow.workflow import select_detector1_references

    root = tmp_path_factory.mktemp("provenance")
    summary = simulate_program(root / "demo", seed=5, instruments=["NIRISS"], full_frame_refs=False)
    configure_crds(summary["crds_cache"])
    uncal = summary["uncal"][0]
    refs = select_detector1_references(uncal, {"detector1": CONFIG})
    rate, rateints = root / "x_rate.fits", root / "x_rateints.fits"
    detector1.run_file(uncal, str(rate), str(rateints), refs, config=CONFIG,
                       context=current_context(summary["context"]), threads=1)
    return rate, rateints, refs, summary["context"]


def _asdf_tree(path):
    with fits.open(path) as hdul:
        raw = bytes(np.asarray(hdul["ASDF"].data["ASDF_METADATA"][0], dtype=np.uint8))
    with asdf.open(io.BytesIO(raw), lazy_load=False) as af:
        return af.tree[detector1.PROVENANCE_KEY]


@pytest.mark.parametrize("which", [0, 1], ids=["rate", "rateints"])
def test_header_records_versions_context_and_references(products, which):
    path, refs, context = products[which], products[2], products[3]
    header = fits.getheader(path)
    history = " ".join(str(card) for card in header["HISTORY"])
    for package in ("numpy", "numba", "astropy", "crds", "scipy", "asdf"):
        assert f"{package} {metadata.version(package)}" in history, (package, history)
    assert header["CAL_VER"] and header["CRDS_CTX"] == context
    assert header["CRDS_VER"] == metadata.version("crds")
    for reftype, path_ in refs.items():
        keyword = REFTYPE_KEYWORDS.get(reftype)
        if keyword and reftype != "superbias":  # superbias was skipped
            assert header[keyword] == f"crds://{path_.rsplit('/', 1)[-1]}", keyword
    assert header["S_SUPERB"] == "SKIPPED"


@pytest.mark.parametrize("which", [0, 1], ids=["rate", "rateints"])
def test_asdf_records_versions_references_and_step_parameters(products, which):
    path, refs, context = products[which], products[2], products[3]
    record = _asdf_tree(path)  # plain asdf, as any reader sees it
    assert record == open_model(path).asdf_tree[detector1.PROVENANCE_KEY]  # and our own reader
    for package in ("numpy", "numba", "astropy", "crds"):
        assert record["versions"][package] == metadata.version(package)
    assert record["versions"]["webbflow"] == fits.getheader(path)["CAL_VER"]
    assert record["crds_context"] == context
    # every reference used, including those without an R_* keyword
    assert record["references"] == {r: f"crds://{p.rsplit('/', 1)[-1]}" for r, p in refs.items()}
    steps = record["steps"]
    assert set(steps) == set(detector1.step_names(fits.getheader(path)))
    assert steps["jump"]["parameters"]["rejection_threshold"] == 5.5
    # the other parameters are the step's defaults, as used
    from webbflow.steps.detector1 import jump

    expected = {**jump.DEFAULTS, "rejection_threshold": 5.5}
    assert steps["jump"]["parameters"] == pytest.approx(expected)
    assert steps["superbias"]["status"] == "SKIPPED"
    assert steps["ramp_fit"]["status"] == "COMPLETE"
    assert record["threads"] == 1


def test_official_datamodels_open_the_provenance(products):
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    with datamodels.open(str(products[0])) as model:
        assert model.meta.ref_file.crds.context_used == products[3]
        assert type(model).__name__ == "ImageModel"
        np.testing.assert_array_equal(model.data, open_model(products[0]).data)
