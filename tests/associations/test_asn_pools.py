"""Every real pool gives the associations the official generator (jwst 3.0.0) wrote for it.

Compared per product name: asn_type, asn_rule, asn_id and the set of
(expname, exptype) members; and the asn.json file names without their
sequence numbers.  ``constraints`` and ``code_version`` are ignored.  A
stricter test then requires every file, by exact name, to be equal but for
those two keys (member order, target, pool name, exposure errors ...).
"""

import functools
import json
import logging
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from webbflow.associations import generate, read_pool

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "associations"
POOLS = sorted(DATA.glob("pools/*.csv"))
#: Pools the official generator cannot process, with the reason (so they have no expected output).
NO_OFFICIAL_OUTPUT = {
    "jw93060_20150312T160130_pool": "no ASN_CANDIDATE column: the official per-candidate generator stops "
                                    "with KeyError 'asn_candidate'",
}



def test_the_shared_pools_are_there():
    assert POOLS, f"no pools under {DATA}: ../shared must sit beside the repository"


@functools.cache
def _generated(pool_path):
    """(file name, asn.json dict) of our associations of a pool, made once per test session."""
    logging.disable(logging.WARNING)
    try:
        return tuple((a.filename, a.to_dict()) for a in generate(read_pool(pool_path)))
    finally:
        logging.disable(logging.NOTSET)


def _by_product(asn_dicts):
    found = defaultdict(list)
    for asn in asn_dicts:
        for product in asn["products"]:
            members = tuple(sorted((m["expname"], m["exptype"]) for m in product["members"]))
            found[product["name"]].append((asn["asn_type"], asn["asn_rule"], asn["asn_id"], members))
    return {name: sorted(entries) for name, entries in found.items()}


def _file_stems(names):
    return Counter(re.sub(r"_\d{5}_asn\.json$", "", name) for name in names)


def _describe(expected, ours):
    lines = []
    for name in sorted(set(expected) | set(ours)):
        exp, got = expected.get(name), ours.get(name)
        if exp == got:
            continue
        if got is None:
            lines.append(f"missing {name}: {[e[:3] for e in exp]}")
        elif exp is None:
            lines.append(f"extra {name}: {[g[:3] for g in got]}")
        else:
            for e, g in zip(exp, got, strict=False):
                if e != g:
                    lines.append(f"differs {name}: official {e[:3]} ours {g[:3]}; members only official "
                                 f"{sorted(set(e[3]) - set(g[3]))[:5]}, only ours {sorted(set(g[3]) - set(e[3]))[:5]}")
            if len(exp) != len(got):
                lines.append(f"count {name}: official {len(exp)} ours {len(got)}")
    return "\n".join(lines[:25])


COMPARED = [p for p in POOLS if p.stem not in NO_OFFICIAL_OUTPUT]


def test_pools_without_official_output_still_have_none():
    for stem in NO_OFFICIAL_OUTPUT:
        assert not (DATA / "expected" / stem).exists(), f"an official output appeared for {stem}: compare with it"


@pytest.mark.parametrize("pool_path", COMPARED, ids=[p.stem for p in COMPARED])
def test_pool_matches_official(pool_path):
    expected_dir = DATA / "expected" / pool_path.stem
    assert expected_dir.is_dir(), f"no official output for {pool_path.name}"
    files = sorted(expected_dir.glob("*.json"))
    expected = _by_product(json.loads(f.read_text()) for f in files)
    generated = _generated(pool_path)
    ours = _by_product(asn for _, asn in generated)
    assert ours == expected, _describe(expected, ours)
    assert _file_stems(name for name, _ in generated) == _file_stems(f.name for f in files)


@pytest.mark.parametrize("pool_path", [p for p in POOLS if p.stem not in NO_OFFICIAL_OUTPUT],
                         ids=[p.stem for p in POOLS if p.stem not in NO_OFFICIAL_OUTPUT])
def test_pool_files_identical(pool_path):
    """Stricter than required: every file, by its exact name, equal but for constraints and code_version."""
    def strip(asn):
        return {k: v for k, v in asn.items() if k not in ("constraints", "code_version")}

    expected = {f.name: strip(json.loads(f.read_text())) for f in (DATA / "expected" / pool_path.stem).glob("*.json")}
    ours = {name: strip(asn) for name, asn in _generated(pool_path)}
    assert sorted(ours) == sorted(expected)
    different = [name for name in expected if ours[name] != expected[name]]
    assert not different, f"{len(different)} files differ, e.g. {different[:3]}"


def test_pool_without_candidates(caplog):
    """The official generator fails on a pool without ASN_CANDIDATE; ours says why nothing is made."""
    path = DATA / "pools" / "jw93060_20150312T160130_pool.csv"
    if not path.exists():
        pytest.skip("pool not present")
    with caplog.at_level(logging.WARNING, logger="webbflow.associations"):
        asns = generate(read_pool(path))
    assert asns == []
    text = caplog.text
    assert "no ASN_CANDIDATE column" in text
    assert "SUBARRAY" in text  # the level-3 optical path needs it


def test_every_pool_has_an_official_output_or_a_reason():
    for path in POOLS:
        assert (DATA / "expected" / path.stem).is_dir() or path.stem in NO_OFFICIAL_OUTPUT, path.name
