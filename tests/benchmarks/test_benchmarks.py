"""The benchmarks still run (``--quick``) and print their ratios; their figures are not asserted here."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("script", "expected"), [
    ("overhead.py", "overhead: fastest/auto = "),
    ("pipeline_throughput.py", "fastest / torchvision = "),
])
def test_benchmark_quick_run(script, expected):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick"], capture_output=True,
                            text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert expected in result.stdout
