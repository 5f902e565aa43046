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
    settings.update((config.get("steps") or {}).get(name) or {})
    instrument = str(meta.get("INSTRUME", "")).strip().upper()
    per_instrument = (config.get("instruments") or {}).get(instrument) or {}
    settings.update((per_instrument.get("steps") or {}).get(name) or {})
    return module, settings


def plan(meta, config=None):
    """The steps to run: a list of (name, module, function, params, skip)."""
    planned = []
    for name in step_names(meta):
        module, settings = step_settings(name, meta, config)
        skip = bool(settings.pop("skip", False))
        target = settings.pop("callable", None)
        function = _load_callable(target, name) if target else module.run
        planned.append((name, module, function, settings, skip))
    return planned


def required_reftypes(meta, config=None):
    """The CRDS reference types detector1 reads for this exposure (sorted)."""
    types = set()
    for _name, module, _function, _params, skip in plan(meta, config):
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
    for name, module, function, params, skip in plan(model.meta, config):
        optional = getattr(module, "OPTIONAL_REFTYPES", ())
        step_refs = {r: refs.get(r) or "N/A" for r in (*module.REFTYPES, *optional)}
        not_applicable = [r for r in module.REFTYPES if r not in optional and step_refs[r] == "N/A"]
        if not skip and not_applicable:
            if name in ("jump", "ramp_fit"):
                raise WebbflowError(model.path, f"{name} needs a {' and a '.join(not_applicable)} reference; CRDS selects none")
            log(f"{name}: skipped, no {', '.join(not_applicable)} reference applies")
            skip = True
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
    for product in (rate, rateints):
        for step in NOT_IMPLEMENTED:
            if step in step_order(model.meta.get("INSTRUME", "")):
                product.meta[DETECTOR1_STATUS_KEYWORDS[step]] = "SKIPPED"
        stamp_provenance(product, context)
    return rate, rateints


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


def run_file(uncal, rate_path, rateints_path, refs, config=None, context=None, threads=1, log=None):
    """Run detector1 on an uncal file (or a RampModel read from it) and write rate and rateints.

    Both products are written under temporary names and renamed, so a
    failure leaves neither behind.

    Parameters
    ----------
    uncal : str or webbflow.datamodels.RampModel
        The ``_uncal.fits`` (or ``_ramp.fits``) input, or the model read from it.
    rate_path, rateints_path : str
        The products to write.
    refs, config, context, threads, log
        As for :func:`run`.
    """
    from webbflow.datamodels import RampModel

    model = uncal if isinstance(uncal, RampModel) else RampModel.read(uncal)
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


def stamp_provenance(model, context):
    """Record the software and CRDS context in a product's header."""
    model.meta["CAL_VER"] = (__version__, "webbflow version")
    model.meta["CAL_VCS"] = ("webbflow", "calibration software")
    if context:
        model.meta["CRDS_CTX"] = (context, "CRDS context")
    try:
        import crds

        model.meta["CRDS_VER"] = (crds.__version__, "CRDS version")
    except ImportError:
        pass


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
