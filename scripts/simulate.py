# Snakemake script of checkpoint simulate: writes the demo program. No science here.
import json
import os

from webbflow.simulate import simulate_program
from webbflow.workflow import job

with job(snakemake.log[0], "simulate") as log:  # noqa: F821
    outdir = os.path.dirname(snakemake.output.manifest)  # noqa: F821
    summary = simulate_program(outdir, seed=snakemake.params.seed, full_frame=snakemake.params.full_frame)  # noqa: F821
    manifest = {key: summary[key] for key in ("uncal", "truth", "crds_cache", "context", "pool")}
    tmp = snakemake.output.manifest + ".tmp"  # noqa: F821
    with open(tmp, "w") as handle:
        json.dump(manifest, handle, indent=2, sort_keys=True)
    os.replace(tmp, snakemake.output.manifest)  # noqa: F821
    log.info("simulated %s", outdir)
