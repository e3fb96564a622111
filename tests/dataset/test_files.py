import math
import os

import numpy as np
import pytest

from fastest.dataset import CSVDataset, DirDataset, LabeledDirDataset, SiameseDirDataset
from fastest.errors import FastestValueError


def touch(root, *paths):
    for path in paths:
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as handle:
            handle.write("")


def test_csv_rows_become_typed_samples(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("image;label;weight;note\nimg/a.png;0;0.5;\nimg/b.png;2;;x\nimg/c.png;1;2;y\n")
    ds = CSVDataset(str(path), delimiter=";")
    rows = [ds[i] for i in range(len(ds))]
    assert [(r["image"], r["label"]) for r in rows] == [("img/a.png", 0), ("img/b.png", 2), ("img/c.png", 1)]
    assert math.isnan(rows[0]["note"]) and ds["note"][1:] == ["x", "y"]  # pandas' NaN for a missing cell
    assert ds.data["label"].dtype == np.int64 and type(rows[0]["image"]) is str
    assert rows[0]["weight"] == 0.5 and math.isnan(rows[1]["weight"]) and rows[2]["weight"] == 2.0
    assert ds.parent_path == str(tmp_path)
    assert ds.summary().keys["label"].dtype == "int64"


def test_csv_include_if(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("name,fold\na,0\nb,1\nc,2\nd,1\n")
    assert [s["name"] for s in CSVDataset(str(path), include_if={"fold": [1, 2]})] == ["b", "c", "d"]
    assert [s["name"] for s in CSVDataset(str(path), include_if=lambda name: name > "b")] == ["c", "d"]
    with pytest.raises(KeyError, match="column 'folds'"):
        CSVDataset(str(path), include_if={"folds": 1})
    with pytest.raises(FastestValueError, match="no file"):
        CSVDataset(str(tmp_path / "missing.csv"))


def test_dir_dataset_lists_sorted_paths(tmp_path):
    touch(tmp_path, "b.png", "a.png", "notes.txt", ".hidden.png", "sub/c.png", ".cache/d.png")
    root = str(tmp_path)
    assert [s["x"] for s in DirDataset(root)] == [
        os.path.join(root, name) for name in ("a.png", "b.png", "notes.txt", "sub/c.png")]
    assert [s["img"] for s in DirDataset(root, data_key="img", file_extension=".png", recursive_search=False)] == [
        os.path.join(root, "a.png"), os.path.join(root, "b.png")]
    with pytest.raises(FastestValueError, match="found no files ending with '.jpg'"):
        DirDataset(root, file_extension=".jpg")


def test_labeled_dir_dataset_labels_by_folder(tmp_path):
    touch(tmp_path, "dog/2.png", "dog/1.png", "cat/9.png", "cat/deep/8.png", "cat/readme.txt", "loose.png")
    root = str(tmp_path)
    ds = LabeledDirDataset(root, file_extension=".png")
    # every folder that holds files is a class (FE): the nested one too, and the root's own files are class ""
    assert ds.mapping == {"": 0, "cat": 1, "cat/deep": 2, "dog": 3}
    assert [(s["x"], int(s["y"])) for s in ds] == [
        (os.path.join(root, "loose.png"), 0), (os.path.join(root, "cat/9.png"), 1),
        (os.path.join(root, "cat/deep/8.png"), 2), (os.path.join(root, "dog/1.png"), 3),
        (os.path.join(root, "dog/2.png"), 3)]
    (tmp_path / "loose.png").unlink()
    (tmp_path / "cat" / "deep" / "8.png").unlink()
    ds = LabeledDirDataset(root, file_extension=".png")
    assert ds.mapping == {"cat": 0, "dog": 1}
    mapped = LabeledDirDataset(root, label_key="label", label_mapping={"dog": 0, "cat": 1, "bird": 2},
                               file_extension=".png")
    assert [int(s["label"]) for s in mapped] == [1, 0, 0]
    summary = ds.summary()
    assert summary.class_key == "y" and summary.class_key_mapping == {"cat": 0, "dog": 1} and summary.num_classes == 2
    with pytest.raises(KeyError, match=r"lacks the class folder\(s\) \['dog'\]"):
        LabeledDirDataset(root, label_mapping={"cat": 0})
    part = ds.split(0.5, seed=0, stratify="y")
    assert len(part) + len(ds) == 3 and part.mapping == ds.mapping


def siamese_tree(root):
    touch(root, *(f"{c}/{i}.png" for c in "abc" for i in range(3)))


def test_siamese_pairs_match_by_class(tmp_path):
    siamese_tree(tmp_path)
    same = SiameseDirDataset(str(tmp_path), percent_matching_data=1.0)
    for i in range(len(same)):
        pair = same[i]
        assert pair["x_a"] == same.data["x_a"][i] and pair["x_b"] != pair["x_a"] and pair["y"] == 1
        assert os.path.dirname(pair["x_a"]) == os.path.dirname(pair["x_b"])
    other = SiameseDirDataset(str(tmp_path), data_key_left="l", data_key_right="r", label_key="same",
                              percent_matching_data=0.0)
    assert all(os.path.dirname(p["l"]) != os.path.dirname(p["r"]) and p["same"] == 0 for p in other)
    half = SiameseDirDataset(str(tmp_path))
    assert 0.4 < np.mean([half[i % 9]["y"] for i in range(900)]) < 0.6  # sd of the share is 0.017
    assert sorted(half.summary().keys) == ["x_a", "x_b", "y"]


def test_siamese_split_moves_whole_classes(tmp_path):
    siamese_tree(tmp_path)
    ds = SiameseDirDataset(str(tmp_path))
    part = ds.split([1])
    assert {os.path.basename(os.path.dirname(p)) for p in part.data["x_a"]} == {"b"} and len(part) == 3
    assert {os.path.basename(os.path.dirname(p)) for p in ds.data["x_a"]} == {"a", "c"} and len(ds) == 6
    assert all(os.path.dirname(p["x_a"]) != os.path.dirname(p["x_b"]) for p in ds if p["y"] == 0)
    part.percent_matching_data = 0.0
    with pytest.raises(RuntimeError, match="single class"):
        part[0]


def test_siamese_one_shot_trial(tmp_path):
    siamese_tree(tmp_path)
    ds = SiameseDirDataset(str(tmp_path))
    left, right = ds.one_shot_trial(3)
    assert len(set(left)) == 1 and len(right) == 3 and right[0] != left[0]
    assert os.path.dirname(right[0]) == os.path.dirname(left[0])
    assert len({os.path.dirname(p) for p in right}) == 3
    with pytest.raises(FastestValueError, match="2 <= n <= 3"):
        ds.one_shot_trial(4)


def test_siamese_split_ignores_stratify_with_a_warning(tmp_path):
    touch(tmp_path, *(f"{c}/{i}.png" for c in "abcd" for i in range(2)))
    ds = SiameseDirDataset(str(tmp_path))
    with pytest.warns(UserWarning, match="splits whole classes, so stratify='y' is ignored"):
        part = ds.split(2, seed=1, stratify="y")
    assert len(part) == 4 and len(ds) == 4 and len(part.class_members) == 2
    assert DirDataset(str(tmp_path) + "/").root_dir == str(tmp_path)
