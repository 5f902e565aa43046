"""Per-exposure quantities the rules select on, computed once per pool, column by column.

Selections are boolean numpy arrays aligned with the pool rows (so that rules
combine them with ``&``, ``|`` and ``~`` at array speed); values are object
arrays with the official "empty" values (``null``, ``f``, ``n/a`` ...)
turned into ``None``.
"""

import re
from functools import cached_property

import numpy as np
import pandas as pd

from webbflow.associations.exptypes import (
    ACQ_EXP_TYPES,
    CORON_EXP_TYPES,
    EMPTY_VALUES,
    MEMBER_TYPE_OF_EXP_TYPE,
    NIS_SOSS_UNCALIBRATED_FILTERS,
    NRS_FS_LAMP_PATHS,
    NRS_FS_PATHS,
    NRS_IFU_PATHS,
    TSO_EXP_TYPES,
)

__all__ = ["Exposures", "alternatives"]


def _isin(values, allowed):
    """Elementwise membership for object arrays that may hold None."""
    return pd.Series(values, dtype=object).isin(allowed).to_numpy(dtype=bool)


def alternatives(*values):
    """The pattern matching any of ``values``, for `Exposures.like`."""
    return "|".join(values)


class Exposures:
    """Column-wise view of a pool for the rules.

    Parameters
    ----------
    pool : pandas.DataFrame
        The pool as `webbflow.associations.read_pool` returns it.
    """

    def __init__(self, pool):
        self.pool = pool
        self.n = len(pool)
        self._memo = {}

    def memo(self, key, compute):
        """``compute()`` once per pool: selections shared by several rules are worked out once."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    # ----- basic access -------------------------------------------------
    def has_column(self, column):
        """Whether the pool has ``column``."""
        return column in self.pool.columns

    def raw(self, column):
        """The pool strings of ``column`` (object array; ``None`` everywhere if the column is absent)."""
        def compute():
            if column in self.pool.columns:
                return self.pool[column].to_numpy(dtype=object)
            return np.full(self.n, None, dtype=object)
        return self.memo(("raw", column), compute)

    def value(self, column):
        """``column`` with empty values as ``None`` (object array)."""
        def compute():
            raw = self.raw(column)
            empty = pd.isna(raw) | pd.Series(raw, dtype=object).isin(EMPTY_VALUES).to_numpy()
            out = raw.copy()
            out[empty] = None
            return out
        return self.memo(("value", column), compute)

    def is_set(self, column):
        """True where ``column`` holds a non-empty value."""
        return self.memo(("is_set", column), lambda: pd.notna(self.value(column)))

    def first_set(self, columns):
        """The first non-empty of ``columns`` per row, and the column it came from.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            The column names (``None`` if all are empty) and the values.
        """
        def compute():
            source = np.full(self.n, None, dtype=object)
            value = np.full(self.n, None, dtype=object)
            for column in reversed(columns):
                here = self.is_set(column)
                source[here] = column
                value[here] = self.value(column)[here]
            return source, value
        return self.memo(("first_set", tuple(columns)), compute)

    def key_values(self, columns):
        """Values of a shared attribute per row (object array, None where empty).

        With several columns the first non-empty one is used and the value is
        written ``column=value``: members must take it from the same column.
        """
        def compute():
            source, value = self.first_set(list(columns))
            if len(columns) == 1:
                return value
            return np.array([None if v is None else f"{c}={v}" for c, v in zip(source, value, strict=True)],
                            dtype=object)
        return self.memo(("key_values", tuple(columns)), compute)

    def like(self, column, pattern):
        """Rows whose non-empty ``column`` matches ``pattern`` as the official rules test it.

        The official test is ``re.match("^" + pattern + "$", value, IGNORECASE)``:
        with alternatives ``a|b|c`` every alternative but the last matches
        as a prefix.  That behaviour is kept so the same exposures are selected.
        """
        def compute():
            codes, uniques = self._factorized(column)
            regex = re.compile("^" + pattern + "$", re.IGNORECASE)
            hits = np.array([u is not None and regex.match(u) is not None for u in uniques] + [False], dtype=bool)
            return hits[codes]
        return self.memo(("like", column, pattern), compute)

    def isin(self, column, values):
        """Rows whose ``column`` is one of ``values`` (exact)."""
        codes, uniques = self._factorized(column)
        hits = np.array([u in values for u in uniques] + [False], dtype=bool)
        return hits[codes]

    def _factorized(self, column):
        def compute():
            codes, uniques = pd.factorize(self.value(column), use_na_sentinel=True)
            return np.where(codes < 0, len(uniques), codes), list(uniques)
        return self.memo(("factorized", column), compute)

    # ----- exposure classification --------------------------------------
    @cached_property
    def exp_type(self):
        """EXP_TYPE (None if empty)."""
        return self.value("exp_type")

    @cached_property
    def member_type(self):
        """The association member type of each exposure, as level-3 rules see it.

        ``target_acquisition`` (or another non-science POINTING type) when PNTGTYPE
        says so; otherwise dark/flat/engineering/autoflat/autowave/target_acquisition
        from the EXP_TYPE; otherwise science, refined to psf (IS_PSF), imprint
        (IS_IMPRT) or background (BKGDTARG), in that priority.
        """
        exp_type, pntg = self.exp_type, self.value("pntgtype")
        result = np.array([None if e is None else MEMBER_TYPE_OF_EXP_TYPE.get(e, "science") for e in exp_type],
                          dtype=object)
        special = np.select([self.is_set("is_psf"), self.is_set("is_imprt"), self.is_set("bkgdtarg")],
                            ["psf", "imprint", "background"], default="science").astype(object)
        science = result == "science"
        result[science] = special[science]
        pointing = pd.notna(pntg) & (pntg != "science")
        result[pointing] = pntg[pointing]
        return result

    @cached_property
    def member_type_level2(self):
        """Member type for level-2 rules: PSF exposures are calibrated as science."""
        types = self.member_type.copy()
        types[types == "psf"] = "science"
        return types

    @cached_property
    def target_acq(self):
        """Target acquisition and confirmation exposures."""
        return self.member_type == "target_acquisition"

    @cached_property
    def background_target(self):
        """Exposures of a background target (BKGDTARG set)."""
        return self.is_set("bkgdtarg")

    @cached_property
    def tso(self):
        """Time-series exposures: science pointing and TSOVISIT=T or an always-TSO EXP_TYPE."""
        return self.like("pntgtype", "science") & (
            self.like("tsovisit", "t") | self.like("exp_type", alternatives(*TSO_EXP_TYPES)))

    @cached_property
    def wfsc_visit(self):
        """Wavefront sensing and control visits (VISITYPE contains WFSC inside it)."""
        return self.like("visitype", ".+wfsc.+")

    @cached_property
    def visit_without_wfsc(self):
        """VISITYPE set and without WFSC anywhere (level-3 imaging)."""
        return self.like("visitype", "((?!wfsc).)*")

    @cached_property
    def nod_pattern(self):
        """PATTTYPE is a nod pattern (2/4-point or along-slit nod)."""
        return self.like("patttype", "2-point-nod|4-point-nod|along-slit-nod")

    # ----- naming ---------------------------------------------------------
    @cached_property
    def science_pointing_not_acq(self):
        """Science pointing (PNTGTYPE=science) and not an acquisition EXP_TYPE."""
        return (self.raw("pntgtype") == "science") & ~_isin(self.raw("exp_type"), ACQ_EXP_TYPES)

    @cached_property
    def integrations_tso(self):
        """Exposures calibrated per integration because they are time series."""
        return self.science_pointing_not_acq & ((self.value("tsovisit") == "t") | self.isin("exp_type", TSO_EXP_TYPES))

    @cached_property
    def integrations_coron(self):
        """Coronagraphic exposures (per-integration products), except full-frame
        NIRCam detectors without an occulting mask in their field."""
        coron = self.science_pointing_not_acq & self.isin("exp_type", CORON_EXP_TYPES)
        full_nrc = (self.raw("exp_type") == "nrc_coron") & (self.raw("subarray") == "full")
        pupil, detector = self.raw("pupil"), self.raw("detector")
        unocculted = ((pupil == "maskbar") & _isin(detector, ("nrca1", "nrca2", "nrca3"))) | (
            (pupil == "maskrnd") & _isin(detector, ("nrca1", "nrca3", "nrca4")))
        return coron & ~(full_nrc & unocculted)

    @cached_property
    def integrations_ami(self):
        """AMI exposures (per-integration products)."""
        return self.science_pointing_not_acq & (self.exp_type == "nis_ami")

    # ----- optical-path validity ------------------------------------------
    @cached_property
    def nrs_fs_valid_path(self):
        """NIRSpec fixed-slit slit/grating/filter combination puts light on this detector."""
        slit = self.value("fxd_slit").copy()
        slit[pd.notna(slit) & (slit != "s200b1")] = "a"
        return self._in_table(NRS_FS_PATHS, slit, self.value("grating"), self.value("filter"),
                              self.value("detector"))

    @cached_property
    def nrs_ifu_valid_path(self):
        """Not NIRSpec IFU, or an IFU grating/filter combination with light on this detector."""
        path = self._in_table(NRS_IFU_PATHS, self.value("grating"), self.value("filter"), self.value("detector"))
        return (self.exp_type != "nrs_ifu") | path

    @cached_property
    def nrs_lamp_valid_path(self):
        """NIRSpec lamp exposure whose grating/lamp puts light on this detector."""
        detector, grating, opmode, lamp = (self.value(c) for c in ("detector", "grating", "opmode", "lamp"))
        known = pd.notna(detector) & pd.notna(grating) & pd.notna(opmode)
        msa = opmode == "msaspec"
        ifu = (opmode == "ifu") & pd.notna(lamp) & (
            _isin(grating, ("g395h", "g235h"))
            | (_isin(grating, ("g395m", "g235m", "g140m", "prism")) & (detector == "nrs1"))
            | ((grating == "g140h") & ~((detector == "nrs2") & (lamp == "flat4"))))
        fixed = (opmode == "fixedslit") & pd.notna(lamp) & self._in_table(NRS_FS_LAMP_PATHS, grating, lamp, detector)
        return known & (msa | ifu | fixed)

    @cached_property
    def nrc_coron_valid_detector(self):
        """NIRCam coronagraphy detector that sees the occulted target (always true for subarrays)."""
        detector, subarray, pupil = self.value("detector"), self.value("subarray"), self.value("pupil")
        known = pd.notna(detector) & pd.notna(subarray) & pd.notna(pupil)
        full = subarray == "full"
        bad = full & (((pupil == "maskbar") & _isin(detector, ("nrca1", "nrca2", "nrca3")))
                      | ((pupil == "maskrnd") & _isin(detector, ("nrca1", "nrca3", "nrca4"))))
        return known & ~bad

    @cached_property
    def nis_soss_calibrated(self):
        """Not NIRISS SOSS, or SOSS through a calibrated filter."""
        filt = self.value("filter")
        return (self.exp_type != "nis_soss") | (pd.notna(filt) & ~_isin(filt, NIS_SOSS_UNCALIBRATED_FILTERS))

    def _in_table(self, table, *columns):
        known = np.logical_and.reduce([pd.notna(c) for c in columns])
        inside = np.array([k in table for k in zip(*columns, strict=True)], dtype=bool)
        return known & inside
