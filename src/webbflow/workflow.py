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


def affected_exposures(uncals, old_context, new_context, config=None):
    """The exposures whose detector1 references differ between two CRDS contexts.

    Each exposure's references are selected exactly as the workflow selects
    them (:func:`detector1_inputs`) under both contexts, so the result is the
    set of detector1 jobs that switching ``crds.context`` from
    ``old_context`` to ``new_context`` re-runs.

    Parameters
    ----------
    uncals : iterable of str
        The uncal files.
    old_context, new_context : str
        CRDS contexts, e.g. ``jwst_0001.pmap`` and ``jwst_0002.pmap``.
    config : dict, optional
        The workflow config (``detector1`` step settings, ``refs`` overrides).

    Returns
    -------
    list of (str, dict)
        ``(uncal, {reftype: (old_path, new_path)})`` for each affected
        exposure, in the order given; a path is None where that context
        selects nothing (or the selection fails).
    """
    config = dict(config or {})
    crds = dict(config.get("crds") or {})
    old_config = {**config, "crds": {**crds, "context": old_context}}
    new_config = {**config, "crds": {**crds, "context": new_context}}
    affected = []
    for uncal in uncals:
        old = detector1_inputs(uncal, old_config)
        new = detector1_inputs(uncal, new_config)
        changes = {key[len(REF_PREFIX):]: (old.get(key), new.get(key))
                   for key in sorted(set(old) | set(new)) if key != "uncal" and old.get(key) != new.get(key)}
        if changes:
            affected.append((uncal, changes))
    return affected


#: Peak memory of a detector1 job, measured (max RSS, docs/workflow.md
#: "Resources") on NIRISS exposures of 0.2, 42 and 84 MB: a fixed part (Python,
#: numpy, numba, astropy, CRDS, the compiled kernels: about 300 MB), 2.4 MB
#: per MB of uncal file (the float32 ramp is 2x the uint16 file, its group DQ
#: 0.5x) and about 1 MB per MB of reference files (read whole; the image-size
#: arrays of the products are of the same order as the static references).
DETECTOR1_MEM_BASE_MB = 320
DETECTOR1_MEM_PER_UNCAL_MB = 2.5
DETECTOR1_MEM_PER_REFERENCE_MB = 1.0
DETECTOR1_MEM_SAFETY = 1.25
#: Run time of a detector1 job, measured on one thread of a shared machine:
#: start-up plus seconds per MB of uncal and of references; the request is
#: SAFETY times that (slower nodes, busy file systems), at least a minute.
DETECTOR1_SECONDS_BASE = 20.0
DETECTOR1_SECONDS_PER_UNCAL_MB = 0.25
DETECTOR1_SECONDS_PER_REFERENCE_MB = 0.02
DETECTOR1_RUNTIME_SAFETY = 3.0


def _size_mb(path):
    try:
        return os.path.getsize(path) / 1e6
    except (OSError, TypeError):
        return 0.0


def detector1_resources(uncal, references=(), threads=1):
    """Memory and time to request for a detector1 job, from its input sizes.

    Parameters
    ----------
    uncal : str
        The uncal file (a missing file counts as empty).
    references : iterable of str, optional
        The reference files the job reads (the job's ``ref_*`` inputs).
    threads : int, optional
        Threads of the job: the numba kernels divide the per-MB time, not the memory.

    Returns
    -------
    dict
        ``mem_mb`` (int, MB, rounded up to 10) and ``runtime`` (int, minutes,
        at least 1), Snakemake's standard resource names.
    """
    import math

    uncal_mb = _size_mb(uncal)
    refs_mb = sum(_size_mb(path) for path in references)
    mem_mb = DETECTOR1_MEM_SAFETY * (DETECTOR1_MEM_BASE_MB + DETECTOR1_MEM_PER_UNCAL_MB * uncal_mb
                                     + DETECTOR1_MEM_PER_REFERENCE_MB * refs_mb)
    seconds = (DETECTOR1_SECONDS_BASE + DETECTOR1_SECONDS_PER_REFERENCE_MB * refs_mb
               + DETECTOR1_SECONDS_PER_UNCAL_MB * uncal_mb / max(1, int(threads)))
    return {"mem_mb": int(math.ceil(mem_mb / 10.0) * 10),
            "runtime": max(1, int(math.ceil(DETECTOR1_RUNTIME_SAFETY * seconds / 60.0)))}


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

    from webbflow.associations import generate, read_pool, write_associations

    asns = generate(read_pool(pool))
    parent = os.path.dirname(os.path.abspath(outdir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp_asn_", dir=parent)
    try:
        paths = write_associations(asns, tmp)
        if os.path.isdir(outdir):
            shutil.rmtree(outdir)
        os.chmod(tmp, 0o755)
        os.replace(tmp, outdir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [p.name for p in paths]


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
