"""The level-2b rules: which exposure is calibrated, with which helpers.

A level-2b association calibrates one science exposure (its ``_rate`` file,
``_rateints`` for coronagraphy, AMI and time series).  Other exposures may
come along: backgrounds to subtract, imprint (leakcal) exposures, the direct
image of a grism field, the acquisition image of a MIRI LRS slit.

Common to all rules:

* same PROGRAM, and the same TSOVISIT where set;
* valid only for observation candidates, or for background candidates that
  bring a background exposure (discovered, group and mosaic candidates never
  make level-2 associations);
* the *mode* (`MODE`) is one instrument, detector, filter (or MRS band),
  pupil/grating, fixed slit, subarray and channel; excluded from any mode are
  the NIRSpec internal-lamp configuration, NIRCam grism time series on
  detector B long, and wavefront-sensing visits.

Kinds of rule:

``single``
    one association per science exposure, nothing else in it;
``science+extras``
    one association per science exposure, with the `Extra` exposures that
    share the attributes listed;
``nods``
    all exposures of one nod sequence are gathered, then split: each science
    exposure in turn is the science and the other nods its backgrounds;
``wfss``
    science+extras where the direct images are finally replaced by the
    level-3 image products (source catalogue, segmentation map);
``lrs-nods``
    MIRI LRS slit nods: the exposures at the other nod positions become
    backgrounds of each science exposure.
"""

from collections.abc import Callable
from dataclasses import dataclass

from webbflow.associations.common import MODE, PROGRAM, TSO_VISIT, mode_ok
from webbflow.associations.exptypes import IMAGE2_NONSCIENCE, IMAGE2_SCIENCE, SPEC2_SCIENCE
from webbflow.associations.features import alternatives
from webbflow.associations.grouping import Same

__all__ = ["Extra", "Level2Rule", "LEVEL2_RULES", "BASE"]

#: Same program and TSOVISIT flag.
BASE = (PROGRAM, TSO_VISIT)
EXP_TYPE = Same("exp_type", ("exp_type",))
MOSAIC_TILE = Same("mosaic_tile", ("mostilno",))


@dataclass(frozen=True)
class Extra:
    """Exposures that come along with the science exposure of a level-2 association.

    Attributes
    ----------
    role : str
        What they are, in words.
    select : callable
        ``select(exposures) -> mask``.
    same : tuple of Same
        Attributes they share with the science exposure.
    among : tuple of Same
        Attributes they share with each other (fixed by the first to join).
    member_type : str or None
        Forced member type (otherwise the rule's).
    late : str
        When exposures taken before the science one join: ``existing``
        (backgrounds, imprints: offered again to the existing associations) or
        ``nonscience`` (direct images, acquisition images: offered last).
        It only sets the order of the members.
    lead_same : tuple of Same
        Further attributes a science exposure must share with an earlier
        companion to join the association that companion started (member
        order only).
    """

    role: str
    select: Callable
    same: tuple = ()
    among: tuple = ()
    member_type: str | None = None
    late: str = "existing"
    lead_same: tuple = ()


@dataclass(frozen=True)
class Level2Rule:
    """A level-2b association rule.

    Attributes
    ----------
    name : str
        The official rule name.
    asn_type : str
        ``image2``, ``spec2``, ``tso-image2``, ``tso-spec2`` or ``nrslamp-spec2``.
    summary : str
        The rule in words.
    kind : str
        ``single``, ``science+extras``, ``nods``, ``wfss`` or ``lrs-nods``.
    science : callable
        ``science(exposures) -> mask`` of the exposures calibrated as the science
        (``nods`` rules: every exposure of the sequence).
    same : tuple of Same
        Attributes shared by the science exposure and its companions.
    extras : tuple of Extra
        Companion exposures.
    as_science : bool
        The exposure is calibrated as science whatever it is (auxiliary
        exposures: backgrounds, PSFs, imprints, acquisitions, lamps).
    nod_keys : tuple of Same
        ``nods`` rules: attributes only the science exposures share.
    any_candidate : bool
        Valid for any candidate type (WFSS pure parallels).
    per_integration_coron : bool
        Coronagraphic exposures are calibrated per integration (``_rateints``).
    prune_imprints : bool
        Keep only the imprints that best match the science exposure.
    direct_image_candidate : bool
        Only exposures whose candidate list is exactly one direct-image
        candidate (pure-parallel WFSS).
    """

    name: str
    asn_type: str
    summary: str
    kind: str
    science: Callable
    same: tuple = BASE
    extras: tuple = ()
    as_science: bool = False
    nod_keys: tuple = ()
    any_candidate: bool = False
    per_integration_coron: bool = True
    prune_imprints: bool = False
    direct_image_candidate: bool = False


def _science(ex):
    return ex.member_type_level2 == "science"


def _background(ex):
    return ex.background_target


def _image_science(ex):
    return ex.like("exp_type", alternatives(*IMAGE2_SCIENCE))


def _spectral(ex):
    return ex.like("exp_type", alternatives(*SPEC2_SCIENCE))


def _spec2_exp_types(*excluded):
    kept = [e for e in SPEC2_SCIENCE if e not in excluded]
    return lambda ex: ex.isin("exp_type", kept)


_SPEC_NOT_TSO = _spec2_exp_types("nis_wfss", "nrc_wfss", "nrs_fixedslit", "nrs_msaspec", "mir_lrs-slitless",
                                 "mir_lrs-fixedslit")
_SPEC_TSO = _spec2_exp_types("nrs_msaspec", "nrs_fixedslit", "mir_lrs-slitless", "mir_lrs-fixedslit")
_LRS = alternatives("mir_lrs-slitless", "mir_lrs-fixedslit")


def _wfss(grism, image, keys):
    """A WFSS rule: one grism exposure, with the direct images (and other non-science exposures) of its field."""
    def science(ex):
        return ex.like("exp_type", grism) & _science(ex)

    def companions(ex):
        return (ex.like("exp_type", grism) & ~_science(ex)) | ex.like("exp_type", image)

    return science, (Extra("direct images and other non-science exposures of the field", companions, keys,
                           late="nonscience"),)


_NIS_KEYS = (*BASE, Same("target", ("targetid",)), Same("instrument", ("instrume",)), Same("pupil", ("pupil",)),
             Same("subarray", ("subarray",)))
_NRC_KEYS = (*BASE, Same("target", ("targetid",)), Same("instrument", ("instrume",)),
             Same("detector", ("detector",)))
_PARALLEL_KEYS = (Same("target", ("targetid",)), Same("instrument", ("instrume",)))

_wfss_mir = _wfss("mir_wfss", "mir_image", _NRC_KEYS)
_wfss_nis = _wfss("nis_wfss", "nis_image", _NIS_KEYS)
_wfss_nrc = _wfss("nrc_wfss", "nrc_image", _NRC_KEYS)
_wfss_parallel = _wfss(alternatives("nis_wfss", "nrc_wfss", "mir_wfss"),
                       alternatives("nis_image", "nrc_image", "mir_image"), _PARALLEL_KEYS)

LEVEL2_RULES = (
    Level2Rule(
        "Asn_Lv2CoronAsRate", "image2",
        "NIRCam full-frame coronagraphy on a detector that sees the occulted target, also calibrated as "
        "ordinary images (_rate), with the backgrounds of the same mode.",
        "science+extras",
        lambda ex: (mode_ok(ex) & ex.like("exp_type", "nrc_coron") & ex.like("subarray", "full")
                    & ex.nrc_coron_valid_detector & ~_background(ex) & _science(ex)),
        same=(*BASE, *MODE),
        extras=(Extra("background exposures of the same mode",
                      lambda ex: (mode_ok(ex) & ex.like("exp_type", "nrc_coron") & ex.like("subarray", "full")
                                  & ex.nrc_coron_valid_detector & _background(ex)),
                      (*BASE, *MODE)),),
        per_integration_coron=False),
    Level2Rule(
        "Asn_Lv2FGS", "image2",
        "FGS science images (and focus exposures) outside wavefront-sensing visits.",
        "single",
        lambda ex: ex.like("exp_type", alternatives("fgs_image", "fgs_focus")) & ~ex.wfsc_visit & _science(ex)),
    Level2Rule(
        "Asn_Lv2Image", "image2",
        "Imaging science exposure (not a time series) with the backgrounds of the same mode and EXP_TYPE.",
        "science+extras",
        lambda ex: mode_ok(ex) & _image_science(ex) & ~ex.tso & ~_background(ex) & _science(ex),
        same=(*BASE, *MODE, EXP_TYPE),
        extras=(Extra("background exposures of the same mode",
                      lambda ex: mode_ok(ex) & _image_science(ex) & ~ex.tso & _background(ex),
                      (*BASE, *MODE, EXP_TYPE)),)),
    Level2Rule(
        "Asn_Lv2ImageNonScience", "image2",
        "Target acquisitions, focus and NIRSpec images (including the MSA all-open mirror exposure), each "
        "calibrated alone as science.",
        "single",
        lambda ex: (ex.target_acq | ex.like("exp_type", alternatives(*IMAGE2_NONSCIENCE))
                    | (ex.like("exp_type", "nrs_msaspec") & ex.like("msastate", "primarypark_allopen")
                       & ex.like("grating", "mirror"))),
        as_science=True),
    Level2Rule(
        "Asn_Lv2ImageSpecial", "image2",
        "Imaging exposure of a background target or a PSF reference, calibrated alone as science.",
        "single",
        lambda ex: mode_ok(ex) & _image_science(ex) & (ex.is_set("bkgdtarg") | ex.is_set("is_psf")),
        as_science=True),
    Level2Rule(
        "Asn_Lv2ImageTSO", "tso-image2",
        "Imaging time-series exposure, calibrated alone (_rateints).",
        "single",
        lambda ex: mode_ok(ex) & _image_science(ex) & ex.tso & _science(ex)),
    Level2Rule(
        "Asn_Lv2MIRLRSFixedSlitNod", "spec2",
        "MIRI LRS fixed-slit along-slit nods: each nod position calibrated with the exposures at the other "
        "positions as backgrounds, and the target-acquisition confirmation image.  Not for background "
        "candidates.",
        "lrs-nods",
        lambda ex: (ex.like("exp_type", "mir_lrs-fixedslit") & ex.is_set("patt_num") & _science(ex)
                    & ex.like("patttype", "along-slit-nod"))),
    Level2Rule(
        "Asn_Lv2NRSFSS", "spec2",
        "NIRSpec fixed-slit nods: the exposures of one nod sequence (same EXPSPCIN, number of points and "
        "sub-pixel points) on a slit/grating/filter path that lights the detector; each nod is calibrated "
        "with the others as backgrounds unless they overlap on the sky.",
        "nods",
        lambda ex: mode_ok(ex) & ex.like("exp_type", "nrs_fixedslit") & ex.nrs_fs_valid_path,
        same=(*BASE, *MODE),
        nod_keys=(Same("expspcin", ("expspcin",)), Same("nods", ("numdthpt",)),
                  Same("subpxpts", ("subpxpns", "subpxpts")))),
    Level2Rule(
        "Asn_Lv2NRSIFUNod", "spec2",
        "NIRSpec IFU 2- or 4-point nods of one mosaic tile on a grating/filter path that lights the "
        "detector, with their imprints; each nod is calibrated with the others as backgrounds.",
        "nods",
        lambda ex: (mode_ok(ex) & ex.like("exp_type", "nrs_ifu") & ex.nrs_ifu_valid_path
                    & ex.like("patttype", alternatives("2-point-nod", "4-point-nod"))),
        same=(*BASE, *MODE, Same("patttype", ("patttype",)), MOSAIC_TILE),
        prune_imprints=True),
    Level2Rule(
        "Asn_Lv2NRSLAMPImage", "image2",
        "NIRSpec lamp exposure through the mirror (imaging), calibrated alone.",
        "single",
        lambda ex: (ex.like("exp_type", "nrs_lamp") & ex.like("grating", "mirror")
                    & (~ex.is_set("opmode") | ex.like("opmode", "image"))),
        as_science=True),
    Level2Rule(
        "Asn_Lv2NRSLAMPSpectral", "nrslamp-spec2",
        "NIRSpec spectral lamp calibrations (autoflat, autowave, lamp) with the OPAQUE filter, a lamp on, and a "
        "grating/lamp path that lights the detector (MSA mode needs the MSA metadata file).",
        "single",
        lambda ex: (ex.like("exp_type", alternatives("nrs_autoflat", "nrs_autowave", "nrs_lamp"))
                    & ex.like("filter", "opaque") & ex.nrs_lamp_valid_path
                    & (~ex.like("opmode", "msaspec") | ex.is_set("msametfl")) & ex.is_set("lamp")
                    & ~(ex.like("grating", "mirror") | ex.like("opmode", "grating-only")
                        | ex.like("lamp", "nolamp"))),
        as_science=True),
    Level2Rule(
        "Asn_Lv2NRSMSA", "spec2",
        "NIRSpec MSA spectra with one MSA metadata file and exposure sequence: each nod is calibrated with the "
        "other nods as backgrounds unless they overlap.",
        "nods",
        lambda ex: (mode_ok(ex) & ex.like("exp_type", "nrs_msaspec") & ex.is_set("msametfl")
                    & ex.is_set("expspcin")),
        same=(*BASE, *MODE, Same("msametfl", ("msametfl",)), Same("expspcin", ("expspcin",)))),
    Level2Rule(
        "Asn_Lv2Spec", "spec2",
        "Spectroscopic science exposure (MIRI MRS, NIRSpec IFU, NIRISS SOSS, ... not a time series, not "
        "nodded) with the backgrounds of the same mode and the imprints of the same mosaic tile.",
        "science+extras",
        lambda ex: (mode_ok(ex) & _SPEC_NOT_TSO(ex) & ~ex.tso & ~ex.nod_pattern & ex.nrs_ifu_valid_path
                    & ~_background(ex) & ~ex.is_set("is_imprt") & _science(ex) & ex.is_set("mostilno")),
        same=(*BASE, *MODE, EXP_TYPE, Same("mosaic_tile", ("mostilno",), required=False)),
        extras=(
            Extra("background exposures of the same mode",
                  lambda ex: (mode_ok(ex) & _SPEC_NOT_TSO(ex) & ~ex.tso & ~ex.nod_pattern
                              & ex.nrs_ifu_valid_path & _background(ex)),
                  (*BASE, *MODE, EXP_TYPE)),
            Extra("imprint exposures of the same mosaic tile",
                  lambda ex: (mode_ok(ex) & _SPEC_NOT_TSO(ex) & ~ex.tso & ~ex.nod_pattern
                              & ex.nrs_ifu_valid_path & ~_background(ex) & ex.is_set("is_imprt")
                              & ex.is_set("mostilno")),
                  (*BASE, *MODE, EXP_TYPE, MOSAIC_TILE)),
        ),
        prune_imprints=True),
    Level2Rule(
        "Asn_Lv2SpecImprint", "spec2",
        "Spectroscopic imprint (leakcal) exposure, calibrated alone as science.",
        "single",
        lambda ex: mode_ok(ex) & _spectral(ex) & ex.nrs_ifu_valid_path & ex.is_set("is_imprt"),
        as_science=True),
    Level2Rule(
        "Asn_Lv2SpecSpecial", "spec2",
        "Spectroscopic exposure of a background target or a PSF reference, calibrated alone as science with "
        "the background imprints of its mosaic tile.",
        "science+extras",
        lambda ex: (mode_ok(ex) & _spectral(ex) & (ex.is_set("bkgdtarg") | ex.is_set("is_psf"))
                    & ex.nrs_ifu_valid_path),
        same=(*BASE, *MODE, EXP_TYPE,
              Same("mosaic_tile", ("mostilno",), required=False,
                   exempt=lambda ctx, idx: ~ctx.flag_set("is_imprt")[ctx.block_rows[idx]])),
        extras=(Extra("background imprint exposures of the same mosaic tile",
                      lambda ex: (mode_ok(ex) & _spectral(ex) & (ex.is_set("bkgdtarg") | ex.is_set("is_psf"))
                                  & ex.nrs_ifu_valid_path & ex.is_set("is_imprt") & ex.is_set("mostilno")),
                      (*BASE, *MODE, EXP_TYPE, Same("mosaic_tile", ("mostilno",), required=False)),
                      member_type="imprint"),),
        as_science=True,
        prune_imprints=True),
    Level2Rule(
        "Asn_Lv2SpecTSO", "tso-spec2",
        "Spectroscopic time series (NIRCam grism, NIRSpec bright object, NIRISS SOSS, ...), calibrated alone; "
        "excludes NIRCam grism with the CLEAR pupil, NIRSpec bright-object paths without light and SOSS with "
        "an uncalibrated filter.",
        "single",
        lambda ex: (mode_ok(ex) & _SPEC_TSO(ex) & ex.tso & _science(ex)
                    & ~(ex.like("exp_type", "nrc_tsgrism") & ex.like("pupil", "clear"))
                    & ~(ex.like("exp_type", "nrs_brightobj") & ~ex.nrs_fs_valid_path)
                    & ~(ex.like("exp_type", "nis_soss") & ~ex.nis_soss_calibrated))),
    Level2Rule(
        "Asn_Lv2WFSC", "image2",
        "Wavefront-sensing and control images, calibrated alone; NIRCam line-of-sight jitter exposures "
        "excluded.",
        "single",
        lambda ex: (_image_science(ex) & ex.wfsc_visit & _science(ex)
                    & ~(ex.like("dms_note", "wfsc_los_jitter") & ex.like("exp_type", "nrc_image")))),
    Level2Rule(
        "Asn_Lv2WFSSMIR", "spec2",
        "MIRI WFSS grism exposure with the direct images of the same target, detector and program.",
        "wfss", _wfss_mir[0], same=_NRC_KEYS, extras=_wfss_mir[1]),
    Level2Rule(
        "Asn_Lv2WFSSNIS", "spec2",
        "NIRISS WFSS grism exposure with the direct images of the same target, pupil (blocking filter) and "
        "subarray.",
        "wfss", _wfss_nis[0], same=_NIS_KEYS, extras=_wfss_nis[1]),
    Level2Rule(
        "Asn_Lv2WFSSNRC", "spec2",
        "NIRCam WFSS grism exposure with the direct images of the same target, detector and program.",
        "wfss", _wfss_nrc[0], same=_NRC_KEYS, extras=_wfss_nrc[1]),
    Level2Rule(
        "Asn_Lv2WFSSParallel", "spec2",
        "Pure-parallel WFSS (direct-image candidates): grism exposure with the direct images of the "
        "candidate, same instrument; valid for any candidate type.",
        "wfss",
        lambda ex: _wfss_parallel[0](ex),
        same=_PARALLEL_KEYS, extras=_wfss_parallel[1], any_candidate=True, direct_image_candidate=True),
    Level2Rule(
        "Asn_MIRLRSTAConfirm", "spec2",
        "MIRI LRS (slit or slitless) science exposure with the non-TSO backgrounds of its mode and the "
        "target-acquisition confirmation image of one observation activity.",
        "science+extras",
        lambda ex: ex.like("exp_type", _LRS) & _science(ex) & mode_ok(ex),
        same=(*BASE, *MODE),
        extras=(
            Extra("non-TSO background exposures of the same mode",
                  lambda ex: ex.like("exp_type", _LRS) & _background(ex) & ~ex.tso & mode_ok(ex),
                  (*BASE, *MODE), among=(EXP_TYPE,)),
            Extra("the target-acquisition confirmation image",
                  lambda ex: ex.like("exp_type", "mir_taconfirm"),
                  BASE, among=(Same("obs_id", ("obs_id",)),), late="nonscience", lead_same=MODE),
        )),
)

