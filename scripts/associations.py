# Snakemake script of checkpoint associations: pool -> asn directory. No science here.
from webbflow.workflow import job, make_associations

with job(snakemake.log[0], f"associations of {snakemake.input.pool}") as log:  # noqa: F821
    names = make_associations(snakemake.input.pool, snakemake.output[0])  # noqa: F821
    log.info("%d associations: %s", len(names), ", ".join(names))
