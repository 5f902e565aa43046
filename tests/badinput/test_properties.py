"""Property-based tests: header parsing and the pool reader never fail in any other way than InputError."""

import io
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.datamodels.ramp_maker import ramp_model
from webbflow.associations import read_pool
from webbflow.associations.pool import REQUIRED_COLUMNS
from webbflow.datamodels import RampModel
from webbflow.datamodels.ramp import RAMP_KEYWORDS
from webbflow.errors import InputError

NAME = "jw_property_uncal.fits"

# -- header parsing -----------------------------------------------------------

KEYWORDS = (*RAMP_KEYWORDS, "INTSTART", "INTEND", "TSAMPLE")

# values a FITS header can hold (astropy refuses NaN/Inf and non-ASCII text)
header_values = st.one_of(
    st.none(),  # the keyword is removed
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.integers(min_value=-3, max_value=300),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
    st.sampled_from(["NIRISS", "nircam", "NRC_IMAGE", "NIS_IMAGE", "FULL", "2024-13-45", "24:00:00", "", " "]),
)


@pytest.fixture(scope="module")
def good_ramp():
    return ramp_model(nints=1, ngroups=3, ny=8, nx=10)


def _roundtrip(model, changes):
    header = model.meta.copy()
    for key, value in changes.items():
        if value is None:
            header.remove(key, ignore_missing=True)
        else:
            header[key] = value
    changed = RampModel(meta=header, data=model.data, int_times=model.int_times)
    buffer = io.BytesIO()
    changed.to_hdulist().writeto(buffer, output_verify="silentfix")
    buffer.seek(0)
    return buffer


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(st.sampled_from(KEYWORDS), header_values, min_size=1, max_size=4))
def test_header_values_are_accepted_or_named(good_ramp, changes):
    buffer = _roundtrip(good_ramp, changes)
    with fits.open(buffer) as hdul:
        try:
            model = RampModel.from_hdulist(hdul, NAME)
        except InputError as exc:
            assert str(exc).startswith(f"{NAME}: "), str(exc)
            assert exc.problem.strip()
            return
    # accepted: the header is consistent with the data
    assert model.meta["NGROUPS"] == model.data.shape[1]
    assert (model.meta["SUBSIZE2"], model.meta["SUBSIZE1"]) == model.data.shape[2:]
    assert str(model.meta["INSTRUME"]).strip().upper() in ("NIRCAM", "NIRISS", "NIRSPEC", "MIRI", "FGS")
    assert model.meta["TFRAME"] > 0 and model.meta["TGROUP"] > 0


@pytest.fixture(scope="module")
def good_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("prop") / NAME
    ramp_model(nints=1, ngroups=3, ny=8, nx=10).save_uncal(path)
    return path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_bytes_are_read_or_named(good_file, data):
    """Overwrite or cut random bytes of a good uncal file: read it, or one InputError naming it."""
    raw = bytearray(good_file.read_bytes())
    action = data.draw(st.sampled_from(["overwrite", "cut", "header"]))
    if action == "cut":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:
        limit = 2880 if action == "header" else len(raw)
        start = data.draw(st.integers(0, limit - 1))
        chunk = data.draw(st.binary(min_size=1, max_size=80))
        raw[start:start + len(chunk)] = chunk
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / NAME
        path.write_bytes(bytes(raw))
        try:
            model = RampModel.read(path)
        except InputError as exc:
            assert str(exc).startswith(f"{path}: "), str(exc)
            return
    assert model.data.ndim == 4


# -- the pool reader ------------------------------------------------------------

cells = st.one_of(
    st.sampled_from(["", "null", "NULL", "jw_0001_uncal.fits", "NIS_IMAGE", "01234", "[('o001', 'observation')]",
                     '"', '"quoted|cell"', "#", " ", "\t", "a,b"]),
    st.text(max_size=12),
)
rows = st.lists(st.lists(cells, min_size=0, max_size=6), min_size=0, max_size=6)
headers = st.lists(st.sampled_from(["FILENAME", "EXP_TYPE", "PROGRAM", "filename", "OBS_NUM", "ASN_CANDIDATE",
                                    "", "X", "#c"]), min_size=0, max_size=6)


def _check_pool(text, strict):
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "prop_pool.csv"
        with open(path, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        try:
            pool = read_pool(path, strict=strict)
        except InputError as exc:
            assert str(exc).startswith(f"{path}: "), str(exc)
            return
    assert isinstance(pool, pd.DataFrame)
    assert len(pool) > 0
    for column in REQUIRED_COLUMNS:
        assert column in pool.columns
    for column in pool.columns:
        assert column == column.lower()
        for value in pool[column]:
            assert isinstance(value, str) and value == value.lower() and value


@settings(max_examples=200, deadline=None)
@given(header=headers, body=rows, strict=st.booleans(), sep=st.sampled_from(["\n", "\r\n"]))
def test_pool_tables_are_read_or_named(header, body, strict, sep):
    lines = ["|".join(header), *("|".join(row) for row in body)]
    _check_pool(sep.join(lines) + sep, strict)


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("|\n\r\"#, abcFILENAMEXPTYPROGRAM_\x0b\x1c\u2028é")), max_size=200),
       strict=st.booleans())
def test_any_text_is_read_or_named(text, strict):
    _check_pool(text, strict)


def test_pool_reader_is_not_fooled_by_a_quote_across_lines(tmp_path):
    """A stray double quote must not swallow the next lines."""
    path = tmp_path / "quote_pool.csv"
    path.write_text('FILENAME|EXP_TYPE|PROGRAM\n"jw_1_uncal.fits|nis_image|1\njw_2_uncal.fits|nis_image|1\n')
    try:
        pool = read_pool(path)
    except InputError as exc:
        assert str(exc).startswith(str(path))
    else:
        assert "jw_2_uncal.fits" in list(pool["filename"])

