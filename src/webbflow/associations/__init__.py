"""Associations: from a pool of exposures to the asn.json files of each calibration stage.

Library use::

    from webbflow.associations import read_pool, generate, write_associations

    pool = read_pool("jw01234_20240101t000000_pool.csv")
    asns = generate(pool, version_id=None)
    paths = write_associations(asns, "asn/")

The rules are in `rules_level2` and `rules_level3`, one readable entry each.
"""

from webbflow.associations.association import Association, Member, Product
from webbflow.associations.generate import generate
from webbflow.associations.pool import pool_from_records, read_pool
from webbflow.associations.writer import write_associations

__all__ = ["Association", "Member", "Product", "generate", "pool_from_records", "read_pool",
           "write_associations"]
