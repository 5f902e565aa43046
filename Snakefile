# webbflow: the JWST science calibration pipeline as a Snakemake workflow.
# Ask for files (snakemake results/.../jw..._rate.fits); the rules follow from the suffixes.
import os

from snakemake.utils import min_version

min_version("8.0")


# The defaults live beside this file; --configfile and --config override them.
configfile: os.path.join(workflow.basedir, "config", "config.yaml")


# snakemake --report report.html: previews of the products and the rule graph.
report: "report/workflow.rst"


# Bookkeeping jobs stay on the submitting machine when a cluster executor is used.
localrules:
    all,
    demo,
    simulate,
    associations,


include: "rules/common.smk"
include: "rules/simulate.smk"
include: "rules/associations.smk"
include: "rules/detector1.smk"
include: "rules/image2.smk"


rule all:
    input:
        get_all_products,
    default_target: True


rule demo:
    input:
        get_demo_products,
