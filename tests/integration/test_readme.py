"""The README's Python code blocks run as written, in order, in one namespace (training, then inference)."""

import contextlib
import io
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for block in blocks:
            exec(compile(block, "README.md", "exec"), namespace)
    assert (tmp_path / "outputs" / "model_best_accuracy.pt").is_file()
    assert max(namespace["summary"].history["eval"]["accuracy"].values()) > 0.9
    y_pred = namespace["y_pred"]
    assert y_pred.shape == (1, 10) and np.allclose(y_pred.sum(), 1.0, atol=1e-5)
    assert int(y_pred.argmax()) == int(namespace["sample"]["y"])  # the best model gets this digit right
