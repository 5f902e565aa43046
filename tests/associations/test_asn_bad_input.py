"""Bad pools give a clear error, or a warning that names what is left out."""

import logging

import pandas as pd
import pytest

from webbflow.associations import generate, pool_from_records, read_pool
from webbflow.errors import InputError

HEADER = "filename|program|obs_num|exp_type|instrume|detector|targetid|pntgtype|filter|pupil|subarray|asn_candidate"


def _row(n, exp_type="mir_image", candidate="[('o001', 'observation')]"):
    return f"jw_{n:05d}_uncal.fits|99009|1|{exp_type}|miri|mirimage|1|science|f560w|null|full|{candidate}"


def _write(tmp_path, lines, name="pool.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_good_pool(tmp_path):
    asns = generate(read_pool(_write(tmp_path, [HEADER, _row(1), _row(2)])))
    assert sorted(a.asn_type for a in asns) == ["image2", "image2", "image3"]


def test_malformed_row_is_left_out_with_a_warning(tmp_path, caplog):
    lines = ["# a comment", HEADER, _row(1), "jw_00002_uncal.fits|99009|1|mir_image", _row(3)]
    with caplog.at_level(logging.WARNING, logger="webbflow.associations"):
        pool = read_pool(_write(tmp_path, lines))
    assert list(pool["filename"]) == ["jw_00001_uncal.fits", "jw_00003_uncal.fits"]
    assert "1 malformed row(s): line 4 (4 fields, 12 expected)" in caplog.text
    assert "left out" in caplog.text


def test_malformed_row_strict_is_an_error(tmp_path):
    path = _write(tmp_path, [HEADER, _row(1), "jw_00002_uncal.fits|99009"])
    with pytest.raises(InputError, match=r"pool\.csv: 1 malformed row\(s\): line 3"):
        read_pool(path, strict=True)


@pytest.mark.parametrize("lines", [[], ["# only a comment"], [HEADER]], ids=["empty", "comments", "header-only"])
def test_empty_pool_is_an_error(tmp_path, lines):
    with pytest.raises(InputError, match="pool.csv: the pool (is empty|has no exposures)"):
        read_pool(_write(tmp_path, lines))


def test_empty_frame_is_an_error():
    with pytest.raises(InputError, match="no exposures"):
        generate(pd.DataFrame({"filename": [], "exp_type": [], "program": []}))


def test_missing_required_column_is_an_error(tmp_path):
    header = HEADER.replace("exp_type|", "")
    row = _row(1).replace("mir_image|", "")
    with pytest.raises(InputError, match="pool.csv: the pool has no EXP_TYPE column"):
        read_pool(_write(tmp_path, [header, row]))


def test_missing_optional_column_is_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="webbflow.associations"):
        read_pool(_write(tmp_path, [HEADER, _row(1)]))
    assert "column(s) absent, treated as empty in every row" in caplog.text
    assert "BKGDTARG" in caplog.text


def test_missing_candidate_column_warns_and_only_discovers(tmp_path, caplog):
    header = HEADER.rsplit("|", 1)[0]
    rows = [_row(n).rsplit("|", 1)[0] for n in (1, 2)]
    with caplog.at_level(logging.WARNING, logger="webbflow.associations"):
        asns = generate(read_pool(_write(tmp_path, [header, *rows])))
    assert "no ASN_CANDIDATE column" in caplog.text
    assert [(a.asn_id, a.asn_rule) for a in asns] == [("a3001", "discover_Asn_Lv3Image")]


def test_unknown_exp_type_is_listed(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="webbflow.associations"):
        asns = generate(read_pool(_write(tmp_path, [HEADER, _row(1), _row(2, exp_type="mir_imaging")])))
    assert "1 row(s) with an EXP_TYPE unknown to JWST match no rule: jw_00002_uncal.fits (EXP_TYPE mir_imaging)" \
        in caplog.text
    members = {m.expname for a in asns for m in a.product.members}
    assert not any("00002" in name for name in members)


def test_unreadable_candidate_is_listed(tmp_path, caplog):
    lines = [HEADER, _row(1), _row(2, candidate="[('o001', 'observation'")]
    with caplog.at_level(logging.WARNING, logger="webbflow.associations"):
        generate(read_pool(_write(tmp_path, lines)))
    assert "unreadable ASN_CANDIDATE" in caplog.text
    assert "jw_00002_uncal.fits" in caplog.text


def test_row_without_filename_is_left_out(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="webbflow.associations"):
        pool = read_pool(_write(tmp_path, [HEADER, _row(1), "null" + _row(2)[19:]]))
    assert len(pool) == 1
    assert "without a FILENAME are left out" in caplog.text


def test_unreadable_file_is_an_error(tmp_path):
    with pytest.raises(InputError, match="cannot read the pool"):
        read_pool(tmp_path / "absent.csv")


def test_values_are_lower_cased_and_empty_cells_null(tmp_path):
    pool = read_pool(_write(tmp_path, [HEADER.upper(), _row(1).upper().replace("NULL", "")]))
    assert pool.at[0, "exp_type"] == "mir_image"
    assert pool.at[0, "pupil"] == "null"
    assert pool.attrs["pool_name"] == "pool.csv"


def test_in_memory_pool():
    records = [dict(zip(HEADER.split("|"), _row(n).split("|"), strict=True)) for n in (1, 2)]
    asns = generate(pool_from_records(records, name="mine.csv"))
    assert {a.pool for a in asns} == {"mine.csv"}
    assert len(asns) == 3
