"""User-built associations from a list of files (as the official ``asn_from_list``).

Level 3 (the default): one product combining every file.  Level 2: one
product per file, named after the file.
"""

from webbflow.associations import naming
from webbflow.associations.association import Association, Member, Product

__all__ = ["asn_from_list", "LEVEL2_TYPES", "LEVEL3_TYPES"]

LEVEL2_TYPES = ("image2", "spec2", "tso-image2", "tso-spec2", "nrslamp-spec2")
LEVEL3_TYPES = ("image3", "spec3", "coron3", "ami3", "tso3", "wfs-image3")
_LEVEL2_RULES = ("DMSLevel2bBase",)
_LEVEL3_RULES = ("DMS_Level3_Base",)


def asn_from_list(items, product_name=None, rule="DMS_Level3_Base", acid=None, program="noprogram"):
    """An association of the given files.

    Parameters
    ----------
    items : list of str or (str, str)
        File names, or ``(file name, member type)`` pairs (member type:
        ``science``, ``background``, ``psf`` ...).
    product_name : str or None
        Level 3: the product name (required).  Level 2: ignored, each file is
        its own product.
    rule : str
        The association type (``image3``, ``spec2`` ...) or an official base
        rule name (``DMS_Level3_Base``, ``DMSLevel2bBase``).
    acid : str or None
        Candidate id (level 2 default ``o999``, level 3 ``a3001``).
    program : str
        Program id written in the association.

    Returns
    -------
    Association

    Raises
    ------
    ValueError
        Unknown rule, no files, or a level-3 association without a product name.
    """
    items = [item if isinstance(item, tuple) else (item, "science") for item in items]
    if not items:
        raise ValueError("no files given")
    if rule in LEVEL2_TYPES or rule in _LEVEL2_RULES:
        level = 2
    elif rule in LEVEL3_TYPES or rule in _LEVEL3_RULES:
        level = 3
    else:
        raise ValueError(f"unknown rule or association type {rule!r}; use one of "
                         f"{', '.join(LEVEL2_TYPES + LEVEL3_TYPES + _LEVEL2_RULES + _LEVEL3_RULES)}")
    asn_type = "None" if rule in _LEVEL2_RULES + _LEVEL3_RULES else rule
    rule_name = rule if rule in _LEVEL2_RULES + _LEVEL3_RULES else ("DMSLevel2bBase" if level == 2
                                                                   else "DMS_Level3_Base")
    if level == 2:
        products = [Product(naming.exposure_root(name), [Member(name, kind, has_exposerr=False)])
                    for name, kind in items]
        acid = acid or "o999"
        if not acid.startswith(("o", "c")):
            raise ValueError(f"invalid association id {acid!r}: level-2 ids are oNNN or c1NNN")
    else:
        if not product_name:
            raise ValueError("a level-3 association needs a product name (--product-name)")
        products = [Product(product_name, [Member(name, kind, has_exposerr=False) for name, kind in items])]
        acid = acid or "a3001"
    return Association(level=level, rule=rule_name, ruleset="", asn_type=asn_type, asn_id=acid,
                       candidate_type="user", program=program, target="none", pool="none", products=products,
                       constraints="No constraints")
