"""Helpers the Snakemake rules and scripts call (no Snakemake import here).

Input functions must never fail for a bad exposure: that would stop the
whole workflow, even with ``--keep-going``. They return what they can and
the job itself then fails with one clear line.
"""

import contextlib
import glob
import logging
import os
import sys

from webbflow.errors import WebbflowError

REF_PREFIX = "ref_"


def list_uncal(locations):
    """Stems (path without ``_uncal.fits``) of the uncal files in directories or globs.

    Parameters
    ----------
    locations : list of str
        Directories, glob patterns or uncal file names.

    Returns
    -------
    list of str
        Sorted stems.
    """
    stems = set()
    for location in locations:
        pattern = os.path.join(location, "*_uncal.fits") if os.path.isdir(location) else location
        for path in glob.glob(pattern):
            if path.endswith("_uncal.fits"):
                stems.add(path[: -len("_uncal.fits")])
    return sorted(stems)


def detector1_inputs(uncal, config):
    """Inputs of the detector1 job: the uncal file and its reference files.

    Parameters
    ----------
    uncal : str
        The uncal file.
    config : dict
        The workflow config (``crds``, ``refs``, ``detector1`` sections).

    Returns
    -------
    dict of str -> str
        ``{"uncal": path, "ref_<reftype>": path, ...}``; references are
        left out when they cannot be selected (the job then reports why).
    """
    inputs = {"uncal": uncal}
    if not os.path.exists(uncal):
        return inputs
    try:
        refs = select_detector1_references(uncal, config)
    except Exception:  # reported by the job, with the file name, at run time
        return inputs
    inputs.update({REF_PREFIX + reftype: path for reftype, path in sorted(refs.items()) if path})
    return inputs


def select_detector1_references(uncal, config, header=None):
    """Select every reference file detector1 reads for ``uncal``."""
    from astropy.io import fits

    from webbflow.errors import InputError
    from webbflow.pipelines.detector1 import required_reftypes
    from webbflow.refs.select import select_references

    if header is None:
        try:
            header = fits.getheader(uncal)
        except Exception as exc:
            raise InputError(uncal, f"not a readable FITS file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    reftypes = required_reftypes(header, config.get("detector1") or {})
    overrides = (config.get("refs") or {}).get("override") or {}
    return select_references(header, reftypes, context=(config.get("crds") or {}).get("context"),
                             exposure=uncal, overrides=overrides)


def refs_from_inputs(named_inputs):
    """``{reftype: path}`` from a job's named inputs ``ref_<reftype>``."""
    return {key[len(REF_PREFIX):]: str(path) for key, path in named_inputs.items() if key.startswith(REF_PREFIX)}


@contextlib.contextmanager
def job(log_path, what):
    """Run a job's body with logging to ``log_path``; errors become one line.

    A :class:`WebbflowError` is written to the log and to stderr as one line
    naming the file and the problem, and the process exits with status 1.
    Anything else is logged with its traceback and exits with status 2.
    """
    handler = logging.FileHandler(log_path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logger = logging.getLogger("webbflow")
    try:
        yield logger
    except WebbflowError as exc:
        logger.error("%s", exc)
        print(f"webbflow: error in {what}: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    except Exception as exc:
        logger.exception("unexpected failure")
        print(f"webbflow: internal error in {what}: {type(exc).__name__}: {exc} (traceback in {log_path})",
              file=sys.stderr, flush=True)
        sys.exit(2)
    finally:
        root.removeHandler(handler)
        handler.close()


def make_associations(pool, outdir):
    """Generate a pool's associations into the directory ``outdir``, atomically.

    The files are written into a temporary directory beside ``outdir`` that
    is renamed when complete, so an interrupted run leaves no partial set.

    Returns
    -------
    list of str
        The asn.json file names written.
    """
    import shutil
    import tempfile

    from webbflow.associations import generate, read_pool

    asns = generate(read_pool(pool))
    parent = os.path.dirname(os.path.abspath(outdir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp_asn_", dir=parent)
    try:
        paths = write_associations_into(asns, tmp)
        if os.path.isdir(outdir):
            shutil.rmtree(outdir)
        os.chmod(tmp, 0o755)
        os.replace(tmp, outdir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [os.path.basename(p) for p in paths]


def write_associations_into(asns, directory):
    """Write associations into an existing directory (official file names)."""
    from webbflow.associations import write_associations

    return [str(p) for p in write_associations(asns, directory)]


def association_members(asn_dir, data_dir, suffixes=("rate", "rateints")):
    """Member files of the associations in ``asn_dir`` that the workflow can make.

    Parameters
    ----------
    asn_dir : str
        A directory of asn.json files.
    data_dir : str
        Where the exposures (``*_uncal.fits``) and their products live.
    suffixes : tuple of str
        Member suffixes the workflow has rules for.

    Returns
    -------
    list of str
        Sorted paths under ``data_dir``.
    """
    import json

    wanted = set()
    for path in sorted(glob.glob(os.path.join(asn_dir, "*_asn.json"))):
        with open(path) as handle:
            asn = json.load(handle)
        for product in asn.get("products", []):
            for member in product.get("members", []):
                name = os.path.basename(member.get("expname", ""))
                stem, _, suffix = name.rpartition("_")
                if suffix.removesuffix(".fits") in suffixes and stem:
                    wanted.add(os.path.join(data_dir, name))
    return sorted(wanted)
