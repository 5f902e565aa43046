"""Stage 1 (calwebb_detector1): the ordered steps per instrument, run on a ramp."""

import importlib
import os
import sys

import numba

from webbflow import __version__
from webbflow.errors import WebbflowError
from webbflow.refs.reftypes import DETECTOR1_STATUS_KEYWORDS, NOT_IMPLEMENTED, REFTYPE_KEYWORDS, step_order

NIR_STEPS = tuple(step_order("NIR", implemented_only=True))
MIRI_STEPS = tuple(step_order("MIRI", implemented_only=True))


def step_names(meta):
    """The steps of detector1 for an exposure, in order."""
    return tuple(step_order(meta.get("INSTRUME", ""), implemented_only=True))


def step_module(name):
    """Import the module of a detector1 step."""
    return importlib.import_module(f"webbflow.steps.detector1.{name}")


def step_settings(name, meta, config):
    """Merge a step's defaults with the config, then the per-instrument config.

    The config is a mapping with optional ``steps: {name: {...}}`` and
    ``instruments: {INSTRUMENT: {steps: {name: {...}}}}``. Special keys in a
    step's settings: ``skip`` (bool) and ``callable`` (``module:function``
    that replaces the step's ``run``).
    """
    config = config or {}
    module = step_module(name)
    settings = dict(module.DEFAULTS)
    instrument = str(meta.get("INSTRUME", "")).strip().upper()
    per_instrument = (config.get("instruments") or {}).get(instrument) or {}
    for given in ((config.get("steps") or {}).get(name) or {}, (per_instrument.get("steps") or {}).get(name) or {}):
        for key, value in given.items():
            _check_parameter(name, key, value, module.DEFAULTS)
            settings[key] = value
    return module, settings


def _check_parameter(step, key, value, defaults):
    """A parameter of the config must have the type of its default."""
    if key == "callable" or key not in defaults or defaults[key] is None or value is None:
        return
    default = defaults[key]
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, (int, float)):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(default, str):
        ok = isinstance(value, str)
    else:
        ok = True
    if not ok:
        raise WebbflowError(None, f"step {step}: parameter {key}={value!r} must be a {type(default).__name__} "
                                  f"like its default {default!r}")


def plan(meta, config=None):
    """The steps to run: a list of (name, module, function, params, skip)."""
    return plan_steps(step_names(meta), step_settings, meta, config)


def plan_steps(names, settings_of, meta, config):
    """(name, module, function, params, skip) of each step; ``settings_of(name, meta, config)``
    gives ``(module, settings)``, where settings may hold ``skip`` and a user ``callable``."""
    planned = []
    for name in names:
        module, settings = settings_of(name, meta, config)
        skip = bool(settings.pop("skip", False))
        target = settings.pop("callable", None)
        function = _load_callable(target, name) if target else module.run
        planned.append((name, module, function, settings, skip))
    return planned


def required_reftypes(meta, config=None):
    """The CRDS reference types detector1 reads for this exposure (sorted)."""
    return reftypes_of(plan(meta, config))


def reftypes_of(planned):
    """The CRDS reference types the steps of a plan that are not skipped read (sorted)."""
    types = set()
    for _name, module, _function, _params, skip in planned:
        if not skip:
            types.update(module.REFTYPES)
            types.update(getattr(module, "OPTIONAL_REFTYPES", ()))
    return sorted(types)


def run(model, refs, config=None, context=None, threads=1, log=None):
    """Run detector1 on a ramp.

    Parameters
    ----------
    model : webbflow.datamodels.RampModel
        The uncal (or partly processed) ramp; it is modified in place.
    refs : dict of str -> str or None
        Reference files by CRDS type (from :func:`webbflow.refs.select.select_references`).
    config : dict, optional
        Step parameters, skips and replacements (see :func:`step_settings`).
    context : str, optional
        The CRDS context used, recorded as CRDS_CTX.
    threads : int
        Threads for the numba kernels.
    log : callable, optional
        Called with one line per step.

    Returns
    -------
    rate : webbflow.datamodels.ImageModel
    rateints : webbflow.datamodels.CubeModel
    """
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    log = log or (lambda line: None)
    rate = rateints = None
    planned = plan(model.meta, config)
    for name, module, function, params, skip in planned:
        step_refs, skip = _resolve_step(name, module, refs, skip, model.path, log)
        if name == "gain_scale":
            if rate is None:
                continue
            rate, rateints = (_apply(function, m, step_refs, params, module, skip, name) for m in (rate, rateints))
            log(f"{name}: {rate.meta.get(module.STATUS_KEYWORD, 'COMPLETE')}")
            continue
        if name == "ramp_fit":
            if skip:
                raise WebbflowError(None, "ramp_fit cannot be skipped: detector1 must produce rate files")
            _set_status(model, module, "COMPLETE", step_refs)
            rate, rateints = function(model, step_refs, params)
            for product in (rate, rateints):
                _inherit_keywords(product, model)
            log(f"{name}: COMPLETE")
            continue
        model = _apply(function, model, step_refs, params, module, skip, name)
        log(f"{name}: {model.meta.get(module.STATUS_KEYWORD, 'COMPLETE')}")
    _finish((rate, rateints), model.meta, planned, context, refs, threads)
    return rate, rateints


def _resolve_step(name, module, refs, skip, path, log):
    """The references of a step (``"N/A"`` where none applies) and whether it is skipped."""
    optional = getattr(module, "OPTIONAL_REFTYPES", ())
    step_refs = {r: refs.get(r) or "N/A" for r in (*module.REFTYPES, *optional)}
    not_applicable = [r for r in module.REFTYPES if r not in optional and step_refs[r] == "N/A"]
    if not skip and not_applicable:
        if name in ("jump", "ramp_fit"):
            raise WebbflowError(path, f"{name} needs a {' and a '.join(not_applicable)} reference; CRDS selects none")
        log(f"{name}: skipped, no {', '.join(not_applicable)} reference applies")
        skip = True
    return step_refs, skip


def _finish(products, meta, planned, context, refs, threads):
    """Status of the steps not implemented, and the provenance record, in each product."""
    for product in products:
        for step in NOT_IMPLEMENTED:
            if step in step_order(meta.get("INSTRUME", "")):
                product.meta[DETECTOR1_STATUS_KEYWORDS[step]] = "SKIPPED"
        stamp_provenance(product, context, refs=refs, steps=_step_record(planned, product.meta), threads=threads)


def _step_record(planned, meta):
    """``{step: {"status", "parameters"[, "callable"]}}`` of the steps as they ran."""
    steps = {}
    for name, module, function, params, _skip in planned:
        entry = {"status": str(meta.get(module.STATUS_KEYWORD, "COMPLETE")), "parameters": dict(params)}
        if function is not module.run:
            entry["callable"] = f"{getattr(function, '__module__', '?')}:{getattr(function, '__qualname__', '?')}"
        steps[name] = entry
    return steps


def _apply(function, model, refs, params, module, skip, name):
    if skip:
        model.meta[module.STATUS_KEYWORD] = "SKIPPED"
        return model
    # a step that declines to act records SKIPPED itself; keep what it says
    model.meta.remove(module.STATUS_KEYWORD, ignore_missing=True)
    result = function(model, refs, params)
    if result is None:
        raise WebbflowError(None, f"step {name} returned nothing (a replacement callable must return the model)")
    _set_status(result, module, result.meta.get(module.STATUS_KEYWORD, "COMPLETE"), refs)
    return result


def _set_status(model, module, status, refs):
    model.meta[module.STATUS_KEYWORD] = status
    for reftype, path in refs.items():
        keyword = REFTYPE_KEYWORDS.get(reftype)
        if keyword:
            model.meta[keyword] = "N/A" if path in (None, "N/A") else f"crds://{os.path.basename(path)}"


def _inherit_keywords(product, model):
    for card in model.meta.cards:
        if card.keyword and card.keyword not in product.meta and card.keyword not in ("COMMENT", "HISTORY"):
            product.meta[card.keyword] = (card.value, card.comment)


def run_file(uncal, rate_path, rateints_path, refs, config=None, context=None, threads=1, log=None,
             memory_budget=None, chunk_ints=None, chunk_rows=None):
    """Run detector1 on an uncal file (or a RampModel read from it) and write rate and rateints.

    Both products are written under temporary names and renamed, so a
    failure leaves neither behind. An uncal ramp larger than
    ``memory_budget`` is processed in chunks of integrations and blocks of
    rows (:mod:`webbflow.pipelines.detector1_chunked`), with identical
    products.

    Parameters
    ----------
    uncal : str or webbflow.datamodels.RampModel
        The ``_uncal.fits`` (or ``_ramp.fits``) input, or the model read from it.
    rate_path, rateints_path : str
        The products to write.
    refs, config, context, threads, log
        As for :func:`run`.
    memory_budget : int, optional
        Bytes of ramp (float32 SCI + uint8 GROUPDQ) to hold at a time; default
        :data:`webbflow.pipelines.detector1_chunked.MEMORY_BUDGET`.
    chunk_ints, chunk_rows : int, optional
        Force the chunked path with these chunk sizes (tests).

    Returns
    -------
    rate : webbflow.datamodels.ImageModel
    rateints : webbflow.datamodels.CubeModel
        After the chunked path its arrays are empty (0 integrations): the
        integrations are in the file only.
    """
    from webbflow.datamodels import RampModel
    from webbflow.pipelines import detector1_chunked as chunked

    model = uncal if isinstance(uncal, RampModel) else RampModel.read(uncal)
    planned = plan(model.meta, config)
    budget = chunked.MEMORY_BUDGET if memory_budget is None else memory_budget
    sizes = chunked.chunking_plan(model, planned, budget, chunk_ints, chunk_rows)
    if sizes is not None:
        return chunked.run_chunked(model, rate_path, rateints_path, refs, planned, sizes, context=context,
                                   threads=threads, log=log)
    rate, rateints = run(model, refs, config=config, context=context, threads=threads, log=log)
    base = os.path.basename(model.path or "")
    for product, path in ((rate, rate_path), (rateints, rateints_path)):
        product.meta["FILENAME"] = os.path.basename(path)
        product.meta["ORIGFILE"] = base
    rateints.save(rateints_path)
    try:
        rate.save(rate_path)
    except BaseException:
        os.remove(rateints_path)
        raise
    return rate, rateints


#: Packages whose versions every product records (besides webbflow and Python).
PROVENANCE_PACKAGES = ("numpy", "numba", "scipy", "astropy", "asdf", "crds")

#: The key of the provenance record in a product's ASDF extension.
PROVENANCE_KEY = "webbflow_provenance"


def software_versions():
    """``{package: version}`` of webbflow, Python and :data:`PROVENANCE_PACKAGES`."""
    import platform
    from importlib import metadata

    versions = {"webbflow": __version__, "python": platform.python_version()}
    for package in PROVENANCE_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def stamp_provenance(model, context, refs=None, steps=None, threads=None, stage="detector1"):
    """Record the software, CRDS context, references and step parameters in a product.

    The header gets CAL_VER, CAL_VCS, CRDS_CTX and CRDS_VER (the official
    keywords) and one HISTORY card naming the versions of webbflow's
    dependencies; the ASDF extension gets the whole record under
    :data:`PROVENANCE_KEY`::

        {"software": "webbflow", "stage": "detector1",
         "versions": {"webbflow": ..., "python": ..., "numpy": ..., ...},
         "crds_context": "jwst_0002.pmap",
         "references": {reftype: "crds://file.fits" or "N/A"},
         "steps": {name: {"status": "COMPLETE", "parameters": {...}}},
         "threads": 1}

    Parameters
    ----------
    model : webbflow.datamodels.DataModel
    context : str or None
        The CRDS context used.
    refs : dict of str -> str or None, optional
        Every reference file used, by CRDS type.
    steps : dict, optional
        The steps run, their status and the parameters used (see :func:`run`).
    threads : int, optional
        Threads of the numba kernels.
    stage : str
        The stage recorded; a record an earlier stage left in the product
        is kept inside the new one under ``"previous"``.
    """
    versions = software_versions()
    model.meta["CAL_VER"] = (__version__, "webbflow version")
    model.meta["CAL_VCS"] = ("webbflow", "calibration software")
    if context:
        model.meta["CRDS_CTX"] = (context, "CRDS context")
    if versions["crds"] != "not installed":
        model.meta["CRDS_VER"] = (versions["crds"], "CRDS version")
    for line in _history_lines(f"webbflow {stage} with", [f"{k} {v}" for k, v in versions.items()]):
        model.meta.add_history(line)
    record = {
        "software": "webbflow",
        "stage": stage,
        "versions": versions,
        "crds_context": context or "unknown",
        "references": {reftype: "N/A" if path in (None, "N/A") else f"crds://{os.path.basename(path)}"
                       for reftype, path in sorted((refs or {}).items())},
        "steps": _plain(steps or {}),
    }
    if threads is not None:
        record["threads"] = int(threads)
    previous = model.asdf_tree.get(PROVENANCE_KEY)
    if previous and previous.get("stage") != stage:
        record["previous"] = previous
    model.asdf_tree[PROVENANCE_KEY] = record


def _history_lines(first, items, width=70):
    """``first`` and the comma-separated ``items`` in lines that fit one HISTORY card each."""
    lines, line = [], first
    for index, item in enumerate(items):
        text = item + ("," if index < len(items) - 1 else "")
        if len(line) + 1 + len(text) > width:
            lines.append(line)
            line = "  " + text
        else:
            line = f"{line} {text}"
    return [*lines, line]


def _plain(value):
    """A copy made of dicts, lists, str, int, float, bool and None (what ASDF stores as is)."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


def _load_callable(target, name):
    module_name, _, function_name = str(target).partition(":")
    if not module_name or not function_name:
        raise WebbflowError(None, f"callable for step {name} must be 'module:function', got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # a user's module beside their data
    try:
        return getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        raise WebbflowError(None, f"cannot load callable {target!r} for step {name}: {exc}") from None
