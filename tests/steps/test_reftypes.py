"""Step keywords, reference types and the detector1 step order, checked against the official schema."""

import importlib
import importlib.util
import os
import re

import pytest

from webbflow.refs.reftypes import (
    DETECTOR1_STATUS_KEYWORDS,
    NOT_IMPLEMENTED,
    REFTYPE_KEYWORDS,
    STEP_ORDER,
    step_order,
)

MODULES = [
    "group_scale", "dq_init", "saturation", "ipc", "superbias", "refpix", "linearity", "dark_current",
    "charge_migration", "clean_flicker_noise", "gain_scale", "firstframe", "lastframe", "reset", "rscd",
]


@pytest.mark.parametrize("name", MODULES)
def test_step_module_contract(name):
    module = importlib.import_module(f"webbflow.steps.detector1.{name}")
    assert module.NAME == name
    assert module.STATUS_KEYWORD == DETECTOR1_STATUS_KEYWORDS[name]
    assert all(reftype in REFTYPE_KEYWORDS for reftype in module.REFTYPES)
    assert isinstance(module.DEFAULTS, dict) and "skip" in module.DEFAULTS
    assert callable(module.run)
    assert any(name in steps for steps in STEP_ORDER.values())


def test_step_order_helpers():
    assert step_order("NIRCAM") == STEP_ORDER["NIR"]
    assert "emicorr" not in step_order("MIRI", implemented_only=True)
    assert STEP_ORDER["MIRI"].index("reset") < STEP_ORDER["MIRI"].index("linearity") < STEP_ORDER["MIRI"].index("rscd")
    assert set(NOT_IMPLEMENTED) <= set(STEP_ORDER["MIRI"])


def _schema():
    yaml = pytest.importorskip("yaml")
    spec = importlib.util.find_spec("stdatamodels")
    if spec is None:
        pytest.skip("stdatamodels not installed")
    path = os.path.join(os.path.dirname(spec.origin), "jwst", "datamodels", "schemas", "core.schema.yaml")
    with open(path) as f:
        return yaml.safe_load(f)


def _find(tree, key):
    if isinstance(tree, dict):
        if key in tree:
            return tree[key]
        tree = list(tree.values())
    if isinstance(tree, list):
        for item in tree:
            found = _find(item, key)
            if found is not None:
                return found
    return None


@pytest.mark.compare
def test_keywords_match_the_official_schema():
    schema = _schema()
    ref_file = _find(schema, "ref_file")["properties"]
    official = {k: v["properties"]["name"]["fits_keyword"] for k, v in ref_file.items() if k != "crds"}
    assert REFTYPE_KEYWORDS == official
    cal_step = _find(schema, "cal_step")["properties"]
    renamed = {"dark_current": "dark_sub"}  # the step is dark_current, its status field dark_sub
    for step, keyword in DETECTOR1_STATUS_KEYWORDS.items():
        assert cal_step[renamed.get(step, step)]["fits_keyword"] == keyword


@pytest.mark.compare
def test_step_order_matches_the_official_pipeline():
    spec = importlib.util.find_spec("jwst")
    if spec is None:
        pytest.skip("jwst not installed")
    with open(os.path.join(os.path.dirname(spec.origin), "pipeline", "calwebb_detector1.py")) as f:
        source = f.read()
    body = source[source.index("def process"):]
    miri_part, rest = body.split("else:", 1)
    nir_part, tail = rest.split("charge_migration.run", 1)
    calls = re.compile(r"self\.(\w+)\.run\(")
    common = ["charge_migration", *dict.fromkeys(calls.findall(tail))]  # ramp_fit and gain_scale appear twice
    assert calls.findall(miri_part) + common == STEP_ORDER["MIRI"]
    assert calls.findall(nir_part) + common == STEP_ORDER["NIR"]
