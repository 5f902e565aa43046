"""Atomic file writing: a product appears complete or not at all."""

import os
import tempfile


def publish(tmp, path):
    """Give a finished temporary file the usual permissions and move it to ``path`` atomically.

    ``tempfile.mkstemp`` creates files readable by their owner only; the
    product gets the permissions the umask gives an ordinary new file.
    """
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def temporary_beside(path, suffix=""):
    """A new empty temporary file in the directory of ``path``; returns its name."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=suffix, dir=directory)
    os.close(fd)
    return tmp
