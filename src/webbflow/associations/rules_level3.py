"""The level-3 rules: which calibrated exposures are combined into one product.

Every rule below is one place: its selection of exposures (a vectorised mask
over the pool) and the attributes its members share.  Common to all of them
(the official "science" base):

* same PROGRAM and INSTRUMENT;
* no imprint/leakcal exposure (IS_IMPRT set) ever reaches stage 3;
* target acquisitions of the same observation(s) are added to every
  association as ``target_acquisition`` members;
* an association needs a science member; candidates of type group,
  background or mosaic must span more than one observation.

Member types: ``science``, ``psf`` (IS_PSF), ``background`` (BKGDTARG) and
``target_acquisition``; rules marked *auxiliary* treat every exposure as
science.  Background members are named ``_x1d``, the others ``_cal`` (or
``_calints`` for coronagraphy, AMI and time series).
"""

from collections.abc import Callable
from dataclasses import dataclass

from webbflow.associations.common import IMAGE3_EXP_TYPES, OPTICAL_PATH
from webbflow.associations.features import alternatives
from webbflow.associations.grouping import Same

__all__ = ["Level3Rule", "LEVEL3_RULES"]


@dataclass(frozen=True)
class Level3Rule:
    """A level-3 association rule.

    Attributes
    ----------
    name : str
        The official rule name (``asn_rule`` is ``candidate_<name>`` or ``discover_<name>``).
    asn_type : str
        ``image3``, ``spec3``, ``coron3``, ``ami3``, ``tso3`` or ``wfs-image3``.
    summary : str
        The rule in words.
    select : callable
        ``select(exposures) -> mask`` of exposures that may be members.
    same : tuple of Same
        Attributes every member shares (besides program and instrument).
    target : str or None
        ``"science"``: same target, backgrounds exempt; ``"science-only"``:
        only science members are held to the target (PSF references and
        backgrounds are not); ``"all"``: every member; None: any target.
    auxiliary : bool
        Every member is science (backgrounds and PSFs calibrated on their own).
    name_form : str
        Product name form (see `webbflow.associations.naming.product_name`).
    needs_psf : bool
        Valid only with a PSF member (coronagraphy, AMI).
    candidate_types : tuple of str or None
        Only candidates of these types make this association.
    excluded_candidate_types : tuple of str
        Candidates of these types never make it.
    min_members : int
        Minimum number of members.
    reoffer : bool
        Exposures are offered again to every association once all exist.
    coron_as_image : bool
        Coronagraphic members are named ``_cal``, not ``_calints``.
    nod_backgrounds : bool
        With a nod pattern and two or more science exposures, each science
        exposure is also a background (``_x1d``) member.
    """

    name: str
    asn_type: str
    summary: str
    select: Callable
    same: tuple = ()
    target: str | None = "science"
    auxiliary: bool = False
    name_form: str = "default"
    needs_psf: bool = False
    candidate_types: tuple | None = None
    excluded_candidate_types: tuple = ()
    min_members: int = 1
    reoffer: bool = True
    coron_as_image: bool = False
    nod_backgrounds: bool = False


EXP_TYPE = Same("exp_type", ("exp_type",))
VISIT_TYPE = Same("wfsvisit", ("visitype",), required=False)
BACKGROUND_FLAG = Same("bkgdtarg", ("bkgdtarg",))
GRATING = Same("opt_elem", ("grating",))


def _imaging(ex):
    """Imaging exposure types, outside wavefront-sensing visits."""
    return ex.like("exp_type", IMAGE3_EXP_TYPES) & (~ex.is_set("visitype") | ex.visit_without_wfsc)


LEVEL3_RULES = (
    Level3Rule(
        "Asn_Lv3AMI", "ami3",
        "NIRISS AMI: science and PSF-reference exposures through one optical path (needs a PSF reference).",
        lambda ex: ex.like("exp_type", "nis_ami"),
        same=OPTICAL_PATH, target="science-only", needs_psf=True),
    Level3Rule(
        "Asn_Lv3Image", "image3",
        "Imaging mosaic of one target: NIRCam/MIRI/NIRISS/FGS images (and NIRSpec MIMF), one EXP_TYPE and "
        "optical path, no time series, no background target, no wavefront-sensing visit.",
        lambda ex: _imaging(ex) & ~ex.background_target & ~ex.tso,
        same=(*OPTICAL_PATH, EXP_TYPE, VISIT_TYPE)),
    Level3Rule(
        "Asn_Lv3ImageBackground", "image3",
        "Imaging of a background target (BKGDTARG set), processed as its own mosaic.",
        lambda ex: _imaging(ex) & ex.background_target & ~ex.tso,
        same=(*OPTICAL_PATH, EXP_TYPE, VISIT_TYPE, BACKGROUND_FLAG), auxiliary=True),
    Level3Rule(
        "Asn_Lv3ImageMosaic", "image3",
        "Mosaic candidate: images of all its tiles whatever the target, one EXP_TYPE and optical path.",
        lambda ex: _imaging(ex) & ~ex.background_target & ~ex.tso,
        same=(*OPTICAL_PATH, EXP_TYPE, VISIT_TYPE), target=None, candidate_types=("mosaic",), reoffer=False),
    Level3Rule(
        "Asn_Lv3MIRCoron", "coron3",
        "MIRI coronagraphy (Lyot or 4QPM): science and PSF references, one optical path (needs a PSF).",
        lambda ex: ex.like("exp_type", alternatives("mir_lyot", "mir_4qpm")) & ~ex.background_target,
        same=(*OPTICAL_PATH, EXP_TYPE), target="science-only", needs_psf=True, name_form="default"),
    Level3Rule(
        "Asn_Lv3MIRMRS", "spec3",
        "MIRI MRS cube of one target, all channels and bands together, with its backgrounds; no time series.",
        lambda ex: ex.like("exp_type", "mir_mrs") & ~ex.tso,
        name_form="noopt"),
    Level3Rule(
        "Asn_Lv3MIRMRSBackground", "spec3",
        "MIRI MRS of a background target (BKGDTARG=T), processed as its own cube.",
        lambda ex: ex.like("exp_type", "mir_mrs") & ~ex.tso & ex.like("bkgdtarg", "t"),
        same=(BACKGROUND_FLAG,), target="all", auxiliary=True, name_form="noopt", reoffer=False),
    Level3Rule(
        "Asn_Lv3NRCCoron", "coron3",
        "NIRCam coronagraphy: science and PSF references on a detector that sees the occulted target "
        "(needs a PSF).",
        lambda ex: ex.like("exp_type", "nrc_coron") & ~ex.background_target & ex.nrc_coron_valid_detector,
        same=OPTICAL_PATH, target="science-only", needs_psf=True),
    Level3Rule(
        "Asn_Lv3NRCCoronImage", "image3",
        "NIRCam coronagraphic short-wave full-frame exposures also combined as plain imaging (no PSF, no "
        "background).",
        lambda ex: (ex.like("exp_type", "nrc_coron") & ~ex.background_target & ~ex.like("is_psf", "t")
                    & ex.like("channel", "short") & ex.like("subarray", "full")),
        same=OPTICAL_PATH, target="science-only", name_form="coronimage", coron_as_image=True),
    Level3Rule(
        "Asn_Lv3NRSFSS", "spec3",
        "NIRSpec fixed slit of one target (with its lamp calibrations and backgrounds): one slit, grating and "
        "filter on a detector they illuminate; no time series.",
        lambda ex: (~ex.tso & ex.like("exp_type", alternatives("nrs_autoflat", "nrs_autowave", "nrs_fixedslit"))
                    & ex.nrs_fs_valid_path),
        same=OPTICAL_PATH, name_form="nrsfs"),
    Level3Rule(
        "Asn_Lv3NRSIFU", "spec3",
        "NIRSpec IFU cube of one target: one grating, a dither pattern, a detector the grating illuminates; "
        "no time series.",
        lambda ex: (ex.like("exp_type", alternatives("nrs_autowave", "nrs_ifu")) & ex.nrs_ifu_valid_path
                    & ~ex.tso),
        same=(Same("patttype", ("patttype",)), GRATING)),
    Level3Rule(
        "Asn_Lv3NRSIFUBackground", "spec3",
        "NIRSpec IFU of a background target (BKGDTARG=T), one grating, processed as its own cube.",
        lambda ex: ~ex.tso & ex.like("bkgdtarg", "t") & ex.like("exp_type", "nrs_ifu") & ex.nrs_ifu_valid_path,
        same=(BACKGROUND_FLAG, GRATING), auxiliary=True),
    Level3Rule(
        "Asn_Lv3SlitlessSpectral", "spec3",
        "NIRISS SOSS of one target without a dither pattern, one optical path; no time series.",
        lambda ex: (~ex.tso & ex.like("exp_type", "nis_soss") & ~ex.is_set("patttype")
                    & ~ex.like("exp_type", "mir_lrs-slitless")),
        same=OPTICAL_PATH),
    Level3Rule(
        "Asn_Lv3SpecAux", "spec3",
        "Fixed-slit spectra (MIRI LRS or NIRSpec) of a background target (BKGDTARG=T), processed on their own.",
        lambda ex: (~ex.tso & ex.like("bkgdtarg", "t")
                    & ex.like("exp_type", alternatives("mir_lrs-fixedslit", "nrs_fixedslit"))),
        same=(BACKGROUND_FLAG, EXP_TYPE, *OPTICAL_PATH), auxiliary=True),
    Level3Rule(
        "Asn_Lv3SpectralSource", "spec3",
        "NIRSpec MSA spectra (with an MSA metadata file) and their lamp calibrations, one optical path; one "
        "product per source; no time series.",
        lambda ex: ~ex.tso & (ex.like("exp_type", alternatives("nrs_autoflat", "nrs_autowave"))
                              | (ex.like("exp_type", "nrs_msaspec") & ex.is_set("msametfl"))),
        same=OPTICAL_PATH, name_form="sources"),
    Level3Rule(
        "Asn_Lv3SpectralTarget", "spec3",
        "Nodded slit spectra of one target (MIRI LRS fixed slit, NIRISS SOSS): one optical path and nod "
        "pattern; each nod is also the background of the others.",
        lambda ex: (~ex.tso & ex.like("exp_type", alternatives("mir_lrs-fixedslit", "nis_soss"))
                    & ex.nod_pattern),
        same=(*OPTICAL_PATH, Same("patttype_spectarg", ("patttype",))), nod_backgrounds=True),
    Level3Rule(
        "Asn_Lv3TSO", "tso3",
        "Time series of one target: one EXP_TYPE and optical path; not IFU; excludes NIRCam grism TSO with "
        "the CLEAR/DHS pupils or on detector B long, the DHS stripe subarrays, NIRISS SOSS with one "
        "integration or an uncalibrated filter and NIRSpec bright-object paths without light.  Observation "
        "candidates only.",
        lambda ex: (ex.tso & ex.is_set("exp_type")
                    & ~ex.like("exp_type", alternatives("mir_mrs", "mir_flatmrs", "nrs_autowave", "nrs_ifu"))
                    & ~(ex.like("exp_type", "nrc_tsgrism") & ex.like("pupil", alternatives("clear", "gdhs0",
                                                                                           "gdhs60")))
                    & ~(ex.like("exp_type", "nrc_tsgrism") & ex.like("detector", "nrcblong"))
                    & ~ex.like("subarray", alternatives("sub260stripe4_dhs", "sub41stripe1_dhs",
                                                        "sub82stripe2_dhs", "sub164stripe4_dhs"))
                    & ~(ex.like("exp_type", "nis_soss") & ex.like("nints", "1"))
                    & ~(ex.like("exp_type", "nis_soss") & ~ex.nis_soss_calibrated)
                    & ~(ex.like("exp_type", "nrs_brightobj") & ~ex.nrs_fs_valid_path)),
        same=(*OPTICAL_PATH, EXP_TYPE), candidate_types=("observation",)),
    Level3Rule(
        "Asn_Lv3WFSCMB", "wfs-image3",
        "Wavefront-sensing dither pairs (PATTTYPE=WFSC): images of one detector, observation and activity; "
        "at least two members; not for group candidates; no line-of-sight jitter exposures.",
        lambda ex: (ex.like("exp_type", IMAGE3_EXP_TYPES) & ex.like("patttype", "wfsc")
                    & ~ex.like("dms_note", "wfsc_los_jitter")),
        same=(*OPTICAL_PATH, EXP_TYPE, Same("detector", ("detector",)), Same("obs_id", ("obs_id",)),
              Same("act_id", ("act_id",))),
        name_form="wfscmb", excluded_candidate_types=("group",), min_members=2),
    Level3Rule(
        "Asn_Lv3WFSSMIR", "spec3",
        "MIRI slitless prism (WFSS) spectra of one field, filter P750L.",
        lambda ex: ex.like("exp_type", "mir_wfss") & ex.like("filter", "p750l"),
        same=(Same("opt_elem", ("filter",)),)),
    Level3Rule(
        "Asn_Lv3WFSSNIS", "spec3",
        "NIRISS WFSS spectra of one field: one grism (GR150R or GR150C) and one blocking filter.",
        lambda ex: ex.like("exp_type", "nis_wfss") & ex.like("filter", alternatives("gr150r", "gr150c")),
        same=(Same("opt_elem", ("filter",)), Same("opt_elem2", ("pupil",)))),
    Level3Rule(
        "Asn_Lv3WFSSNRC", "spec3",
        "NIRCam WFSS spectra of one field: one grism (GRISMR or GRISMC) and one filter.",
        lambda ex: ex.like("exp_type", "nrc_wfss") & ex.like("pupil", alternatives("grismr", "grismc")),
        same=(Same("opt_elem", ("pupil",)), Same("opt_elem2", ("filter",)))),
)
