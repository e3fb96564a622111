"""FastEstimator 1.7's module paths and names import from fastest (src/fastest/_fe_paths.py)."""

from __future__ import annotations

import importlib
import pathlib
import re
import subprocess
import sys

import pytest

import fastest as fe
from fastest import _fe_paths

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_a_per_file_path_serves_the_same_objects_as_fastests_own_module() -> None:
    from fastest.op.numpyop.univariate.minmax import Minmax as FEMinmax
    from fastest.trace.io.best_model_saver import BestModelSaver as FEBestModelSaver

    from fastest.op.numpyop.univariate import Minmax
    from fastest.trace.io import BestModelSaver

    assert FEMinmax is Minmax
    assert FEBestModelSaver is BestModelSaver
    alias = sys.modules["fastest.trace.io.best_model_saver"]
    assert alias.__fe_alias_of__ == "fastest.trace.io"
    assert "fastest.trace.io" in alias.__doc__


def test_attribute_paths_work_after_import_fastest() -> None:
    assert fe.op.numpyop.univariate.expand_dims.ExpandDims is fe.op.numpyop.univariate.ExpandDims
    assert fe.trace.metric.accuracy.Accuracy is fe.trace.metric.Accuracy
    assert fe.schedule.schedule.EpochScheduler is fe.schedule.EpochScheduler  # below a real module


def test_inspect_still_reads_the_source_of_real_modules() -> None:
    import inspect

    import fastest.trace.io as io

    assert "class ModelSaver" in inspect.getsource(io)


def test_real_modules_stay_themselves_and_gain_a_path_for_fe_sub_paths() -> None:
    import fastest.trace.io as io

    assert "__fe_alias_of__" not in vars(io)
    assert io.__path__ == []  # so fastest.trace.io.model_saver can import
    assert io.__file__.endswith("io.py")


def test_home_of_prefers_the_table_then_the_nearest_real_module() -> None:
    assert _fe_paths.home_of("architecture.pytorch.resnet9") == "fastest.architecture"
    assert _fe_paths.home_of("op.tensorop.loss.focal_loss") == "fastest.op.tensorop.loss"
    assert _fe_paths.home_of("test.unittest_util") == "fastest.testing_fixtures"


def test_tensorflow_paths_say_fastest_is_pytorch_only() -> None:
    with pytest.raises(ModuleNotFoundError, match="PyTorch-only.*fastest.architecture.pytorch"):
        importlib.import_module("fastest.architecture.tensorflow")


def test_paths_fastestimator_never_had_are_still_missing() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("fastest.op.numpyop.univariate.no_such_op")
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchOp'"):
        importlib.import_module("fastest.op.numpyop.univariate.minmax").NoSuchOp  # noqa: B018


def _table_rows() -> list[tuple[str, str, str]]:
    text = (ROOT / "COMPATIBILITY.md").read_text()
    rows = re.findall(r"^\| `(fastest[\w.]*)` \| `(\w+)` \| ([^|]+) \|$", text, flags=re.M)
    return [(module, name, verdict.strip()) for module, name, verdict in rows]


def test_the_table_lists_every_fe_name_with_a_verdict() -> None:
    rows = _table_rows()
    assert len(rows) > 450
    for module, name, verdict in rows:
        assert verdict == "same" or verdict.startswith(("deviation: ", "n/a: ")), (module, name, verdict)


def test_every_name_marked_same_or_deviation_imports_from_its_fe_path() -> None:
    # In a fresh interpreter, so nothing imported by other tests helps.
    rows = [(m, n) for m, n, v in _table_rows() if not v.startswith("n/a")]
    script = "import importlib\nmissing = []\n" + "".join(
        f"try:\n    getattr(importlib.import_module({m!r}), {n!r})\nexcept Exception as e:\n"
        f"    missing.append(({m!r}, {n!r}, repr(e)))\n"
        for m, n in rows
    ) + "print(missing)\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
