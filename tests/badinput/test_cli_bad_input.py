"""The bad-input corpus through the ``webbflow`` command.

Every case builds one bad input from a good simulated exposure (its uncal
file, a copy of its CRDS cache, a config file, its pool; for image2 a
NIRCam imaging exposure's rate and cache) and runs the command in a
subprocess. Each must end with one line
``webbflow: error: <file>: <problem>`` naming the file and the problem,
exit 1, show no traceback and leave no product (nor a temporary file).

All subprocesses are started by one module fixture, two at a time, so that
the whole corpus costs about one simulation and a few minutes of CPU.
"""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits

from .readonly import read_only, writes_are_refused

WEBBFLOW = str(Path(sys.executable).with_name("webbflow"))
BATCH = Path(__file__).with_name("cli_batch.py")
pytestmark = pytest.mark.slow


@dataclass
class Case:
    """One kind of bad input: ``build(env)`` writes it and returns the command."""

    name: str
    build: object
    phrase: str
    xfail: str | None = None
    must_succeed: bool = False


@dataclass
class Invocation:
    args: list
    file: str  # the base name the error line must contain
    outputs: list = field(default_factory=list)  # directories that must hold no product
    cleanup: object = None

    def naming(self, name):
        self.file = name
        return self


CASES = []


def case(phrase, xfail=None, must_succeed=False):
    """Register a case builder under its function name."""

    def register(build):
        CASES.append(Case(build.__name__, build, phrase, xfail, must_succeed))
        return build

    return register


class Env:
    """What a builder gets: the good inputs and a directory of its own."""

    def __init__(self, sim, directory):
        self.uncal = sim["uncal"]
        self.cache = sim["cache"]
        self.refs = sim["refs"]
        self.pool = sim["pool"]
        self.ramp = sim["ramp"]
        self.rate = sim["rate"]
        self.image_uncal = sim["image_uncal"]
        self.image_rate = sim["image_rate"]
        self.image_cal = sim["image_cal"]
        self.image_cache = sim["image_cache"]
        self.image_refs = sim["image_refs"]
        self.dir = directory
        self.out = directory / "out"

    # -- helpers -------------------------------------------------------------
    def bad_uncal(self, change, name=None, source=None):
        """A copy of the good uncal with ``change(hdul)`` applied."""
        path = self.dir / (name or f"{self.dir.name}_uncal.fits")
        with fits.open(source or self.uncal) as hdul:
            copy = fits.HDUList([hdu.copy() for hdu in hdul])
        change(copy)
        copy.writeto(path, output_verify="silentfix")
        return path

    def header(self, **keywords):
        """A copy of the good uncal with primary keywords set (None removes one)."""

        def change(hdul):
            for key, value in keywords.items():
                if value is None:
                    hdul[0].header.remove(key)
                else:
                    hdul[0].header[key] = value

        return self.bad_uncal(change)

    def float_sci(self, values, dtype=np.float32):
        """A copy of the good uncal whose SCI is float with some values replaced."""

        def change(hdul):
            data = hdul["SCI"].data.astype(dtype)
            data[0, 2, 10:20, 10:20] = values
            hdul["SCI"] = fits.ImageHDU(data, header=_image_header(hdul["SCI"].header), name="SCI")

        return self.bad_uncal(change)

    def copy_cache(self):
        cache = self.dir / "crds_cache"
        shutil.copytree(self.cache, cache)
        return cache

    def ref_in_copy(self, reftype):
        """(cache copy, the reference file of ``reftype`` inside it)."""
        cache = self.copy_cache()
        original = Path(self.refs[reftype])
        return cache, cache / original.relative_to(self.cache)

    def bad_ref(self, reftype, change):
        cache, ref = self.ref_in_copy(reftype)
        with fits.open(ref) as hdul:
            copy = fits.HDUList([hdu.copy() for hdu in hdul])
        change(copy)
        ref.unlink()
        copy.writeto(ref, output_verify="silentfix")
        return cache, ref

    def run(self, uncal, cache=None, *extra):
        return ["run", "detector1", str(uncal), "-o", str(self.out), "--crds-path", str(cache or self.cache),
                *map(str, extra)]


def _image_header(header):
    out = header.copy()
    for key in ("BZERO", "BSCALE", "BITPIX"):
        out.remove(key, ignore_missing=True)
    return out


def _run_uncal(env, path, cache=None, *extra):
    return Invocation(env.run(path, cache, *extra), Path(path).name, [env.out])


# ---------------------------------------------------------------------------
# The file itself
# ---------------------------------------------------------------------------

@case("does not exist")
def missing_file(env):
    return _run_uncal(env, env.dir / "nowhere_uncal.fits")


@case("empty (0 bytes)")
def zero_length(env):
    path = env.dir / "empty_uncal.fits"
    path.write_bytes(b"")
    return _run_uncal(env, path)


@case("truncated")
def truncated_half(env):
    path = env.dir / "half_uncal.fits"
    raw = Path(env.uncal).read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return _run_uncal(env, path)


@case("not a readable FITS file")
def truncated_in_header(env):
    path = env.dir / "head_uncal.fits"
    path.write_bytes(Path(env.uncal).read_bytes()[:1000])
    return _run_uncal(env, path)


@case("not a readable FITS file")
def not_fits_text(env):
    path = env.dir / "text_uncal.fits"
    path.write_text("this is not a FITS file\n" * 200)
    return _run_uncal(env, path)


@case("not a readable FITS file")
def random_bytes(env):
    path = env.dir / "noise_uncal.fits"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    return _run_uncal(env, path)


@case("is a directory")
def directory_as_input(env):
    path = env.dir / "dir_uncal.fits"
    path.mkdir()
    return _run_uncal(env, path)


@case("truncated")
def garbage_after_header(env):
    path = env.dir / "cut_uncal.fits"
    raw = Path(env.uncal).read_bytes()
    path.write_bytes(raw[:2880 * 4 + 100])
    return _run_uncal(env, path)


# ---------------------------------------------------------------------------
# HDUs: types, shapes, dtypes, values
# ---------------------------------------------------------------------------

@case("has no SCI extension")
def no_sci(env):
    return _run_uncal(env, env.bad_uncal(lambda h: h.pop(1)))


@case("extension SCI is not an image")
def sci_is_a_table(env):
    def change(hdul):
        col = fits.Column(name="SCI", format="E", array=np.zeros(4, np.float32))
        hdul[1] = fits.BinTableHDU.from_columns([col], name="SCI")

    return _run_uncal(env, env.bad_uncal(change))


@case("extension SCI is not an image")
def sci_is_a_string_table(env):
    def change(hdul):
        col = fits.Column(name="VALUE", format="10A", array=np.array(["a", "b"]))
        hdul[1] = fits.BinTableHDU.from_columns([col], name="SCI")

    return _run_uncal(env, env.bad_uncal(change))


@case("extension SCI is not an image")
def sci_without_data(env):
    return _run_uncal(env, env.bad_uncal(lambda h: h.__setitem__(1, fits.ImageHDU(name="SCI"))))


@case("dimensions")
def sci_3d(env):
    return _run_uncal(env, env.bad_uncal(
        lambda h: h.__setitem__("SCI", fits.ImageHDU(h["SCI"].data[0], header=_image_header(h["SCI"].header),
                                                     name="SCI"))))


@case("dimensions")
def sci_2d(env):
    return _run_uncal(env, env.bad_uncal(
        lambda h: h.__setitem__("SCI", fits.ImageHDU(h["SCI"].data[0, 0], header=_image_header(h["SCI"].header),
                                                     name="SCI"))))


@case("SCI is 64x128 pixels")
def sci_wrong_width(env):
    return _run_uncal(env, env.bad_uncal(
        lambda h: h.__setitem__("SCI", fits.ImageHDU(h["SCI"].data[..., :64], header=_image_header(h["SCI"].header),
                                                     name="SCI"))))


@case("SCI has 3 groups but NGROUPS=5")
def sci_fewer_groups(env):
    return _run_uncal(env, env.bad_uncal(
        lambda h: h.__setitem__("SCI", fits.ImageHDU(h["SCI"].data[:, :3], header=_image_header(h["SCI"].header),
                                                     name="SCI"))))


@case("SCI has 2 integrations but the header says 1")
def sci_extra_integration(env):
    def change(hdul):
        data = np.concatenate([hdul["SCI"].data] * 2)
        hdul["SCI"] = fits.ImageHDU(data, header=_image_header(hdul["SCI"].header), name="SCI")

    return _run_uncal(env, env.bad_uncal(change))


@case("NaN")
def sci_nan(env):
    return _run_uncal(env, env.float_sci(np.nan))


@case("Inf")
def sci_inf(env):
    return _run_uncal(env, env.float_sci(np.inf))


@case("Inf")
def sci_float64_overflow(env):
    return _run_uncal(env, env.float_sci(1e300, dtype=np.float64))


@case("NaN")
def sci_all_nan(env):
    def change(hdul):
        data = np.full(hdul["SCI"].data.shape, np.nan, np.float32)
        hdul["SCI"] = fits.ImageHDU(data, header=_image_header(hdul["SCI"].header), name="SCI")

    return _run_uncal(env, env.bad_uncal(change))


@case("PIXELDQ has shape (64, 64)")
def pixeldq_wrong_shape(env):
    return _run_uncal(env, env.bad_uncal(
        lambda h: h.append(fits.ImageHDU(np.zeros((64, 64), np.uint32), name="PIXELDQ"))))


@case("GROUPDQ has shape")
def groupdq_wrong_shape(env):
    return _run_uncal(env, env.bad_uncal(
        lambda h: h.append(fits.ImageHDU(np.zeros((1, 2, 128, 128), np.uint8), name="GROUPDQ"))))


@case("extension PIXELDQ is not an image")
def pixeldq_is_a_table(env):
    col = fits.Column(name="DQ", format="J", array=np.zeros(3, np.int32))
    return _run_uncal(env, env.bad_uncal(lambda h: h.append(fits.BinTableHDU.from_columns([col], name="PIXELDQ"))))


# ---------------------------------------------------------------------------
# Keywords: missing, malformed, inconsistent, unknown
# ---------------------------------------------------------------------------

def _keyword_case(name, phrase, xfail=None, **keywords):
    def build(env):
        return _run_uncal(env, env.header(**keywords))

    build.__name__ = name
    case(phrase, xfail)(build)


_keyword_case("no_instrume", "missing required keyword INSTRUME", INSTRUME=None)
_keyword_case("no_detector", "missing required keyword DETECTOR", DETECTOR=None)
_keyword_case("no_exp_type", "missing required keyword EXP_TYPE", EXP_TYPE=None)
_keyword_case("no_ngroups", "missing required keyword NGROUPS", NGROUPS=None)
_keyword_case("no_tframe", "missing required keyword TFRAME", TFRAME=None)
_keyword_case("no_subsize1", "missing required keyword SUBSIZE1", SUBSIZE1=None)
_keyword_case("no_date_obs", "missing required keyword DATE-OBS", **{"DATE-OBS": None})
_keyword_case("ngroups_string", "keyword NGROUPS='five' is not an integer", NGROUPS="five")
_keyword_case("ngroups_float", "keyword NGROUPS=5.5 is not an integer", NGROUPS=5.5)
_keyword_case("nints_bool", "keyword NINTS=True is not an integer", NINTS=True)
_keyword_case("tframe_negative", "keyword TFRAME=-0.182 is not a positive number", TFRAME=-0.182)
_keyword_case("tgroup_zero", "keyword TGROUP=0", TGROUP=0.0)
_keyword_case("tframe_string", "keyword TFRAME='fast' is not a positive number", TFRAME="fast")
_keyword_case("ngroups_mismatch", "SCI has 5 groups but NGROUPS=7", NGROUPS=7)
_keyword_case("subsize_mismatch", "SUBSIZE1 x SUBSIZE2 = 256x128", SUBSIZE1=256)
_keyword_case("nints_mismatch", "integrations but the header says 3", NINTS=3)
_keyword_case("intstart_after_intend", "INTSTART=4 is after INTEND=2", INTSTART=4, INTEND=2)
_keyword_case("intend_string", "INTEND='last' is not an integration number", INTEND="last")
_keyword_case("unknown_instrument", "unknown instrument INSTRUME='WFC3'", INSTRUME="WFC3")
_keyword_case("instrument_lower_garbage", "unknown instrument", INSTRUME="niriss2")
_keyword_case("unknown_exp_type", "unknown EXP_TYPE='NIS_BOGUS'", EXP_TYPE="NIS_BOGUS")
_keyword_case("exp_type_of_another_instrument", "is not an exposure type of NIRISS", EXP_TYPE="NRC_IMAGE")
_keyword_case("unknown_detector", "DETECTOR", DETECTOR="NRCZ9")
_keyword_case("unknown_subarray", "SUBARRAY", SUBARRAY="SUBWHAT")
_keyword_case("malformed_date_obs", "DATE-OBS='yesterday'", **{"DATE-OBS": "yesterday"})
_keyword_case("malformed_time_obs", "TIME-OBS='noon'", **{"TIME-OBS": "noon"})
_keyword_case("subarray_start_zero", "SUBSTRT1=0 must be 1 or more", SUBSTRT1=0)
_keyword_case("ngroups_zero", "NGROUPS=0 must be 1 or more", NGROUPS=0)
_keyword_case("groupgap_negative", "GROUPGAP=-1 must not be negative", GROUPGAP=-1)


@case("is not inside it")
def subarray_outside_reference(env):
    # the subarray starts beyond the reference files' 128x128 pixels: named by the first reference cut
    return _run_uncal(env, env.header(SUBSTRT1=2000)).naming(Path(env.refs["mask"]).name)


# ---------------------------------------------------------------------------
# Reference files and the CRDS cache
# ---------------------------------------------------------------------------

@case("is missing from the cache")
def reference_missing(env):
    cache, ref = env.ref_in_copy("dark")
    ref.unlink()
    return _run_uncal(env, env.uncal, cache).naming(ref.name)


@case("reference file is empty (0 bytes)")
def reference_zero_length(env):
    cache, ref = env.ref_in_copy("gain")
    ref.write_bytes(b"")
    return _run_uncal(env, env.uncal, cache).naming(ref.name)


@case("reference file is not readable FITS")
def reference_truncated(env):
    cache, ref = env.ref_in_copy("superbias")
    raw = ref.read_bytes()
    ref.write_bytes(raw[: len(raw) // 2])
    return _run_uncal(env, env.uncal, cache).naming(ref.name)


@case("reference file is not readable FITS")
def reference_not_fits(env):
    cache, ref = env.ref_in_copy("readnoise")
    ref.write_text("SIMPLE = nonsense\n" * 100)
    return _run_uncal(env, env.uncal, cache).naming(ref.name)


@case("is not inside it")
def reference_wrong_shape(env):
    cache, ref = env.bad_ref("gain", lambda h: h.__setitem__("SCI", fits.ImageHDU(h["SCI"].data[:64, :64],
                                                                                    name="SCI")))
    return _run_uncal(env, env.uncal, cache).naming(ref.name)


@case("has no SCI extension")
def reference_without_sci(env):
    cache, ref = env.bad_ref("readnoise", lambda h: h.pop(1))
    return _run_uncal(env, env.uncal, cache).naming(ref.name)


@case("COEFFS")
def reference_linearity_2d_coeffs(env):
    cache, ref = env.bad_ref("linearity", lambda h: h.__setitem__(
        "COEFFS", fits.ImageHDU(h["COEFFS"].data[0], name="COEFFS")))
    return _run_uncal(env, env.uncal, cache).naming(ref.name)


@case("SCI")
def reference_dark_wrong_dims(env):
    cache, ref = env.bad_ref("dark", lambda h: h.__setitem__("SCI", fits.ImageHDU(h["SCI"].data[0], name="SCI")))
    return _run_uncal(env, env.uncal, cache).naming(ref.name)


@case("SCI")
def reference_sci_is_a_table(env):
    col = fits.Column(name="SCI", format="E", array=np.zeros(3, np.float32))
    cache, ref = env.bad_ref("saturation", lambda h: h.__setitem__(
        "SCI", fits.BinTableHDU.from_columns([col], name="SCI")))
    return _run_uncal(env, env.uncal, cache).naming(ref.name)


@case("rmap")
def mapping_corrupt(env):
    cache = env.copy_cache()
    rmap = cache / "mappings" / "jwst" / "jwst_niriss_dark_0001.rmap"
    rmap.write_text("header = {\n  'name' : broken\n")
    return Invocation(env.run(env.uncal, cache), rmap.name, [env.out])


@case("not in the CRDS cache")
def context_missing(env):
    cache = env.copy_cache()
    return Invocation(env.run(env.uncal, cache, "--context", "jwst_9999.pmap"), "jwst_9999.pmap", [env.out])


@case("CRDS cache does not exist")
def cache_missing(env):
    missing = env.dir / "no_cache"
    return Invocation(env.run(env.uncal, missing), missing.name, [env.out])


@case("does not exist")
def override_missing(env):
    return Invocation(env.run(env.uncal, None, "--override", f"dark={env.dir / 'my_dark.fits'}"), "my_dark.fits",
                      [env.out])


@case("reference file is not readable FITS")
def override_not_fits(env):
    path = env.dir / "my_gain.fits"
    path.write_text("gain!\n")
    return Invocation(env.run(env.uncal, None, "--override", f"gain={path}"), path.name, [env.out])


# ---------------------------------------------------------------------------
# Config files
# ---------------------------------------------------------------------------

@case("config file does not exist")
def config_missing(env):
    path = env.dir / "absent.yaml"
    return Invocation(env.run(env.uncal, None, "--config", path), path.name, [env.out])


@case("config is not valid YAML")
def config_not_yaml(env):
    path = env.dir / "broken.yaml"
    path.write_text("detector1: {steps: [unclosed\n")
    return Invocation(env.run(env.uncal, None, "--config", path), path.name, [env.out])


@case("config must be a mapping")
def config_a_list(env):
    path = env.dir / "list.yaml"
    path.write_text("- a\n- b\n")
    return Invocation(env.run(env.uncal, None, "--config", path), path.name, [env.out])


@case("rejection_threshold")
def config_bad_parameter_type(env):
    path = env.dir / "badparam.yaml"
    path.write_text(yaml.safe_dump({"detector1": {"steps": {"jump": {"rejection_threshold": "high"}}}}))
    return Invocation(env.run(env.uncal, None, "--config", path), path.name, [env.out])


@case("no_such_module")
def config_callable_missing(env):
    path = env.dir / "callable.yaml"
    path.write_text(yaml.safe_dump({"detector1": {"steps": {"ipc": {"callable": "no_such_module:run"}}}}))
    return Invocation(env.run(env.uncal, None, "--config", path), path.name, [env.out])


# ---------------------------------------------------------------------------
# The step command on ramps and rates
# ---------------------------------------------------------------------------

def _step(env, name, path, *extra):
    out = env.out / "x_ramp.fits"
    return Invocation(["step", name, str(path), "-o", str(out), "--crds-path", str(env.cache), *map(str, extra)],
                      Path(path).name, [env.out])


@case("NaN")
def ramp_with_nan(env):
    def change(hdul):
        hdul["SCI"].data[0, 1, 5:9, 5:9] = np.nan

    return _step(env, "jump", env.bad_uncal(change, name="nan_ramp.fits", source=env.ramp))


@case("Inf")
def ramp_with_inf(env):
    def change(hdul):
        hdul["SCI"].data[0, 3, 50, 50] = -np.inf

    return _step(env, "linearity", env.bad_uncal(change, name="inf_ramp.fits", source=env.ramp))


@case("GROUPDQ has shape")
def ramp_groupdq_wrong_shape(env):
    def change(hdul):
        hdul["GROUPDQ"] = fits.ImageHDU(hdul["GROUPDQ"].data[:, :2], name="GROUPDQ")

    return _step(env, "jump", env.bad_uncal(change, name="gdq_ramp.fits", source=env.ramp))


@case("needs a ramp")
def rate_given_to_a_ramp_step(env):
    return _step(env, "jump", env.rate)


@case("unknown step 'jumpp'")
def unknown_step(env):
    inv = _step(env, "jumpp", env.ramp)
    inv.file = "jumpp"
    return inv


# ---------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------

@case("output directory is not writable")
def read_only_output_dir(env):
    env.out.mkdir()
    restore = read_only(env.out)
    inv = _run_uncal(env, env.uncal)
    inv.file = env.out.name
    inv.cleanup = restore
    return inv


@case("not a directory")
def output_dir_is_a_file(env):
    env.out.write_text("I am a file\n")
    inv = _run_uncal(env, env.uncal)
    inv.file = env.out.name
    inv.outputs = [env.dir]
    return inv


@case("output directory is not writable")
def read_only_output_dir_step(env):
    env.out.mkdir()
    restore = read_only(env.out)
    inv = _step(env, "dq_init", env.uncal)
    inv.file = env.out.name
    inv.cleanup = restore
    return inv


@case("", must_succeed=True)
def read_only_crds_cache(env):
    """Must succeed: the cache is read-only, but reading it is all we need."""
    cache = env.copy_cache()
    restore = read_only(cache, recursive=True)
    inv = Invocation(["refs", "select", str(env.uncal), "--crds-path", str(cache)], "", [])
    inv.cleanup = restore
    return inv


# ---------------------------------------------------------------------------
# Pools and associations
# ---------------------------------------------------------------------------

def _asn(env, pool, *extra):
    return Invocation(["asn", "generate", str(pool), "-o", str(env.out), *map(str, extra)], Path(pool).name,
                      [env.out])


@case("the pool is empty")
def pool_empty(env):
    path = env.dir / "empty_pool.csv"
    path.write_text("")
    return _asn(env, path)


@case("the pool has no exposures")
def pool_header_only(env):
    path = env.dir / "header_pool.csv"
    path.write_text(Path(env.pool).read_text().splitlines()[0] + "\n")
    return _asn(env, path)


@case("the pool has no FILENAME column")
def pool_no_filename(env):
    lines = Path(env.pool).read_text().splitlines()
    path = env.dir / "nofilename_pool.csv"
    path.write_text("\n".join(line.split("|", 1)[1] for line in lines) + "\n")
    return _asn(env, path)


@case("repeats the column name")
def pool_duplicate_column(env):
    lines = Path(env.pool).read_text().splitlines()
    path = env.dir / "dup_pool.csv"
    path.write_text("\n".join(line + "|" + line.split("|")[11] for line in lines) + "\n")
    return _asn(env, path)


@case("1 malformed row(s)")
def pool_malformed_row_strict(env):
    lines = Path(env.pool).read_text().splitlines()
    path = env.dir / "malformed_pool.csv"
    path.write_text("\n".join([*lines, "jw_bad_uncal.fits|x|y"]) + "\n")
    return _asn(env, path, "--strict")


@case("cannot read the pool")
def pool_binary(env):
    path = env.dir / "binary_pool.csv"
    path.write_bytes(bytes(range(128, 256)) * 10)
    return _asn(env, path)


@case("cannot read the pool")
def pool_missing(env):
    return _asn(env, env.dir / "absent_pool.csv")


@case("cannot read the pool")
def pool_is_a_directory(env):
    path = env.dir / "dir_pool.csv"
    path.mkdir()
    return _asn(env, path)


@case("no row of the pool has a FILENAME")
def pool_no_filenames(env):
    lines = Path(env.pool).read_text().splitlines()
    path = env.dir / "nameless_pool.csv"
    path.write_text("\n".join([lines[0], *("NULL|" + line.split("|", 1)[1] for line in lines[1:])]) + "\n")
    return _asn(env, path)


@case("no such file")
def mkpool_missing_exposure(env):
    missing = env.dir / "jw_gone_uncal.fits"
    return Invocation(["asn", "pool", str(missing), "-o", str(env.out / "pool.csv")], missing.name, [env.out])


@case("cannot read the FITS header")
def mkpool_corrupt_exposure(env):
    path = env.dir / "junk_uncal.fits"
    path.write_text("junk\n" * 100)
    return Invocation(["asn", "pool", str(path), "-o", str(env.out / "pool.csv")], path.name, [env.out])


# ---------------------------------------------------------------------------
# Stage 2 imaging: rate files, their references, backgrounds, associations
# ---------------------------------------------------------------------------

def _image2(env, rate, cache=None, *extra):
    return Invocation(["run", "image2", str(rate), "-o", str(env.out), "--crds-path", str(cache or env.image_cache),
                       *map(str, extra)], Path(rate).name, [env.out])


def _rate_named(env, name):
    return env.dir / f"{name}_rate.fits"


@case("", must_succeed=True)
def image2_good_rate(env):
    """Must succeed: the control, the good rate every image2 case below spoils in one way."""
    return _image2(env, env.image_rate, None, "--background", env.image_rate)


@case("does not exist")
def image2_rate_missing(env):
    return _image2(env, _rate_named(env, "nowhere"))


@case("empty (0 bytes)")
def image2_rate_zero_length(env):
    path = _rate_named(env, "empty")
    path.write_bytes(b"")
    return _image2(env, path)


@case("truncated")
def image2_rate_truncated(env):
    path = _rate_named(env, "half")
    raw = Path(env.image_rate).read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return _image2(env, path)


@case("not a readable FITS file")
def image2_rate_not_fits(env):
    path = _rate_named(env, "text")
    path.write_text("a rate file, honest\n" * 300)
    return _image2(env, path)


@case("SCI has 3 dimensions")
def image2_rate_3d_sci(env):
    def change(hdul):
        for name in ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE"):
            hdul[name] = fits.ImageHDU(np.stack([hdul[name].data] * 2), header=_image_header(hdul[name].header),
                                       name=name)

    return _image2(env, env.bad_uncal(change, name=_rate_named(env, "cube").name, source=env.image_rate))


@case("image2 needs a rate")
def image2_given_an_uncal(env):
    return _image2(env, env.image_uncal)


@case("image2 needs a rate")
def image2_given_a_ramp(env):
    return _image2(env, env.bad_uncal(lambda h: None, name="x_ramp.fits", source=env.ramp))


def _bad_rate(env, change, name):
    return env.bad_uncal(change, name=_rate_named(env, name).name, source=env.image_rate)


def _sci_keywords(**keywords):
    def change(hdul):
        for key, value in keywords.items():
            if value is None:
                hdul["SCI"].header.remove(key)
            else:
                hdul["SCI"].header[key] = value

    return change


@case("has no RA_REF keyword")
def image2_no_ra_ref(env):
    return _image2(env, _bad_rate(env, _sci_keywords(RA_REF=None), "nora"))


@case("has no V2_REF keyword")
def image2_no_v2_ref(env):
    return _image2(env, _bad_rate(env, _sci_keywords(V2_REF=None), "nov2"))


@case("keyword ROLL_REF='sideways' is not a number")
def image2_roll_ref_text(env):
    return _image2(env, _bad_rate(env, _sci_keywords(ROLL_REF="sideways"), "roll"))


@case("DEC_REF=123.0 is outside -90..90")
def image2_dec_ref_out_of_range(env):
    return _image2(env, _bad_rate(env, _sci_keywords(DEC_REF=123.0), "dec"))


@case("EXP_TYPE=NRC_TSGRISM is not an imaging exposure type")
def image2_grism_exposure(env):
    return _image2(env, _bad_rate(env, lambda h: h[0].header.__setitem__("EXP_TYPE", "NRC_TSGRISM"), "grism"))


@case("unknown EXP_TYPE='NRC_BOGUS'")
def image2_made_up_exp_type(env):
    return _image2(env, _bad_rate(env, lambda h: h[0].header.__setitem__("EXP_TYPE", "NRC_BOGUS"), "bogus"))


def _image_ref(env, reftype):
    cache = env.dir / "crds_cache"
    shutil.copytree(env.image_cache, cache)
    return cache, cache / Path(env.image_refs[reftype]).relative_to(env.image_cache)


def _bad_image_ref(env, reftype, change):
    cache, ref = _image_ref(env, reftype)
    with fits.open(ref) as hdul:
        copy = fits.HDUList([hdu.copy() for hdu in hdul])
    change(copy)
    ref.unlink()
    copy.writeto(ref, output_verify="silentfix")
    return cache, ref


@case("PHOTOM table has no row for FILTER=F150W")
def image2_filter_without_photom_row(env):
    def change(hdul):
        table = hdul["PHOTOM"].data
        hdul["PHOTOM"] = fits.BinTableHDU(table[np.char.strip(table["filter"]) != "F150W"], name="PHOTOM")

    cache, ref = _bad_image_ref(env, "photom", change)
    return _image2(env, env.image_rate, cache).naming(ref.name)


@case("is not a readable ASDF distortion reference file")
def image2_distortion_corrupt(env):
    cache, ref = _image_ref(env, "distortion")
    raw = ref.read_bytes()
    ref.write_bytes(raw[: len(raw) // 3])
    return _image2(env, env.image_rate, cache).naming(ref.name)


@case("is not a readable ASDF distortion reference file")
def image2_distortion_is_fits(env):
    cache, ref = _image_ref(env, "distortion")
    ref.write_bytes(Path(env.image_refs["flat"]).read_bytes())
    return _image2(env, env.image_rate, cache).naming(ref.name)


@case("is not a readable ASDF filteroffset reference file")
def image2_filteroffset_empty(env):
    cache, ref = _image_ref(env, "filteroffset")
    ref.write_bytes(b"")
    return _image2(env, env.image_rate, cache).naming(ref.name)


@case("is not inside it")
def image2_flat_wrong_shape(env):
    cache, ref = _bad_image_ref(env, "flat", lambda h: h.__setitem__(
        "SCI", fits.ImageHDU(h["SCI"].data[:64, :64], header=h["SCI"].header, name="SCI")))
    return _image2(env, env.image_rate, cache).naming(ref.name)


@case("is missing from the cache")
def image2_flat_missing(env):
    cache, ref = _image_ref(env, "flat")
    ref.unlink()
    return _image2(env, env.image_rate, cache).naming(ref.name)


@case("truncated")
def image2_photom_truncated(env):
    cache, ref = _image_ref(env, "photom")
    raw = ref.read_bytes()
    ref.write_bytes(raw[:-1000])  # inside the table's data
    return _image2(env, env.image_rate, cache).naming(ref.name)


@case("truncated")
def image2_photom_cut_in_a_header(env):
    cache, ref = _image_ref(env, "photom")
    raw = ref.read_bytes()
    ref.write_bytes(raw[: 2880 + 1440])  # the primary HDU and half of the PHOTOM header
    return _image2(env, env.image_rate, cache).naming(ref.name)


@case("SCI is 160x160 pixels but SUBSIZE1 x SUBSIZE2 = 200x160")
def image2_rate_subsize_mismatch(env):
    return _image2(env, _bad_rate(env, lambda h: h[0].header.__setitem__("SUBSIZE1", 200), "subsize"))


@case("is already calibrated")
def image2_given_a_cal(env):
    return _image2(env, env.image_cal)


@case("is not inside it")
def image2_area_wrong_shape(env):
    cache, ref = _bad_image_ref(env, "area", lambda h: h.__setitem__(
        "SCI", fits.ImageHDU(h["SCI"].data[:80], header=h["SCI"].header, name="SCI")))
    return _image2(env, env.image_rate, cache).naming(ref.name)


@case("does not exist")
def image2_background_missing(env):
    missing = _rate_named(env, "nobkg")
    return _image2(env, env.image_rate, None, "--background", missing).naming(missing.name)


@case("SCI is 160x64 pixels but SUBSIZE1 x SUBSIZE2 = 160x160")
def image2_background_other_shape(env):
    def change(hdul):
        for name in ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE"):
            hdul[name] = fits.ImageHDU(hdul[name].data[:64], header=_image_header(hdul[name].header), name=name)

    bkg = _bad_rate(env, change, "short")
    return _image2(env, env.image_rate, None, "--background", bkg).naming(bkg.name)


@case("background exposure has FILTER=F200W")
def image2_background_other_filter(env):
    bkg = _bad_rate(env, lambda h: h[0].header.__setitem__("FILTER", "F200W"), "f200w")
    return _image2(env, env.image_rate, None, "--background", bkg).naming(bkg.name)


@case("not a readable FITS file")
def image2_background_not_fits(env):
    bkg = _rate_named(env, "junkbkg")
    bkg.write_text("sky\n" * 500)
    return _image2(env, env.image_rate, None, "--background", bkg).naming(bkg.name)


def _asn_with(env, members, name="image2_asn.json"):
    path = env.dir / name
    path.write_text(json.dumps({"asn_type": "image2", "asn_pool": "pool.csv", "products": [
        {"name": "x", "members": [{"expname": Path(env.image_rate).name, "exptype": "science"}, *members]}]}))
    return path


@case("not a readable association")
def image2_asn_not_json(env):
    path = env.dir / "broken_asn.json"
    path.write_text('{"products": [')
    return _image2(env, env.image_rate, None, "--asn", path).naming(path.name)


@case("does not exist")
def image2_asn_member_missing(env):
    asn = _asn_with(env, [{"expname": "jw_gone_rate.fits", "exptype": "background"}])
    return _image2(env, env.image_rate, None, "--asn", asn).naming("jw_gone_rate.fits")


@case("has no product with science member")
def image2_asn_without_the_science(env):
    path = env.dir / "other_asn.json"
    path.write_text(json.dumps({"products": [{"name": "x", "members": [
        {"expname": "jw_other_rate.fits", "exptype": "science"}]}]}))
    return _image2(env, env.image_rate, None, "--asn", path).naming(path.name)


@case("needs a 'products' list")
def image2_asn_a_list(env):
    path = env.dir / "list_asn.json"
    path.write_text("[1, 2, 3]\n")
    return _image2(env, env.image_rate, None, "--asn", path).naming(path.name)


@case("output directory is not writable")
def image2_read_only_output_dir(env):
    env.out.mkdir()
    restore = read_only(env.out)
    inv = _image2(env, env.image_rate).naming(env.out.name)
    inv.cleanup = restore
    return inv


# ---------------------------------------------------------------------------
# The machinery
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """One small NIRISS exposure, its CRDS cache, a ramp and a rate made from it; the image2 inputs."""
    from webbflow.simulate import simulate_program

    root = tmp_path_factory.mktemp("badinput")
    summary = simulate_program(root / "sim", seed=11, instruments=["NIRISS"], full_frame_refs=False)
    uncal = Path(summary["uncal"][0])
    cache = Path(summary["crds_cache"])
    # a float32 _ramp file and a 2-D rate file for the step cases, made in memory
    from webbflow.datamodels import ImageModel, RampModel

    ramp_model = RampModel.read(uncal)
    ramp = root / "good_ramp.fits"
    ramp_model.save(ramp)
    rate = root / "good_rate.fits"
    ImageModel(meta=ramp_model.meta.copy(), data=ramp_model.data[0, -1]).save(rate)
    refs = summary["references"][uncal.name]
    return {"root": root, "uncal": uncal, "cache": cache, "refs": refs, "pool": Path(summary["pool"]),
            "ramp": ramp, "rate": rate, **_imaging(root)}


def _imaging(root):
    """One NIRCam imaging exposure, its cache (with the image2 references) and its rate, for image2."""
    from webbflow.pipelines import detector1, image2
    from webbflow.simulate import simulate_program
    from webbflow.simulate.imaging import imaging_program

    exposure = imaging_program(instruments=["NIRCAM"])[0]
    summary = simulate_program(root / "imaging", seed=11, program="imaging", exposures=[exposure],
                               full_frame_refs=False)
    uncal = Path(summary["uncal"][0])
    refs = summary["references"][uncal.name]  # what CRDS selects from this cache (the simulator's rules)
    rate = root / "imaging" / uncal.name.replace("_uncal", "_rate")
    detector1.run_file(str(uncal), str(rate), str(root / "imaging" / "unused_rateints.fits"), refs, {},
                       summary["context"])
    cal = root / "imaging" / uncal.name.replace("_uncal", "_cal")
    image2.run_file(str(rate), str(cal), refs, {"steps": {"assign_wcs": {"sip_approx": False}}}, summary["context"])
    return {"image_uncal": uncal, "image_rate": rate, "image_cal": cal, "image_cache": Path(summary["crds_cache"]),
            "image_refs": refs}


def _execute(args):
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("CRDS_"):
            env.pop(key)
    return subprocess.run([WEBBFLOW, *args], capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def outcomes(sim):
    """Build every case, then run them all (two at a time); {name: (invocation, result)}."""
    invocations = {}
    for item in CASES:
        directory = sim["root"] / "cases" / item.name
        directory.mkdir(parents=True)
        invocations[item.name] = item.build(Env(sim, directory))
    jobs = sim["root"] / "jobs.json"
    jobs.write_text(json.dumps([{"name": name, "args": inv.args} for name, inv in invocations.items()]))
    found = sim["root"] / "results.json"
    try:
        done = subprocess.run([sys.executable, str(BATCH), str(jobs), str(found), "2"], capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        raw = json.loads(found.read_text())
        results = {name: (invocations[name], subprocess.CompletedProcess(inv.args, raw[name]["returncode"],
                                                                         raw[name]["stdout"], raw[name]["stderr"]))
                   for name, inv in invocations.items()}
        yield results
    finally:
        for inv in invocations.values():
            if inv.cleanup:
                inv.cleanup()


def _params():
    params = []
    for item in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=item.xfail)] if item.xfail else []
        params.append(pytest.param(item, id=item.name, marks=marks))
    return params


def test_the_corpus_is_large_enough():
    assert len({item.name for item in CASES}) == len(CASES) >= 50


PRODUCT_PATTERNS = ("*_rate*.fits", "*_ramp.fits", "*_cal*.fits", "*_asn.json", "*.csv", ".tmp_*")


@pytest.mark.parametrize("item", _params())
def test_bad_input_gives_one_clear_line(item, outcomes):
    inv, result = outcomes[item.name]
    stderr = result.stderr
    if item.must_succeed:
        assert result.returncode == 0, stderr[-3000:]
        return
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert lines, f"nothing on stderr (exit {result.returncode}); stdout: {result.stdout[-500:]}"
    last = lines[-1]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert last.startswith("webbflow: error:"), last
    assert inv.file in last, f"{inv.file!r} not in {last!r}"
    assert item.phrase in last, f"{item.phrase!r} not in {last!r}"
    assert result.returncode == 1, last
    leftovers = [str(p) for directory in inv.outputs if directory.is_dir()
                 for pattern in PRODUCT_PATTERNS for p in directory.rglob(pattern)]
    assert leftovers == [], leftovers


@pytest.mark.parametrize("name", ["zero_length", "sci_nan", "no_ngroups", "pool_empty", "image2_roll_ref_text"])
def test_the_real_command_agrees_with_the_batch(name, outcomes):
    """The batch runs ``webbflow.cli.main`` in forked processes; the installed command gives the same line."""
    inv, batch = outcomes[name]
    real = _execute(inv.args)
    assert real.returncode == batch.returncode == 1
    assert real.stderr.strip().splitlines()[-1] == batch.stderr.strip().splitlines()[-1]
    assert "Traceback" not in real.stderr


def test_debug_shows_the_traceback(sim, tmp_path):
    path = tmp_path / "empty_uncal.fits"
    path.write_bytes(b"")
    result = _execute(["--debug", "run", "detector1", str(path), "-o", str(tmp_path / "out"),
                       "--crds-path", str(sim["cache"])])
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "empty (0 bytes)" in result.stderr


def test_read_only_helper_really_refuses_writes(tmp_path):
    restore = read_only(tmp_path / "ro", create=True)
    try:
        assert writes_are_refused(tmp_path / "ro")
    finally:
        restore()
