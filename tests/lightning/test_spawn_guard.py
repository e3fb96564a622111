"""A spawned launch (ddp_spawn) from a script without a main guard fails at once with the fix, instead of hanging."""

from __future__ import annotations

import linecache
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

from fastest.errors import FastestRuntimeError
from fastest.lightning.spawn_guard import check_main_guard, is_guarded

ROOT = Path(__file__).parents[2]

SCRIPT = textwrap.dedent("""
    import numpy as np
    from torch import nn
    import fastest as fe
    from fastest.dataset import NumpyDataset
    from fastest.op.tensorop.loss import CrossEntropy
    from fastest.op.tensorop.model import ModelOp, UpdateOp

    x = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    model = fe.build(lambda: nn.Sequential(nn.Linear(4, 2), nn.Softmax(-1)), optimizer_fn="sgd")
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    pipeline = fe.Pipeline(train_data=NumpyDataset({"x": x, "y": (x[:, 0] > 0).astype(np.int64)}), batch_size=8,
                           num_process=0)
    estimator = fe.Estimator(pipeline, network, epochs=1, log_steps=None, accelerator="cpu", devices=2,
                             strategy="ddp_spawn", progress_bar=False)
""")
N = SCRIPT.count("\n")  # the lines before the training call
CALL = "estimator.fit()\n"
GUARDED = 'if __name__ == "__main__":\n    estimator.fit()\n'


def test_unguarded_ddp_spawn_script_fails_fast_with_the_fix(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT + CALL)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(script)], timeout=60, capture_output=True, text=True, cwd=ROOT)
    assert time.perf_counter() - start < 60
    assert result.returncode != 0
    assert "FastestRuntimeError" in result.stderr
    assert f"line {N + 1}: `estimator.fit()` runs whenever the script is imported" in result.stderr
    assert 'if __name__ == "__main__":\n        estimator.fit()' in result.stderr
    assert "__mp_main__" not in result.stderr and "ProcessExitedException" not in result.stderr  # nothing spawned


@pytest.mark.parametrize(("source", "line", "guarded"), [
    (SCRIPT + CALL, N + 1, False),
    (SCRIPT + GUARDED, N + 2, True),
    (SCRIPT + 'if "__main__" == __name__:\n    estimator.fit()\n', N + 2, True),
    (SCRIPT + 'if __name__ != "__main__":\n    pass\nelse:\n    estimator.fit()\n', N + 4, True),
    (SCRIPT + 'if __name__ != "__main__":\n    estimator.fit()\n', N + 2, False),
    (SCRIPT + 'if __name__ == "__main__":\n    pass\n' + CALL, N + 3, False),  # a guard elsewhere is not enough
    (SCRIPT + 'def main():\n    estimator.fit()\n\n\nmain()\n', N + 5, False),
    (SCRIPT + 'def main():\n    estimator.fit()\n\n\nif __name__ == "__main__":\n    main()\n', N + 6, True),
])
def test_is_guarded(source, line, guarded):
    assert is_guarded(source, line) is guarded


@pytest.fixture(scope="module")
def spawn_launcher():
    import pytorch_lightning as pl

    return pl.Trainer(accelerator="cpu", devices=2, strategy="ddp_spawn", logger=False).strategy.launcher


def test_pytest_and_guarded_scripts_may_spawn(spawn_launcher):
    check_main_guard(spawn_launcher)  # pytest's own main module has its guard


@pytest.mark.parametrize("name", ["__main__", "__mp_main__"])  # the script, and its import in a spawned process
def test_the_check_at_the_top_level_of_a_script(spawn_launcher, tmp_path, monkeypatch, name):
    script = tmp_path / "train.py"
    monkeypatch.setitem(sys.modules, "__main__", types.SimpleNamespace(__file__=str(script)))

    def run(code: str) -> None:
        script.write_text(code)
        linecache.checkcache(str(script))
        exec(compile(code, str(script), "exec"), {"__name__": name, "check": check_main_guard, "launcher": spawn_launcher})

    with pytest.raises(FastestRuntimeError, match=r"line 2: `check\(launcher\)` runs whenever the script is imported"):
        run("import os\ncheck(launcher)\n")
    run("import os\nif __name__ == '__main__':\n    check(launcher)\n")  # runs (and passes) in the script only
