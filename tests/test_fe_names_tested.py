"""Every FastEstimator name fastest serves (COMPATIBILITY.md's table) is exercised by some test."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_served_fe_name_is_mentioned_by_a_test():
    spec = importlib.util.spec_from_file_location("fe_names_tested", ROOT / "tools" / "fe_names_tested.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    names = tool.served_names(ROOT / "COMPATIBILITY.md")
    assert len(names) > 350  # the table is there and parsed
    assert tool.untested(names, ROOT / "tests") == []
