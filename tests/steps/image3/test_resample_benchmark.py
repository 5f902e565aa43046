"""Smoke test of the resample benchmark: a quick run of ours only (the benchmark itself is not a test)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]


def test_resample_benchmark_quick(tmp_path):
    table = tmp_path / "resample.txt"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.resample", "--quick", "--no-official", "--n", "2",
         "--workdir", str(tmp_path / "work"), "--output", str(table)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = table.read_text()
    assert "| 2 | ours |" in text
    assert text in proc.stdout
