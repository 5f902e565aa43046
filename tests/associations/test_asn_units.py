"""Pieces of the association generator: candidates, selections, grouping, naming, pruning, writing."""

import json

import numpy as np
import pytest

from webbflow.associations import Association, Member, Product, pool_from_records, write_associations
from webbflow.associations.candidates import list_candidates, parse_candidates
from webbflow.associations.features import Exposures
from webbflow.associations.finalize import prune
from webbflow.associations.generate import RULE_NAMES
from webbflow.associations.grouping import form_groups
from webbflow.associations.naming import exposure_root, opt_elem_name, product_name, remove_suffix, slit_name
from webbflow.associations.rules_level2 import LEVEL2_RULES
from webbflow.associations.rules_level3 import LEVEL3_RULES
from webbflow.errors import WebbflowError


@pytest.mark.parametrize("text, pairs", [
    ("[('o001', 'observation'), ('c1000', 'background')]", [("o001", "observation"), ("c1000", "background")]),
    ("1000", [("1000", "unknown")]),
    ("null", []),
    ("[('o001', 'observation'", []),
    ("[('o001', 'observation'), 'junk', ('c1001', 'mosaic')]", [("o001", "observation")]),
])
def test_parse_candidates(text, pairs):
    assert parse_candidates(text) == pairs


def test_candidates_in_official_order():
    pool = pool_from_records([
        {"filename": "a", "exp_type": "x", "program": "1", "asn_candidate": "[('o002', 'observation')]"},
        {"filename": "b", "exp_type": "x", "program": "1",
         "asn_candidate": "[('o001', 'observation'), ('c1000', 'mosaic')]"},
        {"filename": "c", "exp_type": "x", "program": "1", "asn_candidate": "[('c1001', 'background')]"},
    ])
    assert [(c.id, c.type) for c in list_candidates(pool)] == [
        ("o002", "observation"), ("o001", "observation"), ("c1000", "mosaic"), ("c1001", "background")]


def test_selection_matches_like_the_official_regex():
    pool = pool_from_records([{"filename": f"f{i}", "exp_type": "x", "program": "1", "pupil": p}
                              for i, p in enumerate(["clear", "clearp", "gdhs60", "gdhs600", "null"])])
    ex = Exposures(pool)
    # every alternative but the last matches as a prefix, as re.match("^a|b$") does
    assert ex.like("pupil", "clear|gdhs60").tolist() == [True, True, True, False, False]


def test_member_types():
    pool = pool_from_records([
        {"filename": "sci", "exp_type": "nrc_image", "program": "1", "pntgtype": "science"},
        {"filename": "ta", "exp_type": "nrc_tacq", "program": "1", "pntgtype": "science"},
        {"filename": "acq", "exp_type": "nrc_image", "program": "1", "pntgtype": "target_acquisition"},
        {"filename": "psf", "exp_type": "nrc_coron", "program": "1", "is_psf": "t", "bkgdtarg": "t"},
        {"filename": "bkg", "exp_type": "mir_mrs", "program": "1", "bkgdtarg": "t"},
        {"filename": "imp", "exp_type": "nrs_ifu", "program": "1", "is_imprt": "t", "bkgdtarg": "t"},
        {"filename": "flat", "exp_type": "nrs_autoflat", "program": "1", "bkgdtarg": "t"},
    ])
    ex = Exposures(pool)
    assert ex.member_type.tolist() == ["science", "target_acquisition", "target_acquisition", "psf", "background",
                                       "imprint", "autoflat"]
    assert ex.member_type_level2.tolist()[3] == "science"


def test_grouping_plain_and_with_wildcards():
    labels = np.arange(5)
    blk = np.zeros(5, dtype=int)
    files = np.array([f"f{i}" for i in range(5)], dtype=object)
    filt = np.array(["a", "b", "a", None, "b"], dtype=object)
    groups = form_groups(labels, blk, files, {"filter": filt}, reoffer=True)
    # the exposure without a filter joins both groups
    assert [(g.values["filter"], g.members) for g in groups] == [("a", [0, 2, 3]), ("b", [1, 3, 4])]
    groups = form_groups(labels[:3], blk[:3], files[:3], {"filter": filt[:3]})
    assert [g.members for g in groups] == [[0, 2], [1]]
    # without offering everything again, the exposure joins only the associations that exist when it comes
    groups = form_groups(labels, blk, files, {"filter": filt}, reoffer=False)
    assert [g.members for g in groups] == [[0, 2, 3], [1, 3, 4]]
    # repeated file names join once
    groups = form_groups(np.arange(3), np.zeros(3, dtype=int), np.array(["x", "x", "y"], dtype=object),
                         {"filter": np.array(["a", "a", "a"], dtype=object)})
    assert [g.members for g in groups] == [[0, 2]]


def test_names():
    assert remove_suffix("jw01234001001_01101_00001_nrca1_rate") == "jw01234001001_01101_00001_nrca1"
    assert remove_suffix("jw01234-o001_t001_nircam_clear-f090w_i2d") == "jw01234-o001_t001_nircam_clear-f090w"
    assert exposure_root("path/jw_00001_rateints.fits") == "jw_00001"
    assert opt_elem_name(["f090w"], ["clear"]) == "clear-f090w"
    assert opt_elem_name(["f100lp"], ["g140m"]) == "f100lp-g140m"
    assert opt_elem_name([], []) == "clear"
    assert slit_name(["s1600a1"], []) == "s1600a1"
    assert slit_name([], ["s200a2", "s200a1"]) == "s200a1-s200a2"
    parts = dict(program="01234", acid="o001", target="t001", instrument="nirspec", opt_elem="f290lp-g395h")
    assert product_name("default", **parts, subarray="full") == "jw01234-o001_t001_nirspec_f290lp-g395h"
    assert product_name("default", **parts, slit="s200a1", subarray="sub32") == \
        "jw01234-o001_t001_nirspec_f290lp-g395h-s200a1-sub32"
    assert product_name("nrsfs", **parts) == "jw01234-o001_t001-{source_id}_nirspec_f290lp-g395h-{slit_name}"
    assert product_name("sources", **parts) == "jw01234-o001_{source_id}_nirspec_f290lp-g395h"
    assert product_name("noopt", **parts) == "jw01234-o001_t001_nirspec"
    assert product_name("wfscmb", **parts, detector="nrca3", activity="4") == \
        "jw01234-o001_t001_nirspec_f290lp-g395h-nrca3_{suffix}-04"


def _asn(acid, members, name="prod", asn_type="image3"):
    return Association(level=3, rule="Asn_Lv3Image", ruleset="candidate", asn_type=asn_type, asn_id=acid,
                       candidate_type="observation", program="01234", target="t001", pool="p.csv",
                       products=[Product(name, [Member(m, "science") for m in members])])


def test_prune_keeps_lowest_level_candidate_and_supersets():
    same_o, same_c = _asn("o001", ["a", "b"], "x1"), _asn("c1000", ["a", "b"], "x2")
    kept = prune([same_c, same_o])
    assert kept == [same_o]
    small, big = _asn("o001", ["a"], "p"), _asn("o001", ["a", "b"], "p")
    assert prune([small, big]) == [big]


def test_rule_tables_complete():
    assert len(LEVEL2_RULES) == 22 and len(LEVEL3_RULES) == 21
    assert len(set(RULE_NAMES)) == len(RULE_NAMES) == 44
    assert list(RULE_NAMES) == sorted(RULE_NAMES[:22]) + ["Asn_Lv3ACQ_Reprocess"] + sorted(RULE_NAMES[23:])
    for rule in (*LEVEL2_RULES, *LEVEL3_RULES):
        assert rule.summary.endswith(".") and len(rule.summary) > 40, rule.name


def test_writer(tmp_path):
    asn = _asn("o001", ["a_cal.fits"])
    paths = write_associations([asn], tmp_path / "out")
    assert [p.name for p in paths] == ["jw01234-o001_image3_00001_asn.json"]
    data = json.loads(paths[0].read_text())
    assert data["products"][0]["members"] == [{"expname": "a_cal.fits", "exptype": "science", "exposerr": None}]
    with pytest.raises(WebbflowError, match="two associations would be written"):
        write_associations([asn, _asn("o001", ["b"])], tmp_path / "out2")
