"""Atomic writes: temporaries of dead processes are removed, those of live ones kept."""

import os
import subprocess
import sys

from webbflow.atomic import _HOST, publish, remove_stale_temporaries, temporary_beside, temporary_directory_beside


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    dead = _dead_pid()
    names = {
        "dead": f".tmp_{dead}+{_HOST}+abc123.fits",
        "dead_dir": f".tmp_{dead}+{_HOST}+def456",
        "alive": f".tmp_{os.getpid()}+{_HOST}+ghi789.fits",
        "other_host": f".tmp_{dead}+not-{_HOST}+jkl012.fits",
        "untagged": ".tmp_mno345.fits",
        "product": "jw_rate.fits",
    }
    for key, name in names.items():
        if key == "dead_dir":
            (tmp_path / name).mkdir()
            (tmp_path / name / "part.json").write_text("{}")
        else:
            (tmp_path / name).write_text("x")
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted([names["dead"], names["dead_dir"]])
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(names[k] for k in ("alive", "other_host", "untagged", "product"))
    # a writer that owns the whole directory also removes what does not say who made it
    assert remove_stale_temporaries(tmp_path, untagged=True) == [names["untagged"]]


def test_a_new_temporary_clears_the_stale_ones_and_publish_renames(tmp_path):
    stale = tmp_path / f".tmp_{_dead_pid()}+{_HOST}+zzz.fits"
    stale.write_text("partial")
    product = tmp_path / "jw_rate.fits"
    tmp = temporary_beside(product, suffix=".fits")
    assert not stale.exists()
    assert os.path.basename(tmp).startswith(f".tmp_{os.getpid()}+{_HOST}+") and tmp.endswith(".fits")
    with open(tmp, "w") as handle:
        handle.write("complete")
    publish(tmp, product)
    assert product.read_text() == "complete" and not os.path.exists(tmp)
    umask = os.umask(0)
    os.umask(umask)
    assert product.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    directory = temporary_directory_beside(tmp_path / "asn" / "pool")
    assert os.path.isdir(directory) and os.path.dirname(directory) == str(tmp_path / "asn")
