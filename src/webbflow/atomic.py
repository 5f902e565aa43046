"""Atomic file writing: a product appears complete or not at all.

A product is written under a hidden temporary name in its own directory and
renamed (``os.replace``, atomic on POSIX file systems) when complete. The
temporary name records the host and process that made it,
``.tmp_<pid>+<host>+<random><suffix>``, so that a temporary left behind by a
killed process (SIGKILL, a node failure) is recognised and removed by the
next writer in that directory, while temporaries of running processes are
left alone (docs/faults.md).
"""

import os
import re
import shutil
import socket
import tempfile

_HOST = socket.gethostname().replace("+", "-") or "localhost"
_STALE = re.compile(r"^\.tmp_(\d+)\+([^+]+)\+")


def publish(tmp, path):
    """Give a finished temporary file the usual permissions and move it to ``path`` atomically.

    ``tempfile.mkstemp`` creates files readable by their owner only; the
    product gets the permissions the umask gives an ordinary new file.
    """
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def _prefix():
    return f".tmp_{os.getpid()}+{_HOST}+"


def temporary_beside(path, suffix=""):
    """A new empty temporary file in the directory of ``path``; returns its name.

    Stale temporaries of dead processes in that directory are removed first
    (:func:`remove_stale_temporaries`).
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    remove_stale_temporaries(directory)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(), suffix=suffix, dir=directory)
    os.close(fd)
    return tmp


def temporary_directory_beside(path):
    """A new empty temporary directory beside ``path`` (for products that are directories)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    remove_stale_temporaries(directory)
    return tempfile.mkdtemp(prefix=_prefix(), dir=directory)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return True


def remove_stale_temporaries(directory, untagged=False):
    """Remove the temporaries that dead processes of this host left in ``directory``.

    Only names made by :func:`temporary_beside` and
    :func:`temporary_directory_beside` are considered; those of other hosts
    (a cluster on a shared file system) and of running processes are kept.

    Parameters
    ----------
    directory : str
    untagged : bool, optional
        Also remove hidden ``.tmp_*`` names that do not say who made them
        (for a writer that owns the whole directory, e.g. the simulator).

    Returns
    -------
    list of str
        The names removed.
    """
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        match = _STALE.match(name)
        if match is None:
            if not (untagged and name.startswith(".tmp_")):
                continue
        elif match.group(2) != _HOST or _alive(int(match.group(1))):
            continue
        path = os.path.join(directory, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        except FileNotFoundError:  # another writer removed it first
            continue
        except OSError:
            continue  # not ours to remove (read-only): harmless, it is hidden and never a product
        removed.append(name)
    return removed
