"""Read the workflow's YAML config for library and command-line use."""

import os

import yaml

from webbflow.errors import InputError


def load_config(path=None):
    """Load a YAML config file (an empty dict when ``path`` is None).

    Raises
    ------
    InputError
        When the file is missing or not a YAML mapping.
    """
    if path is None:
        return {}
    if not os.path.exists(path):
        raise InputError(path, "config file does not exist")
    try:
        with open(path) as handle:
            data = yaml.safe_load(handle) or {}
    except yaml.YAMLError as exc:
        raise InputError(path, f"config is not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise InputError(path, "config must be a mapping of settings")
    return data


def parse_overrides(items):
    """Turn ``["dark=PATH", ...]`` into ``{"dark": "PATH"}``.

    Raises
    ------
    InputError
        For an item without ``=``.
    """
    overrides = {}
    for item in items or ():
        reftype, sep, path = item.partition("=")
        if not sep or not reftype or not path:
            raise InputError(None, f"--override needs REFTYPE=PATH, got {item!r}")
        overrides[reftype.strip().lower()] = path.strip()
    return overrides
