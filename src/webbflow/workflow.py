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

from webbflow.errors import OutputError, WebbflowError

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


#: Peak memory of an image2 job, measured (max RSS of ``webbflow run image2``,
#: docs/workflow.md "Resources") on a 0.7 MB NIRCam SUB160 rate (330 MB), a
#: 21 MB MIRI full-frame rate with 0, 1 and 3 background rates of 21 MB
#: (334, 406, 506 MB) and an 84 MB NIRISS full-frame rate (542 MB): a fixed
#: part (Python, numpy, numba, astropy, gwcs, asdf, CRDS: about 320 MB),
#: about 2.1 MB per MB of rate file (the model and its float64
#: intermediates), 2.7-3.4 MB per MB of background rates (read whole,
#: stacked for the clipped mean) and 1 MB per MB of reference files.
IMAGE2_MEM_BASE_MB = 320
IMAGE2_MEM_PER_RATE_MB = 2.5
IMAGE2_MEM_PER_BACKGROUND_MB = 3.5
IMAGE2_MEM_PER_REFERENCE_MB = 1.0
IMAGE2_MEM_SAFETY = 1.25
#: Run time of an image2 job: 5-8 s on one thread of a shared machine for
#: every size above (start-up dominates), so a base and small per-MB terms;
#: the request is SAFETY times that, at least a minute.
IMAGE2_SECONDS_BASE = 15.0
IMAGE2_SECONDS_PER_RATE_MB = 0.05
IMAGE2_SECONDS_PER_BACKGROUND_MB = 0.05
IMAGE2_SECONDS_PER_REFERENCE_MB = 0.02
IMAGE2_RUNTIME_SAFETY = 3.0


def image2_resources(rate, references=(), backgrounds=(), threads=1):
    """Memory and time to request for an image2 job, from its input sizes.

    Parameters
    ----------
    rate : str
        The rate file (a missing file, not made yet, counts as empty).
    references : iterable of str, optional
        The reference files the job reads (the job's ``ref_*`` inputs).
    backgrounds : iterable of str, optional
        The background members' rate files.
    threads : int, optional
        Threads of the job: they divide the per-MB time of the backgrounds
        (the only numba kernel), not the memory.

    Returns
    -------
    dict
        ``mem_mb`` (int, MB, rounded up to 10) and ``runtime`` (int, minutes,
        at least 1).
    """
    import math

    rate_mb = _size_mb(rate)
    bkg_mb = sum(_size_mb(path) for path in backgrounds)
    refs_mb = sum(_size_mb(path) for path in references)
    mem_mb = IMAGE2_MEM_SAFETY * (IMAGE2_MEM_BASE_MB + IMAGE2_MEM_PER_RATE_MB * rate_mb
                                  + IMAGE2_MEM_PER_BACKGROUND_MB * bkg_mb + IMAGE2_MEM_PER_REFERENCE_MB * refs_mb)
    seconds = (IMAGE2_SECONDS_BASE + IMAGE2_SECONDS_PER_RATE_MB * rate_mb + IMAGE2_SECONDS_PER_REFERENCE_MB * refs_mb
               + IMAGE2_SECONDS_PER_BACKGROUND_MB * bkg_mb / max(1, int(threads)))
    return {"mem_mb": int(math.ceil(mem_mb / 10.0) * 10),
            "runtime": max(1, int(math.ceil(IMAGE2_RUNTIME_SAFETY * seconds / 60.0)))}


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


def _primary_header(path):
    from astropy.io import fits

    from webbflow.errors import InputError

    try:
        return fits.getheader(path)
    except Exception as exc:
        raise InputError(path, f"not a readable FITS file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None


def select_image2_references(path, config, header=None):
    """Select every reference file image2 reads for an exposure.

    Parameters
    ----------
    path : str
        The exposure's rate file, or its uncal file (the selection keywords,
        INSTRUME, DETECTOR, EXP_TYPE, FILTER, PUPIL, SUBARRAY ..., are the
        same in both: detector1 does not change them).
    config : dict
        The workflow config (``crds``, ``refs``, ``image2`` sections).
    header : mapping, optional
        The header to select from instead of ``path``'s primary header.

    Returns
    -------
    dict of str -> str or None
        ``{reftype: path}``, None where CRDS selects nothing (N/A).
    """
    from webbflow.pipelines.image2 import required_reftypes
    from webbflow.refs.select import select_references

    if header is None:
        header = _primary_header(path)
    reftypes = required_reftypes(header, config.get("image2") or {})
    overrides = (config.get("refs") or {}).get("override") or {}
    return select_references(header, reftypes, context=(config.get("crds") or {}).get("context"),
                             exposure=path, overrides=overrides)


def image2_inputs(stem, config):
    """Inputs of the image2 job of ``{stem}_cal.fits``: the rate and its reference files.

    The references are selected from the exposure's uncal file when it
    exists (when the DAG is built the rate may not be made yet), else from
    the rate.

    Parameters
    ----------
    stem : str
        The exposure's path without ``_rate.fits``.
    config : dict
        The workflow config.

    Returns
    -------
    dict of str -> str
        ``{"rate": path, "ref_<reftype>": path, ...}``; references are left
        out when they cannot be selected (the job then reports why).
    """
    rate = f"{stem}_rate.fits"
    inputs = {"rate": rate}
    source = next((p for p in (f"{stem}_uncal.fits", rate) if os.path.exists(p)), None)
    if source is None:
        return inputs
    try:
        refs = select_image2_references(source, config)
    except Exception:  # reported by the job, with the file name, at run time
        return inputs
    inputs.update({REF_PREFIX + reftype: path for reftype, path in sorted(refs.items()) if path})
    return inputs


def level2_association(asn_dir, science, asn_type="image2"):
    """The level-2 association in ``asn_dir`` whose science member is ``science``, and its backgrounds.

    Parameters
    ----------
    asn_dir : str
        A directory of asn.json files.
    science : str
        The science member's file name (``*_rate.fits``; directories ignored).
    asn_type : str, optional
        Only associations of this ``asn_type``.

    Returns
    -------
    (str, list of str) or None
        The association file and the file names of its background members
        (as listed, directories stripped), or None when no association of
        the type has ``science`` as a science member. When several have,
        the first in name order is used (the official pipeline, run on each
        in turn, would write the same product several times).
    """
    import json

    name = os.path.basename(science)
    for path in sorted(glob.glob(os.path.join(asn_dir, "*_asn.json"))):
        try:
            with open(path) as handle:
                asn = json.load(handle)
        except (OSError, ValueError):  # reported by whoever reads it; never stop the DAG here
            continue
        if str(asn.get("asn_type", "")).lower() != asn_type:
            continue
        for product in asn.get("products") or []:
            members = product.get("members") or []
            if any(str(m.get("exptype", "")).lower() == "science"
                   and os.path.basename(str(m.get("expname", ""))) == name for m in members):
                return path, [os.path.basename(str(m.get("expname", ""))) for m in members
                              if str(m.get("exptype", "")).lower() == "background"]
    return None


def science_products(asn_dir, data_dir, asn_type="image2", suffix="cal"):
    """The products of the science members of the level-2 associations in ``asn_dir``.

    Parameters
    ----------
    asn_dir : str
        A directory of asn.json files.
    data_dir : str
        Where the exposures and their products live.
    asn_type : str, optional
        Only associations of this ``asn_type``.
    suffix : str, optional
        The product suffix replacing the member's ``rate``.

    Returns
    -------
    list of str
        Sorted paths ``{data_dir}/{stem}_{suffix}.fits``.
    """
    import json

    wanted = set()
    for path in sorted(glob.glob(os.path.join(asn_dir, "*_asn.json"))):
        with open(path) as handle:
            asn = json.load(handle)
        if str(asn.get("asn_type", "")).lower() != asn_type:
            continue
        for product in asn.get("products") or []:
            for member in product.get("members") or []:
                name = os.path.basename(str(member.get("expname", "")))
                if str(member.get("exptype", "")).lower() == "science" and name.endswith("_rate.fits"):
                    wanted.add(os.path.join(data_dir, f"{name[: -len('_rate.fits')]}_{suffix}.fits"))
    return sorted(wanted)


def refs_from_inputs(named_inputs):
    """``{reftype: path}`` from a job's named inputs ``ref_<reftype>``."""
    return {key[len(REF_PREFIX):]: str(path) for key, path in named_inputs.items() if key.startswith(REF_PREFIX)}


@contextlib.contextmanager
def job(log_path, what):
    """Run a job's body with logging to ``log_path``; errors become one line.

    A :class:`WebbflowError` is written to the log and to stderr as one line
    naming the file and the problem, and the process exits with status 1.
    Anything else is logged with its traceback and exits with status 2.
    The log is written beside the job's products, so a directory where it
    cannot be created fails the job at once, with one line naming the
    directory, before any work is done.
    """
    try:
        handler = logging.FileHandler(log_path, mode="w")
    except OSError as exc:
        error = _unwritable(log_path, exc)
        print(f"webbflow: error in {what}: {error}", file=sys.stderr, flush=True)
        sys.exit(1)
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


def _unwritable(path, exc):
    """The OutputError for a file that cannot be created: its directory, and why."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        return OutputError(directory, f"output directory does not exist ({exc.strerror or exc})")
    if not os.access(directory, os.W_OK):
        return OutputError(directory, f"output directory is not writable ({exc.strerror or exc})")
    return OutputError(path, f"cannot be written ({exc.strerror or exc})")


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

    from webbflow.associations import generate, read_pool, write_associations
    from webbflow.atomic import temporary_directory_beside

    asns = generate(read_pool(pool))
    tmp = temporary_directory_beside(outdir)
    old = None
    try:
        paths = write_associations(asns, tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        if os.path.isdir(outdir):  # moved aside, not deleted in place: never a partial set
            old = temporary_directory_beside(outdir)
            os.replace(outdir, os.path.join(old, "previous"))
        os.replace(tmp, outdir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if old:
            shutil.rmtree(old, ignore_errors=True)
    return [p.name for p in paths]


def clear_temporaries(root):
    """Remove every temporary a killed run left under ``root`` (a directory one job owns whole).

    Returns
    -------
    list of str
        The paths removed.
    """
    from webbflow.atomic import remove_stale_temporaries

    removed = []
    for directory, subdirs, _files in os.walk(root):
        gone = remove_stale_temporaries(directory, untagged=True)
        removed += [os.path.join(directory, name) for name in gone]
        subdirs[:] = [name for name in subdirs if name not in gone]
    return removed


def write_program_manifest(summary, path):
    """Write the simulated program's manifest (``program.json``) atomically.

    Paths are written relative to the manifest's directory, so the same
    program simulated in two places gives the same bytes.

    Parameters
    ----------
    summary : dict
        As :func:`webbflow.simulate.simulate_program` returns it.
    path : str
        The manifest to write.
    """
    import json

    from webbflow.atomic import publish, temporary_beside

    root = os.path.dirname(os.path.abspath(path))

    def relative(value):
        if isinstance(value, list):
            return [relative(item) for item in value]
        return os.path.relpath(value, root) if os.path.isabs(str(value)) else value

    manifest = {key: relative(summary[key]) for key in ("uncal", "truth", "crds_cache", "context", "pool")}
    tmp = temporary_beside(path, suffix=".json")
    try:
        with open(tmp, "w") as handle:
            json.dump(manifest, handle, indent=2, sort_keys=True)
            handle.write("\n")
        publish(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


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
