"""Same inputs, same bytes: `webbflow simulate` and `webbflow run detector1` twice (docs/faults.md)."""

import filecmp
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits

from webbflow.cli import main

WEBBFLOW = str(Path(sys.executable).with_name("webbflow"))


def _files(root):
    return sorted(p.relative_to(root) for p in Path(root).rglob("*") if p.is_file())


def _assert_same_bytes(a, b):
    names = _files(a)
    assert names and names == _files(b)
    _, mismatch, errors = filecmp.cmpfiles(a, b, [str(n) for n in names], shallow=False)
    assert mismatch == [] and errors == [], mismatch + errors


def _webbflow(*args, hash_seed, cwd):
    """Run the command in a new process, as a user does, with a given string-hash seed, so
    that anything written in set or hash order shows up here and not by chance."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRDS_")}
    env["PYTHONHASHSEED"] = hash_seed
    result = subprocess.run([WEBBFLOW, *map(str, args)], capture_output=True, text=True, timeout=600, cwd=cwd,
                            env=env)
    assert result.returncode == 0, result.stderr[-3000:]


def test_simulate_twice_gives_the_same_bytes(tmp_path):
    # different parent directories: no absolute path may end up in a file
    for out, hash_seed in ((tmp_path / "a" / "program", "1"), (tmp_path / "second" / "program", "2")):
        _webbflow("simulate", out, "--seed", "5", "--only", "NIRISS", "--subarray-refs", hash_seed=hash_seed,
                  cwd=tmp_path)
    _assert_same_bytes(tmp_path / "a" / "program", tmp_path / "second" / "program")


def test_detector1_twice_gives_the_same_bytes(tmp_path, capsys):
    program = tmp_path / "program"
    assert main(["simulate", str(program), "--seed", "5", "--only", "NIRISS", "--subarray-refs"]) == 0
    uncal = sorted((program / "uncal").glob("*_uncal.fits"))[0]
    for out, threads, hash_seed in (("a", 1, "1"), ("b", 1, "2"), ("threads2", 2, "3")):
        _webbflow("run", "detector1", uncal, "-o", tmp_path / out, "--crds-path", program / "crds_cache",
                  "--threads", threads, hash_seed=hash_seed, cwd=tmp_path)
    _assert_same_bytes(tmp_path / "a", tmp_path / "b")
    # no wall-clock time in the products: DATE is the input's
    for product in (tmp_path / "a").iterdir():
        assert fits.getval(product, "DATE") == fits.getval(uncal, "DATE")
    # more threads: every array identical to the bit (the kernels parallelise over
    # pixels, never over one pixel's sums); only the provenance records the threads
    for product in _files(tmp_path / "a"):
        with fits.open(tmp_path / "a" / product) as one, fits.open(tmp_path / "threads2" / product) as two:
            assert [h.name for h in one] == [h.name for h in two]
            for hdu in one[1:]:
                if hdu.name != "ASDF":
                    assert np.asarray(hdu.data).tobytes() == np.asarray(two[hdu.name].data).tobytes(), hdu.name


_ASDF_SCRIPT = """
import hashlib, io, sys
import astropy.units as u
import numpy as np
from astropy.modeling import models
from webbflow.datamodels.base import write_asdf
buffer = io.BytesIO()
write_asdf({"model": models.Shift(1) & models.Shift(2), "unit": u.pix, "a": np.arange(3.0)}, buffer)
print(hashlib.sha256(buffer.getvalue()).hexdigest())
"""


def test_asdf_trees_give_the_same_bytes_in_every_process():
    # asdf lists the extensions it used in the order of a set: with the string-hash seeds
    # 1 and 2 the plain library writes two different files (measured); ours must not
    digests = set()
    for hash_seed in "12":
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run([sys.executable, "-c", _ASDF_SCRIPT], capture_output=True, text=True, env=env,
                                timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        digests.add(result.stdout.strip())
    assert len(digests) == 1, digests


def test_image2_twice_gives_the_same_bytes(tmp_path, capsys):
    program = tmp_path / "program"
    assert main(["simulate", str(program), "--program", "imaging", "--seed", "5", "--only", "NIRISS",
                 "--subarray-refs"]) == 0
    uncal = sorted((program / "uncal").glob("*_uncal.fits"))[0]
    cache = program / "crds_cache"
    assert main(["run", "detector1", str(uncal), "-o", str(tmp_path / "rate"), "--crds-path", str(cache)]) == 0
    rate = sorted((tmp_path / "rate").glob("*_rate.fits"))[0]
    for out, hash_seed in (("a", "1"), ("b", "2")):
        _webbflow("run", "image2", rate, "-o", tmp_path / out, "--crds-path", cache, hash_seed=hash_seed,
                  cwd=tmp_path)
    _assert_same_bytes(tmp_path / "a", tmp_path / "b")
    assert [p.name for p in (tmp_path / "a").iterdir()] == [rate.name.replace("_rate", "_cal")]
