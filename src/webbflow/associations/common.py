"""Selections and shared attributes used by several rules."""

from webbflow.associations.features import alternatives
from webbflow.associations.grouping import Same

__all__ = [
    "PROGRAM", "TSO_VISIT", "INSTRUMENT", "MODE", "OPTICAL_PATH", "mode_ok", "optical_path_exempt_slit",
    "IMAGE3_EXP_TYPES", "S200A_SLITS",
]

#: Same proposal.
PROGRAM = Same("program", ("program",))
#: Same TSOVISIT flag where it is set.
TSO_VISIT = Same("is_tso", ("tsovisit",), required=False)
#: Same instrument.
INSTRUMENT = Same("instrument", ("instrume",))

#: The observing mode of a level-2 association: one instrument, detector and optical path.
MODE = (
    INSTRUMENT,
    Same("detector", ("detector",)),
    Same("opt_elem", ("filter", "band")),
    Same("opt_elem2", ("pupil", "grating"), required=False),
    Same("fxd_slit", ("fxd_slit",), required=False),
    Same("subarray", ("subarray",), required=False),
    Same("channel", ("channel",), required=False),
)


def mode_ok(ex):
    """Exposures a level-2 observing mode can be built from.

    Instrument, detector and filter (or MRS band) known; not the NIRSpec
    internal-lamp configuration (DETECTOR=NIRSPEC or FILTER=OPAQUE); not a
    NIRCam grism time series on the long-wave detector B; not a wavefront
    sensing and control visit.
    """
    return ex.memo("mode_ok", lambda: (
        ex.is_set("instrume") & ex.is_set("detector") & (ex.is_set("filter") | ex.is_set("band"))
        & ~(ex.like("detector", "nirspec") | ex.like("filter", "opaque"))
        & ~(ex.like("detector", "nrcblong") & ex.like("exp_type", "nrc_tsgrism"))
        & ~ex.wfsc_visit))


#: The two slits of the NIRSpec S200A pair, processed together.
S200A_SLITS = alternatives("s200a1", "s200a2")


def optical_path_exempt_slit(ctx, idx):
    """Exposures through S200A1 or S200A2 are not held to the fixed slit of the others."""
    return ctx.flag_like("fxd_slit", S200A_SLITS)[ctx.block_rows[idx]]


#: The level-3 optical path: same filter, pupil or grating, fixed slit (S200A1/A2 together) and subarray.
OPTICAL_PATH = (
    Same("opt_elem", ("filter",), required=False),
    Same("opt_elem2", ("pupil", "grating"), required=False),
    Same("fxd_slit", ("fxd_slit",), required=False, exempt=optical_path_exempt_slit),
    Same("subarray", ("subarray",)),
)

#: Imaging EXP_TYPEs combined at level 3.
IMAGE3_EXP_TYPES = alternatives("nrc_image", "mir_image", "nis_image", "fgs_image", "nrs_mimf")
