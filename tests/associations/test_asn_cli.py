"""The ``webbflow asn`` commands, called through the parser ``register`` builds."""

import argparse
import json
from pathlib import Path

import pytest
from astropy.io import fits

from webbflow.associations import generate, read_pool
from webbflow.associations.cli import register
from webbflow.errors import WebbflowError

POOLS = Path(__file__).resolve().parents[3] / "shared" / "data" / "associations" / "pools"


def _run(argv):
    parser = argparse.ArgumentParser(prog="webbflow")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def _pool(tmp_path):
    header = "filename|program|obs_num|exp_type|instrume|detector|targetid|pntgtype|filter|pupil|subarray|asn_candidate"
    rows = [f"jw99009001001_02101_0000{n}_mirimage_uncal.fits|99009|1|mir_image|miri|mirimage|1|science|f770w|null|"
            f"full|[('o001', 'observation')]" for n in (1, 2, 3)]
    path = tmp_path / "jw99009_pool.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_generate_writes_official_names(tmp_path, capsys):
    out = tmp_path / "asn"
    assert _run(["asn", "generate", str(_pool(tmp_path)), "-o", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"jw99009-o001_image2_0000{n}_asn.json" for n in (1, 2, 3)] + ["jw99009-o001_image3_00001_asn.json"]
    assert capsys.readouterr().out.count("_asn.json") == 4
    asn = json.loads((out / "jw99009-o001_image3_00001_asn.json").read_text())
    assert list(asn) == ["asn_type", "asn_rule", "version_id", "code_version", "degraded_status", "program",
                         "constraints", "asn_id", "target", "asn_pool", "products"]
    assert asn["asn_rule"] == "candidate_Asn_Lv3Image"
    assert asn["products"][0]["name"] == "jw99009-o001_t001_miri_f770w"
    assert set(asn["products"][0]["members"][0]) == {"expname", "exptype", "exposerr", "asn_candidate"}
    assert not list(out.glob(".*"))  # no temporary files left


def test_generate_version_id(tmp_path):
    out = tmp_path / "asn"
    _run(["asn", "generate", str(_pool(tmp_path)), "-o", str(out), "--version-id", "b7"])
    names = sorted(p.name for p in out.iterdir())
    assert names[-1] == "jw99009-o001_b7_image3_00001_asn.json"
    assert json.loads((out / names[-1]).read_text())["version_id"] == "b7"


def test_generate_bad_pool_is_one_clear_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("# nothing\n")
    with pytest.raises(WebbflowError, match="empty.csv: the pool is empty"):
        _run(["asn", "generate", str(path), "-o", str(tmp_path)])


def _exposure(path, observation, exp_type="MIR_IMAGE", targname="NGC 1", bkgd=False):
    header = fits.Header()
    for key, value in {"FILENAME": path.name, "PROGRAM": "01234", "OBSERVTN": observation, "VISIT": "001",
                       "EXP_TYPE": exp_type, "INSTRUME": "MIRI", "DETECTOR": "MIRIMAGE", "FILTER": "F770W",
                       "SUBARRAY": "FULL", "TARGNAME": targname, "BKGDTARG": bkgd, "VISITYPE": "PRIME_TARGETED_FIXED",
                       "OBS_NUM": "1"}.items():
        header[key] = value
    fits.PrimaryHDU(header=header).writeto(path)
    return path


def test_pool_from_headers_then_generate(tmp_path):
    files = [_exposure(tmp_path / f"jw01234001001_02101_0000{n}_mirimage_uncal.fits", "001") for n in (1, 2)]
    files.append(_exposure(tmp_path / "jw01234001001_02101_00003_mirimage_uncal.fits", "001", bkgd=True))
    pool_path = tmp_path / "jw01234_pool.csv"
    assert _run(["asn", "pool", *map(str, files), "-o", str(pool_path), "--asn-candidate",
                 "[('c1000', 'background')]"]) == 0
    pool = read_pool(pool_path)
    assert list(pool["asn_candidate"].unique()) == ["[('o001', 'observation'), ('c1000', 'background')]"]
    assert list(pool["targetid"]) == ["1", "1", "1"]
    assert list(pool["bkgdtarg"]) == ["f", "f", "t"]
    asns = generate(pool)
    level2 = {a.product.name: a for a in asns if a.asn_type == "image2"}
    # each science exposure with the background; the background exposure calibrated alone as science
    assert sorted(level2) == [f"jw01234001001_02101_0000{n}_mirimage" for n in (1, 2, 3)]
    for n in (1, 2):
        members = level2[f"jw01234001001_02101_0000{n}_mirimage"].product.members
        assert [(m.exptype, m.expname[-30:]) for m in members] == [
            ("science", f"02101_0000{n}_mirimage_rate.fits"), ("background", "02101_00003_mirimage_rate.fits")]
    assert level2["jw01234001001_02101_00003_mirimage"].rule == "Asn_Lv2ImageSpecial"
    assert any(a.asn_type == "image3" and a.asn_id == "o001" for a in asns)


def test_pool_of_missing_file_is_an_error(tmp_path):
    with pytest.raises(WebbflowError, match="no such file"):
        _run(["asn", "pool", str(tmp_path / "absent.fits"), "-o", str(tmp_path / "p.csv")])


def test_from_list_level3(tmp_path):
    out = tmp_path / "mosaic_asn.json"
    assert _run(["asn", "from-list", "-o", str(out), "--product-name", "my_mosaic", "--rule", "image3",
                 "a_cal.fits", "b_cal.fits", "sky_x1d.fits:background"]) == 0
    asn = json.loads(out.read_text())
    assert asn["asn_type"] == "image3"
    assert asn["products"] == [{"name": "my_mosaic", "members": [
        {"expname": "a_cal.fits", "exptype": "science"}, {"expname": "b_cal.fits", "exptype": "science"},
        {"expname": "sky_x1d.fits", "exptype": "background"}]}]


def test_from_list_level2(tmp_path):
    out = tmp_path / "l2_asn.json"
    _run(["asn", "from-list", "-o", str(out), "-r", "DMSLevel2bBase", "-i", "o002", "a_rate.fits", "b_rate.fits"])
    asn = json.loads(out.read_text())
    assert asn["asn_rule"] == "DMSLevel2bBase"
    assert asn["asn_id"] == "o002"
    assert [p["name"] for p in asn["products"]] == ["a", "b"]


def test_from_list_level3_needs_a_product_name(tmp_path):
    with pytest.raises(WebbflowError, match="product name"):
        _run(["asn", "from-list", "-o", str(tmp_path / "x.json"), "a_cal.fits"])


def test_real_pool_through_cli(tmp_path):
    pool = POOLS / "pool_019_niriss_wfss.csv"
    if not pool.exists():
        pytest.skip("pool not present")
    out = tmp_path / "asn"
    _run(["asn", "generate", str(pool), "-o", str(out)])
    assert len(list(out.glob("*_asn.json"))) == 19
