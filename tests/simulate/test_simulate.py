"""The simulator: file layout and formats, determinism, truth consistency, CRDS look-ups, pool, CLI."""

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from astropy.io import ascii as astropy_ascii
from astropy.io import fits

from webbflow import dqflags
from webbflow.datamodels import INT_TIMES_DTYPE, RampModel
from webbflow.simulate import Effects, default_program, simulate_program
from webbflow.simulate.detector import DETECTORS, frame_time, get_subarray
from webbflow.simulate.pool import POOL_COLUMNS
from webbflow.simulate.program import READ_PATTERNS
from webbflow.simulate.ramps import convolve, invert_polynomial, rscd_skip_groups, simulate_exposure
from webbflow.simulate.references import ipc_kernels, write_references
from webbflow.simulate.scene import make_field, render
from webbflow.simulate.truth import read_truth

SEED = 5
NAME_RE = re.compile(r"^jw\d{5}\d{3}\d{3}_\d{2}\d\d{2}_\d{5}_(nrcb1|nrcblong|nis|nrs1|mirimage)_uncal\.fits$")
SERVERLESS = "https://jwst-serverless-mode.stsci.edu"


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    return simulate_program(tmp_path_factory.mktemp("program"), seed=SEED, full_frame_refs=False)


def _exposure(instrument, index=0):
    return [e for e in default_program() if e.instrument == instrument][index]


# ---------------------------------------------------------------------------
# layout, formats, keywords
# ---------------------------------------------------------------------------
def test_layout(program):
    names = [os.path.basename(p) for p in program["uncal"]]
    assert len(names) == 8 and len(set(names)) == 8
    assert all(NAME_RE.match(n) for n in names), names
    assert "jw01234001001_01101_00001_nrcb1_uncal.fits" in names
    for uncal, truth in zip(program["uncal"], program["truth"], strict=True):
        assert os.path.dirname(uncal).endswith("uncal")
        assert os.path.basename(truth) == os.path.basename(uncal).replace("_uncal.fits", "_truth.fits")
        assert os.path.exists(truth)
    assert re.match(r"^jw01234_\d{8}t\d{6}_pool\.csv$", os.path.basename(program["pool"]))
    assert program["context"] == "jwst_0001.pmap"
    assert os.path.exists(os.path.join(program["crds_cache"], "mappings", "jwst", "jwst_0001.pmap"))
    instruments = {e.instrument for e in program["exposures"]}
    assert instruments == {"NIRCAM", "NIRISS", "NIRSPEC", "MIRI"}
    for exp in program["exposures"]:
        assert exp.sub.xsize * exp.sub.ysize <= 2048 * 64 and exp.ngroups <= 10 and exp.nints <= 2


REQUIRED = ("TELESCOP", "INSTRUME", "DETECTOR", "EXP_TYPE", "READPATT", "SUBARRAY", "NINTS", "NGROUPS", "NFRAMES",
            "GROUPGAP", "TFRAME", "TGROUP", "TSAMPLE", "NRESETS", "SUBSTRT1", "SUBSTRT2", "SUBSIZE1", "SUBSIZE2",
            "FASTAXIS", "SLOWAXIS", "DATE-OBS", "TIME-OBS", "EXPSTART", "EXPMID", "EXPEND", "PROGRAM", "OBSERVTN",
            "VISIT", "VISITGRP", "SEQ_ID", "ACT_ID", "EXPOSURE", "FILTER", "PUPIL", "TARGNAME", "TARGPROP",
            "TARG_RA", "TARG_DEC", "PATTTYPE", "NUMDTHPT", "PATT_NUM", "BKGDTARG", "IS_PSF", "FILENAME", "DATAMODL",
            "ORIGIN", "TIMESYS", "NOUTPUTS")
OFFICIAL_AXES = {"NRCB1": (1, -2), "NRCBLONG": (1, -2), "NIS": (-2, -1), "NRS1": (2, 1), "MIRIMAGE": (1, 2)}


def test_uncal_files_have_the_official_layout(program):
    for path, exp in zip(program["uncal"], program["exposures"], strict=True):
        with fits.open(path) as hdul:
            assert [h.name for h in hdul] == ["PRIMARY", "SCI", "INT_TIMES", "ASDF"]
            primary, sci = hdul[0].header, hdul["SCI"]
            assert sci.header["BITPIX"] == 16 and sci.header["BZERO"] == 32768
            assert sci.data.dtype == np.uint16
            assert sci.data.shape == (exp.nints, exp.ngroups, exp.sub.ysize, exp.sub.xsize)
            assert sci.header["BUNIT"] == "DN"
            for key in ("RA_V1", "DEC_V1", "PA_V3", "V2_REF", "V3_REF", "RA_REF", "DEC_REF", "ROLL_REF", "VPARITY"):
                assert key in sci.header
            assert hdul["INT_TIMES"].data.dtype.names == INT_TIMES_DTYPE.names
            assert len(hdul["INT_TIMES"].data) == exp.nints
            missing = [k for k in REQUIRED if k not in primary]
            assert not missing, missing
            assert primary["FILENAME"] == os.path.basename(path)
            assert primary["DATAMODL"] == "RampModel" and primary["TELESCOP"] == "JWST"
            assert (primary["FASTAXIS"], primary["SLOWAXIS"]) == OFFICIAL_AXES[exp.detector]
            nframes, groupgap = READ_PATTERNS[primary["READPATT"]]
            assert (primary["NFRAMES"], primary["GROUPGAP"]) == (nframes, groupgap)
            assert primary["TGROUP"] == pytest.approx(primary["TFRAME"] * (nframes + groupgap), rel=1e-5)
            assert re.match(r"^\d{4}-\d\d-\d\d$", primary["DATE-OBS"]) and re.match(r"^\d\d:\d\d:\d\d\.\d{3}$",
                                                                                   primary["TIME-OBS"])
            assert primary["EXPSTART"] < primary["EXPMID"] < primary["EXPEND"]
            assert (sci.data > 1000).all(), "every pixel carries the bias"
        model = RampModel.read(path)  # our own reader validates the keywords and shapes
        assert model.data.shape == (exp.nints, exp.ngroups, exp.sub.ysize, exp.sub.xsize)
    exps = program["exposures"]
    assert [e.expstart for e in exps] == sorted(e.expstart for e in exps)
    assert {e.exp_type for e in exps} == {"NRC_IMAGE", "NIS_IMAGE", "NRS_FIXEDSLIT", "MIR_IMAGE"}
    # the NIR subarrays hold reference pixels; at least one readout pattern averages frames and one skips some
    assert any(e.nframes > 1 for e in exps) and any(e.groupgap > 0 for e in exps)


def test_frame_times_match_the_official_values():
    nrc = DETECTORS["NRCB1"]
    assert frame_time(nrc, get_subarray(nrc, "SUB160")) == pytest.approx(0.27864, abs=1e-5)
    assert frame_time(nrc, get_subarray(nrc, "FULL")) == pytest.approx(10.73677, abs=2e-5)
    miri = DETECTORS["MIRIMAGE"]
    assert frame_time(miri, get_subarray(miri, "SUB256")) == pytest.approx(0.29952)


# ---------------------------------------------------------------------------
# determinism
# ---------------------------------------------------------------------------
def _bytes(path):
    with open(path, "rb") as handle:
        return handle.read()


def test_same_seed_same_bytes_and_selection_independent(program, tmp_path):
    again = simulate_program(tmp_path / "again", seed=SEED, instruments=["NIRISS"], full_frame_refs=False)
    assert len(again["uncal"]) == 1
    name = os.path.basename(again["uncal"][0])
    first = {os.path.basename(p): p for p in program["uncal"] + program["truth"]}
    assert _bytes(again["uncal"][0]) == _bytes(first[name])
    assert _bytes(again["truth"][0]) == _bytes(first[os.path.basename(again["truth"][0])])
    for reftype, path in again["references"][name].items():
        assert _bytes(path) == _bytes(program["references"][name][reftype]), reftype
    other = simulate_program(tmp_path / "other", seed=SEED + 1, instruments=["NIRISS"], full_frame_refs=False)
    assert _bytes(other["uncal"][0]) != _bytes(again["uncal"][0])


# ---------------------------------------------------------------------------
# reference files
# ---------------------------------------------------------------------------
REF_LAYOUT = {
    "mask": ("MaskModel", {"DQ": np.uint32}, ("DQ_DEF",)),
    "saturation": ("SaturationModel", {"SCI": np.float32, "DQ": np.uint32}, ("DQ_DEF",)),
    "superbias": ("SuperBiasModel", {"SCI": np.float32, "ERR": np.float32, "DQ": np.uint32}, ("DQ_DEF",)),
    "linearity": ("LinearityModel", {"COEFFS": np.float32, "DQ": np.uint32}, ("DQ_DEF",)),
    "gain": ("GainModel", {"SCI": np.float32}, ()),
    "readnoise": ("ReadnoiseModel", {"SCI": np.float32}, ()),
    "ipc": ("IPCModel", {"SCI": np.float32}, ()),
    "reset": ("ResetModel", {"SCI": np.float32, "ERR": np.float32, "DQ": np.uint32}, ("DQ_DEF",)),
    "rscd": ("RSCDModel", {}, ("RSCD_GROUP_SKIP",)),
}


def test_reference_files_have_the_official_formats(program):
    seen = set()
    for exp in program["exposures"]:
        refs = program["references"][exp.uncal_name]
        expected_types = {"mask", "saturation", "linearity", "dark", "gain", "readnoise", "ipc"}
        expected_types |= {"reset", "rscd"} if exp.instrument == "MIRI" else {"superbias"}
        assert set(refs) == expected_types
        for reftype, path in refs.items():
            assert re.match(rf"^jwst_{exp.instrument.lower()}_{reftype}_\d{{4}}\.fits$", os.path.basename(path))
            with fits.open(path) as hdul:
                h = hdul[0].header
                for key in ("TELESCOP", "INSTRUME", "DETECTOR", "REFTYPE", "AUTHOR", "PEDIGREE", "DESCRIP",
                            "USEAFTER", "SUBARRAY", "SUBSTRT1", "SUBSTRT2", "SUBSIZE1", "SUBSIZE2", "FASTAXIS",
                            "SLOWAXIS", "FILETYPE", "DATAMODL"):
                    assert key in h, (path, key)
                assert h["REFTYPE"] == reftype.upper() and h["PEDIGREE"] == "DUMMY"
                assert (h["INSTRUME"], h["DETECTOR"]) == (exp.instrument, exp.detector)
                if reftype == "dark":
                    miri = exp.instrument == "MIRI"
                    assert h["DATAMODL"] == ("DarkMIRIModel" if miri else "DarkModel")
                    assert (h["NFRAMES"], h["GROUPGAP"]) == (1, 0)
                    sci = hdul["SCI"].data
                    assert sci.ndim == (4 if miri else 3) and sci.dtype == np.dtype(">f4")
                    assert sci.shape[-2:] == (exp.sub.ysize, exp.sub.xsize), "darks match the science subarray"
                    assert h["SUBARRAY"] == exp.subarray and h["NGROUPS"] >= exp.frames_per_int
                    assert hdul["DQ"].data.ndim == (4 if miri else 2)
                    continue
                model, arrays, tables = REF_LAYOUT[reftype]
                assert h["DATAMODL"] == model
                for ext, dtype in arrays.items():
                    assert hdul[ext].data.dtype == np.dtype(dtype).newbyteorder(">") or \
                        hdul[ext].data.dtype == np.dtype(dtype), (path, ext, hdul[ext].data.dtype)
                for ext in tables:
                    assert isinstance(hdul[ext], fits.BinTableHDU)
                if reftype == "linearity":
                    coeffs = hdul["COEFFS"].data
                    assert coeffs.shape[0] == 4 and np.all(coeffs[1] == 1) and np.all(coeffs[2] > 0)
                if reftype == "ipc":
                    assert hdul["SCI"].data.shape == (3, 3)
                    assert hdul["SCI"].data.sum() == pytest.approx(1.0, abs=1e-5)
                if reftype == "rscd":
                    assert hdul["RSCD_GROUP_SKIP"].data.dtype.names == ("subarray", "readpatt", "group_skip1",
                                                                       "group_skip")
                if reftype == "reset":
                    assert hdul["SCI"].data.ndim == 4 and h["NINTS"] == hdul["SCI"].data.shape[0]
                if reftype == "mask" and (exp.detector, reftype) not in seen:
                    _check_mask(exp, hdul["DQ"].data, hdul["DQ_DEF"].data)
                seen.add((exp.detector, reftype))


def _check_mask(exp, dq, dq_def):
    ref = (dq & dqflags.REFERENCE_PIXEL) > 0
    sub = exp.sub
    y = np.arange(sub.ystart - 1, sub.ystart - 1 + sub.ysize)[:, None]
    x = np.arange(sub.xstart - 1, sub.xstart - 1 + sub.xsize)[None, :]
    ny, nx = exp.spec.shape
    expected = (x < 4) | (x >= nx - 4)
    if exp.instrument != "MIRI":
        expected = expected | (y < 4) | (y >= ny - 4)
    np.testing.assert_array_equal(ref, np.broadcast_to(expected, ref.shape))
    if exp.instrument != "MIRI":
        assert ref.any(), f"{exp.detector} {exp.subarray} must contain reference pixels"
    dead = (dq & dqflags.PIXEL["DEAD"]) > 0
    assert np.all((dq[dead] & dqflags.DO_NOT_USE) > 0)
    assert {row["NAME"] for row in dq_def} >= {"DO_NOT_USE", "DEAD", "HOT", "REFERENCE_PIXEL"}


def test_full_frame_references_hold_the_same_pixels(program, tmp_path):
    from webbflow.refs.cache import read_mapping, rule_from_reference
    from webbflow.refs.readers import open_reference

    full = simulate_program(tmp_path / "full", seed=SEED, instruments=["MIRI"])  # full-frame static references
    name = os.path.basename(full["uncal"][0])
    assert _bytes(full["uncal"][0]) == _bytes(next(p for p in program["uncal"] if p.endswith(name)))
    science = fits.getheader(full["uncal"][0], 0)
    for reftype in ("mask", "saturation", "linearity", "gain", "readnoise"):
        big = open_reference(full["references"][name][reftype])
        small = open_reference(program["references"][name][reftype])
        assert big.meta["SUBARRAY"] == "FULL" and big.array(next(iter(big.arrays))).shape[-2:] == (1024, 1032)
        assert small.meta["SUBARRAY"] == "SUB256"
        ext = next(iter(small.arrays))
        np.testing.assert_array_equal(big.cutout(ext, science), small.array(ext))
        instrument, kind, match, useafter, _ = rule_from_reference(full["references"][name][reftype])
        assert (instrument, kind, match) == ("MIRI", reftype, ("MIRIMAGE", "ANY", "GENERIC"))
    rmap = read_mapping(os.path.join(full["crds_cache"], "mappings", "jwst", "jwst_miri_gain_0001.rmap"))
    assert list(rmap["selector"]) == [("MIRIMAGE", "ANY", "GENERIC")]
    dark = read_mapping(os.path.join(full["crds_cache"], "mappings", "jwst", "jwst_miri_dark_0001.rmap"))
    assert list(dark["selector"]) == [("MIRIMAGE", "FASTR1", "SUB256")]


# ---------------------------------------------------------------------------
# CRDS
# ---------------------------------------------------------------------------
def test_crds_selects_the_simulated_references(program):
    pytest.importorskip("crds")
    pytest.importorskip("stdatamodels")
    headers = {}
    for path in program["uncal"]:
        h = fits.getheader(path, 0)
        headers[os.path.basename(path)] = {
            "META.INSTRUMENT.NAME": h["INSTRUME"], "META.INSTRUMENT.DETECTOR": h["DETECTOR"],
            "META.EXPOSURE.READPATT": h["READPATT"], "META.SUBARRAY.NAME": h["SUBARRAY"],
            "META.EXPOSURE.TYPE": h["EXP_TYPE"], "META.OBSERVATION.DATE": h["DATE-OBS"],
            "META.OBSERVATION.TIME": h["TIME-OBS"], "META.INSTRUMENT.FILTER": h["FILTER"]}
    code = textwrap.dedent("""
        import json, os, sys, crds
        headers = json.loads(sys.stdin.read())
        types = ["mask", "saturation", "superbias", "linearity", "dark", "gain", "readnoise", "ipc", "reset", "rscd",
                 "refpix", "sirskernel"]
        out = {}
        for name, header in headers.items():
            refs = crds.getreferences(header, reftypes=types, context="jwst_0001.pmap", observatory="jwst")
            out[name] = {k: (v if v.startswith("NOT FOUND") else v) for k, v in refs.items()}
        print(json.dumps(out))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    env.update(CRDS_PATH=program["crds_cache"], CRDS_SERVER_URL=SERVERLESS, CRDS_MODE="local",
               CRDS_READONLY_CACHE="1", CRDS_OBSERVATORY="jwst")
    result = subprocess.run([sys.executable, "-c", code], input=json.dumps(headers), env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    for name, expected in program["references"].items():
        got = found[name]
        for reftype, path in expected.items():
            assert os.path.realpath(got[reftype]) == os.path.realpath(path), (name, reftype)
        for reftype in set(got) - set(expected):
            assert got[reftype] == "NOT FOUND n/a", (name, reftype, got[reftype])


def test_reference_headers_say_what_their_rules_select(program):
    """Re-registering an unchanged reference (``refs new-context --replace``) must replace its own rule.

    ``rule_from_reference`` reads the selection from the file's header; it must equal the rule the
    simulated rmaps hold for that file, else a replacement lands in a new rule CRDS never chooses.
    """
    from webbflow.refs.cache import context_rules, rule_from_reference

    rules = context_rules(program["crds_cache"], "jwst_0001.pmap")
    checked = 0
    for instrument, info in rules.items():
        for reftype, entry in info["types"].items():
            for match, by_date in (entry["selections"] or {}).items():
                for filename in by_date.values():
                    path = os.path.join(program["crds_cache"], "references", "jwst", instrument.lower(), filename)
                    if not filename.endswith(".fits"):
                        continue  # ASDF references keep their selection in the tree, not a FITS header
                    got = rule_from_reference(path, entry["parkey"])
                    assert (got[0], got[1], got[2]) == (instrument, reftype, match), filename
                    checked += 1
    assert checked > 20


# ---------------------------------------------------------------------------
# pool
# ---------------------------------------------------------------------------
def test_pool_parses_with_the_official_delimiter(program):
    table = astropy_ascii.read(program["pool"], delimiter="|", format="basic", guess=False)
    assert tuple(table.colnames) == POOL_COLUMNS
    assert len(table) == len(program["exposures"])
    assert [str(v) for v in table["FILENAME"]] == [os.path.basename(p) for p in program["uncal"]]
    for row, exp in zip(table, program["exposures"], strict=True):
        assert ast.literal_eval(str(row["ASN_CANDIDATE"])) == [(f"o{exp.observation:03d}", "OBSERVATION")]
        assert str(row["EXP_TYPE"]) == exp.exp_type and str(row["DETECTOR"]) == exp.detector
        assert str(row["SUBARRAY"]) == exp.subarray and str(row["PNTGTYPE"]) == "science"
        for flag in ("BKGDTARG", "IS_PSF", "IS_IMPRT", "TSOVISIT"):
            assert str(row[flag]) == "F"
    text = open(program["pool"], encoding="ascii").read().splitlines()
    assert all(line.count("|") == len(POOL_COLUMNS) - 1 for line in text)
    assert {str(v).zfill(5) for v in table["PROGRAM"]} == {"01234"}


# ---------------------------------------------------------------------------
# truth
# ---------------------------------------------------------------------------
def test_truth_files(program):
    total_sat = 0
    for truth_path, uncal, exp in zip(program["truth"], program["uncal"], program["exposures"], strict=True):
        truth = read_truth(truth_path)
        shape = (exp.sub.ysize, exp.sub.xsize)
        assert truth["rate"].shape == truth["rate_ipc"].shape == truth["dq"].shape == shape
        ref = (truth["dq"] & dqflags.REFERENCE_PIXEL) > 0
        dead = (truth["dq"] & dqflags.DO_NOT_USE) > 0
        assert np.all(truth["rate"][ref] == 0)
        assert np.all(np.isnan(truth["rate"][dead])) and np.all(np.isfinite(truth["rate"][~dead]))
        assert np.all(truth["rate"][~ref & ~dead] >= 0)
        if exp.exp_type != "NRS_FIXEDSLIT":  # imaging: sky everywhere; the slit spectrum leaves rows dark
            assert np.all(truth["rate"][~ref & ~dead] > 0)
        assert truth["crs"].dtype.names == ("integration", "group", "frame", "y", "x", "amplitude", "fraction")
        crs = truth["crs"]
        if len(crs):
            rn = fits.getdata(program["references"][exp.uncal_name]["readnoise"])
            ratio = crs["amplitude"] / rn[crs["y"], crs["x"]]
            assert ratio.min() >= 10 * 0.999 and ratio.max() <= 2000 * 1.001
            assert np.all(~ref[crs["y"], crs["x"]]) and np.all((crs["group"] >= 0) & (crs["group"] < exp.ngroups))
        data = fits.getdata(uncal, "SCI").astype(np.float64)
        sat_ref = fits.getdata(program["references"][exp.uncal_name]["saturation"])
        sat = truth["saturated"]
        total_sat += len(sat)
        for row in sat:
            i, y, x, g = row["integration"], row["y"], row["x"], row["group"]
            # group g reaches the level or contains frames on the plateau: the next group is all plateau
            if g + 1 < exp.ngroups:
                assert data[i, g + 1, y, x] > sat_ref[y, x] - 60
            else:
                assert data[i, g, y, x] > data[i, g - 1, y, x]
            if g > 0:
                assert data[i, g - 1, y, x] < sat_ref[y, x] + 60
    assert total_sat > 0, "the program has saturating sources"
    # every exposure sees cosmic rays at the default rate over its pixels and time
    assert all(len(read_truth(t)["crs"]) > 0 for t in program["truth"])


def test_cosmic_rays_show_up_as_jumps(program):
    checked = 0
    for truth_path, uncal, exp in zip(program["truth"], program["uncal"], program["exposures"], strict=True):
        truth = read_truth(truth_path)
        data = fits.getdata(uncal, "SCI").astype(np.float64)
        saturated = {(r["integration"], r["y"], r["x"]) for r in truth["saturated"]}
        hits = {}
        for row in truth["crs"]:
            hits.setdefault((row["integration"], row["y"], row["x"]), []).append(row)
        for (i, y, x), rows in hits.items():
            row = rows[0]
            g = row["group"]
            if len(rows) > 1 or (i, y, x) in saturated or g == 0 or row["amplitude"] < 500:
                continue
            diffs = np.diff(data[i, :, y, x])
            others = np.delete(diffs, [g - 1, min(g, len(diffs) - 1)])
            expected = row["amplitude"] * row["fraction"]
            jump = diffs[g - 1] - np.median(others)
            # IPC keeps ~97 % in the pixel; the non-linearity lowers a large hit a little more
            assert 0.75 * expected < jump < 1.05 * expected + 40, (exp.basename, row)
            checked += 1
    assert checked >= 5


# ---------------------------------------------------------------------------
# truth recovered by a simple calibration of a simulated ramp
# ---------------------------------------------------------------------------
def _frames(exp):
    cycle = exp.nframes + exp.groupgap
    frames = np.array([[g * cycle + j for j in range(exp.nframes)] for g in range(exp.ngroups)])
    return frames, (frames + 1.0) * exp.tframe


def _poly(coeffs, x):
    out = coeffs[-1] * x
    for j in range(coeffs.shape[0] - 2, 0, -1):
        out = (out + coeffs[j]) * x
    return out + coeffs[0]


def _calibrate(exp, refs, data, refpix=False):
    """A textbook detector1: IPC, bias, reference pixels, linearity, dark, OLS slope of the usable groups."""
    frames, times = _frames(exp)
    data = data.astype(np.float64)
    kernel = fits.getdata(refs.paths["ipc"]).astype(np.float64)
    for index in np.ndindex(data.shape[:2]):
        plane = data[index]
        data[index] = convolve(plane, kernel, skip=refs.refmask)
    coeffs = refs.coeffs.astype(np.float64)
    slopes = []
    use = np.ones(exp.ngroups, dtype=bool)
    for i in range(exp.nints):
        ramp = data[i].copy()
        if exp.instrument == "MIRI":
            reset = refs.reset[min(i, refs.reset.shape[0] - 1)]
            ramp[: reset.shape[0]] -= reset
            skip1, skip2 = rscd_skip_groups(exp.ngroups, exp.nints, *refs.rscd_skip[exp.readpatt])
            use = np.ones(exp.ngroups, dtype=bool)
            use[: skip1 if i == 0 else skip2] = False
            use[-1] = False  # last frame
        else:
            ramp -= refs.superbias
            if refpix:
                ref = refs.refmask
                parity = (np.arange(ramp.shape[-1]) % 2)[None, :].repeat(ramp.shape[-2], 0)
                if abs(exp.spec.fastaxis) == 2:
                    parity = (np.arange(ramp.shape[-2]) % 2)[:, None].repeat(ramp.shape[-1], 1)
                for g in range(exp.ngroups):
                    for p in (0, 1):
                        sel = ref & (parity == p)
                        ramp[g][parity == p] -= np.mean(ramp[g][sel])
        ramp = _poly(coeffs, ramp)
        dark = refs.dark[min(i, refs.dark.shape[0] - 1)].astype(np.float64)
        ramp -= dark[frames].mean(axis=1)
        t = times.mean(axis=1)[use]
        tc = t - t.mean()
        slopes.append(np.tensordot(tc, ramp[use] - ramp[use].mean(axis=0), axes=(0, 0)) / (tc**2).sum())
    return np.mean(slopes, axis=0), use


def _simulate_one(tmp_path, exp, effects, seed=11):
    _, subrefs = write_references(tmp_path / "cache", [exp], seed, full_frame_refs=False)
    refs = subrefs[(exp.detector, exp.subarray)]
    field = make_field([e for e in default_program() if e.observation == exp.observation],
                       np.random.default_rng(seed))
    rate = render(exp, field)
    data, truth = simulate_exposure(exp, refs, rate, np.random.default_rng([seed, 1]), effects)
    return refs, np.clip(np.rint(data), 0, 65535), truth


@pytest.mark.parametrize("instrument", ["NIRCAM", "MIRI"])
def test_noiseless_ramp_recovers_the_true_rate(tmp_path, instrument):
    exp = _exposure(instrument)
    refs, data, truth = _simulate_one(tmp_path, exp, Effects.noiseless())
    slope, use = _calibrate(exp, refs, data)
    good = _comparable(truth, refs)
    # the only noise left is the uint16 rounding of every group (slightly amplified by the IPC deconvolution)
    _, times = _frames(exp)
    t = times.mean(axis=1)[use]
    sigma = 1.1 * np.sqrt(1 / 12 / ((t - t.mean()) ** 2).sum()) / np.sqrt(exp.nints)
    resid = slope[good] - truth["rate"][good]
    worst = np.abs(resid) - 6 * sigma - 5e-4 * truth["rate"][good]
    assert worst.max() < 0, (np.abs(resid).max(), sigma)
    assert abs(np.mean(resid)) < 0.1 * sigma
    assert len(truth["saturated"]) > 0


def _comparable(truth, refs):
    """Pixels whose rate a perfect pipeline measures: live, off the subarray edge, away from saturation."""
    from scipy.ndimage import binary_dilation

    saturated = np.zeros(truth["rate"].shape, dtype=bool)
    saturated[truth["saturated"]["y"], truth["saturated"]["x"]] = True
    edge = np.ones(saturated.shape, dtype=bool)
    edge[1:-1, 1:-1] = False
    near = binary_dilation(saturated | refs.refmask | edge, structure=np.ones((3, 3), dtype=bool))
    return np.isfinite(truth["rate"]) & ~near


def test_noisy_ramp_statistics_match_the_noise_model(tmp_path):
    exp = _exposure("NIRCAM")
    refs, data, truth = _simulate_one(tmp_path, exp, Effects(one_over_f=False, cosmic_rays=False))
    slope, _ = _calibrate(exp, refs, data, refpix=True)
    good = _comparable(truth, refs)
    # exact variance of the OLS slope of frame-averaged groups: Poisson (cov ~ min(t_a, t_b)) + read noise
    _, times = _frames(exp)
    tg = times.mean(axis=1)
    w = (tg - tg.mean()) / ((tg - tg.mean()) ** 2).sum()
    cov = np.minimum(times.ravel()[:, None], times.ravel()[None, :]).reshape(exp.ngroups, exp.nframes,
                                                                            exp.ngroups, exp.nframes).mean(axis=(1, 3))
    poisson = w @ cov @ w
    read = (w**2).sum() / exp.nframes
    rate = truth["rate"][good]
    # 1/f noise is off: the white part of the read noise only
    sigma = np.sqrt(poisson * rate / refs.gain[good] + read * (refs.readnoise_white[good] ** 2 / 2))
    chi = (slope[good] - rate) / sigma
    robust = 1.4826 * np.median(np.abs(chi - np.median(chi)))
    assert 0.9 < robust < 1.15
    assert abs(np.median(chi)) < 0.15
    # without the reference-pixel correction the amplifier drifts bias every slope
    raw_slope, _ = _calibrate(exp, refs, data, refpix=False)
    assert abs(np.median((raw_slope[good] - rate) / sigma)) > 3 * abs(np.median(chi)) + 0.1


@pytest.mark.parametrize("instrument", ["NIRCAM", "NIRSPEC"])
def test_readnoise_reference_is_the_cds_noise_of_darks(tmp_path, instrument):
    """As a real reference measured from darks: the CDS noise of frame differences, 1/f noise included."""
    exp = _exposure(instrument)
    effects = Effects(poisson=False, ktc=False, drifts=False, cosmic_rays=False)
    _, subrefs = write_references(tmp_path / "cache", [exp], 11, full_frame_refs=False)
    refs = subrefs[(exp.detector, exp.subarray)]
    assert exp.spec.one_over_f > 0
    np.testing.assert_allclose(refs.readnoise.astype(float) ** 2,
                               refs.readnoise_white.astype(float) ** 2 + 2 * exp.spec.one_over_f ** 2, rtol=1e-5)
    rate = np.zeros((exp.sub.ysize, exp.sub.xsize))
    # two dark realisations: everything but the noise is the same, so it cancels in their difference
    first, _ = simulate_exposure(exp, refs, rate, np.random.default_rng(1), effects)
    second, _ = simulate_exposure(exp, refs, rate, np.random.default_rng(2), effects)
    noise = (first.astype(np.float64) - second)[0]
    cds = np.diff(noise, axis=0) / np.sqrt(2.0)  # the noise of one CDS difference of groups
    # groups average nframes independent frames: the CDS noise of a group difference is readnoise / sqrt(nframes)
    ratio = (cds**2).mean(axis=0) * exp.nframes / refs.readnoise.astype(np.float64) ** 2
    n = cds.shape[0]
    assert ratio.mean() == pytest.approx(1.0, abs=5 * np.sqrt(2.0 / (n * ratio.size)) + 0.01)
    # the white part alone falls short by the 1/f share
    white = (cds**2).mean() * exp.nframes / (refs.readnoise_white.astype(np.float64) ** 2).mean()
    assert white > 1.0 + exp.spec.one_over_f ** 2 / exp.spec.readnoise ** 2


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def test_invert_polynomial_inverts_the_linearity_correction():
    rng = np.random.default_rng(0)
    coeffs = np.zeros((4, 5, 6))
    coeffs[1] = 1.0
    coeffs[2] = 1.5e-6 * rng.uniform(0.9, 1.1, (5, 6))
    coeffs[3] = 1.0e-11 * rng.uniform(0.9, 1.1, (5, 6))
    measured = rng.uniform(-50, 60000, (5, 6))
    linear = _poly(coeffs, measured)
    np.testing.assert_allclose(invert_polynomial(coeffs, linear), measured, rtol=1e-9, atol=1e-6)


def test_ipc_kernels_are_inverse_and_convolution_conserves_flux():
    coupling, deconvolution = ipc_kernels(0.006)
    assert deconvolution.sum() == pytest.approx(1.0) and deconvolution[1, 1] == pytest.approx(1 + 4.4 * 0.006)
    image = np.zeros((11, 11))
    image[5, 5] = 1000.0
    spread = convolve(image, coupling)
    assert spread.sum() == pytest.approx(1000.0)
    assert spread[4, 5] == pytest.approx(6.0, rel=0.05) and spread[5, 5] == pytest.approx(973.6, rel=1e-3)
    restored = convolve(spread, deconvolution)
    assert restored[5, 5] == pytest.approx(1000.0, rel=1e-5)
    restored[5, 5] = 0.0
    assert np.abs(restored).max() < 1e-3


def test_rscd_skip_rules():
    assert rscd_skip_groups(10, 2, 1, 3) == (1, 3)
    assert rscd_skip_groups(5, 2, 1, 3) == (1, 1)
    assert rscd_skip_groups(6, 2, 2, 4) == (2, 3)
    assert rscd_skip_groups(2, 2, 1, 3) == (0, 0)


def test_full_frame_program_definition():
    exps = default_program(full_frame=True)
    assert {(e.sub.xsize, e.sub.ysize) for e in exps} == {(2048, 2048), (1032, 1024)}
    assert all(e.nframes == 1 for e in exps)
    assert [e.basename for e in exps] == [e.basename for e in default_program()]


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------
def test_cli_subcommand(tmp_path, capsys):
    from webbflow.simulate.cli import register

    parser = argparse.ArgumentParser(prog="webbflow")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["simulate", str(tmp_path / "out"), "--seed", "3", "--only", "niriss",
                              "--subarray-refs"])
    assert (args.seed, args.only, args.full_frame, args.subarray_refs) == (3, ["NIRISS"], False, True)
    assert args.func(args) == 0
    assert sorted(os.listdir(tmp_path / "out")) == ["crds_cache", "pool", "truth", "uncal"]
    assert os.listdir(tmp_path / "out" / "uncal") == ["jw01234002001_01101_00001_nis_uncal.fits"]
    assert "jwst_0001.pmap" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        parser.parse_args(["simulate", str(tmp_path), "--only", "WFC3"])


# ---------------------------------------------------------------------------
# the official data models open everything (compare extra)
# ---------------------------------------------------------------------------
@pytest.mark.compare
def test_official_datamodels_open_the_files(program):
    dm = pytest.importorskip("stdatamodels.jwst.datamodels")
    import warnings

    classes = {"mask": dm.MaskModel, "saturation": dm.SaturationModel, "superbias": dm.SuperBiasModel,
               "linearity": dm.LinearityModel, "gain": dm.GainModel, "readnoise": dm.ReadnoiseModel,
               "ipc": dm.IPCModel, "reset": dm.ResetModel, "rscd": dm.RSCDModel}
    opened = set()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for path, exp in zip(program["uncal"], program["exposures"], strict=True):
            with dm.RampModel(path) as model:
                model.validate()  # SUBARRAY, READPATT, EXP_TYPE ... are values the schemas allow
                assert model.data.shape == (exp.nints, exp.ngroups, exp.sub.ysize, exp.sub.xsize)
                assert model.meta.subarray.name == exp.subarray
                assert model.meta.exposure.nframes == exp.nframes
                assert model.meta.wcsinfo.v2_ref == pytest.approx(exp.v2_ref)
            for reftype, ref in program["references"][exp.uncal_name].items():
                if ref in opened:
                    continue
                opened.add(ref)
                cls = classes.get(reftype) or (dm.DarkMIRIModel if exp.instrument == "MIRI" else dm.DarkModel)
                with cls(ref) as model:
                    model.validate()
                    if reftype == "rscd":
                        table = model.rscd_group_skip_table
                        row = table[(table["subarray"] == exp.subarray) & (table["readpatt"] == exp.readpatt)]
                        assert len(row) == 1 and row["group_skip"][0] == 3
