"""The embedded default: a synthetic JWST observing program.

:func:`simulate_program` writes, under ``outdir``::

    uncal/jw<ppppp><ooo><vvv>_<gg><s><aa>_<eeeee>_<detector>_uncal.fits
    truth/<same stem>_truth.fits            see webbflow.simulate.truth
    crds_cache/                             a local CRDS cache, context jwst_0001.pmap
    pool/jw<ppppp>_<yyyymmdd>t<hhmmss>_pool.csv

The default program (see :mod:`webbflow.simulate.program`) has NIRCam SW
and LW, NIRISS, NIRSpec NRS1 and MIRI imager exposures on small subarrays
by default, full frame on request. ``program="imaging"`` writes the dithered
imaging program of :mod:`webbflow.simulate.imaging` instead (with the
stage 2/3 reference files), ``program="all"`` both, into one cache and one
pool. Output files are byte-identical for the
same seed and options; every exposure draws from its own random stream, so
an exposure does not change when others are left out (``instruments=``).

Use the cache with::

    CRDS_PATH=<outdir>/crds_cache CRDS_SERVER_URL=https://jwst-serverless-mode.stsci.edu
    CRDS_MODE=local CRDS_READONLY_CACHE=1 CRDS_OBSERVATORY=jwst
"""

import os
import time

import numpy as np

from webbflow.datamodels import RampModel
from webbflow.refs.cache import write_context
from webbflow.simulate.imaging import simulate_imaging_program
from webbflow.simulate.pool import pool_name, write_pool
from webbflow.simulate.program import default_program, int_times, primary_header, sci_header
from webbflow.simulate.ramps import Effects, simulate_exposure
from webbflow.simulate.references import iter_references
from webbflow.simulate.scene import make_field, render
from webbflow.simulate.truth import truth_name, write_truth

__all__ = ["simulate_program", "simulate_imaging_program", "Effects", "default_program", "CONTEXT",
           "crds_environment", "PROGRAMS"]

#: The programs :func:`simulate_program` can write.
PROGRAMS = ("default", "imaging", "all")

#: The CRDS context written by :func:`simulate_program`.
CONTEXT = "jwst_0001.pmap"


def crds_environment(cache_dir):
    """The environment variables that point the ``crds`` package at a local cache.

    Parameters
    ----------
    cache_dir : str or os.PathLike

    Returns
    -------
    dict
    """
    return {
        "CRDS_PATH": os.path.abspath(os.fspath(cache_dir)),
        "CRDS_SERVER_URL": "https://jwst-serverless-mode.stsci.edu",
        "CRDS_MODE": "local",
        "CRDS_READONLY_CACHE": "1",
        "CRDS_OBSERVATORY": "jwst",
    }


def simulate_program(outdir, seed=1, full_frame=False, instruments=None, full_frame_refs=True, effects=None,
                     exposures=None, program="default"):
    """Simulate the program: uncal exposures, truth, CRDS cache and pool.

    Parameters
    ----------
    outdir : str or os.PathLike
        Created if needed; existing files of the same names are replaced.
    seed : int, optional
        Seed of every random stream (scenes, references, ramps).
    full_frame : bool, optional
        Full-frame exposures instead of the small default subarrays.
    instruments : iterable of str, optional
        Only these instruments (NIRCAM, NIRISS, NIRSPEC, MIRI).
    full_frame_refs : bool, optional
        Write the static references (mask, saturation, superbias, linearity,
        gain, readnoise, ipc) full frame, as CRDS does (default), or cut to
        each subarray used (smaller, faster). Darks and MIRI resets always
        match the science subarray.
    effects : Effects, optional
        Switch effects off (e.g. ``Effects.noiseless()``).
    exposures : list of Exposure, optional
        A custom program instead of :func:`default_program` (or, for
        ``program="imaging"``, instead of the imaging program).
    program : {"default", "imaging", "all"}, optional
        The default (detector1) program, the imaging program
        (:func:`simulate_imaging_program`), or both in one cache and pool.

    Returns
    -------
    dict
        ``uncal`` (list of paths), ``truth`` (list of paths), ``crds_cache``,
        ``context`` (pmap name), ``pool`` (path), ``exposures`` (list of
        Exposure), ``references`` ({uncal basename: {reftype: path}}),
        ``seconds`` (wall time); the imaging and all programs add the keys
        :func:`simulate_imaging_program` documents.
    """
    if program not in PROGRAMS:
        raise ValueError(f"unknown program {program!r}; known programs: {', '.join(PROGRAMS)}")
    if program != "default":
        if program == "all" and exposures is not None:
            raise ValueError("custom exposures are either a default or an imaging program, not 'all'")
        return simulate_imaging_program(outdir, seed=seed, full_frame=full_frame, instruments=instruments,
                                        full_frame_refs=full_frame_refs, effects=effects, exposures=exposures,
                                        include_default=program == "all")
    start = time.perf_counter()
    outdir = os.path.abspath(os.fspath(outdir))
    if exposures is None:
        exposures = default_program(full_frame=full_frame, instruments=instruments)
        # fields are drawn from whole observations, whatever instruments are kept
        program = default_program(full_frame=full_frame)
    else:
        program = list(exposures)
    if not exposures:
        raise ValueError("no exposures to simulate (check the instrument selection)")
    cache = os.path.join(outdir, "crds_cache")
    rules = {}
    fields = {}
    done = {}
    for detector, refs_by_subarray in iter_references(cache, exposures, seed, rules, full_frame_refs):
        for exp in exposures:
            if exp.detector != detector:
                continue
            if exp.exp_type != "NRS_FIXEDSLIT" and exp.observation not in fields:
                members = [e for e in program if e.observation == exp.observation]
                fields[exp.observation] = make_field(members, np.random.default_rng([seed, 104729, exp.observation]))
            refs = refs_by_subarray[exp.subarray]
            rate = render(exp, fields.get(exp.observation))
            rng = np.random.default_rng([seed, exp.seed_key])
            data, truth = simulate_exposure(exp, refs, rate, rng, effects)
            model = RampModel(meta=primary_header(exp), sci_meta=sci_header(exp), int_times=int_times(exp),
                              data=data)
            uncal = os.path.join(outdir, "uncal", exp.uncal_name)
            os.makedirs(os.path.dirname(uncal), exist_ok=True)
            model.save_uncal(uncal)
            del model, data
            truth_path = write_truth(os.path.join(outdir, "truth", truth_name(exp.uncal_name)), exp, truth, seed)
            done[exp.uncal_name] = (uncal, truth_path, dict(refs.paths))
        del refs_by_subarray
    context = write_context(cache, rules, 1)
    uncal_paths = [done[e.uncal_name][0] for e in exposures]
    truth_paths = [done[e.uncal_name][1] for e in exposures]
    selected = {e.uncal_name: done[e.uncal_name][2] for e in exposures}
    pool = write_pool(os.path.join(outdir, "pool", pool_name()), exposures)
    return {
        "uncal": uncal_paths,
        "truth": truth_paths,
        "crds_cache": cache,
        "context": context,
        "pool": pool,
        "exposures": list(exposures),
        "references": selected,
        "seconds": time.perf_counter() - start,
    }
