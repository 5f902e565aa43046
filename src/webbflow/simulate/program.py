"""The simulated observing program: its exposures and their header keywords.

The default program (``default_program()``), program 01234, has four
observations and eight exposures:

====  ==========  ==========  =========  ========  ===========  ======  =====
obs   instrument  detector    exp_type   subarray  readpatt     groups  ints
====  ==========  ==========  =========  ========  ===========  ======  =====
001   NIRCam      NRCB1       NRC_IMAGE  SUB160    SHALLOW4     6       1
001   NIRCam      NRCBLONG    NRC_IMAGE  SUB160    SHALLOW4     6       1
002   NIRISS      NIS         NIS_IMAGE  SUB128    NIS          5       1
003   NIRSpec     NRS1        NRS_FIXEDSLIT SUBS200A1 NRSRAPID  8       1
004   MIRI        MIRIMAGE    MIR_IMAGE  SUB256    FASTR1       10      2
====  ==========  ==========  =========  ========  ===========  ======  =====

NIRCam and MIRI take two dither positions each (NIRCam SW and LW are
exposed together), so there are 4 + 1 + 1 + 2 = 8 exposures. With
``full_frame=True`` every exposure is full frame (NIR 2048 x 2048, MIRI
1032 x 1024) and, to keep the dark references small, read with one frame
per group (RAPID, NISRAPID, NRSRAPID, FASTR1).

Pointing keywords are coherent (every exposure of an observation points at
the same target, dithers offset it) but approximate: V2_REF/V3_REF and
V3I_YANG are near the official aperture values, not taken from the SIAF.
"""

import datetime
import math
import zlib
from dataclasses import dataclass, field, replace

from astropy.io import fits

from webbflow.simulate.detector import DETECTORS, frame_time, get_subarray

__all__ = ["READ_PATTERNS", "Exposure", "default_program", "primary_header", "sci_header", "int_times", "set_card"]

#: (NFRAMES, GROUPGAP) of the official readout patterns used here.
READ_PATTERNS = {
    "RAPID": (1, 0), "BRIGHT1": (1, 1), "BRIGHT2": (2, 0), "SHALLOW2": (2, 3), "SHALLOW4": (4, 1),
    "MEDIUM2": (2, 8), "MEDIUM8": (8, 2), "DEEP2": (2, 18), "DEEP8": (8, 12),
    "NISRAPID": (1, 0), "NIS": (4, 0),
    "NRSRAPID": (1, 0), "NRS": (4, 0),
    "FASTR1": (1, 0), "FAST": (1, 0),
}

PROGRAM = "01234"
_START_MJD = 60384.25  # 2024-03-15 06:00:00 UTC
_DATE = "2024-03-16T00:00:00.000"  # fixed file-creation date (byte-identical files)


@dataclass(frozen=True)
class Exposure:
    """One simulated exposure (one detector) and everything its headers need."""

    observation: int
    visit: int
    exposure: int
    detector: str
    exp_type: str
    subarray: str
    readpatt: str
    ngroups: int
    nints: int
    filter: str
    pupil: str = "N/A"
    grating: str = "N/A"
    fxd_slit: str = "NONE"
    target: str = "FIELD-A"
    targ_ra: float = 53.1625
    targ_dec: float = -27.7914
    pa_v3: float = 250.0
    patttype: str = "NONE"
    numdthpt: int = 1
    patt_num: int = 1
    xoffset: float = 0.0
    yoffset: float = 0.0
    template: str = ""
    module: str = "N/A"
    channel: str = "N/A"
    aperture: str = ""
    v2_ref: float = 0.0
    v3_ref: float = 0.0
    v3i_yang: float = 0.0
    expstart: float = _START_MJD
    visit_group: int = 1
    seq_id: int = 1
    activity: int = 1
    bkgdtarg: bool = False
    candidates: tuple = ()
    extra: dict = field(default_factory=dict)

    # -- derived ---------------------------------------------------------
    @property
    def spec(self):
        """The :class:`~webbflow.simulate.detector.DetectorSpec`."""
        return DETECTORS[self.detector]

    @property
    def instrument(self):
        """INSTRUME."""
        return self.spec.instrument

    @property
    def sub(self):
        """The :class:`~webbflow.simulate.detector.Subarray`."""
        return get_subarray(self.spec, self.subarray)

    @property
    def nframes(self):
        """NFRAMES of the readout pattern."""
        return READ_PATTERNS[self.readpatt][0]

    @property
    def groupgap(self):
        """GROUPGAP of the readout pattern."""
        return READ_PATTERNS[self.readpatt][1]

    @property
    def tframe(self):
        """TFRAME, s."""
        return frame_time(self.spec, self.sub)

    @property
    def tgroup(self):
        """TGROUP, s."""
        return round(self.tframe * (self.nframes + self.groupgap), 5)

    @property
    def frames_per_int(self):
        """Frames from the reset to the last read of an integration."""
        return self.ngroups * self.nframes + (self.ngroups - 1) * self.groupgap

    @property
    def nresets(self):
        """Resets between integrations (one frame time each)."""
        return 1

    @property
    def int_duration(self):
        """Seconds from the start of one integration to the start of the next."""
        return (self.frames_per_int + self.nresets) * self.tframe

    @property
    def duration(self):
        """Exposure duration, s."""
        return self.nints * self.int_duration

    @property
    def basename(self):
        """The official file-name stem, e.g. ``jw01234001001_01101_00001_nrcb1``."""
        return (f"jw{PROGRAM}{self.observation:03d}{self.visit:03d}_{self.visit_group:02d}{self.seq_id:1d}"
                f"{self.activity:02d}_{self.exposure:05d}_{self.detector.lower()}")

    @property
    def uncal_name(self):
        """``<stem>_uncal.fits``."""
        return self.basename + "_uncal.fits"

    @property
    def seed_key(self):
        """A stable integer derived from the file name (for per-exposure random streams)."""
        return zlib.crc32(self.basename.encode())

    @property
    def effexptm(self):
        """Effective exposure time, s."""
        if self.spec.is_miri:
            return self.tgroup * self.ngroups * self.nints
        return self.tgroup * (self.ngroups - 1) * self.nints


def subarray_cards(spec, sub):
    """(keyword, value, comment) of the subarray and readout-direction keywords."""
    return [
        ("SUBARRAY", sub.name, "subarray used"),
        ("SUBSTRT1", sub.xstart, "starting pixel in axis 1 direction"),
        ("SUBSTRT2", sub.ystart, "starting pixel in axis 2 direction"),
        ("SUBSIZE1", sub.xsize, "number of pixels in axis 1 direction"),
        ("SUBSIZE2", sub.ysize, "number of pixels in axis 2 direction"),
        ("FASTAXIS", spec.fastaxis, "fast readout axis direction"),
        ("SLOWAXIS", spec.slowaxis, "slow readout axis direction"),
    ]


def set_card(header, key, value, comment=""):
    """Set a keyword, shortening its comment so that the card fits in 80 characters."""
    header[key] = value
    room = 80 - len(header.cards[key].image.rstrip())
    if comment and room > 4:
        header.comments[key] = comment[: room - 3]


def _mjd_to_iso(mjd):
    seconds = round((mjd - 40587.0) * 86400.0, 3)
    whole = math.floor(seconds)
    millis = int(round((seconds - whole) * 1000))
    if millis == 1000:
        whole, millis = whole + 1, 0
    days, rem = divmod(whole, 86400)
    date = datetime.date(1970, 1, 1) + datetime.timedelta(days=days)
    hh, rem = divmod(rem, 3600)
    mm, ss = divmod(rem, 60)
    return date.isoformat(), f"{hh:02d}:{mm:02d}:{ss:02d}.{millis:03d}"


# Near-official aperture reference points (arcsec) and Y-angles (deg).
_APERTURES = {
    ("NRCB1", "SUB160"): ("NRCB1_SUB160", -154.6, -555.0, -0.56),
    ("NRCBLONG", "SUB160"): ("NRCB5_SUB160", -142.8, -543.2, -0.50),
    ("NRCB1", "FULL"): ("NRCB1_FULL", -120.9, -527.5, -0.56),
    ("NRCBLONG", "FULL"): ("NRCB5_FULL", -89.2, -493.0, -0.50),
    ("NIS", "SUB128"): ("NIS_SUB128", -353.49, -634.57, -0.57),
    ("NIS", "FULL"): ("NIS_CEN", -290.1, -697.5, -0.57),
    ("NRS1", "SUBS200A1"): ("NRS_S200A1_SLIT", 332.1, -479.6, 138.5),
    ("NRS1", "FULL"): ("NRS_S200A1_SLIT", 332.1, -479.6, 138.5),
    ("MIRIMAGE", "SUB256"): ("MIRIM_SUB256", -414.0, -400.5, 4.45),
    ("MIRIMAGE", "FULL"): ("MIRIM_FULL", -453.6, -373.8, 4.45),
}


def default_program(full_frame=False, instruments=None):
    """The exposures of the default program.

    Parameters
    ----------
    full_frame : bool, optional
        Full-frame exposures (with one-frame-per-group readout patterns).
    instruments : iterable of str, optional
        Keep only these instruments (NIRCAM, NIRISS, NIRSPEC, MIRI).

    Returns
    -------
    list of Exposure
        In observing order, with start times one after the other.
    """
    ff = full_frame
    nircam_patt = "RAPID" if ff else "SHALLOW4"
    plan = []
    for dither, (dx, dy) in enumerate([(0.0, 0.0), (0.62, 0.47)], start=1):
        for det, filt, chan in (("NRCB1", "F150W", "SHORT"), ("NRCBLONG", "F356W", "LONG")):
            plan.append(dict(observation=1, visit=1, exposure=dither, detector=det, exp_type="NRC_IMAGE",
                             subarray="FULL" if ff else "SUB160", readpatt=nircam_patt, ngroups=6, nints=1,
                             filter=filt, pupil="CLEAR", module="B", channel=chan, patttype="INTRAMODULEX",
                             numdthpt=2, patt_num=dither, xoffset=dx, yoffset=dy, template="NIRCam Imaging",
                             target="FIELD-A", simultaneous=True))
    plan.append(dict(observation=2, visit=1, exposure=1, detector="NIS", exp_type="NIS_IMAGE",
                     subarray="FULL" if ff else "SUB128", readpatt="NISRAPID" if ff else "NIS", ngroups=5,
                     nints=1, filter="CLEAR", pupil="F150W", template="NIRISS Imaging", target="FIELD-A"))
    plan.append(dict(observation=3, visit=1, exposure=1, detector="NRS1", exp_type="NRS_FIXEDSLIT",
                     subarray="FULL" if ff else "SUBS200A1", readpatt="NRSRAPID", ngroups=8, nints=1,
                     filter="F170LP", grating="G235M", fxd_slit="S200A1", template="NIRSpec Fixed Slit Spectroscopy",
                     target="STAR-B", targ_ra=53.1590, targ_dec=-27.7760))
    for dither, (dx, dy) in enumerate([(0.0, 0.0), (1.32, -0.88)], start=1):
        plan.append(dict(observation=4, visit=1, exposure=dither, detector="MIRIMAGE", exp_type="MIR_IMAGE",
                         subarray="FULL" if ff else "SUB256", readpatt="FASTR1", ngroups=10, nints=2,
                         filter="F770W", patttype="CYCLING", numdthpt=2, patt_num=dither, xoffset=dx, yoffset=dy,
                         template="MIRI Imaging", target="FIELD-A"))
    keep = None if instruments is None else {i.upper() for i in instruments}
    exposures = []
    clock = _START_MJD
    previous_obs = None
    for item in plan:
        simultaneous = item.pop("simultaneous", False)
        aperture, v2, v3, yang = _APERTURES[(item["detector"], item["subarray"])]
        exp = Exposure(**item, aperture=aperture, v2_ref=v2, v3_ref=v3, v3i_yang=yang)
        if previous_obs is not None and previous_obs.observation != exp.observation:
            clock += 600.0 / 86400.0
        if not (simultaneous and previous_obs is not None and previous_obs.observation == exp.observation
                and previous_obs.exposure == exp.exposure):
            if previous_obs is not None:
                clock += (previous_obs.duration + 60.0) / 86400.0
        exp = replace(exp, expstart=round(clock, 8))
        previous_obs = exp
        if keep is None or exp.instrument in keep:
            exposures.append(exp)
    return exposures


def _pointing(exp):
    """Approximate RA/Dec of the aperture reference point and of V1."""
    cosd = math.cos(math.radians(exp.targ_dec))
    roll = math.radians(exp.pa_v3 + exp.v3i_yang)
    # dither offsets are in the ideal frame (arcsec); the telescope moves, the scene shifts the other way
    dra = (exp.xoffset * math.cos(roll) + exp.yoffset * math.sin(roll)) / 3600.0 / cosd
    ddec = (-exp.xoffset * math.sin(roll) + exp.yoffset * math.cos(roll)) / 3600.0
    ra_ref, dec_ref = exp.targ_ra + dra, exp.targ_dec + ddec
    pa = math.radians(exp.pa_v3)
    dv2, dv3 = -exp.v2_ref / 3600.0, -exp.v3_ref / 3600.0
    ra_v1 = ra_ref + (dv2 * math.cos(pa) + dv3 * math.sin(pa)) / cosd
    dec_v1 = dec_ref + (-dv2 * math.sin(pa) + dv3 * math.cos(pa))
    return ra_ref, dec_ref, ra_v1, dec_v1


def primary_header(exp):
    """The primary header of an ``_uncal`` file for ``exp``.

    Parameters
    ----------
    exp : Exposure

    Returns
    -------
    astropy.io.fits.Header
    """
    spec, sub = exp.spec, exp.sub
    date_obs, time_obs = _mjd_to_iso(exp.expstart)
    expend = exp.expstart + exp.duration / 86400.0
    expmid = 0.5 * (exp.expstart + expend)
    end_date, end_time = _mjd_to_iso(expend)
    h = fits.Header()
    cards = [
        ("DATE", _DATE, "UTC date file created"),
        ("ORIGIN", "STSCI", "institution responsible for creating FITS file"),
        ("TIMESYS", "UTC", "principal time system for time-related keywords"),
        ("TIMEUNIT", "s", "default unit applicable to all time values"),
        ("FILENAME", exp.uncal_name, "name of the file"),
        ("FILETYPE", "uncalibrated", "type of data in the file"),
        ("SDP_VER", "2024_1", "data processing software version number"),
        ("TELESCOP", "JWST", "telescope used to acquire the data"),
        ("TITLE", "webbflow synthetic demonstration program", "proposal title"),
        ("PI_NAME", "Synthetic, Data", "principal investigator name"),
        ("CATEGORY", "GO", "program category"),
        ("DATE-OBS", date_obs, "[yyyy-mm-dd] UTC date at start of exposure"),
        ("TIME-OBS", time_obs, "[hh:mm:ss.sss] UTC time at start of exposure"),
        ("DATE-BEG", f"{date_obs}T{time_obs}", "date-time start of exposure"),
        ("DATE-END", f"{end_date}T{end_time}", "date-time end of exposure"),
        ("OBS_ID", f"V{PROGRAM}{exp.observation:03d}{exp.visit:03d}P{exp.visit_group:07d}{exp.seq_id:1d}{exp.activity:02d}01",
         "programmatic observation identifier"),
        ("VISIT_ID", f"{PROGRAM}{exp.observation:03d}{exp.visit:03d}", "visit identifier"),
        ("PROGRAM", PROGRAM, "program number"),
        ("OBSERVTN", f"{exp.observation:03d}", "observation number"),
        ("VISIT", f"{exp.visit:03d}", "visit number"),
        ("VISITGRP", f"{exp.visit_group:02d}", "visit group identifier"),
        ("SEQ_ID", f"{exp.seq_id:1d}", "parallel sequence identifier"),
        ("ACT_ID", f"{exp.activity:02d}", "activity identifier"),
        ("EXPOSURE", str(exp.exposure), "exposure request number"),
        ("BKGDTARG", exp.bkgdtarg, "background target"),
        ("TEMPLATE", exp.template, "observation template used"),
        ("OBSLABEL", exp.template, "proposer label for the observation"),
        ("VISITYPE", "PRIME_TARGETED_FIXED", "visit type"),
        ("VSTSTART", f"{date_obs}T{time_obs}", "UTC visit start time"),
        ("NEXPOSUR", exp.numdthpt, "total number of planned exposures in visit"),
        ("INTARGET", False, "at least one exposure in visit is internal"),
        ("TARGOOPP", False, "visit scheduled as target of opportunity"),
        ("TSOVISIT", False, "time series observation visit indicator"),
        ("TARGPROP", exp.target, "proposer's name for the target"),
        ("TARGNAME", exp.target, "standard astronomical catalog name for target"),
        ("TARGTYPE", "FIXED", "type of target (fixed, moving, generic)"),
        ("TARG_RA", exp.targ_ra, "target RA at mid time of exposure"),
        ("TARG_DEC", exp.targ_dec, "target Dec at mid time of exposure"),
        ("SRCTYAPT", "UNKNOWN", "source type from APT"),
        ("INSTRUME", exp.instrument, "instrument used to acquire the data"),
        ("DETECTOR", exp.detector, "name of detector used to acquire the data"),
    ]
    if exp.instrument == "NIRCAM":
        cards += [("MODULE", exp.module, "NIRCam module: A, B, or MULTIPLE"),
                  ("CHANNEL", exp.channel, "instrument channel")]
    cards += [("FILTER", exp.filter, "name of the filter element used"),
              ("PUPIL", exp.pupil, "name of the pupil element used")]
    if exp.instrument == "NIRSPEC":
        cards += [("GRATING", exp.grating, "name of the grating element used"),
                  ("FXD_SLIT", exp.fxd_slit, "name of fixed slit aperture used"),
                  ("FOCUSPOS", 0.0, "[mm] focus position"),
                  ("MSASTATE", "PRIMARYPARK_ALLCLOSED", "state of MSA: all open, all closed, configured"),
                  ("LAMP", "NONE", "internal lamp state"),
                  ("OPMODE", "FIXEDSLIT", "lamp operating mode")]
    cards += [
        ("PNTG_SEQ", 1, "pointing sequence number"),
        ("EXPCOUNT", exp.exposure, "count of the exposures in visit"),
        ("EXPRIPAR", "PRIME", "prime or parallel exposure"),
        ("EXP_TYPE", exp.exp_type, "type of data in the exposure"),
        ("EXPSTART", exp.expstart, "[d] exposure start time in MJD"),
        ("EXPMID", expmid, "[d] exposure mid time in MJD"),
        ("EXPEND", expend, "[d] exposure end time in MJD"),
        ("MJD-BEG", exp.expstart, "[d] exposure start time in MJD"),
        ("MJD-AVG", expmid, "[d] exposure mid time in MJD"),
        ("MJD-END", expend, "[d] exposure end time in MJD"),
        ("READPATT", exp.readpatt, "readout pattern"),
        ("NOUTPUTS", sub.noutputs, "number of detector outputs used"),
        ("NINTS", exp.nints, "number of integrations in exposure"),
        ("NGROUPS", exp.ngroups, "number of groups in integration"),
        ("NFRAMES", exp.nframes, "number of frames per group"),
        ("GROUPGAP", exp.groupgap, "number of frames dropped between groups"),
        ("FRMDIVSR", exp.nframes, "divisor applied to frame-averaged groups"),
        ("DRPFRMS1", 0, "number of frames skipped prior to first integration"),
        ("DRPFRMS3", 0, "number of frames skipped between integrations"),
        ("NSAMPLES", 1, "number of A/D samples per pixel"),
        ("TSAMPLE", 10.0, "[us] time between samples"),
        ("TFRAME", exp.tframe, "[s] time between frames"),
        ("TGROUP", exp.tgroup, "[s] time between groups"),
        ("EFFINTTM", exp.effexptm / exp.nints, "[s] effective integration time"),
        ("EFFEXPTM", exp.effexptm, "[s] effective exposure time"),
        ("XPOSURE", exp.effexptm, "[s] effective exposure time"),
        ("DURATION", exp.duration, "[s] total duration of exposure"),
        ("TELAPSE", exp.duration, "[s] total elapsed time of exposure"),
        ("NRSTSTRT", 1, "number of resets at start of exposure"),
        ("NRESETS", exp.nresets, "number of resets between integrations"),
        ("ZEROFRAM", False, "zero frame was downlinked separately"),
        ("DATAPROB", False, "science telemetry indicated a problem"),
        ("IS_IMPRT", False, "NIRSpec imprint exposure"),
        ("IS_PSF", False, "PSF reference exposure"),
        *subarray_cards(spec, sub),
        ("PATTTYPE", exp.patttype, "primary dither pattern type"),
        ("PATT_NUM", exp.patt_num, "position number in primary pattern"),
        ("PATTSTRT", 1, "starting point in pattern"),
        ("NUMDTHPT", exp.numdthpt, "total number of points in pattern"),
        ("PATTSIZE", "SMALL" if exp.numdthpt > 1 else "N/A", "primary dither pattern size"),
        ("SUBPXPTS", 1, "number of points in subpixel dither pattern"),
        ("XOFFSET", exp.xoffset, "[arcsec] x offset from pattern starting position"),
        ("YOFFSET", exp.yoffset, "[arcsec] y offset from pattern starting position"),
        ("APERNAME", exp.aperture, "PRD science aperture used"),
        ("PPS_APER", exp.aperture, "original AperName supplied by PPS"),
    ]
    if exp.instrument == "MIRI":
        cards += [("MIRNGRPS", exp.ngroups, "number of groups per integration (MIRI)"),
                  ("MIRNFRMS", exp.nframes, "number of frames per group (MIRI)")]
    for key, value, comment in cards:
        set_card(h, key, value, comment)
    for key, value in exp.extra.items():
        h[key] = value
    return h


def sci_header(exp):
    """Pointing and WCS-information keywords of the SCI extension (as the official files)."""
    ra_ref, dec_ref, ra_v1, dec_v1 = _pointing(exp)
    sub = exp.sub
    h = fits.Header()
    for key, value, comment in [
        ("BUNIT", "DN", "physical units of the array values"),
        ("RADESYS", "ICRS", "name of the coordinate reference frame"),
        ("RA_V1", ra_v1, "[deg] RA of telescope V1 axis"),
        ("DEC_V1", dec_v1, "[deg] Dec of telescope V1 axis"),
        ("PA_V3", exp.pa_v3, "[deg] position angle of telescope V3 axis"),
        ("VA_SCALE", 1.0, "velocity aberration scale factor"),
        ("V2_REF", exp.v2_ref, "[arcsec] telescope V2 coordinate of the reference point"),
        ("V3_REF", exp.v3_ref, "[arcsec] telescope V3 coordinate of the reference point"),
        ("VPARITY", -1, "relative sense of rotation between Ideal xy and V2V3"),
        ("V3I_YANG", exp.v3i_yang, "[deg] angle from V3 axis to Ideal y axis"),
        ("RA_REF", ra_ref, "[deg] right ascension of the reference point"),
        ("DEC_REF", dec_ref, "[deg] declination of the reference point"),
        ("ROLL_REF", exp.pa_v3 + exp.v3i_yang, "[deg] V3 roll angle at the ref point"),
        ("XREF_SCI", (sub.xsize + 1) / 2.0, "aperture reference location in x"),
        ("YREF_SCI", (sub.ysize + 1) / 2.0, "aperture reference location in y"),
    ]:
        set_card(h, key, value, comment)
    return h


def int_times(exp):
    """The INT_TIMES rows of ``exp`` (MJD UTC; BJD TDB approximated by TT)."""
    import numpy as np

    from webbflow.datamodels import INT_TIMES_DTYPE

    rows = np.zeros(exp.nints, dtype=INT_TIMES_DTYPE)
    tt = 69.184 / 86400.0
    for i in range(exp.nints):
        start = exp.expstart + i * exp.int_duration / 86400.0
        end = start + exp.frames_per_int * exp.tframe / 86400.0
        mid = 0.5 * (start + end)
        rows[i] = (i + 1, start, mid, end, start + tt, mid + tt, end + tt)
    return rows
