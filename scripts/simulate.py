# Snakemake script of checkpoint simulate: writes the demo program. No science here.
import os

from webbflow.simulate import simulate_program
from webbflow.workflow import clear_temporaries, job, write_program_manifest

with job(snakemake.log[0], "simulate") as log:  # noqa: F821
    outdir = os.path.dirname(snakemake.output.manifest)  # noqa: F821
    for path in clear_temporaries(outdir):  # a killed earlier run's, now that this job rewrites outdir
        log.info("removed the temporary %s", path)
    summary = simulate_program(outdir, seed=snakemake.params.seed, full_frame=snakemake.params.full_frame,  # noqa: F821
                               program=snakemake.params.program)  # noqa: F821
    write_program_manifest(summary, snakemake.output.manifest)  # noqa: F821
    log.info("simulated the %s program in %s: %d exposures", snakemake.params.program, outdir,  # noqa: F821
             len(summary["uncal"]))
