"""The README demo, end to end: trains to >= 0.95 eval accuracy and writes model and plot files."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_digits_demo_script(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "apphub/image_classification/digits/digits.py"), "--save_dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("best eval accuracy:"))
    assert float(line.split()[3]) >= 0.95
    assert "FastEstimator-Train: step: 1;" in result.stdout and "FastEstimator-Eval: step: 450; epoch: 10;" in result.stdout
    files = sorted(os.listdir(tmp_path))
    assert files == ["digits_curves.png", "digits_logs.csv", "lenet_best_accuracy.pt"], files
    rows = (tmp_path / "digits_logs.csv").read_text().splitlines()
    assert rows[0].startswith("mode,step,epoch") and "lenet_lr" in rows[0]
    assert sum(r.startswith("eval,") for r in rows) == 10
