"""Smoke test of the detector1 benchmark: a quick run of ours only (the benchmark itself is not a test)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def test_detector1_benchmark_quick(tmp_path):
    table = tmp_path / "detector1.txt"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.detector1", "--quick", "--no-official", "--cases", "nircam",
         "--workdir", str(tmp_path / "work"), "--output", str(table)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = table.read_text()
    assert "| nircam | detector1 (whole process)" in text
    for row in ("jump (stcal", "ramp_fit (stcal"):
        assert row in text
    assert text in proc.stdout
