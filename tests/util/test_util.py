"""fastest.util: FastEstimator's general helpers, reached through FastEstimator's module paths too."""

import io
import os
import sys
import time

import numpy as np
import pytest
import torch

import fastest as fe
from fastest import util
from fastest.errors import FastestValueError


def test_fastestimator_module_paths_serve_the_same_objects():
    import fastest.util.cli_util as cli_util
    from fastest.util.base_util import to_list
    from fastest.util.data import Data
    from fastest.util.img_data import GridDisplay
    from fastest.util.traceability_util import FeInputSpec, traceable

    assert to_list is util.to_list and Data is fe.trace.Data and GridDisplay is util.GridDisplay
    assert FeInputSpec is util.FeInputSpec and traceable is util.traceable
    assert cli_util.parse_string_to_python("{'a': [1, 2]}") == {"a": [1, 2]}
    assert fe.util.util.to_number is util.to_number  # fe.util.util resolves on attribute access


def test_containers():
    assert util.to_list(None) == [] and util.to_list("ab") == ["ab"] and util.to_list({"k": 1}) == [{"k": 1}]
    assert sorted(util.to_list({3, 4})) == [3, 4] and util.to_list((1, (2,))) == [1, (2,)]
    assert util.to_set(None) == set() and util.to_set("a") == {"a"} and util.to_set([1, 1, 2]) == {1, 2}
    assert util.filter_nones([1, None, 0, "A"]) == [1, 0, "A"]
    assert util.filter_nones({1, None}) == {1} and util.filter_nones({"a": None, "b": 0}) == {"b": 0}
    assert util.param_to_range(-3) == (-3, 3) and util.param_to_range([0.5, 2]) == (0.5, 2)
    assert util.IfElse(False, 1, 2) == 2
    table = util.DefaultKeyDict(default=lambda key: key * 2, a=1)
    assert (table["a"], table[10], dict(table)) == (1, 20, {"a": 1, 10: 20})


def test_shapes_and_types():
    assert util.get_shape([np.ones((2, 5)), np.ones((3, 5))]) == [None, None, 5]
    assert util.get_shape([np.ones((2, 5)), np.ones(3)]) == [None] and util.get_shape(7) == []
    assert util.get_type([torch.ones(2, dtype=torch.int16)]) == "List[torch.int16]"
    assert util.get_type((1.0,)) == "List[float]" and util.get_type([]) == "list"
    assert util.get_batch_size({"x": torch.ones(4, 2), "id": "a", "s": np.float32(1)}) == 4
    with pytest.raises(FastestValueError, match=r"first axes are \[1, 3\]"):
        util.get_batch_size({"a": np.ones((3, 2)), "b": np.ones((1, 2))})
    with pytest.raises(AssertionError):  # FastEstimator raised AssertionError; fastest's errors are ones too
        util.get_batch_size([np.ones(3)])
    number = util.to_number(torch.tensor([1.5], requires_grad=True))
    assert isinstance(number, np.ndarray) and number.tolist() == [1.5]


def test_pad_batch_pads_each_key_to_the_largest_shape_in_place():
    batch = [{"x": np.ones((1, 3)), "y": np.ones(2)}, {"x": np.ones((2, 1)), "y": np.ones(2)}]
    util.pad_batch(batch, pad_value=-1)
    assert batch[0]["x"].tolist() == [[1, 1, 1], [-1, -1, -1]] and batch[1]["x"].tolist() == [[1, -1, -1], [1, -1, -1]]
    assert batch[0]["y"].tolist() == [1, 1]  # equal shapes are left alone
    with pytest.raises(FastestValueError, match="same keys"):
        util.pad_batch([{"x": np.ones(2)}, {"z": np.ones(3)}], pad_value=0)
    with pytest.raises(FastestValueError, match=r"cannot pad an array of shape \(3, 3\) to \(1, 4\)"):
        util.pad_data(np.ones((3, 3)), (1, 4), pad_value=0)


def test_strings():
    assert util.prettify_metric_name("myUgly_loss") == "My Ugly Loss" and util.prettify_metric_name("ABCD") == "Abcd"
    assert util.strip_suffix("model.pt", ".pt") == "model" and util.strip_suffix(None, ".pt") is None
    assert util.strip_prefix("model.pt", "mod") == "el.pt" and util.strip_prefix("model.pt", "x") == "model.pt"
    assert [util.is_number(text) for text in ("1e-3", "-7", "nan", "7a", "")] == [True, True, True, False, False]
    assert util.parse_string_to_python("-1.5") == -1.5 and util.parse_string_to_python("adam") == "adam"


def test_modes_ids_and_names_are_checked():
    assert util.parse_modes({"!train", "!infer"}) == {"eval", "test"}
    with pytest.raises(AssertionError):
        util.parse_modes({"train", "!eval"})
    assert util.check_ds_id({"!a", "!b"}) == {"!a", "!b"}
    with pytest.raises(FastestValueError, match="mixes"):
        util.check_ds_id({"!a", "b"})
    assert util.check_io_names(["x", ["y|ds1"]]) == ["x", ["y|ds1"]]
    with pytest.raises(FastestValueError, match="'a:b' is invalid"):
        util.check_io_names(["a:b"])


def test_suppressor_silences_python_and_file_descriptor_output(capfd):
    with util.Suppressor():
        print("python")
        os.write(1, b"c-level\n")
    print("after")
    assert capfd.readouterr().out == "after\n"
    with pytest.raises(RuntimeError), util.Suppressor(show_if_exception=True):
        print("kept for the error")
        raise RuntimeError
    assert "kept for the error" in capfd.readouterr().out


def test_timer_prints_the_elapsed_seconds(capsys):
    @util.Timer("T2")
    def nap():
        time.sleep(0.05)

    nap()
    name, took, seconds, unit = capsys.readouterr().out.split()
    assert (name, took, unit) == ("T2", "took", "seconds") and 0.05 <= float(seconds) < 1


def test_log_splicer_copies_stdout_to_a_file(tmp_path):
    path = tmp_path / "log.txt"
    sys.stdout, real = io.StringIO(), sys.stdout
    try:
        with util.LogSplicer(str(path)):
            print("epoch 1")
        shown = sys.stdout.getvalue()
    finally:
        sys.stdout = real
    assert shown == "epoch 1\n" and path.read_text() == "epoch 1\n"


def test_feid_flag_and_devices():
    util.FEID.set_translation_dict({7: "@net"})
    assert (str(util.FEID(7)), repr(util.FEID(8)), {util.FEID(7)} == {util.FEID(7)}) == ("@net", "8", True)
    util.FEID.set_translation_dict({})
    flag = util.Flag()
    assert not flag
    flag.set_true()
    assert flag
    assert util.get_num_devices() == max(1, torch.cuda.device_count())
    assert 1 <= util.cpu_count() <= os.cpu_count() and util.cpu_count(limit=1) == 1
    assert util.get_device().type in ("cpu", "cuda", "mps")
    moved = util.move_tensors_to_device({"a": [torch.ones(1)], "b": 3}, "cpu")
    assert moved["a"][0].device.type == "cpu" and moved["b"] == 3
    assert not util.detach_tensors((torch.ones(1, requires_grad=True) * 2,))[0].requires_grad


def test_download_bar_fits_the_width():
    assert util.bar_custom(10, 100) == " 10% [" + "." * 6 + " " * 56 + "] 0.00 / 0.00 MB"  # 80 columns
    assert util.bar_custom(3, 4, width=10) == " 75% [. ]"  # too narrow for the sizes
    assert util.bar_custom(2_000_000, -1) == "2000000 / unknown"


def test_traceability_helpers():
    spec = util.FeInputSpec((torch.ones(2, 3, dtype=torch.float64), [torch.zeros(4, dtype=torch.int8)]), None)
    dummy = spec.get_dummy_input()
    assert isinstance(dummy, tuple) and dummy[0].dtype == torch.float64 and dummy[1][0].shape == (4,)
    assert float(dummy[0].sum()) == 6.0
    assert util._extract_args("a1, a2=3, a3, a4='w', a5=b37:") == {"a1", "a2", "a3", "a4", "a5"}

    @util.traceable(blacklist="cache")
    class Op:
        pass

    assert Op.__name__ == "Op"
    assert util.is_restorable({"a": np.zeros(2)}) == (True, sys.getsizeof("a") + sys.getsizeof(np.zeros(2)))
    assert util.is_restorable([1, object()])[0] is False


def test_is_valid_file(tmp_path):
    import zipfile

    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    with zipfile.ZipFile(good, "w") as archive:
        archive.writestr("a.txt", "x")
    bad.write_bytes(b"not a zip")
    assert util.is_valid_file(str(good)) and not util.is_valid_file(str(tmp_path / "missing.zip"))
    assert not util.is_valid_file(str(bad))


def test_draw_prints_the_banner(capsys):
    util.draw()
    lines = capsys.readouterr().out.split("\n")
    assert len(lines) == 8 and all(len(line) == 72 for line in lines[:6]) and lines[0].startswith("    ______")
