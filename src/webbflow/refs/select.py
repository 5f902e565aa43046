"""Choose reference files for an exposure through CRDS.

CRDS reads its settings from the environment when it is imported, so
:func:`configure_crds` must run before the first look-up in a process.
With a local cache (the embedded default) no network is used: the server
URL is a "serverless" one and the cache is read-only.
"""

import os

from webbflow.errors import ReferenceFileError

SERVERLESS_URL = "https://jwst-serverless-mode.stsci.edu"


def crds_environment(cache_dir=None, server_url=None):
    """The environment variables that point CRDS at a cache or a server.

    Parameters
    ----------
    cache_dir : str or None
        The CRDS cache (``CRDS_PATH``). None keeps the user's own setting.
    server_url : str or None
        A real CRDS server. None means the local cache alone (no network).

    Returns
    -------
    dict of str -> str
    """
    env = {"CRDS_OBSERVATORY": "jwst"}
    if cache_dir is not None:
        env["CRDS_PATH"] = os.path.abspath(os.fspath(cache_dir))
    if server_url:
        env["CRDS_SERVER_URL"] = server_url
    else:
        env.update(CRDS_SERVER_URL=SERVERLESS_URL, CRDS_MODE="local", CRDS_READONLY_CACHE="1")
    return env


def configure_crds(cache_dir=None, server_url=None):
    """Set the CRDS environment of this process (before ``import crds``)."""
    env = crds_environment(cache_dir, server_url)
    if server_url is None and cache_dir is None and os.environ.get("CRDS_SERVER_URL"):
        return  # the user configured a real server and cache themselves
    os.environ.update(env)


def crds_parameters(header):
    """Translate FITS keywords into the data-model keys CRDS rmaps use.

    Parameters
    ----------
    header : mapping
        FITS keyword -> value (the primary header of an exposure).

    Returns
    -------
    dict of str -> str
    """
    from crds.jwst.locate import fits_to_parkeys

    plain = {str(k): v for k, v in dict(header).items() if k and not str(k).startswith(("COMMENT", "HISTORY"))}
    return fits_to_parkeys(plain)


def select_references(header, reftypes, context=None, exposure=None, overrides=None):
    """Select the reference files of ``reftypes`` for an exposure.

    Parameters
    ----------
    header : mapping
        The exposure's primary header (FITS keywords).
    reftypes : iterable of str
        CRDS reference types (``dark``, ``gain`` ...).
    context : str, optional
        A CRDS context such as ``jwst_0001.pmap``; default: the cache's
        operational context.
    exposure : str, optional
        The exposure file name, used in error messages.
    overrides : dict of str -> str, optional
        ``{reftype: path}`` used instead of CRDS, as the official
        ``override_<reftype>`` step parameters.

    Returns
    -------
    dict of str -> str or None
        Absolute paths; None where CRDS says the type does not apply (N/A,
        or a type the instrument's mapping does not have).

    Raises
    ------
    ReferenceFileError
        Naming the exposure and the reference type when nothing matches, or
        when a selected file is missing from the cache.
    """
    overrides = dict(overrides or {})
    reftypes = [r.lower() for r in reftypes]
    wanted = [r for r in reftypes if r not in overrides]
    where = exposure or "exposure"
    result = {r: os.path.abspath(overrides[r]) for r in reftypes if r in overrides}
    for path in result.values():
        if not os.path.exists(path):
            raise ReferenceFileError(path, "override reference file does not exist")
    if not wanted:
        return result
    check_local_cache(context)
    import crds
    from crds.core import exceptions as crds_exceptions

    parameters = crds_parameters(header)
    context = current_context(context)
    try:
        names = crds.getrecommendations(
            parameters, reftypes=wanted, context=context, observatory="jwst", fast=True
        )
    except crds_exceptions.CrdsError as exc:
        raise ReferenceFileError(where, f"CRDS could not select {', '.join(wanted)}: {_first_line(exc)}") from None
    for reftype in wanted:
        name = names.get(reftype, "NOT FOUND no rule for this type")
        if name.startswith("NOT FOUND"):
            reason = name[len("NOT FOUND"):].strip()
            if "n/a" in reason.lower() or "unknown reference type" in reason.lower():
                result[reftype] = None
                continue
            raise ReferenceFileError(
                where, f"no {reftype} reference file matches this exposure in CRDS context {context} ({reason})"
            )
        path = crds.locate_file(name, observatory="jwst")
        if not os.path.exists(path):
            raise ReferenceFileError(
                where, f"the {reftype} reference {name} selected by CRDS is missing from the cache ({path})"
            )
        result[reftype] = path
    return result


def check_local_cache(context=None):
    """With a local cache (no server), check it and the context exist, before CRDS does.

    Raises
    ------
    ReferenceFileError
        Naming the cache or the context file that is missing.
    """
    if "serverless" not in os.environ.get("CRDS_SERVER_URL", "serverless"):
        return
    cache = os.environ.get("CRDS_PATH")
    if not cache:
        raise ReferenceFileError(None, "no CRDS cache configured: set crds.path (or CRDS_PATH)")
    if not os.path.isfile(os.path.join(cache, "config", "jwst", "server_config")):
        raise ReferenceFileError(cache, "CRDS cache does not exist or has no config/jwst/server_config")
    if context and context.endswith(".pmap"):
        mapping = os.path.join(cache, "mappings", "jwst", context)
        if not os.path.isfile(mapping):
            raise ReferenceFileError(mapping, f"CRDS context {context} is not in the CRDS cache")


def current_context(context=None):
    """The context name CRDS uses: ``context`` or the cache's default."""
    check_local_cache(context)
    from crds.core.heavy_client import get_context_name

    return get_context_name("jwst", context)


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
