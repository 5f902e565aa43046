"""What every rule needs while generating: the pool, its candidates and the stacked candidate blocks."""

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from webbflow.associations.candidates import candidate_blocks, list_candidates, unreadable_candidates
from webbflow.associations.features import Exposures

__all__ = ["Context"]


@dataclass
class Context:
    """Generation state shared by the rules.

    Attributes
    ----------
    pool : pandas.DataFrame
        The pool.
    exposures : Exposures
        Column-wise view of the pool.
    blocks : pandas.DataFrame
        Rows of every candidate stacked (``row``, ``blk``, ``asn_candidate``,
        ``filename``), then the whole pool for discovery.
    candidates : list of Candidate
        One per block.
    version_id : str or None
        Tag for file and product names.
    """

    pool: pd.DataFrame
    exposures: Exposures
    blocks: pd.DataFrame
    candidates: list
    version_id: str | None = None
    pool_name: str = "in-memory"
    _cache: dict = field(default_factory=dict)

    @classmethod
    def build(cls, pool, version_id=None):
        """Prepare the context of a pool.

        Parameters
        ----------
        pool : pandas.DataFrame
            As `webbflow.associations.read_pool` returns it.
        version_id : str or None
            Version tag.

        Returns
        -------
        Context
        """
        exposures = Exposures(pool)
        bad = unreadable_candidates(pool)
        if bad:
            names = [f"{pool.at[r, 'filename']} ({pool.at[r, 'asn_candidate']})" for r in bad[:10]]
            logging.getLogger("webbflow.associations").warning(
                "%s: %d row(s) with an unreadable ASN_CANDIDATE belong to no candidate (only to discovered "
                "associations): %s%s", pool.attrs.get("pool_name", "pool"), len(bad), ", ".join(names),
                " ..." if len(bad) > 10 else "")
        blocks, candidates = candidate_blocks(pool, list_candidates(pool))
        blocks["filename"] = pd.Series(pool["filename"].to_numpy(dtype=object)[blocks["row"].to_numpy()],
                                       index=blocks.index, dtype=object)
        return cls(pool, exposures, blocks, candidates, version_id, pool.attrs.get("pool_name", "in-memory"))

    def __post_init__(self):
        #: Pool row, block number, file name and candidate text of every block row (numpy arrays).
        self.block_rows = self.blocks["row"].to_numpy()
        self.block_blk = self.blocks["blk"].to_numpy()
        self.block_files = self.blocks["filename"].to_numpy(dtype=object)
        self.block_candidates = self.blocks["asn_candidate"].to_numpy(dtype=object)

    def select(self, mask):
        """Block rows (indices) whose pool row is in the per-pool-row ``mask``."""
        mask = mask.to_numpy(dtype=bool) if isinstance(mask, pd.Series) else np.asarray(mask, dtype=bool)
        return np.flatnonzero(mask[self.block_rows])

    def flag_set(self, column):
        """`Exposures.is_set` as a numpy array indexed by pool row."""
        key = ("set", column)
        if key not in self._cache:
            self._cache[key] = np.asarray(self.exposures.is_set(column), dtype=bool)
        return self._cache[key]

    def on_blocks(self, per_row):
        """A per-pool-row Series or array, taken onto the block rows (numpy array)."""
        values = per_row.to_numpy() if isinstance(per_row, pd.Series) else np.asarray(per_row)
        return values[self.block_rows]

    def select_blocks(self, mask):
        """The block rows whose pool row is in ``mask``."""
        return self.blocks[self.on_blocks(np.asarray(mask, dtype=bool))]

    def flag(self, name):
        """A boolean property of `Exposures` as a numpy array indexed by pool row."""
        key = ("flag", name)
        if key not in self._cache:
            self._cache[key] = np.asarray(getattr(self.exposures, name), dtype=bool)
        return self._cache[key]

    def flag_like(self, column, pattern):
        """`Exposures.like` as a numpy array indexed by pool row."""
        key = ("like", column, pattern)
        if key not in self._cache:
            self._cache[key] = np.asarray(self.exposures.like(column, pattern), dtype=bool)
        return self._cache[key]

    def stage2_name(self, row, suffix):
        """``FILENAME`` of a pool row with ``_uncal`` replaced by ``_<suffix>`` (unchanged if not an uncal name)."""
        if "uncal_parts" not in self._cache:
            parts = self.pool["filename"].astype(str).str.extract(r"^(?P<path>.+)_uncal(?P<extension>\..+)$")
            self._cache["uncal_parts"] = (parts["path"].to_numpy(dtype=object),
                                          parts["extension"].to_numpy(dtype=object))
        path, ext = self._cache["uncal_parts"]
        if not isinstance(path[row], str):
            return self.raw("filename")[row]
        return f"{path[row]}_{suffix}{ext[row]}"

    def raw(self, column):
        """Pool strings of ``column`` as a numpy array indexed by pool row (None if absent)."""
        key = ("raw", column)
        if key not in self._cache:
            self._cache[key] = self.exposures.raw(column)
        return self._cache[key]

    def value(self, column):
        """Non-empty values of ``column`` (None where empty) indexed by pool row."""
        key = ("value", column)
        if key not in self._cache:
            self._cache[key] = self.exposures.value(column)
        return self._cache[key]

    def acquisitions(self):
        """Target acquisitions by (block, program, instrument, observation number) -> pool rows.

        Acquisitions (not imprints, with an OBS_NUM) join every level-3
        association of the same program, instrument and observation.
        """
        if "acquisitions" not in self._cache:
            ex = self.exposures
            idx = self.select(ex.target_acq & ~ex.is_set("is_imprt") & ex.is_set("obs_num"))
            rows = self.block_rows[idx]
            table = {}
            keys = zip(self.block_blk[idx], self.value("program")[rows], self.value("instrume")[rows],
                       self.value("obs_num")[rows], rows, strict=True)
            for blk, program, instrument, obs, row in keys:
                table.setdefault((int(blk), program, instrument, obs), []).append(int(row))
            self._cache["acquisitions"] = table
        return self._cache["acquisitions"]

    def candidate(self, blk):
        """The candidate of a block."""
        return self.candidates[blk]

    def is_discovery(self, blk):
        """Whether a block is the whole-pool discovery block."""
        return self.candidates[blk].ruleset == "discover"

    def order(self, blk, label, rule_index):
        """Creation-order key of an association (discovered ones first, as officially listed)."""
        return (0 if self.is_discovery(blk) else 1, blk, label, rule_index)
