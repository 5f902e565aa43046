# Snakemake script of rule image2: rate (+ background rates) -> cal (+ its preview). No science here.
from webbflow.datamodels import open_model
from webbflow.pipelines.image2 import run_file
from webbflow.preview import write_preview
from webbflow.refs.select import configure_crds, current_context
from webbflow.workflow import job, refs_from_inputs, select_image2_references

with job(snakemake.log[0], f"image2 of {snakemake.input.rate}") as log:  # noqa: F821
    crds = snakemake.config["crds"]  # noqa: F821  (not a param: see rules/image2.smk)
    configure_crds(crds.get("path"), crds.get("server_url"))
    model = open_model(snakemake.input.rate)  # noqa: F821  (bad input fails here)
    refs = refs_from_inputs(snakemake.input)  # noqa: F821
    if not refs:  # selection failed when the DAG was built: redo it to report why
        refs = select_image2_references(snakemake.input.rate, snakemake.config, header=model.meta)  # noqa: F821
    backgrounds = list(snakemake.input.get("backgrounds") or [])  # noqa: F821
    asn = snakemake.input.get("asn")  # noqa: F821
    if asn:
        log.info("association %s: %d background member(s)", asn, len(backgrounds))
    cal = run_file(
        model,
        snakemake.output.cal,  # noqa: F821
        refs,
        config=snakemake.params.steps,  # noqa: F821
        context=current_context(crds.get("context")),
        backgrounds=backgrounds,
        log=log.info,
        asn=str(asn) if asn else None,
        threads=snakemake.threads,  # noqa: F821
    )
    write_preview(cal, snakemake.output.preview)  # noqa: F821
