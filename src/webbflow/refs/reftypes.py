"""CRDS reference types, their R_* header keywords, and the detector1 step order.

The names and keywords are those of the official JWST data-model schema
(``meta.ref_file.<reftype>.name`` is written as the R_* keyword), so that
products written here carry the same provenance keywords as the official
ones. A reftype without an entry here (``apcorr``, ``msaoper``,
``pictureframe`` ...) has no FITS keyword in the official products either.
"""

# meta.ref_file.<reftype> -> FITS keyword, as in the official core schema.
REFTYPE_KEYWORDS = {
    "area": "R_AREA",
    "bkg": "R_BKG",
    "badshutter": "R_MSAOPE",
    "barshadow": "R_BARSHA",
    "camera": "R_CAMERA",
    "chromcorr": "R_CHRCOR",
    "collimator": "R_COLLIM",
    "sirskernel": "R_SIRSKL",
    "cubepar": "R_CUBPAR",
    "dark": "R_DARK",
    "disperser": "R_DISPER",
    "distortion": "R_DISTOR",
    "emicorr": "R_MIREMI",
    "extract1d": "R_EXTR1D",
    "filteroffset": "R_FILOFF",
    "flat": "R_FLAT",
    "dflat": "R_DFLAT",
    "fflat": "R_FFLAT",
    "sflat": "R_SFLAT",
    "fore": "R_FORE",
    "fpa": "R_FPA",
    "fringe": "R_FRINGE",
    "fringefreq": "R_FRIFRQ",
    "gain": "R_GAIN",
    "ifufore": "R_IFUFOR",
    "ifupost": "R_IFUPOS",
    "ifuslicer": "R_IFUSLI",
    "ipc": "R_IPC",
    "lastframe": "R_LASTFR",
    "linearity": "R_LINEAR",
    "mask": "R_MASK",
    "msa": "R_MSA",
    "mrsxartcorr": "R_MRSXAR",
    "mrsptcorr": "R_MRSPT",
    "nrm": "R_NRM",
    "ote": "R_OTE",
    "pastasoss": "R_PSTSOS",
    "pathloss": "R_PTHLOS",
    "persat": "R_PERSAT",
    "photom": "R_PHOTOM",
    "psfmask": "R_PSFMAS",
    "readnoise": "R_READNO",
    "refpix": "R_REFPIX",
    "regions": "R_REGION",
    "resample": "R_RESAMP",
    "resolution": "R_RESOL",
    "reset": "R_RESET",
    "rscd": "R_RSCD",
    "saturation": "R_SATURA",
    "speckernel": "R_SPKERN",
    "specprofile": "R_SPPROF",
    "spectrace": "R_SPTRAC",
    "specwcs": "R_SPCWCS",
    "straylight": "R_STRAY",
    "superbias": "R_SUPERB",
    "throughput": "R_THRPUT",
    "trapdensity": "R_TRPDEN",
    "trappars": "R_TRPPAR",
    "tso_photometry": "R_TSPHOT",
    "v2v3": "R_V2V3",
    "wavecorr": "R_WAVCOR",
    "wavelengthrange": "R_WAVRAN",
    "wavemap": "R_WAVMAP",
}

# meta.ref_file.crds
CRDS_KEYWORDS = {"sw_version": "CRDS_VER", "context_used": "CRDS_CTX"}

# The official Detector1Pipeline order. MIRI runs its own sequence up to
# refpix; both end with the same steps from charge_migration on.
_COMMON_TAIL = [
    "charge_migration",
    "jump",
    "picture_frame",
    "clean_flicker_noise",
    "persistence",
    "ramp_fit",
    "gain_scale",
]

STEP_ORDER = {
    "NIR": [
        "group_scale",
        "dq_init",
        "saturation",
        "ipc",
        "superbias",
        "refpix",
        "linearity",
        "dark_current",
        *_COMMON_TAIL,
    ],
    "MIRI": [
        "group_scale",
        "dq_init",
        "emicorr",
        "saturation",
        "ipc",
        "firstframe",
        "lastframe",
        "reset",
        "linearity",
        "rscd",
        "dark_current",
        "refpix",
        *_COMMON_TAIL,
    ],
}

# Official detector1 steps that webbflow does not implement (yet): the
# pipeline marks them SKIPPED.
NOT_IMPLEMENTED = ("emicorr", "persistence", "picture_frame")  # a tuple: header cards in a fixed order

# Step name -> S_* keyword for every detector1 step of the official pipeline.
DETECTOR1_STATUS_KEYWORDS = {
    "group_scale": "S_GRPSCL",
    "dq_init": "S_DQINIT",
    "emicorr": "S_MIREMI",
    "saturation": "S_SATURA",
    "ipc": "S_IPC",
    "superbias": "S_SUPERB",
    "refpix": "S_REFPIX",
    "firstframe": "S_FRSTFR",
    "lastframe": "S_LASTFR",
    "reset": "S_RESET",
    "linearity": "S_LINEAR",
    "rscd": "S_RSCD",
    "dark_current": "S_DARK",
    "charge_migration": "S_CHGMIG",
    "jump": "S_JUMP",
    "picture_frame": "S_PCTFRM",
    "clean_flicker_noise": "S_CLNFNS",
    "persistence": "S_PERSIS",
    "ramp_fit": "S_RAMP",
    "gain_scale": "S_GANSCL",
}


def step_order(instrument, implemented_only=False):
    """The detector1 steps for an instrument, in the official order.

    Parameters
    ----------
    instrument : str
        INSTRUME (``MIRI`` or any NIR instrument) or ``"NIR"``.
    implemented_only : bool
        Leave out the steps in ``NOT_IMPLEMENTED``.

    Returns
    -------
    list of str
    """
    key = "MIRI" if str(instrument).strip().upper() == "MIRI" else "NIR"
    steps = list(STEP_ORDER[key])
    if implemented_only:
        steps = [name for name in steps if name not in NOT_IMPLEMENTED]
    return steps
