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
    image2_inputs,
    image2_resources,
    level2_association,
    list_uncal,
    science_products,
)


def get_detector1_input(wildcards):
    """The uncal file and, wrapped in ancient(), the references CRDS selects for it."""
    inputs = detector1_inputs(f"{wildcards.stem}_uncal.fits", config)
    return {key: (path if key == "uncal" else ancient(path)) for key, path in inputs.items()}


def detector1_job_resources(input, threads):
    """The detector1 request from the sizes of the job's uncal and reference inputs."""
    references = [path for key, path in input.items() if key.startswith(REF_PREFIX)]
    return detector1_resources(input.uncal, references, threads)


# A job on a cluster also holds two Snakemake processes (the batch script's and
# its job step's), about 200 MB each as measured under SLURM.
REMOTE_JOB_OVERHEAD_MB = 450


def get_detector1_mem_mb(wildcards, input, threads, attempt):
    """Memory (MB) for a detector1 job; a retried job (--retries) asks for more."""
    overhead = REMOTE_JOB_OVERHEAD_MB if workflow.non_local_exec else 0
    return (detector1_job_resources(input, threads)["mem_mb"] + overhead) * attempt


def get_detector1_runtime(wildcards, input, threads, attempt):
    """Wall time (minutes) for a detector1 job; a retried job asks for more."""
    return detector1_job_resources(input, threads)["runtime"] * attempt


def get_image2_input(wildcards):
    """The rate file and, wrapped in ancient(), the references CRDS selects for it."""
    inputs = image2_inputs(wildcards.stem, config)
    return {key: (path if key == "rate" else ancient(path)) for key, path in inputs.items()}


def level2_pools(stem):
    """(asn directory, pool, data directory) of the pools whose exposures live beside ``stem``.

    The configured pools when ``stem`` is in ``associations.data_dir``, else the
    demo's pools when it is in the demo's ``uncal/``.
    """
    where = os.path.abspath(os.path.dirname(stem))
    found = []
    asn = config["associations"]
    if where == os.path.abspath(asn["data_dir"]):
        found += [(asn["outdir"], pool, asn["data_dir"]) for pool in asn["pools"]]
    if where == os.path.abspath(demo_dir("uncal")) and not found:
        found += [(demo_dir("asn"), pool, demo_dir("uncal")) for pool in sorted(glob.glob(demo_dir("pool", "*.csv")))]
    return found


def get_image2_association(wildcards):
    """The image2 association in which this exposure is the science member, and its backgrounds' rates.

    Waits for the associations checkpoint of each pool whose data directory
    holds the exposure; nothing for an exposure outside every pool.
    """
    name = os.path.basename(wildcards.stem) + "_rate.fits"
    for asndir, pool, data_dir in level2_pools(wildcards.stem):
        directory = checkpoints.associations.get(asndir=asndir, pool=pool_stem(pool)).output[0]
        found = level2_association(directory, name, "image2")
        if found:
            asn, backgrounds = found
            return {"asn": ancient(asn), "backgrounds": [os.path.join(data_dir, b) for b in backgrounds]}
    return {}


def image2_job_resources(input, threads):
    """The image2 request from the sizes of the job's rate, background and reference inputs."""
    references = [path for key, path in input.items() if key.startswith(REF_PREFIX)]
    return image2_resources(input.rate, references, list(input.get("backgrounds") or []), threads)


def get_image2_mem_mb(wildcards, input, threads, attempt):
    """Memory (MB) for an image2 job; a retried job (--retries) asks for more."""
    overhead = REMOTE_JOB_OVERHEAD_MB if workflow.non_local_exec else 0
    return (image2_job_resources(input, threads)["mem_mb"] + overhead) * attempt


def get_image2_runtime(wildcards, input, threads, attempt):
    """Wall time (minutes) for an image2 job; a retried job asks for more."""
    return image2_job_resources(input, threads)["runtime"] * attempt


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


def association_products(asndir, pools, data_dir, stage2=True):
    """The asn directories of the pools and the member products the workflow makes.

    The rates of every level-2 member and, with ``stage2``, the cal of every
    science member of an image2 association.
    """
    wanted = []
    for pool in pools:
        directory = checkpoints.associations.get(asndir=asndir, pool=pool_stem(pool)).output[0]
        wanted.append(directory)
        wanted += association_members(directory, data_dir)
        if stage2:
            wanted += science_products(directory, data_dir, "image2", "cal")
    return wanted


def get_all_products(wildcards):
    """Rates of every uncal under config['inputs']; every association of config's pools and its products."""
    wanted = [
        f"{stem}_{suffix}.fits"
        for stem in list_uncal(config.get("inputs") or [])
        for suffix in ("rate", "rateints")
    ]
    asn = config["associations"]
    return wanted + association_products(asn["outdir"], asn["pools"], asn["data_dir"])


def get_demo_products(wildcards):
    """Every rate and rateints of the simulated demo program, its associations and (but for the
    default program) the cal of every image2 science member."""
    checkpoints.simulate.get(outdir=config["demo"]["outdir"])
    wanted = [
        f"{stem}_{suffix}.fits"
        for stem in list_uncal([demo_dir("uncal")])
        for suffix in ("rate", "rateints")
    ]
    pools = sorted(glob.glob(demo_dir("pool", "*.csv")))
    # the default program's cache has no stage 2 references: its demo stops at the rates
    stage2 = config["demo"]["program"] != "default"
    return wanted + association_products(demo_dir("asn"), pools, demo_dir("uncal"), stage2)
