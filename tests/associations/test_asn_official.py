"""Side by side with the official generator (needs the ``compare`` extra: the jwst package).

Real pools (the official outputs are also stored: see test_asn_pools) and
small synthetic pools for the rules no real pool exercises: NIRCam
coronagraphy as images, MIRI LRS slit nods, NIRSpec lamps, NIRCam WFSS and
pure-parallel WFSS, background-target imaging, NIRISS SOSS, MRS backgrounds.
Every file must be identical but for ``constraints`` and ``code_version``.
"""

import json
from pathlib import Path

import pytest

from webbflow.associations import generate, read_pool, write_associations

POOLS = Path(__file__).resolve().parents[3] / "shared" / "data" / "associations" / "pools"

pytestmark = pytest.mark.compare


def _official(pool, outdir):
    main = pytest.importorskip("jwst.associations.main")
    Path(outdir).mkdir(parents=True, exist_ok=True)
    main.Main.cli([str(pool), "-p", str(outdir)])
    return {p.name: json.loads(p.read_text()) for p in Path(outdir).glob("*.json")}


def _strip(asn):
    return {k: v for k, v in asn.items() if k not in ("constraints", "code_version")}


def _compare(pool, tmp_path):
    official = _official(pool, tmp_path / "official")
    ours = {p.name: json.loads(p.read_text())
            for p in write_associations(generate(read_pool(pool)), tmp_path / "ours")}
    assert sorted(ours) == sorted(official)
    for fname, asn in official.items():
        assert _strip(ours[fname]) == _strip(asn), fname
    return official


@pytest.mark.parametrize("name", ["pool_002_image_miri", "pool_024b_nirspec_fss_nods"])
def test_same_files_as_official(name, tmp_path):
    pool = POOLS / f"{name}.csv"
    if not pool.exists():
        pytest.skip("pool not present")
    _compare(pool, tmp_path)


# ----------------------------------------------------------------- synthetic pools
COLS = ["filename", "program", "obs_num", "obs_id", "act_id", "visitype", "exp_type", "instrume", "detector",
        "channel", "targetid", "pntgtype", "filter", "pupil", "grating", "subarray", "fxd_slit", "patttype",
        "patt_num", "numdthpt", "subpxpts", "expspcin", "dithptin", "mostilno", "bkgdtarg", "is_psf", "is_imprt",
        "tsovisit", "opmode", "lamp", "msametfl", "msastate", "nints", "dms_note", "exposerr", "asn_candidate"]
DEF = dict(program="01234", obs_num="1", obs_id="v01234001001p0000000002101", act_id="01",
           visitype="prime_targeted_fixed", channel="null", targetid="1", pntgtype="science", pupil="null",
           grating="null", subarray="full", fxd_slit="null", patttype="null", patt_num="1", numdthpt="1",
           subpxpts="1", expspcin="1", dithptin="1", mostilno="1", bkgdtarg="f", is_psf="f", is_imprt="f",
           tsovisit="f", opmode="null", lamp="null", msametfl="null", msastate="null", nints="10", dms_note="null",
           exposerr="null", asn_candidate="[('o001', 'observation')]")

def rows(specs):
    """Pool records from the column values that differ from `DEF`."""
    out = []
    for i, spec in enumerate(specs, 1):
        rec = dict(DEF)
        rec.update(spec)
        rec.setdefault("filename", f"jw01234{rec['obs_num']:0>3}001_02101_{i:05d}_{rec['detector']}_uncal.fits")
        out.append(rec)
    return out

def coron():
    c = "[('o001', 'observation'), ('c1000', 'coronagraphy')]"
    base = dict(exp_type="nrc_coron", instrume="nircam", channel="short", pupil="maskrnd", filter="f210m",
                asn_candidate=c)
    return rows([
        dict(base, detector="nrca2", expspcin="1"),
        dict(base, detector="nrca2", expspcin="2"),
        dict(base, detector="nrca1", expspcin="1"),
        dict(base, detector="nrca2", is_psf="t", targetid="2", expspcin="3"),
        dict(base, detector="nrca2", bkgdtarg="t", targetid="3", expspcin="4"),
        dict(base, detector="nrcalong", channel="long", filter="f335m", expspcin="1"),
        dict(base, detector="nrcalong", channel="long", filter="f335m", is_psf="t", targetid="2", expspcin="3"),
        dict(exp_type="nrc_tacq", instrume="nircam", detector="nrca2", channel="short", pntgtype="target_acquisition",
             filter="f210m", pupil="maskrnd", subarray="sub64fp1a", asn_candidate=c),
    ])

def lrs():
    c = "[('o001', 'observation')]"
    base = dict(exp_type="mir_lrs-fixedslit", instrume="miri", detector="mirimage", filter="p750l",
                patttype="along-slit-nod", numdthpt="2", asn_candidate=c, obs_id="v01234001001p0000000003101")
    return rows([
        dict(exp_type="mir_taconfirm", instrume="miri", detector="mirimage", filter="f1500w", asn_candidate=c,
             obs_id="v01234001001p0000000002101"),
        dict(base, patt_num="1", expspcin="1"),
        dict(base, patt_num="2", expspcin="2"),
        dict(base, patt_num="1", expspcin="3"),
        dict(base, patt_num="2", expspcin="4"),
        dict(base, patt_num="1", bkgdtarg="t", targetid="2", expspcin="5",
             asn_candidate="[('o001', 'observation'), ('c1000', 'background')]"),
        dict(exp_type="mir_lrs-slitless", instrume="miri", detector="mirimage", filter="p750l", subarray="slitlessprism",
             tsovisit="t", obs_num="2", asn_candidate="[('o002', 'observation')]"),
        dict(exp_type="mir_taconfirm", instrume="miri", detector="mirimage", filter="f1500w", subarray="slitlessprism",
             obs_num="2", asn_candidate="[('o002', 'observation')]", obs_id="v01234002001p0000000002101"),
    ])

def lamps():
    c = "[('o001', 'observation')]"
    base = dict(instrume="nirspec", detector="nrs1", filter="opaque", asn_candidate=c, pntgtype="science")
    return rows([
        dict(base, exp_type="nrs_lamp", grating="mirror", opmode="image", lamp="line1", filter="f110w"),
        dict(base, exp_type="nrs_autoflat", grating="g140h", opmode="ifu", lamp="flat1"),
        dict(base, exp_type="nrs_autowave", grating="g140m", opmode="fixedslit", lamp="line1"),
        dict(base, exp_type="nrs_autowave", grating="g140m", opmode="fixedslit", lamp="line1", detector="nrs2"),
        dict(base, exp_type="nrs_lamp", grating="g235h", opmode="msaspec", lamp="flat2"),
        dict(base, exp_type="nrs_lamp", grating="g235h", opmode="msaspec", lamp="flat2", msametfl="jw_msa.fits"),
        dict(base, exp_type="nrs_lamp", grating="g395h", opmode="ifu", lamp="nolamp"),
        dict(base, exp_type="nrs_lamp", grating="prism", opmode="grating-only", lamp="line4"),
    ])

def wfss():
    c = "[('o001', 'observation')]"
    d = "[('c1000', 'direct_image')]"
    return rows([
        dict(exp_type="nrc_image", instrume="nircam", detector="nrcalong", channel="long", filter="f444w",
             pupil="clear", expspcin="1", asn_candidate=c),
        dict(exp_type="nrc_wfss", instrume="nircam", detector="nrcalong", channel="long", filter="f444w",
             pupil="grismr", expspcin="2", asn_candidate=c),
        dict(exp_type="nrc_wfss", instrume="nircam", detector="nrcalong", channel="long", filter="f444w",
             pupil="grismr", expspcin="3", asn_candidate=c),
        dict(exp_type="nrc_image", instrume="nircam", detector="nrcalong", channel="long", filter="f444w",
             pupil="clear", expspcin="4", asn_candidate=c),
        dict(exp_type="nrc_wfss", instrume="nircam", detector="nrcalong", channel="long", filter="f444w",
             pupil="grismc", expspcin="5", asn_candidate=c),
        dict(exp_type="nis_image", instrume="niriss", detector="nis", filter="clear", pupil="f200w", obs_num="2",
             targetid="null", expspcin="1", asn_candidate=d),
        dict(exp_type="nis_wfss", instrume="niriss", detector="nis", filter="gr150r", pupil="f200w", obs_num="3",
             targetid="null", expspcin="1", asn_candidate=d),
        dict(exp_type="nis_wfss", instrume="niriss", detector="nis", filter="gr150c", pupil="f200w", obs_num="3",
             targetid="null", expspcin="2", asn_candidate=d),
    ])

def misc():
    return rows([
        dict(exp_type="mir_image", instrume="miri", detector="mirimage", filter="f770w", bkgdtarg="t", targetid="2"),
        dict(exp_type="mir_image", instrume="miri", detector="mirimage", filter="f770w", bkgdtarg="t", targetid="2"),
        dict(exp_type="mir_image", instrume="miri", detector="mirimage", filter="f770w"),
        dict(exp_type="nis_soss", instrume="niriss", detector="nis", filter="clear", pupil="gr700xd",
             subarray="substrip256", obs_num="2", asn_candidate="[('o002', 'observation')]"),
        dict(exp_type="nis_soss", instrume="niriss", detector="nis", filter="clear", pupil="gr700xd",
             subarray="substrip256", obs_num="2", asn_candidate="[('o002', 'observation')]"),
        dict(exp_type="mir_mrs", instrume="miri", detector="mirifushort", band="short", filter="null",
             targetid="2", bkgdtarg="t", obs_num="3", asn_candidate="[('o003', 'observation')]"),
    ])




SYNTHETIC = {"coron": (coron, {"Asn_Lv2CoronAsRate", "Asn_Lv3NRCCoron", "Asn_Lv3NRCCoronImage"}),
             "lrs": (lrs, {"Asn_Lv2MIRLRSFixedSlitNod", "Asn_Lv3SpectralTarget", "Asn_MIRLRSTAConfirm"}),
             "lamps": (lamps, {"Asn_Lv2NRSLAMPImage", "Asn_Lv2NRSLAMPSpectral"}),
             "wfss": (wfss, {"Asn_Lv2WFSSNRC", "Asn_Lv2WFSSParallel", "Asn_Lv3WFSSNRC"}),
             "misc": (misc, {"Asn_Lv3ImageBackground", "Asn_Lv3SlitlessSpectral", "Asn_Lv3MIRMRSBackground"})}


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_pool_same_as_official(name, tmp_path):
    make, rules = SYNTHETIC[name]
    records = make()
    columns = COLS + sorted({k for r in records for k in r} - set(COLS))
    pool = tmp_path / f"jw01234_{name}_pool.csv"
    pool.write_text("|".join(columns) + "\n"
                    + "\n".join("|".join(r.get(c, "null") for c in columns) for r in records) + "\n")
    official = _compare(pool, tmp_path)
    made = {asn["asn_rule"].split("_", 1)[1] for asn in official.values()}
    assert rules <= made, f"the pool no longer exercises {sorted(rules - made)}"


def test_official_reader_loads_our_files(tmp_path):
    load_asn = pytest.importorskip("jwst.associations").load_asn
    pool = POOLS / "pool_019_niriss_wfss.csv"
    if not pool.exists():
        pytest.skip("pool not present")
    for path in write_associations(generate(read_pool(pool)), tmp_path):
        with path.open() as fh:
            asn = load_asn(fh)
        assert asn["products"]
