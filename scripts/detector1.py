# Snakemake script of rule detector1: uncal -> rate + rateints (+ the rate preview). No science here.
from webbflow.datamodels import RampModel
from webbflow.pipelines.detector1 import run_file
from webbflow.preview import write_preview
from webbflow.refs.select import configure_crds, current_context
from webbflow.workflow import job, refs_from_inputs, select_detector1_references

with job(snakemake.log[0], f"detector1 of {snakemake.input.uncal}") as log:  # noqa: F821
    crds = snakemake.config["crds"]  # noqa: F821  (not a param: see rules/detector1.smk)
    configure_crds(crds.get("path"), crds.get("server_url"))
    model = RampModel.read(snakemake.input.uncal)  # noqa: F821  (validates: bad input fails here)
    refs = refs_from_inputs(snakemake.input)  # noqa: F821
    if not refs:  # selection failed when the DAG was built: redo it to report why
        refs = select_detector1_references(snakemake.input.uncal, snakemake.config, header=model.meta)  # noqa: F821
    rate, _ = run_file(
        model,
        snakemake.output.rate,  # noqa: F821
        snakemake.output.rateints,  # noqa: F821
        refs,
        config=snakemake.params.steps,  # noqa: F821
        context=current_context(crds.get("context")),
        threads=snakemake.threads,  # noqa: F821
        log=log.info,
    )
    write_preview(rate, snakemake.output.preview)  # noqa: F821
