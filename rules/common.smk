# Config validation and the input functions shared by the rules.
import glob
import os

from snakemake.utils import validate

validate(config, schema="../config/schema.yaml")

# CRDS reads its settings at import: point it at the configured cache first.
from webbflow.refs.select import configure_crds

configure_crds(config["crds"].get("path"), config["crds"].get("server_url"))

from webbflow.workflow import (
    REF_PREFIX,
    association_members,
    detector1_inputs,
    detector1_resources,
    list_uncal,
)


def get_detector1_input(wildcards):
    """The uncal file and, wrapped in ancient(), the references CRDS selects for it."""
    inputs = detector1_inputs(f"{wildcards.stem}_uncal.fits", config)
    return {key: (path if key == "uncal" else ancient(path)) for key, path in inputs.items()}


def detector1_job_resources(input, threads):
    """The detector1 request from the sizes of the job's uncal and reference inputs."""
    references = [path for key, path in input.items() if key.startswith(REF_PREFIX)]
    return detector1_resources(input.uncal, references, threads)


def get_detector1_mem_mb(wildcards, input, threads, attempt):
    """Memory (MB) for a detector1 job; a retried job (--retries) asks for more."""
    return detector1_job_resources(input, threads)["mem_mb"] * attempt


def get_detector1_runtime(wildcards, input, threads, attempt):
    """Wall time (minutes) for a detector1 job; a retried job asks for more."""
    return detector1_job_resources(input, threads)["runtime"] * attempt


def pool_stem(path):
    return os.path.basename(path).removesuffix(".csv")


def get_pool(wildcards):
    """The pool file behind an asn directory {asndir}/{pool}."""
    pools = config["associations"]["pools"]
    if wildcards.asndir == demo_dir("asn"):
        pools = pools + sorted(glob.glob(demo_dir("pool", "*.csv")))
    for pool in pools:
        if pool_stem(pool) == wildcards.pool:
            return pool
    raise ValueError(f"no pool named {wildcards.pool} in config['associations']['pools']")


def demo_dir(*parts):
    return os.path.join(config["demo"]["outdir"], *parts)


def association_products(asndir, pools, data_dir):
    """The asn directories of the pools and the member products the workflow makes."""
    wanted = []
    for pool in pools:
        directory = checkpoints.associations.get(asndir=asndir, pool=pool_stem(pool)).output[0]
        wanted.append(directory)
        wanted += association_members(directory, data_dir)
    return wanted


def get_all_products(wildcards):
    """Rates of every uncal under config['inputs'], and every association of config's pools."""
    wanted = [
        f"{stem}_{suffix}.fits"
        for stem in list_uncal(config.get("inputs") or [])
        for suffix in ("rate", "rateints")
    ]
    asn = config["associations"]
    return wanted + association_products(asn["outdir"], asn["pools"], asn["data_dir"])


def get_demo_products(wildcards):
    """Every rate and rateints of the simulated demo program, and its associations."""
    checkpoints.simulate.get(outdir=config["demo"]["outdir"])
    wanted = [
        f"{stem}_{suffix}.fits"
        for stem in list_uncal([demo_dir("uncal")])
        for suffix in ("rate", "rateints")
    ]
    pools = sorted(glob.glob(demo_dir("pool", "*.csv")))
    return wanted + association_products(demo_dir("asn"), pools, demo_dir("uncal"))
