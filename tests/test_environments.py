"""The conda environment file and the hashed pip lock pin the same versions."""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _lock_pins():
    text = (REPO / "requirements.lock").read_text()
    return {m.group(1).lower(): m.group(2) for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)", text, re.M)}


def _env_pins(path):
    env = yaml.safe_load(path.read_text())
    pins = {}
    for item in env["dependencies"]:
        if isinstance(item, dict):
            for requirement in item.get("pip", []):
                name, sep, version = requirement.partition("==")
                assert sep, f"{path.name}: {requirement!r} is not pinned with =="
                pins[name.strip().lower()] = version.strip()
    return pins


def test_every_lock_entry_has_hashes():
    text = (REPO / "requirements.lock").read_text()
    entries = re.findall(r"^[A-Za-z0-9_.\-]+==\S+ \\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", text, re.M)
    assert len(entries) == len(_lock_pins()) > 20


def test_env_files_pin_what_the_lock_pins():
    lock = _lock_pins()
    for path in sorted((REPO / "envs").glob("*.yaml")):
        pins = _env_pins(path)
        assert pins, path.name
        for name, version in pins.items():
            assert lock.get(name) == version, f"{path.name}: {name}=={version}, lock has {lock.get(name)}"


def test_runtime_dependencies_are_all_in_the_env_file():
    import tomllib

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~ ]", d, maxsplit=1)[0].lower() for d in declared}
    pins = _env_pins(REPO / "envs" / "webbflow.yaml")
    assert names <= set(pins), sorted(names - set(pins))
