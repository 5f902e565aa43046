"""Writing associations as asn.json files, atomically."""

import json
from pathlib import Path

from webbflow.atomic import publish, temporary_beside
from webbflow.errors import WebbflowError

__all__ = ["dumps", "write_association", "write_associations"]


def dumps(asn):
    """The asn.json text of an association (the official layout: 4-space indent)."""
    return json.dumps(asn.to_dict(), indent=4, separators=(",", ": "))


def write_association(asn, path):
    """Write one association to ``path`` atomically (temporary file in the same directory, then rename).

    Parameters
    ----------
    asn : Association
    path : str or os.PathLike

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    _atomic_write(path, dumps(asn) + "\n")
    return path


def write_associations(asns, outdir):
    """Write associations under their official file names.

    Parameters
    ----------
    asns : list of Association
    outdir : str or os.PathLike
        Created if needed.

    Returns
    -------
    list of pathlib.Path
        The files written, in the order of ``asns``.

    Raises
    ------
    webbflow.errors.WebbflowError
        If two associations would get the same file name or a file cannot be written.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    names = [asn.filename for asn in asns]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise WebbflowError(outdir, f"two associations would be written as {dup[0]}")
    return [write_association(asn, outdir / name) for asn, name in zip(asns, names, strict=True)]


def _atomic_write(path, text):
    try:
        tmp = temporary_beside(path, suffix=".json")
        try:
            with open(tmp, "w") as fh:
                fh.write(text)
            publish(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        raise WebbflowError(path, f"cannot write: {err}") from None
