"""What the association rules know about JWST exposure types and optical paths.

All values are lower case, as the pool reader lower-cases everything.
"""

#: Pool values that mean "not set" (an empty cell, null, false ...).
EMPTY_VALUES = frozenset({"", "null", "--", "n", "f", "false", "n/a"})

#: Target acquisition and confirmation exposures.
ACQ_EXP_TYPES = (
    "mir_tacq", "mir_taconfirm",
    "nis_taconfirm", "nis_tacq",
    "nrc_taconfirm", "nrc_tacq",
    "nrs_confirm", "nrs_msata", "nrs_taconfirm", "nrs_tacq", "nrs_taslit", "nrs_verify", "nrs_wata",
)

#: The association member type of calibration and acquisition exposures.
#: Every other EXP_TYPE makes a "science" member.
MEMBER_TYPE_OF_EXP_TYPE = {
    **dict.fromkeys(("mir_darkall", "mir_darkimg", "mir_darkmrs", "nis_dark", "nrc_dark", "nrs_dark"), "dark"),
    **dict.fromkeys(("mir_flatimage", "mir_flatmrs", "mir_flatimage-ext", "mir_flatmrs-ext", "nrc_flat"), "flat"),
    **dict.fromkeys(("nis_focus", "nis_lamp", "nrc_focus", "nrc_led", "nrs_focus", "nrs_image", "nrs_lamp"),
                    "engineering"),
    **dict.fromkeys(("mir_tacq", "mir_taconfirm", "nis_tacq", "nis_taconfirm", "nrc_tacq", "nrc_taconfirm",
                     "nrs_confirm", "nrs_msata", "nrs_tacq", "nrs_taconfirm", "nrs_taslit", "nrs_wata"),
                    "target_acquisition"),
    "nrs_autoflat": "autoflat",
    "nrs_autowave": "autowave",
}

#: Coronagraphic exposure types.
CORON_EXP_TYPES = ("mir_4qpm", "mir_lyot", "nrc_coron")

#: Imaging science exposures calibrated by calwebb_image2.
IMAGE2_SCIENCE = (
    "fgs_image", "mir_4qpm", "mir_image", "mir_lyot", "nis_ami", "nis_image", "nrc_coron", "nrc_image",
    "nrs_mimf", "nrc_tsimage",
)

#: Imaging exposures that are calibrated alone, as their own science (focus, NIRSpec images, acquisitions).
IMAGE2_NONSCIENCE = ("mir_coroncal", "nis_focus", "nrc_focus", "nrs_focus", "nrs_image") + ACQ_EXP_TYPES

#: Spectroscopic science exposures calibrated by calwebb_spec2.
SPEC2_SCIENCE = (
    "mir_lrs-fixedslit", "mir_lrs-slitless", "mir_mrs", "mir_wfss", "nis_soss", "nis_wfss", "nrc_tsgrism",
    "nrc_wfss", "nrs_fixedslit", "nrs_ifu", "nrs_msaspec", "nrs_brightobj",
)

#: Exposure types calibrated to "_cal" at stage 2 (the others stop at "_rate").
LEVEL2B_EXP_TYPES = frozenset(IMAGE2_SCIENCE + IMAGE2_NONSCIENCE + SPEC2_SCIENCE)

#: Exposure types that are always time series.
TSO_EXP_TYPES = ("nrc_tsimage", "nrc_tsgrism", "nrs_brightobj")

#: The nodding patterns used for background subtraction by nodding.
NOD_PATTERNS = ("2-point-nod", "4-point-nod", "along-slit-nod")

#: NIRSpec fixed-slit (slit, grating, filter, detector) combinations that put light on the detector.
#: Every A slit (S200A1, S200A2, S400A1, S1600A1) counts as "a".
NRS_FS_PATHS = frozenset(
    [("a", "prism", "clear", "nrs1")]
    + [("a", g, f, d) for g, f in (("g395h", "f290lp"), ("g235h", "f170lp"), ("g140h", "f100lp"))
       for d in ("nrs1", "nrs2")]
    + [("a", "g140h", "f070lp", "nrs1"), ("a", "g395m", "f290lp", "nrs1"), ("a", "g235m", "f170lp", "nrs1"),
       ("a", "g140m", "f100lp", "nrs1"), ("a", "g140m", "f070lp", "nrs1")]
    + [("s200b1", g, f, "nrs2") for g, f in (("prism", "clear"), ("g395h", "f290lp"), ("g235h", "f170lp"),
                                            ("g140h", "f100lp"), ("g395m", "f290lp"), ("g235m", "f170lp"),
                                            ("g140m", "f100lp"))]
    + [("s200b1", g, "f070lp", d) for g in ("g140h", "g140m") for d in ("nrs1", "nrs2")]
)

#: NIRSpec IFU (grating, filter, detector) combinations that put light on the detector.
NRS_IFU_PATHS = frozenset(
    [("prism", "clear", "nrs1"), ("g140m", "f070lp", "nrs1"), ("g140m", "f100lp", "nrs1"),
     ("g235m", "f170lp", "nrs1"), ("g395m", "f290lp", "nrs1"), ("g140h", "f070lp", "nrs1")]
    + [(g, f, d) for g, f in (("g140h", "f100lp"), ("g235h", "f170lp"), ("g395h", "f290lp"))
       for d in ("nrs1", "nrs2")]
)

#: NIRSpec fixed-slit lamp (grating, lamp, detector) combinations with light on the detector.
NRS_FS_LAMP_PATHS = frozenset(
    [("prism", lamp, d) for lamp in ("line4", "flat5", "test") for d in ("nrs1", "nrs2")]
    + [(g, lamp, d)
       for g, lamps in (("g395h", ("flat3", "line3")), ("g235h", ("flat2", "line2")),
                        ("g140h", ("flat1", "ref", "line1", "flat4")), ("g395m", ("flat3", "line3")),
                        ("g235m", ("flat2", "line2")), ("g140m", ("flat1", "line1", "flat4")))
       for lamp in lamps for d in ("nrs1", "nrs2")]
)

#: NIRISS SOSS filters with no calibration beyond stage 1.
NIS_SOSS_UNCALIBRATED_FILTERS = ("f277w",)

#: Every EXP_TYPE value JWST data can carry (the keyword's allowed values).
KNOWN_EXP_TYPES = frozenset(
    "fgs_dark fgs_focus fgs_image fgs_intflat fgs_skyflat fgs_acq1 fgs_acq2 fgs_fineguide fgs_id-image "
    "fgs_id-stack fgs_track "
    "mir_4qpm mir_coroncal mir_darkall mir_darkimg mir_darkmrs mir_flatimage mir_flatimage-ext mir_flatmrs "
    "mir_flatmrs-ext mir_image mir_lrs-fixedslit mir_lrs-slitless mir_lyot mir_mrs mir_taconfirm mir_tacq "
    "mir_wfss "
    "nis_ami nis_dark nis_extcal nis_focus nis_image nis_lamp nis_soss nis_tacq nis_taconfirm nis_wfss "
    "nrc_coron nrc_dark nrc_flat nrc_focus nrc_grism nrc_image nrc_wfss nrc_led nrc_wfsc nrc_taconfirm "
    "nrc_tacq nrc_tsgrism nrc_tsimage "
    "nrs_autoflat nrs_autowave nrs_brightobj nrs_confirm nrs_dark nrs_fixedslit nrs_focus nrs_ifu nrs_image "
    "nrs_lamp nrs_mimf nrs_msaspec nrs_msata nrs_taconfirm nrs_tacq nrs_taslit nrs_verify nrs_wata "
    "n/a any".split()
)

#: Candidate types whose level-3 associations must span more than one observation.
MULTI_OBSERVATION_CANDIDATES = ("group", "background", "mosaic")
