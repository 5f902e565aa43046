"""Make a directory read-only, even for root (who ignores permission bits)."""

import os
import shutil
import stat
import subprocess
import uuid
from pathlib import Path


def writes_are_refused(directory):
    """Whether creating a file in ``directory`` fails."""
    probe = Path(directory) / f".probe_{uuid.uuid4().hex}"
    try:
        probe.write_text("x")
    except OSError:
        return True
    probe.unlink()
    return False


def read_only(directory, recursive=False, create=False):
    """Make ``directory`` (and, with ``recursive``, all below it) read-only; return the undo function.

    Permission bits are enough for an ordinary user; as root the immutable
    attribute (``chattr +i``) is set as well. The undo function restores both.
    """
    directory = Path(directory)
    if create:
        directory.mkdir(parents=True, exist_ok=True)
    paths = [directory, *directory.rglob("*")] if recursive else [directory]
    modes = {path: path.stat().st_mode for path in paths}
    for path in paths:
        path.chmod(stat.S_IMODE(modes[path]) & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    chattr = shutil.which("chattr") if os.geteuid() == 0 else None
    immutable = []
    if chattr:
        for path in paths:
            if subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode == 0:
                immutable.append(path)

    def restore():
        for path in reversed(immutable):
            subprocess.run([chattr, "-i", str(path)], capture_output=True)
        for path, mode in modes.items():
            if path.exists():
                path.chmod(stat.S_IMODE(mode))

    return restore
