"""The official Detector1Pipeline on our simulated uncal: we read its products, and agree with them."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from webbflow.datamodels import CubeModel, ImageModel, open_model

pytestmark = [pytest.mark.compare, pytest.mark.slow]
pytest.importorskip("jwst")

WEBBFLOW = str(Path(sys.executable).with_name("webbflow"))


INSTRUMENTS = {"NIRCAM": "_nrcb1_", "NIRISS": "_nis_", "NIRSPEC": "_nrs1_", "MIRI": "_mirimage_"}


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    from webbflow.simulate import simulate_program

    root = tmp_path_factory.mktemp("official")
    return root, simulate_program(root, seed=21, full_frame_refs=False)


@pytest.fixture(scope="module", params=sorted(INSTRUMENTS))
def products(request, program):
    """Our and the official rate/rateints of one exposure per instrument, same references."""
    from webbflow.refs.select import crds_environment

    root, summary = program
    uncal = next(u for u in summary["uncal"] if INSTRUMENTS[request.param] in u)
    root = root / request.param
    root.mkdir()
    env = dict(os.environ, **crds_environment(summary["crds_cache"]), CRDS_CONTEXT=summary["context"],
               STPIPE_DISABLE_CRDS_STEPPARS="true")
    script = textwrap.dedent(f"""
        from jwst.pipeline import Detector1Pipeline
        Detector1Pipeline.call({uncal!r}, output_dir={str(root / 'official')!r}, save_results=True)
    """)
    (root / "official").mkdir()
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    done = subprocess.run([WEBBFLOW, "run", "detector1", uncal, "-o", str(root / "ours"), "--crds-path",
                           summary["crds_cache"]], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    stem = os.path.basename(uncal).replace("_uncal.fits", "")
    return {who: {kind: root / who / f"{stem}_{kind}.fits" for kind in ("rate", "rateints")}
            for who in ("official", "ours")}


def test_we_read_the_official_products(products):
    rate = open_model(products["official"]["rate"])
    ints = open_model(products["official"]["rateints"])
    assert isinstance(rate, ImageModel) and isinstance(ints, CubeModel)
    assert rate.meta["S_JUMP"] == "COMPLETE"
    assert ints.int_times is not None and len(ints.int_times) == ints.data.shape[0]


def test_our_rates_agree_with_the_official_ones(products):
    ours = open_model(products["ours"]["rate"])
    official = open_model(products["official"]["rate"])
    good = ((ours.dq | official.dq) & 1) == 0
    assert good.mean() > 0.9
    diff = np.abs(ours.data - official.data)[good] / official.err[good]
    # the same algorithms on the same ramps and references: differences far below the noise
    assert np.median(diff) <= 1e-3
    assert np.mean(diff > 0.1) <= 0.005
    err_ratio = ours.err[good] / official.err[good]
    assert np.median(np.abs(err_ratio - 1)) <= 1e-3
    same_jump = ((ours.dq & 4) > 0) == ((official.dq & 4) > 0)
    assert same_jump.mean() >= 0.995
