"""The association: what the generator returns and the writer saves."""

from dataclasses import dataclass, field

__all__ = ["Association", "Member", "Product", "DEGRADED_OK", "DEGRADED_NOT_OK"]

DEGRADED_OK = "No known degraded exposures in association."
DEGRADED_NOT_OK = ("One or more members have an error associated with them."
                   "\nDetails can be found in the member.exposerr attribute.")


@dataclass
class Member:
    """One input file of a product.

    Attributes
    ----------
    expname : str
        File name (``_rate``, ``_cal``, ``_x1d`` ... of the exposure).
    exptype : str
        ``science``, ``background``, ``psf``, ``imprint``, ``target_acquisition``,
        ``direct_image``, ``sourcecat``, ``segmap`` ...
    exposerr : str or None
        The pool's EXPOSERR value (None if the pool has no such column).
    asn_candidate : str or None
        The candidate list of the exposure (level-3 members only).
    row : int or None
        Pool row of the exposure (None for members that are products, such
        as the WFSS source catalogue).
    """

    expname: str
    exptype: str
    exposerr: str | None = None
    asn_candidate: str | None = None
    row: int | None = None
    has_exposerr: bool = True

    def to_dict(self, level):
        """The member as written in asn.json."""
        out = {"expname": self.expname, "exptype": self.exptype}
        if self.has_exposerr:
            out["exposerr"] = self.exposerr
        if level == 3 and self.asn_candidate is not None:
            out["asn_candidate"] = self.asn_candidate
        return out


@dataclass
class Product:
    """A product and the members it is made from."""

    name: str
    members: list = field(default_factory=list)


@dataclass
class Association:
    """One association, as the official generator writes it.

    Attributes
    ----------
    level : int
        2 (level-2b, one exposure calibrated) or 3 (combined products).
    rule : str
        The official rule class name (``Asn_Lv3Image`` ...).
    ruleset : str
        ``candidate`` or ``discover``.
    asn_type : str
        ``image2``, ``spec3``, ``tso3`` ...
    asn_id : str
        The candidate id (``o001``, ``c1000``, ``a3001``).
    candidate_type : str
        ``observation``, ``background``, ``discovered`` ...
    program : str
        Five-digit program id.
    target : str
        Level 2: the TARGETID; level 3: ``tNNN``.
    pool : str
        The pool file name.
    products : list of Product
    version_id : str or None
    constraints : str
        What the members share, in words (informational).
    degraded : bool
        Some member has an exposure error.
    sequence : int
        File sequence number within (asn_id, asn_type).
    order : tuple
        Creation order, used to break ties when pruning duplicates.
    """

    level: int
    rule: str
    ruleset: str
    asn_type: str
    asn_id: str
    candidate_type: str
    program: str
    target: str
    pool: str
    products: list
    version_id: str | None = None
    constraints: str = ""
    degraded: bool = False
    sequence: int = 1
    order: tuple = ()

    @property
    def asn_rule(self):
        """``<ruleset>_<rule>``, e.g. ``candidate_Asn_Lv3Image`` (just the rule for user-built ones)."""
        return f"{self.ruleset}_{self.rule}" if self.ruleset else self.rule

    @property
    def product(self):
        """The first (usually only) product."""
        return self.products[0]

    @property
    def filename(self):
        """The official file name: ``jw{program}-{acid}[_{version}]_{type}_{seq:05d}_asn.json``."""
        stamp = f"_{self.version_id}" if self.version_id else ""
        return f"jw{self.program}-{self.asn_id}{stamp}_{self.asn_type}_{self.sequence:05d}_asn.json".lower()

    def to_dict(self):
        """The association as the official asn.json structure (keys in the official order)."""
        head = {
            "asn_type": self.asn_type,
            "asn_rule": self.asn_rule,
            "version_id": self.version_id,
            "code_version": _code_version(),
            "degraded_status": DEGRADED_NOT_OK if self.degraded else DEGRADED_OK,
            "program": self.program,
            "constraints": self.constraints,
            "asn_id": self.asn_id,
        }
        if self.level == 2:
            head.update({"asn_pool": self.pool, "target": self.target})
        else:
            head.update({"target": self.target, "asn_pool": self.pool})
        head["products"] = [
            {"name": p.name, "members": [m.to_dict(self.level) for m in p.members]} for p in self.products
        ]
        return head


def _code_version():
    from webbflow import __version__

    return f"webbflow {__version__}"
