"""Stage 2 imaging (calwebb_image2): a rate file to a calibrated ``_cal`` image.

The steps, in the official order: ``bkg_subtract`` (only when the
level-2 association lists background members), ``assign_wcs``,
``flat_field``, ``photom``. Each step's status goes into its S_* keyword
(S_BKDSUB, S_WCS, S_FLAT, S_PHOTOM) and each reference file's name into
its R_* keyword (R_DISTOR, R_FILOFF, R_FLAT, R_PHOTOM, R_AREA).
"""

import json
import os

from webbflow.errors import InputError, WebbflowError
from webbflow.pipelines.detector1 import (
    PROVENANCE_KEY,  # noqa: F401  (the same record key as detector1; re-exported)
    _check_parameter,
    _step_record,
    plan_steps,
    reftypes_of,
    stamp_provenance,
)
from webbflow.refs.reftypes import REFTYPE_KEYWORDS

#: The steps of image2, in order, and the module of each.
STEPS = ("bkg_subtract", "assign_wcs", "flat_field", "photom")
_MODULES = {"bkg_subtract": "background", "assign_wcs": "assign_wcs", "flat_field": "flat_field",
            "photom": "photom"}

def step_module(name):
    """Import the module of an image2 step."""
    import importlib

    if name not in _MODULES:
        raise WebbflowError(None, f"unknown image2 step {name!r}; known steps: {', '.join(STEPS)}")
    return importlib.import_module(f"webbflow.steps.image2.{_MODULES[name]}")


def step_settings(name, meta, config):
    """A step's defaults updated by ``config["steps"][name]``, then the per-instrument settings."""
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


def plan(meta, config=None):
    """The steps to run: a list of (name, module, function, params, skip)."""
    return plan_steps(STEPS, step_settings, meta, config)


def required_reftypes(meta, config=None):
    """The CRDS reference types image2 reads for this exposure (sorted)."""
    return reftypes_of(plan(meta, config))


def check_input(model):
    """What image2 checks of its input before it selects reference files.

    A 2-D (rate) or 3-D (rateints) image of its subarray's size, of an
    imaging EXP_TYPE.

    Raises
    ------
    InputError
        Naming the file and the problem.
    """
    from webbflow.datamodels import CubeModel, ImageModel
    from webbflow.steps.image2._common import check_imaging, require_image

    path = getattr(model, "path", None)
    if not isinstance(model, (ImageModel, CubeModel)):
        raise InputError(path, f"is a {type(model).__name__}; image2 needs a rate or rateints file")
    require_image(model, "image2")
    check_imaging(model)


def run(model, refs, config=None, context=None, backgrounds=(), log=None, threads=1):
    """Run image2 on a rate (or rateints) model.

    Parameters
    ----------
    model : webbflow.datamodels.ImageModel or CubeModel
        The count rates; modified in place and returned.
    refs : dict of str -> str or None
        Reference files by CRDS type (``distortion``, ``filteroffset``,
        ``flat``, ``photom``, ``area``); None or ``"N/A"`` where none applies.
    config : dict, optional
        ``{"steps": {name: {...}}, "instruments": {INSTRUME: {"steps": ...}}}``;
        ``skip`` and ``callable`` as for detector1.
    context : str, optional
        The CRDS context, recorded as CRDS_CTX.
    backgrounds : sequence of ImageModel or CubeModel
        The association's background members (already read).
    log : callable, optional
        Called with one line per step.
    threads : int
        Threads for the numba kernels (background combination).

    Returns
    -------
    ImageModel or CubeModel
        The calibrated image (``_cal``).
    """
    import numba

    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    log = log or (lambda line: None)
    if getattr(model, "data", None) is None or model.data.ndim not in (2, 3):
        raise InputError(getattr(model, "path", None), "image2 needs a rate (2-D) or rateints (3-D) product")
    if str(model.meta.get("S_WCS", "")).strip().upper() == "COMPLETE" and getattr(model, "wcs", None) is not None:
        raise InputError(model.path, "is already calibrated (S_WCS=COMPLETE); image2 needs a rate file")
    check_input(model)
    planned = plan(model.meta, config)
    for name, module, function, params, skip in planned:
        optional = getattr(module, "OPTIONAL_REFTYPES", ())
        step_refs = {r: (refs or {}).get(r) or "N/A" for r in (*module.REFTYPES, *optional)}
        missing = [r for r in module.REFTYPES if step_refs[r] == "N/A"]
        if name == "assign_wcs" and not skip and missing:
            raise WebbflowError(model.path, "assign_wcs needs a distortion reference; CRDS selects none")
        if not skip and missing:
            log(f"{name}: skipped, no {', '.join(missing)} reference applies")
            skip = True
        if skip:
            model.meta[module.STATUS_KEYWORD] = "SKIPPED"
        else:
            model.meta.remove(module.STATUS_KEYWORD, ignore_missing=True)
            if name == "bkg_subtract":
                result = function(model, step_refs, params, backgrounds=backgrounds)
            else:
                result = function(model, step_refs, params)
            if result is None:
                raise WebbflowError(None, f"step {name} returned nothing (a replacement callable must return the model)")
            model = result
            model.meta[module.STATUS_KEYWORD] = model.meta.get(module.STATUS_KEYWORD, "COMPLETE")
        for reftype, path in step_refs.items():
            keyword = REFTYPE_KEYWORDS.get(reftype)
            if keyword and not skip:
                model.meta[keyword] = "N/A" if path in (None, "N/A") else f"crds://{os.path.basename(path)}"
        log(f"{name}: {model.meta[module.STATUS_KEYWORD]}")
    stamp_provenance(model, context, refs, _step_record(planned, model.meta), stage="image2")
    return model


def backgrounds_from_asn(asn_path, science):
    """The background members of the level-2 association product whose science member is ``science``.

    Parameters
    ----------
    asn_path : str
        A level-2 association (``*_asn.json``).
    science : str
        The science exposure's file name (directory parts ignored).

    Returns
    -------
    list of str
        The background files, relative names resolved against the
        association's directory.
    """
    try:
        with open(asn_path) as stream:
            asn = json.load(stream)
    except (OSError, ValueError) as exc:
        raise InputError(asn_path, f"not a readable association ({exc})") from None
    products = asn.get("products") if isinstance(asn, dict) else None
    if not isinstance(products, list) or not all(isinstance(p, dict) for p in products):
        raise InputError(asn_path, "is not an association: it needs a 'products' list of products")
    where = os.path.dirname(os.path.abspath(asn_path))
    name = os.path.basename(science)
    for product in products:
        members = product.get("members") or []
        if not isinstance(members, list) or not all(isinstance(m, dict) and m.get("expname") for m in members):
            raise InputError(asn_path, f"product {product.get('name')!r} has members without an expname")
        if any(str(m.get("exptype", "")).lower() == "science" and os.path.basename(str(m["expname"])) == name
               for m in members):
            return [os.path.join(where, str(m["expname"])) for m in members
                    if str(m.get("exptype", "")).lower() == "background"]
    raise InputError(asn_path, f"has no product with science member {name}")


def run_file(rate, cal_path, refs, config=None, context=None, backgrounds=(), log=None, asn=None, threads=1):
    """Run image2 on a rate file and write the ``_cal`` product atomically.

    Parameters
    ----------
    rate : str or ImageModel or CubeModel
        The ``_rate.fits`` (or ``_rateints.fits``) input or the model read from it.
    cal_path : str
        The product to write (``*_cal.fits`` / ``*_calints.fits``).
    refs, config, context, log, threads
        As for :func:`run`.
    backgrounds : sequence of str or models
        Background members (file names are read here).
    asn : str, optional
        The association file, recorded as ASNTABLE (and its pool as ASNPOOL).

    Returns
    -------
    ImageModel or CubeModel
    """
    from webbflow.datamodels import CubeModel, DataModel, ImageModel, open_model

    model = rate if isinstance(rate, DataModel) else open_model(rate)
    check_input(model)
    bkgs = [b if isinstance(b, (ImageModel, CubeModel)) else open_model(b) for b in backgrounds]
    model = run(model, refs, config=config, context=context, backgrounds=bkgs, log=log, threads=threads)
    model.meta["FILENAME"] = os.path.basename(cal_path)
    if asn:
        model.meta["ASNTABLE"] = (os.path.basename(asn), "name of the association table")
        try:
            with open(asn) as stream:
                pool = json.load(stream).get("asn_pool")
            if pool:
                model.meta["ASNPOOL"] = (str(pool), "name of the association pool")
        except (OSError, ValueError):
            pass
    model.save(cal_path)
    return model
