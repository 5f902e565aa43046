"""The local CRDS cache writer: mapping format, checksums, contexts, and look-ups by the crds package."""

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import pytest
from astropy.io import fits

from webbflow.errors import ReferenceFileError
from webbflow.refs.cache import (
    DEFAULT_PARKEYS,
    context_rules,
    mapping_checksum,
    mapping_dir,
    new_context,
    read_mapping,
    rule_from_reference,
    write_context,
)

SERVERLESS = "https://jwst-serverless-mode.stsci.edu"


def _reference(directory, name, reftype, detector, subarray="FULL", readpatt=None, instrument="NIRCAM"):
    """A minimal reference file: just the header keywords CRDS selection reads."""
    header = fits.Header()
    header["INSTRUME"] = instrument
    header["DETECTOR"] = detector
    header["REFTYPE"] = reftype.upper()
    header["USEAFTER"] = "2022-01-01T00:00:00"
    header["SUBARRAY"] = subarray
    if readpatt:
        header["READPATT"] = readpatt
    path = os.path.join(directory, name)
    fits.PrimaryHDU(header=header).writeto(path)
    return path


@pytest.fixture
def cache(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    rules = {
        "NIRCAM": {
            "dark": [
                (("NRCB1", "ANY", "SUB160"), "2022-01-01T00:00:00",
                 _reference(src, "jwst_nircam_dark_0001.fits", "dark", "NRCB1", "SUB160")),
                (("NRCB1", "ANY", "FULL"), "2022-01-01 00:00:00",
                 _reference(src, "jwst_nircam_dark_0002.fits", "dark", "NRCB1", "FULL")),
                (("NRCBLONG", "ANY", "SUB160"), "2022-01-01",
                 _reference(src, "jwst_nircam_dark_0003.fits", "dark", "NRCBLONG", "SUB160")),
            ],
            "gain": [
                (("NRCB1", "ANY", "GENERIC"), "2022-01-01T00:00:00",
                 _reference(src, "jwst_nircam_gain_0001.fits", "gain", "NRCB1")),
                (("NRCBLONG", "ANY", "GENERIC"), "2022-01-01T00:00:00",
                 _reference(src, "jwst_nircam_gain_0002.fits", "gain", "NRCBLONG")),
            ],
            "rscd": "N/A",
        },
        "MIRI": {
            "gain": [(("MIRIMAGE", "ANY", "GENERIC"), "2022-01-01T00:00:00",
                      _reference(src, "jwst_miri_gain_0001.fits", "gain", "MIRIMAGE", instrument="MIRI"))],
        },
    }
    root = tmp_path / "crds_cache"
    context = write_context(root, rules, 1)
    return root, context, src


def test_layout_and_server_config(cache):
    root, context, _ = cache
    assert context == "jwst_0001.pmap"
    names = sorted(os.listdir(mapping_dir(root)))
    assert names == ["jwst_0001.pmap", "jwst_miri_0001.imap", "jwst_miri_gain_0001.rmap", "jwst_nircam_0001.imap",
                     "jwst_nircam_dark_0001.rmap", "jwst_nircam_gain_0001.rmap"]
    assert sorted(os.listdir(root / "references" / "jwst" / "nircam")) == [
        "jwst_nircam_dark_0001.fits", "jwst_nircam_dark_0002.fits", "jwst_nircam_dark_0003.fits",
        "jwst_nircam_gain_0001.fits", "jwst_nircam_gain_0002.fits"]
    assert (root / "config" / "jwst" / "ref_cache_subdir_mode").read_text().strip() == "instrument"
    import ast

    config = ast.literal_eval((root / "config" / "jwst" / "server_config").read_text())
    assert config["operational_context"] == "jwst_0001.pmap"
    assert config["observatory"] == "jwst" and config["connected"] is False
    # files are readable by others (mkstemp alone would make them 0600)
    assert os.stat(root / "config" / "jwst" / "server_config").st_mode & 0o044


def test_checksums_follow_the_crds_rule(cache):
    root, _, _ = cache
    for name in os.listdir(mapping_dir(root)):
        text = open(os.path.join(mapping_dir(root), name), encoding="utf-8").read()
        kept = "".join(line for line in text.splitlines(True) if "sha1sum" not in line)
        expected = hashlib.sha1(kept.encode()).hexdigest()
        assert f"'sha1sum' : '{expected}'," in text
        assert mapping_checksum(text) == expected


def test_read_mapping_round_trip(cache):
    root, _, _ = cache
    rmap = read_mapping(os.path.join(mapping_dir(root), "jwst_nircam_dark_0001.rmap"))
    assert rmap["header"]["parkey"] == DEFAULT_PARKEYS
    assert rmap["header"]["filekind"] == "DARK"
    assert rmap["selector"][("NRCB1", "ANY", "SUB160")] == {"2022-01-01 00:00:00": "jwst_nircam_dark_0001.fits"}
    assert rmap["selector"][("NRCBLONG", "ANY", "SUB160")] == {"2022-01-01 00:00:00": "jwst_nircam_dark_0003.fits"}
    imap = read_mapping(os.path.join(mapping_dir(root), "jwst_nircam_0001.imap"))
    assert imap["selector"] == {"dark": "jwst_nircam_dark_0001.rmap", "gain": "jwst_nircam_gain_0001.rmap",
                                "rscd": "N/A"}


def test_tampered_mapping_is_rejected(cache):
    root, _, _ = cache
    path = os.path.join(mapping_dir(root), "jwst_nircam_gain_0001.rmap")
    text = open(path, encoding="utf-8").read().replace("jwst_nircam_gain_0002.fits", "jwst_nircam_gain_0009.fits")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    with pytest.raises(ReferenceFileError, match="sha1sum"):
        read_mapping(path)


def test_mappings_are_immutable(cache, tmp_path):
    root, _, src = cache
    other = {"NIRCAM": {"gain": [(("NRCB1", "ANY", "GENERIC"), "2023-01-01", str(src / "jwst_nircam_gain_0001.fits"))]}}
    with pytest.raises(ReferenceFileError, match="immutable"):
        write_context(root, other, 1)


def test_rule_from_reference(tmp_path):
    path = _reference(tmp_path, "jwst_nircam_gain_0003.fits", "gain", "NRCB1", subarray="FULL")
    assert rule_from_reference(path) == ("NIRCAM", "gain", ("NRCB1", "ANY", "GENERIC"), "2022-01-01 00:00:00", path)
    path = _reference(tmp_path, "jwst_nircam_dark_0009.fits", "dark", "NRCB1", subarray="SUB160", readpatt="RAPID")
    assert rule_from_reference(path)[2] == ("NRCB1", "RAPID", "SUB160")


def test_new_context_rewrites_only_what_changes(cache, tmp_path):
    root, context, _ = cache
    new_gain = _reference(tmp_path, "jwst_nircam_gain_0003.fits", "gain", "NRCB1")
    name = new_context(root, context, [new_gain])
    assert name == "jwst_0002.pmap"
    rules = context_rules(root, name)
    old = context_rules(root, context)
    # a new gain rmap and NIRCam imap; the dark rmap and the MIRI imap are reused
    assert rules["NIRCAM"]["types"]["gain"]["rmap"] == "jwst_nircam_gain_0002.rmap"
    assert rules["NIRCAM"]["imap"] == "jwst_nircam_0002.imap"
    assert rules["NIRCAM"]["types"]["dark"]["rmap"] == old["NIRCAM"]["types"]["dark"]["rmap"]
    assert rules["MIRI"]["imap"] == old["MIRI"]["imap"]
    gain = rules["NIRCAM"]["types"]["gain"]["selections"]
    assert gain[("NRCB1", "ANY", "GENERIC")] == {"2022-01-01 00:00:00": "jwst_nircam_gain_0003.fits"}
    assert gain[("NRCBLONG", "ANY", "GENERIC")] == {"2022-01-01 00:00:00": "jwst_nircam_gain_0002.fits"}
    assert (root / "references" / "jwst" / "nircam" / "jwst_nircam_gain_0003.fits").exists()
    # an explicit tuple adds a later USEAFTER without touching the earlier one
    later = _reference(tmp_path, "jwst_nircam_gain_0004.fits", "gain", "NRCB1")
    third = new_context(root, name, [("NIRCAM", "gain", ("NRCB1", "ANY", "GENERIC"), "2024-06-01T00:00:00", later)])
    assert third == "jwst_0003.pmap"
    sel = context_rules(root, third)["NIRCAM"]["types"]["gain"]["selections"][("NRCB1", "ANY", "GENERIC")]
    assert sel == {"2022-01-01 00:00:00": "jwst_nircam_gain_0003.fits",
                   "2024-06-01 00:00:00": "jwst_nircam_gain_0004.fits"}


def run_crds(cache_dir, code):
    """Run ``code`` in a fresh interpreter with crds pointed at ``cache_dir``; return its JSON output."""
    pytest.importorskip("crds")
    pytest.importorskip("stdatamodels")
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("CRDS_"):
            del env[key]
    env.update(CRDS_PATH=str(cache_dir), CRDS_SERVER_URL=SERVERLESS, CRDS_MODE="local", CRDS_READONLY_CACHE="1",
               CRDS_OBSERVATORY="jwst")
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_crds_selects_by_detector_subarray_and_context(cache, tmp_path):
    root, context, _ = cache
    new_gain = _reference(tmp_path, "jwst_nircam_gain_0003.fits", "gain", "NRCB1")
    second = new_context(root, context, [new_gain])
    out = run_crds(root, """
        import json, os, crds
        def header(detector, subarray, instrument="NIRCAM"):
            return {"META.INSTRUMENT.NAME": instrument, "META.INSTRUMENT.DETECTOR": detector,
                    "META.EXPOSURE.READPATT": "SHALLOW4", "META.SUBARRAY.NAME": subarray,
                    "META.EXPOSURE.TYPE": "NRC_IMAGE", "META.OBSERVATION.DATE": "2024-03-15",
                    "META.OBSERVATION.TIME": "06:00:00"}
        out = {}
        for ctx in ("jwst_0001.pmap", "jwst_0002.pmap"):
            for det, sub in (("NRCB1", "SUB160"), ("NRCB1", "FULL"), ("NRCBLONG", "SUB160")):
                refs = crds.getreferences(header(det, sub), reftypes=["dark", "gain", "rscd"], context=ctx,
                                          observatory="jwst")
                out[f"{ctx} {det} {sub}"] = {k: v if v.startswith("NOT FOUND") else os.path.basename(v)
                                             for k, v in refs.items()}
        out["miri"] = crds.getreferences(header("MIRIMAGE", "SUB256", "MIRI"), reftypes=["gain"],
                                         context="jwst_0001.pmap", observatory="jwst")["gain"].rsplit("/", 1)[-1]
        try:
            crds.getreferences(header("NRCB1", "SUB320"), reftypes=["dark"], context="jwst_0001.pmap",
                               observatory="jwst")
            out["unmatched"] = "selected"
        except Exception as exc:
            out["unmatched"] = type(exc).__name__
        print(json.dumps(out))
    """)
    assert second == "jwst_0002.pmap"
    first = out["jwst_0001.pmap NRCB1 SUB160"]
    assert first == {"dark": "jwst_nircam_dark_0001.fits", "gain": "jwst_nircam_gain_0001.fits", "rscd": "NOT FOUND n/a"}
    assert out["jwst_0001.pmap NRCB1 FULL"]["dark"] == "jwst_nircam_dark_0002.fits"
    assert out["jwst_0001.pmap NRCBLONG SUB160"] == {"dark": "jwst_nircam_dark_0003.fits",
                                                    "gain": "jwst_nircam_gain_0002.fits", "rscd": "NOT FOUND n/a"}
    # the new context changes exactly one selection: the NRCB1 gain
    for key in ("NRCB1 SUB160", "NRCB1 FULL", "NRCBLONG SUB160"):
        before, after = out[f"jwst_0001.pmap {key}"], out[f"jwst_0002.pmap {key}"]
        changed = {k for k in before if before[k] != after[k]}
        assert changed == ({"gain"} if key.startswith("NRCB1 ") else set())
    assert out["jwst_0002.pmap NRCB1 SUB160"]["gain"] == "jwst_nircam_gain_0003.fits"
    assert out["miri"] == "jwst_miri_gain_0001.fits"
    assert out["unmatched"] == "CrdsLookupError"
