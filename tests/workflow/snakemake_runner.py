"""Run the repository's Snakefile in a temporary directory."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def write_config(workdir, **sections):
    """A config file for a run in ``workdir`` (demo and CRDS cache inside it)."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["demo"]["outdir"] = "demo"
    config["crds"]["path"] = "demo/crds_cache"
    config["associations"].update(outdir="asn", data_dir="demo/uncal")
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    path = Path(workdir) / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake(workdir, *args, cores=2, check=True, timeout=900):
    """Run snakemake on the repo's workflow in ``workdir``; return the CompletedProcess."""
    # --configfile takes several values: targets and flags go before it
    cmd = [SNAKEMAKE, *args, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", str(cores),
           "--configfile", str(Path(workdir) / "config.yaml")]
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("CRDS_"):
            env.pop(key)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=workdir)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    return result
