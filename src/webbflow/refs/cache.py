"""Write a local CRDS cache: mappings, references and the server configuration.

A CRDS cache that the ``crds`` package can use with no server has this layout::

    <cache>/config/jwst/server_config          the cached server information
    <cache>/config/jwst/ref_cache_subdir_mode  "instrument"
    <cache>/mappings/jwst/jwst_NNNN.pmap        pipeline context: instrument -> imap
    <cache>/mappings/jwst/jwst_<instr>_NNNN.imap            reftype -> rmap
    <cache>/mappings/jwst/jwst_<instr>_<reftype>_NNNN.rmap  header values -> file
    <cache>/references/jwst/<instr>/<reference files>

Every mapping carries a ``sha1sum`` in its header: the SHA-1 of the file's
text with the ``sha1sum`` line left out (CRDS refuses a mapping whose sum
is wrong). Mappings are never rewritten with different content: a changed
selection is a new rmap, a new imap and a new pmap with higher numbers,
exactly as CRDS publishes a new context.

Rules, the input of :func:`write_context`, are::

    {instrument: {reftype: [(match_values, useafter, reference_path), ...]}}

``match_values`` is a tuple with one value per matching parameter (by default
DETECTOR, READPATT, SUBARRAY, see :data:`DEFAULT_PARKEYS`). CRDS reads
``'ANY'`` as a wildcard that counts as a match and ``'GENERIC'`` / ``'N/A'``
as "does not matter", so ``('NRCB1', 'ANY', 'GENERIC')`` selects a
full-frame reference for every readout pattern and subarray of NRCB1, and a
more specific match (``('NRCB1', 'ANY', 'SUB160')``) wins over it where both
apply. ``useafter`` is ``'YYYY-MM-DD HH:MM:SS'`` (``T`` is accepted). A
reftype mapped to the string ``'N/A'`` instead of a list makes CRDS answer
"not applicable" (the official steps then skip themselves).
"""

import ast
import hashlib
import os
import re
import shutil
import tempfile

from astropy.io import fits

from webbflow.atomic import publish
from webbflow.errors import ReferenceFileError

__all__ = [
    "DEFAULT_PARKEYS",
    "REFTYPE_PARKEYS",
    "reftype_parkey",
    "write_context",
    "new_context",
    "read_mapping",
    "context_rules",
    "rule_from_reference",
    "mapping_checksum",
    "mapping_dir",
    "reference_dir",
    "write_server_config",
    "publish",
]

OBSERVATORY = "jwst"

#: Matching parameters of every rmap written here unless told otherwise:
#: (match keys), (use-after date, time).
DEFAULT_PARKEYS = (
    ("META.INSTRUMENT.DETECTOR", "META.EXPOSURE.READPATT", "META.SUBARRAY.NAME"),
    ("META.OBSERVATION.DATE", "META.OBSERVATION.TIME"),
)

# Header keyword of a reference file that holds the value of each matching parameter.
_PARKEY_TO_FITS = {
    "META.INSTRUMENT.NAME": "INSTRUME",
    "META.INSTRUMENT.DETECTOR": "DETECTOR",
    "META.EXPOSURE.READPATT": "READPATT",
    "META.SUBARRAY.NAME": "SUBARRAY",
    "META.EXPOSURE.TYPE": "EXP_TYPE",
    "META.INSTRUMENT.FILTER": "FILTER",
    "META.INSTRUMENT.PUPIL": "PUPIL",
    "META.INSTRUMENT.GRATING": "GRATING",
    "META.INSTRUMENT.CHANNEL": "CHANNEL",
    "META.INSTRUMENT.BAND": "BAND",
}

_DATE_TIME = ("META.OBSERVATION.DATE", "META.OBSERVATION.TIME")

#: Matching parameters of the imaging reference types (stage 2/3), per (instrument, reftype), used by
#: :func:`write_context` and :func:`new_context` when no ``parkeys`` are given; other types use
#: :data:`DEFAULT_PARKEYS`. They follow the official JWST rmaps (EXP_TYPE added where a type serves
#: imaging only here).
REFTYPE_PARKEYS = {
    ("NIRCAM", "distortion"): (("META.EXPOSURE.TYPE", "META.INSTRUMENT.DETECTOR", "META.INSTRUMENT.CHANNEL"),
                               _DATE_TIME),
    ("NIRCAM", "filteroffset"): (("META.INSTRUMENT.CHANNEL", "META.INSTRUMENT.MODULE"), _DATE_TIME),
    ("NIRCAM", "flat"): (("META.INSTRUMENT.DETECTOR", "META.INSTRUMENT.FILTER", "META.INSTRUMENT.PUPIL",
                          "META.SUBARRAY.NAME"), _DATE_TIME),
    ("NIRCAM", "photom"): (("META.INSTRUMENT.DETECTOR", "META.EXPOSURE.TYPE"), _DATE_TIME),
    ("NIRCAM", "area"): (("META.INSTRUMENT.DETECTOR", "META.INSTRUMENT.FILTER", "META.INSTRUMENT.PUPIL",
                          "META.SUBARRAY.NAME"), _DATE_TIME),
    ("NIRCAM", "drizpars"): (("META.EXPOSURE.TYPE",), _DATE_TIME),
    ("NIRISS", "distortion"): (("META.EXPOSURE.TYPE", "META.INSTRUMENT.FILTER", "META.INSTRUMENT.PUPIL"),
                               _DATE_TIME),
    ("NIRISS", "filteroffset"): (("META.EXPOSURE.TYPE",), _DATE_TIME),
    ("NIRISS", "flat"): (("META.INSTRUMENT.DETECTOR", "META.INSTRUMENT.FILTER", "META.INSTRUMENT.PUPIL",
                          "META.SUBARRAY.NAME"), _DATE_TIME),
    ("NIRISS", "photom"): (("META.INSTRUMENT.DETECTOR", "META.EXPOSURE.TYPE"), _DATE_TIME),
    ("NIRISS", "area"): (("META.INSTRUMENT.DETECTOR", "META.INSTRUMENT.FILTER", "META.INSTRUMENT.PUPIL",
                          "META.SUBARRAY.NAME"), _DATE_TIME),
    ("NIRISS", "drizpars"): (("META.EXPOSURE.TYPE",), _DATE_TIME),
    ("MIRI", "distortion"): (("META.INSTRUMENT.DETECTOR", "META.INSTRUMENT.CHANNEL", "META.INSTRUMENT.BAND",
                              "META.EXPOSURE.TYPE"), _DATE_TIME),
    ("MIRI", "filteroffset"): (("META.INSTRUMENT.DETECTOR", "META.EXPOSURE.TYPE"), _DATE_TIME),
    ("MIRI", "flat"): (("META.INSTRUMENT.DETECTOR", "META.INSTRUMENT.FILTER", "META.INSTRUMENT.BAND",
                        "META.EXPOSURE.READPATT", "META.SUBARRAY.NAME"), _DATE_TIME),
    ("MIRI", "photom"): (("META.INSTRUMENT.DETECTOR", "META.EXPOSURE.TYPE"), _DATE_TIME),
    ("MIRI", "area"): (("META.INSTRUMENT.DETECTOR", "META.INSTRUMENT.FILTER", "META.SUBARRAY.NAME"), _DATE_TIME),
    ("MIRI", "drizpars"): (("META.EXPOSURE.TYPE",), _DATE_TIME),
}


def reftype_parkey(instrument, reftype, parkeys=None):
    """The matching parameters of an rmap: ``parkeys[reftype]``, else :data:`REFTYPE_PARKEYS`, else the default."""
    if parkeys and reftype in parkeys:
        return parkeys[reftype]
    return REFTYPE_PARKEYS.get((str(instrument).upper(), str(reftype).lower()), DEFAULT_PARKEYS)


_GENERATED = "generated by webbflow"
_PMAP_RE = re.compile(r"^jwst_(\d{4})\.pmap$")


# ---------------------------------------------------------------------------
# paths
# ---------------------------------------------------------------------------
def mapping_dir(cache_dir):
    """The directory holding the mappings of ``cache_dir``."""
    return os.path.join(os.fspath(cache_dir), "mappings", OBSERVATORY)


def reference_dir(cache_dir, instrument):
    """The directory holding the reference files of one instrument."""
    return os.path.join(os.fspath(cache_dir), "references", OBSERVATORY, instrument.lower())


def _config_dir(cache_dir):
    return os.path.join(os.fspath(cache_dir), "config", OBSERVATORY)


# ---------------------------------------------------------------------------
# formatting and checksums
# ---------------------------------------------------------------------------
def mapping_checksum(text):
    """The CRDS checksum of a mapping's text.

    Parameters
    ----------
    text : str
        The whole mapping file.

    Returns
    -------
    str
        The SHA-1 hex digest of the text without the lines containing
        ``sha1sum`` (the rule CRDS uses to verify a mapping).
    """
    kept = "".join(line for line in text.splitlines(True) if "sha1sum" not in line)
    return hashlib.sha1(kept.encode("utf-8")).hexdigest()


def _format_header(header):
    lines = ["header = {"]
    for key in sorted(header):
        lines.append(f"    {key!r} : {header[key]!r},")
    lines.append("}")
    return lines


def _format_mapping(header, selector_lines):
    """Mapping text with a correct sha1sum line."""
    header = {k: v for k, v in header.items() if k != "sha1sum"}
    header["sha1sum"] = "0" * 40
    text = "\n".join(_format_header(header) + [""] + selector_lines) + "\n"
    digest = mapping_checksum(text)
    return text.replace(f"'sha1sum' : '{'0' * 40}',", f"'sha1sum' : '{digest}',", 1)


def _format_rmap(header, selections):
    lines = ["selector = Match({"]
    for match in sorted(selections, key=lambda key: tuple(str(v) for v in key)):
        lines.append(f"    {match!r} : UseAfter({{")
        for useafter in sorted(selections[match]):
            lines.append(f"        {useafter!r} : {selections[match][useafter]!r},")
        lines.append("    }),")
    lines.append("})")
    return _format_mapping(header, lines)


def _format_dict_selector(header, selector):
    lines = ["selector = {"]
    for key in sorted(selector):
        lines.append(f"    {key!r} : {selector[key]!r},")
    lines.append("}")
    return _format_mapping(header, lines)


def _write_mapping(path, text):
    """Write a mapping; an existing mapping must have identical content."""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return path
        raise ReferenceFileError(path, "a different mapping with this name already exists (mappings are immutable)")
    _atomic_write(path, text)
    return path


def _atomic_write(path, text):
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        publish(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# ---------------------------------------------------------------------------
# reading mappings
# ---------------------------------------------------------------------------
def _literal(node):
    """Convert a mapping's syntax tree to Python values; Match/UseAfter calls become dicts."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("Match", "UseAfter"):
        if len(node.args) != 1 or node.keywords:
            raise ValueError(f"unexpected {node.func.id}(...) form")
        return {"__selector__": node.func.id, "items": _literal(node.args[0])}
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values, strict=True)}
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e) for e in node.elts)
    if isinstance(node, ast.List):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Constant):
        return node.value
    raise ValueError(f"unsupported syntax {type(node).__name__}")


def read_mapping(path):
    """Read a CRDS mapping file (pmap, imap or rmap) without executing it.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict
        ``{"header": dict, "selector": ...}``. An rmap's selector is
        ``{match_tuple: {useafter: filename}}``; a pmap's or imap's is
        ``{key: mapping_name}``.

    Raises
    ------
    ReferenceFileError
        When the file is missing, malformed or its sha1sum is wrong.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ReferenceFileError(path, "CRDS mapping does not exist")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        tree = ast.parse(text, filename=path, mode="exec")
        values = {}
        for statement in tree.body:
            if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                    and isinstance(statement.targets[0], ast.Name)):
                raise ValueError("only 'header = ...' and 'selector = ...' are allowed")
            values[statement.targets[0].id] = _literal(statement.value)
        header, selector = values["header"], values["selector"]
    except (SyntaxError, ValueError, KeyError) as exc:
        raise ReferenceFileError(path, f"not a readable CRDS mapping ({exc})") from None
    if header.get("sha1sum") != mapping_checksum(text):
        raise ReferenceFileError(path, "CRDS mapping sha1sum does not match its contents")
    if isinstance(selector, dict) and selector.get("__selector__") == "Match":
        flat = {}
        for match, sub in selector["items"].items():
            key = match if isinstance(match, tuple) else (match,)
            if isinstance(sub, dict) and sub.get("__selector__") == "UseAfter":
                flat[key] = dict(sub["items"])
            else:
                raise ReferenceFileError(path, "only Match({...: UseAfter({...})}) rmaps are supported")
        selector = flat
    return {"header": header, "selector": selector}


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------
def _normalise_useafter(value):
    text = str(value).strip().replace("T", " ")
    match = re.match(r"^(\d{4}-\d{2}-\d{2})(?: (\d{2}:\d{2}:\d{2}))?", text)
    if not match:
        raise ValueError(f"USEAFTER {value!r} is not YYYY-MM-DD[ HH:MM:SS]")
    return f"{match.group(1)} {match.group(2) or '00:00:00'}"


def _install_reference(cache_dir, instrument, path):
    """Copy a reference file into the cache (unless it is already there); return its name."""
    path = os.fspath(path)
    name = os.path.basename(path)
    target_dir = reference_dir(cache_dir, instrument)
    target = os.path.join(target_dir, name)
    if os.path.abspath(path) == os.path.abspath(target):
        if not os.path.exists(target):
            raise ReferenceFileError(target, "reference file named in the rules does not exist")
        return name
    if not os.path.exists(path):
        if os.path.exists(target):  # a bare name of a reference already in the cache
            return name
        raise ReferenceFileError(path, "reference file named in the rules does not exist")
    os.makedirs(target_dir, exist_ok=True)
    shutil.copyfile(path, target)
    return name


def _rmap_text(instrument, reftype, number, selections, parkeys, derived_from):
    # the file extension of the selected references (ASDF for distortion and filteroffset)
    exts = {os.path.splitext(str(name))[1] for by_date in selections.values() for name in by_date.values()}
    file_ext = exts.pop() if len(exts) == 1 else ".fits"
    header = {
        "classes": ("Match", "UseAfter"),
        "derived_from": derived_from,
        "file_ext": file_ext,
        "filekind": reftype.upper(),
        "filetype": reftype.upper(),
        "instrument": instrument.upper(),
        "mapping": "REFERENCE",
        "name": f"jwst_{instrument.lower()}_{reftype.lower()}_{number:04d}.rmap",
        "observatory": "JWST",
        "parkey": tuple(tuple(p) for p in parkeys),
        "suffix": reftype.lower(),
        "text_descr": reftype.lower(),
    }
    return header["name"], _format_rmap(header, selections)


def _imap_text(instrument, number, selector, derived_from):
    header = {
        "derived_from": derived_from,
        "instrument": instrument.upper(),
        "mapping": "INSTRUMENT",
        "name": f"jwst_{instrument.lower()}_{number:04d}.imap",
        "observatory": "JWST",
        "parkey": ("REFTYPE",),
    }
    return header["name"], _format_dict_selector(header, selector)


def _pmap_text(number, selector, derived_from):
    header = {
        "derived_from": derived_from,
        "mapping": "PIPELINE",
        "name": f"jwst_{number:04d}.pmap",
        "observatory": "JWST",
        "parkey": ("META.INSTRUMENT.NAME",),
    }
    return header["name"], _format_dict_selector(header, selector)


def _selections(cache_dir, instrument, reftype, entries, nkeys):
    selections = {}
    for entry in entries:
        match, useafter, path = entry
        match = tuple(str(v) for v in (match if isinstance(match, (tuple, list)) else (match,)))
        if len(match) != nkeys:
            raise ValueError(f"{instrument} {reftype}: match {match} has {len(match)} values, the rmap has {nkeys} parameters")
        name = _install_reference(cache_dir, instrument, path)
        selections.setdefault(match, {})[_normalise_useafter(useafter)] = name
    return selections


def write_server_config(cache_dir, context):
    """Write ``config/jwst/server_config`` and ``ref_cache_subdir_mode``.

    Parameters
    ----------
    cache_dir : str or os.PathLike
    context : str
        The pmap to record as the operational (and latest) context.
    """
    config = {
        "observatory": OBSERVATORY,
        "operational_context": context,
        "latest_context": context,
        "edit_context": context,
        "versions_context": context,
        "force_remote_mode": False,
        "bad_files_list": [],
        "bad_files": "",
        "last_synced": "2024-01-01 00:00:00",
        "connected": False,
        "status": "cache",
    }
    directory = _config_dir(cache_dir)
    _atomic_write(os.path.join(directory, "server_config"), repr(config) + "\n")
    _atomic_write(os.path.join(directory, "ref_cache_subdir_mode"), "instrument\n")


def write_context(cache_dir, rules, context_number, parkeys=None, make_operational=True, derived_from=None):
    """Write a complete CRDS context (pmap, imaps, rmaps) and install its references.

    Parameters
    ----------
    cache_dir : str or os.PathLike
        The cache root (what ``CRDS_PATH`` points at).
    rules : dict
        ``{instrument: {reftype: [(match_values, useafter, reference_path), ...] or 'N/A'}}``.
        Reference files are copied into ``references/jwst/<instrument>/``
        unless they are already there.
    context_number : int
        The context is ``jwst_<context_number:04d>.pmap``; its imaps and rmaps
        carry the same number.
    parkeys : dict, optional
        ``{reftype: parkey}`` for rmaps that do not use :data:`DEFAULT_PARKEYS`.
    make_operational : bool, optional
        Record the new context as operational in ``server_config``.
    derived_from : str, optional
        The ``derived_from`` header value of the new mappings.

    Returns
    -------
    str
        The pmap name, e.g. ``'jwst_0001.pmap'``.
    """
    parkeys = parkeys or {}
    derived_from = derived_from or _GENERATED
    mdir = mapping_dir(cache_dir)
    os.makedirs(mdir, exist_ok=True)
    pmap_selector = {}
    for instrument, by_type in sorted(rules.items()):
        imap_selector = {}
        for reftype, entries in sorted(by_type.items()):
            if isinstance(entries, str):
                if entries.upper() != "N/A":
                    raise ValueError(f"{instrument} {reftype}: a string rule must be 'N/A'")
                imap_selector[reftype.lower()] = "N/A"
                continue
            pk = reftype_parkey(instrument, reftype, parkeys)
            selections = _selections(cache_dir, instrument, reftype, entries, len(pk[0]))
            name, text = _rmap_text(instrument, reftype, context_number, selections, pk, derived_from)
            _write_mapping(os.path.join(mdir, name), text)
            imap_selector[reftype.lower()] = name
        name, text = _imap_text(instrument, context_number, imap_selector, derived_from)
        _write_mapping(os.path.join(mdir, name), text)
        pmap_selector[instrument.upper()] = name
    name, text = _pmap_text(context_number, pmap_selector, derived_from)
    _write_mapping(os.path.join(mdir, name), text)
    if make_operational or not os.path.exists(os.path.join(_config_dir(cache_dir), "server_config")):
        write_server_config(cache_dir, name)
    else:
        _atomic_write(os.path.join(_config_dir(cache_dir), "ref_cache_subdir_mode"), "instrument\n")
    return name


def context_rules(cache_dir, context):
    """The rules, parkeys and mapping names of an existing context.

    Parameters
    ----------
    cache_dir : str or os.PathLike
    context : str
        A pmap name such as ``'jwst_0001.pmap'``.

    Returns
    -------
    dict
        ``{instrument: {"imap": name, "types": {reftype: {"rmap": name or 'N/A',
        "parkey": tuple, "selections": {match: {useafter: filename}}}}}}``.
    """
    mdir = mapping_dir(cache_dir)
    pmap = read_mapping(os.path.join(mdir, context))
    out = {}
    for instrument, imap_name in pmap["selector"].items():
        imap = read_mapping(os.path.join(mdir, imap_name))
        types = {}
        for reftype, rmap_name in imap["selector"].items():
            if str(rmap_name).upper() == "N/A":
                types[reftype] = {"rmap": "N/A", "parkey": None, "selections": None}
                continue
            rmap = read_mapping(os.path.join(mdir, rmap_name))
            types[reftype] = {"rmap": rmap_name, "parkey": rmap["header"]["parkey"], "selections": rmap["selector"]}
        out[instrument] = {"imap": imap_name, "types": types}
    return out


def rule_from_reference(path, parkey=DEFAULT_PARKEYS):
    """Read the selection of a reference file from its primary header.

    Parameters
    ----------
    path : str or os.PathLike
        A reference file with INSTRUME, REFTYPE, USEAFTER and the keywords
        of the rmap's matching parameters (DETECTOR, READPATT, SUBARRAY ...).
    parkey : tuple, optional
        The rmap parameters.

    Returns
    -------
    tuple
        ``(instrument, reftype, match_values, useafter, path)``. A missing
        READPATT reads as ``'ANY'``; a full-frame SUBARRAY (FULL, GENERIC or
        missing) as ``'GENERIC'`` so the file applies to every subarray.
    """
    path = os.fspath(path)
    try:
        header = fits.getheader(path, 0)
    except Exception as exc:
        raise ReferenceFileError(path, f"reference file is not readable FITS ({exc})") from None
    for key in ("INSTRUME", "REFTYPE", "USEAFTER"):
        if key not in header:
            raise ReferenceFileError(path, f"reference file has no {key} keyword")
    values = []
    for name in parkey[0]:
        keyword = _PARKEY_TO_FITS.get(name, name.rsplit(".", 1)[-1])
        value = str(header.get(keyword, "")).strip().upper()
        if name == "META.SUBARRAY.NAME" and value in ("", "FULL", "GENERIC", "N/A"):
            value = "GENERIC"
        elif value in ("", "N/A"):
            value = "ANY"
        values.append(value)
    return (str(header["INSTRUME"]).upper(), str(header["REFTYPE"]).lower(), tuple(values),
            _normalise_useafter(header["USEAFTER"]), path)


def _next_number(mdir, pattern):
    regex = re.compile(pattern)
    numbers = [int(m.group(1)) for name in os.listdir(mdir) if (m := regex.match(name))]
    return max(numbers, default=0) + 1


def new_context(cache_dir, old_context, replacements, make_operational=True):
    """Derive a new context from an existing one with some selections replaced.

    Only the rmaps whose selections change are rewritten (with the next
    free number); their imaps and a new pmap follow. Everything else keeps
    pointing at the mappings of ``old_context``.

    Parameters
    ----------
    cache_dir : str or os.PathLike
    old_context : str
        The pmap to start from, e.g. ``'jwst_0001.pmap'``.
    replacements : iterable
        Each item is a reference file path (its selection is read from its
        header with :func:`rule_from_reference`) or a tuple
        ``(instrument, reftype, match_values, useafter, reference_path)``.
        An existing (match, useafter) entry is replaced; a new one is added.
    make_operational : bool, optional
        Record the new context as operational in ``server_config``.

    Returns
    -------
    str
        The new pmap name.
    """
    mdir = mapping_dir(cache_dir)
    current = context_rules(cache_dir, old_context)
    changed = {}
    for item in replacements:
        if isinstance(item, (str, os.PathLike)):
            instrument, reftype, _, _, _ = rule_from_reference(item)
            known = current.get(instrument, {}).get("types", {}).get(reftype)
            pk = known["parkey"] if known and known["parkey"] else reftype_parkey(instrument, reftype)
            item = rule_from_reference(item, pk)
        instrument, reftype, match, useafter, path = item
        instrument, reftype = instrument.upper(), reftype.lower()
        entry = current.setdefault(instrument, {"imap": None, "types": {}})["types"].setdefault(
            reftype, {"rmap": None, "parkey": reftype_parkey(instrument, reftype), "selections": {}})
        if entry["selections"] is None:  # was N/A
            entry.update(parkey=reftype_parkey(instrument, reftype), selections={})
        match = tuple(str(v) for v in (match if isinstance(match, (tuple, list)) else (match,)))
        if len(match) != len(entry["parkey"][0]):
            raise ValueError(f"{instrument} {reftype}: match {match} does not fit parkey {entry['parkey'][0]}")
        name = _install_reference(cache_dir, instrument, path)
        entry["selections"].setdefault(match, {})[_normalise_useafter(useafter)] = name
        changed.setdefault(instrument, set()).add(reftype)
    if not changed:
        raise ValueError("new_context needs at least one replacement")
    pmap_number = _next_number(mdir, r"^jwst_(\d{4})\.pmap$")
    pmap_selector = {}
    for instrument, info in sorted(current.items()):
        if instrument not in changed:
            pmap_selector[instrument] = info["imap"]
            continue
        imap_selector = {}
        for reftype, entry in sorted(info["types"].items()):
            if reftype in changed[instrument]:
                number = _next_number(mdir, rf"^jwst_{instrument.lower()}_{re.escape(reftype)}_(\d{{4}})\.rmap$")
                name, text = _rmap_text(instrument, reftype, number, entry["selections"], entry["parkey"],
                                        entry["rmap"] or _GENERATED)
                _write_mapping(os.path.join(mdir, name), text)
                imap_selector[reftype] = name
            else:
                imap_selector[reftype] = entry["rmap"]
        number = _next_number(mdir, rf"^jwst_{instrument.lower()}_(\d{{4}})\.imap$")
        name, text = _imap_text(instrument, number, imap_selector, info["imap"] or _GENERATED)
        _write_mapping(os.path.join(mdir, name), text)
        pmap_selector[instrument] = name
    name, text = _pmap_text(pmap_number, pmap_selector, old_context)
    _write_mapping(os.path.join(mdir, name), text)
    if make_operational:
        write_server_config(cache_dir, name)
    return name
