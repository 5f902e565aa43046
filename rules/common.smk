# Config validation and the input functions shared by the rules.
import glob
import os

from snakemake.utils import validate

validate(config, schema="../config/schema.yaml")

# CRDS reads its settings at import: point it at the configured cache first.
from webbflow.refs.select import configure_crds

configure_crds(config["crds"].get("path"), config["crds"].get("server_url"))

from webbflow.workflow import detector1_inputs, list_uncal


def get_detector1_input(wildcards):
    """The uncal file and, wrapped in ancient(), the references CRDS selects for it."""
    inputs = detector1_inputs(f"{wildcards.stem}_uncal.fits", config)
    return {key: (path if key == "uncal" else ancient(path)) for key, path in inputs.items()}


def get_detector1_mem_mb(wildcards, input):
    return 500 + 10 * int(input.size_mb)


def get_all_products(wildcards):
    """Every rate and rateints for the uncal files under config['inputs']."""
    return [
        f"{stem}_{suffix}.fits"
        for stem in list_uncal(config.get("inputs") or [])
        for suffix in ("rate", "rateints")
    ]


def get_demo_products(wildcards):
    """Every rate and rateints of the simulated demo program."""
    outdir = checkpoints.simulate.get(outdir=config["demo"]["outdir"]).output.manifest
    return [
        f"{stem}_{suffix}.fits"
        for stem in list_uncal([os.path.join(os.path.dirname(outdir), "uncal")])
        for suffix in ("rate", "rateints")
    ]
