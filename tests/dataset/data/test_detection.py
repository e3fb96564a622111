"""PickleDataset and the detection / segmentation loaders (SVHN, COCO, VOC, platelet-em) on tiny fixtures.

Each fixture is made here in its source's real format — a MATLAB v7.3 (HDF5) digitStruct in tar.gz
archives, COCO json and jpgs in zips, a VOC devkit tar, multi-page TIFFs in a zip — and served by the
local ``data_server``.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fastest.dataset.data import em_3d, mscoco, pascal_voc, svhn
from fastest.dataset.pickle_dataset import PickleDataset
from fastest.errors import FastestRuntimeError, FastestTypeError, FastestValueError
from tests.dataset.data.conftest import tar_archive, trust_fixtures, zip_archive


def image_bytes(array: np.ndarray, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def data_files(folder: Path) -> list[str]:
    files = [p for p in folder.rglob("*") if p.is_file() and ".lock" not in p.name]
    return sorted(str(p.relative_to(folder)) for p in files)


# ---------------------------------------------------------------------------------------------- PickleDataset


class FakeFrame:
    """Quacks like a pandas DataFrame for PickleDataset (pandas is not installed here)."""

    columns = ["image", "label"]

    def to_dict(self, orient: str) -> dict[str, list]:
        assert orient == "list"
        return {"image": ["x.png", "y.png", "z.png"], "label": [[1], [2, 3], []]}


def write_pickle(path: Path, table: object, opener=open) -> str:
    with opener(path, "wb") as stream:
        pickle.dump(table, stream)
    return str(path)


def test_pickle_dataset_reads_columns_rows_and_frames(tmp_path):
    columns = PickleDataset(write_pickle(tmp_path / "c.pickle", {
        "image": ["a.png", "b.png"], "n": [3, 4], "box": [[1, 2], [5]], "arr": [np.zeros(2), np.ones(2)]}))
    assert len(columns) == 2 and columns.parent_path == str(tmp_path)
    assert columns.data["n"].dtype == np.int64 and columns.data["arr"].shape == (2, 2)
    assert columns[1] == {"image": "b.png", "n": 4, "box": [5], "arr": pytest.approx(np.ones(2))}
    assert isinstance(columns[0]["image"], str) and isinstance(columns[0]["box"], list)

    rows = PickleDataset(write_pickle(tmp_path / "r.pickle.gz", [{"x": 1.5, "y": "p"}, {"x": 2.5, "z": [1]}],
                                      gzip.open))
    assert rows[0] == {"x": 1.5, "y": "p", "z": None} and rows[1]["z"] == [1]

    frame = PickleDataset(write_pickle(tmp_path / "f.pkl.bz2", FakeFrame(), bz2.open))
    assert len(frame) == 3 and frame[1]["label"] == [2, 3] and frame[2]["label"] == []
    assert frame.split([0]).data["image"].tolist() == ["x.png"]
    assert frame.data["image"].tolist() == ["y.png", "z.png"]


def test_pickle_dataset_errors(tmp_path):
    with pytest.raises(FastestValueError, match="no file"):
        PickleDataset(str(tmp_path / "missing.pickle"))
    with pytest.raises(FastestValueError, match="differ in length"):
        PickleDataset(write_pickle(tmp_path / "a.pickle", {"x": [1, 2], "y": [1]}))
    with pytest.raises(FastestTypeError, match="holds a int"):
        PickleDataset(write_pickle(tmp_path / "b.pickle", 7))
    with pytest.raises(FastestValueError, match="empty table"):
        PickleDataset(write_pickle(tmp_path / "c.pickle", {"x": []}))
    needs_module = tmp_path / "d.pickle"
    needs_module.write_bytes(b"cno_such_module_for_fastest\nFrame\n.")
    with pytest.raises(FastestRuntimeError, match="no_such_module_for_fastest"):
        PickleDataset(str(needs_module))


# ----------------------------------------------------------------------------------------------------- SVHN

MATLAB_HEADER = (b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 "
                 b"HDF5 schema 1.00 .")


def digit_struct(path: Path, images: list[tuple[str, dict[str, list[int]]]]) -> None:
    """Write a digitStruct.mat as MATLAB v7.3 does: HDF5 whose struct fields hold object references."""
    import h5py

    with h5py.File(path, "w", userblock_size=512) as mat:
        refs = mat.create_group("#refs#")
        ref_type = h5py.ref_dtype
        names = np.empty((len(images), 1), dtype=ref_type)
        boxes = np.empty((len(images), 1), dtype=ref_type)
        counter = iter(range(10_000))
        for index, (name, fields) in enumerate(images):
            chars = refs.create_dataset(f"n{index}", data=np.array([[ord(c)] for c in name], dtype=np.uint16))
            chars.attrs["MATLAB_class"] = np.bytes_("char")
            names[index, 0] = chars.ref
            group = refs.create_group(f"b{index}")
            for field, values in fields.items():
                if len(values) == 1:  # one digit: the number is stored in place
                    group.create_dataset(field, data=np.array([[values[0]]], dtype=np.float64))
                else:  # several digits: one reference per digit
                    digit_refs = np.empty((len(values), 1), dtype=ref_type)
                    for k, value in enumerate(values):
                        digit_refs[k, 0] = refs.create_dataset(f"d{next(counter)}",
                                                               data=np.array([[value]], dtype=np.float64)).ref
                    group.create_dataset(field, data=digit_refs)
            boxes[index, 0] = group.ref
        struct = mat.create_group("digitStruct")
        struct.create_dataset("name", data=names)
        struct.create_dataset("bbox", data=boxes)
    with open(path, "r+b") as stream:
        stream.write(MATLAB_HEADER.ljust(116) + b"\x00" * 8 + b"\x00\x02IM")


def svhn_archive(tmp_path: Path, split: str, images: list[tuple[str, dict[str, list[int]]]]) -> bytes:
    mat = tmp_path / f"{split}-digitStruct.mat"
    digit_struct(mat, images)
    files = {f"{split}/{name}": image_bytes(np.full((4, 5, 3), i, np.uint8), "PNG")
             for i, (name, _) in enumerate(images)}
    files[f"{split}/digitStruct.mat"] = mat.read_bytes()
    files[f"{split}/see_bboxes.m"] = b"% MATLAB script\n"
    return tar_archive(files, folders=True)


SVHN_TRAIN = [
    ("1.png", {"height": [30, 30], "label": [1, 9], "left": [246, 323], "top": [77, 81], "width": [81, 96]}),
    ("2.png", {"height": [23], "label": [10], "left": [77], "top": [29], "width": [19]}),
]
SVHN_TEST = [("1.png", {"height": [30, 31, 32], "label": [5, 10, 2], "left": [43, 55, 66], "top": [7, 8, 9],
                        "width": [19, 14, 13]})]


def test_svhn(data_server, tmp_path, monkeypatch):
    paths = [data_server.publish("SVHN", "train.tar.gz", svhn_archive(tmp_path, "train", SVHN_TRAIN)),
             data_server.publish("SVHN", "test.tar.gz", svhn_archive(tmp_path, "test", SVHN_TEST))]
    trust_fixtures(svhn, data_server, "SVHN", monkeypatch)
    train, test = svhn.load_data()
    assert isinstance(train, PickleDataset) and (len(train), len(test)) == (2, 1)
    assert list(train[0]) == ["image", "label", "x1", "y1", "width", "height"]
    assert train[0] == {"image": os.path.join("train", "1.png"), "label": [1, 9], "x1": [246, 323],
                        "y1": [77, 81], "width": [81, 96], "height": [30, 30]}
    assert train[1]["label"] == [10] and train[1]["x1"] == [77] and train[1]["height"] == [23]
    assert test[0]["label"] == [5, 10, 2] and test[0]["width"] == [19, 14, 13]
    folder = Path(os.environ["FASTEST_DATA_DIR"]) / "SVHN"
    assert train.parent_path == str(folder) and (folder / train[1]["image"]).is_file()
    assert (folder / "train.pickle").is_file() and (folder / "test" / "digitStruct.mat").is_file()
    assert not any(p.name.startswith(".") and p.is_dir() for p in folder.iterdir())  # no staging left
    (folder / "train.tar.gz").unlink()  # the extracted folder is enough
    again, _ = svhn.load_data()
    assert again[0] == train[0] and [data_server.gets[p] for p in paths] == [1, 1]
    # killed while unpacking, before the move and the table: the next call unpacks again from the archive
    (folder / ".test.partial-999").mkdir()
    os.replace(folder / "test", folder / ".test.partial-999" / "test")
    (folder / "test.pickle").unlink()
    _, rebuilt = svhn.load_data()
    assert rebuilt[0] == test[0] and not (folder / ".test.partial-999").exists()
    assert [data_server.gets[p] for p in paths] == [1, 1]

    other = tmp_path / "elsewhere"
    svhn.load_data(root_dir=str(other))
    assert (other / "SVHN" / "test.pickle").is_file() and [data_server.gets[p] for p in paths] == [2, 2]


# ----------------------------------------------------------------------------------------------------- COCO


CATEGORIES = [{"id": 1, "name": "person", "supercategory": "person"},
              {"id": 18, "name": "dog", "supercategory": "animal"}]

PERSON = [{**CATEGORIES[0], "keypoints": ["nose", "left_eye"] + [f"point_{k}" for k in range(2, 17)],
           "skeleton": [[16, 14], [14, 12]]}]


def coco_json(images: list[dict], annotations: list[dict],
              categories: list[dict] | None = CATEGORIES) -> bytes:
    """A COCO annotation file; caption files have no categories."""
    content = {"info": {}, "licenses": [], "images": images, "annotations": annotations}
    return json.dumps(content if categories is None else {**content, "categories": categories}).encode()


def coco_image(image_id: int) -> dict:
    return {"id": image_id, "file_name": f"{image_id:012d}.jpg", "height": 6, "width": 8}


def coco_zips() -> dict[str, bytes]:
    square = [[1.0, 1.0, 5.0, 1.0, 5.0, 4.0, 1.0, 4.0]]  # x 1..5, y 1..4
    instances_train = [
        {"id": 10, "image_id": 1, "category_id": 18, "bbox": [1.0, 1.0, 4.0, 3.0], "area": 12.0, "iscrowd": 0,
         "segmentation": square},
        {"id": 11, "image_id": 1, "category_id": 1, "bbox": [6.0, 5.0, 1.0, 0.5], "area": 0.5, "iscrowd": 0,
         "segmentation": [[6.0, 5.0, 7.0, 5.0, 7.0, 5.5]]},  # area 0.5: dropped
    ]
    instances_val = [{"id": 20, "image_id": 3, "category_id": 1, "bbox": [0.0, 0.0, 2.0, 2.0], "area": 4.0,
                      "iscrowd": 0, "segmentation": [[0.0, 0.0, 2.0, 0.0, 2.0, 2.0, 0.0, 2.0]]}]
    keypoints = [0] * 51
    keypoints[0:3], keypoints[15:18] = [3, 2, 2], [4, 3, 1]
    people_train = [{"id": 30, "image_id": 1, "category_id": 1, "bbox": [1.0, 1.0, 4.0, 3.0], "area": 12.0,
                     "iscrowd": 0, "num_keypoints": 2, "keypoints": keypoints, "segmentation": square}]
    people_val = [{"id": 40, "image_id": 3, "category_id": 1, "bbox": [0.0, 0.0, 2.0, 2.0], "area": 4.0,
                   "iscrowd": 0, "num_keypoints": 0, "keypoints": [0] * 51, "segmentation": square}]
    train_images, val_images = [coco_image(1), coco_image(2)], [coco_image(3)]
    annotations = {
        "annotations/instances_train2017.json": coco_json(train_images, instances_train),
        "annotations/instances_val2017.json": coco_json(val_images, instances_val),
        "annotations/captions_train2017.json": coco_json(train_images, [
            {"id": 50, "image_id": 1, "caption": "A dog on grass."},
            {"id": 51, "image_id": 1, "caption": "A pup."}], categories=None),
        "annotations/captions_val2017.json": coco_json(
            val_images, [{"id": 52, "image_id": 3, "caption": "A man."}], categories=None),
        "annotations/person_keypoints_train2017.json": coco_json(train_images, people_train, PERSON),
        "annotations/person_keypoints_val2017.json": coco_json(val_images, people_val, PERSON),
    }
    jpg = {i: image_bytes(np.full((6, 8, 3), 40 * i, np.uint8), "JPEG") for i in (1, 2, 3)}
    return {
        "train2017.zip": zip_archive({f"train2017/{i:012d}.jpg": jpg[i] for i in (1, 2)}, folders=True),
        "val2017.zip": zip_archive({"val2017/000000000003.jpg": jpg[3]}, folders=True),
        "annotations_trainval2017.zip": zip_archive(annotations, folders=True),
    }


@pytest.fixture
def coco(data_server, monkeypatch):
    paths = [data_server.publish("MSCOCO2017", name, content) for name, content in coco_zips().items()]
    trust_fixtures(mscoco, data_server, "MSCOCO2017", monkeypatch)
    return data_server, paths


def test_mscoco_boxes_and_replacement(coco, tmp_path):
    server, paths = coco
    train, evals = mscoco.load_data()
    assert isinstance(train, mscoco.MSCOCODataset) and (len(train), len(evals)) == (2, 1)
    first = train[0]
    assert list(first) == ["image", "image_id", "bbox"] and first["image_id"] == 1
    assert first["bbox"] == [(1.0, 1.0, 4.0, 3.0, 18)]  # the 0.5-area box is dropped
    assert os.path.isfile(first["image"])
    assert first["image"].endswith(os.path.join("train2017", "000000000001.jpg"))
    assert train[1]["image_id"] == 1  # image 2 has no boxes: replaced by the only image that has some
    assert evals[0]["bbox"] == [(0.0, 0.0, 2.0, 2.0, 1)]
    assert train.summary().keys["image_id"].num_unique_values == 2

    plain, _ = mscoco.load_data(replacement=False)
    assert plain[1] == {"image": plain.data["image"][1], "image_id": 2, "bbox": []}
    assert [server.gets[p] for p in paths] == [1, 1, 1]
    mscoco.load_data(root_dir=str(tmp_path / "r"))
    assert data_files(tmp_path / "r" / "MSCOCO2017")[:3] == ["annotations/captions_train2017.json",
                                                              "annotations/captions_val2017.json",
                                                              "annotations/instances_train2017.json"]
    assert (tmp_path / "r" / "MSCOCO2017" / "val2017" / "000000000003.jpg").is_file()


def test_mscoco_masks_captions_keypoints(coco):
    train, evals = mscoco.load_data(load_masks=True, load_captions=True, load_keypoints=True)
    sample = train[0]
    assert list(sample) == ["image", "image_id", "bbox", "mask", "caption", "keypoint", "keypoint_bbox"]
    (mask,) = sample["mask"]
    assert mask.dtype == np.uint8 and mask.shape == (6, 8)
    assert mask[2, 3] == 1 and mask[0, 0] == 0 and mask.sum() >= 9
    assert sample["caption"] == ["A dog on grass.", "A pup."]
    (points,) = sample["keypoint"]
    assert points.dtype == np.int32 and points.shape == (17, 3)
    assert points[0].tolist() == [3, 2, 2] and points[5].tolist() == [4, 3, 1]
    assert points[1].tolist() == [0, 0, 0]
    assert sample["keypoint_bbox"] == [(1.0, 1.0, 4.0, 3.0)]
    with pytest.raises(FastestRuntimeError, match="replacement=False"):  # val's only person has no keypoints
        evals[0]
    _, plain = mscoco.load_data(load_keypoints=True, replacement=False)
    assert plain[0]["keypoint"] == [] and plain[0]["keypoint_bbox"] == []


def test_mscoco_masks_need_boxes(coco):
    with pytest.raises(FastestValueError, match="load_bboxes=True"):
        mscoco.load_data(load_bboxes=False, load_masks=True)
    server, paths = coco
    assert sum(server.gets[p] for p in paths) == 0  # refused before downloading


# ------------------------------------------------------------------------------------------------ PASCAL VOC


def voc_palette() -> list[int]:
    palette = []
    for index in range(256):
        red = green = blue = 0
        value = index
        for bit in range(8):
            red |= ((value >> 0) & 1) << (7 - bit)
            green |= ((value >> 1) & 1) << (7 - bit)
            blue |= ((value >> 2) & 1) << (7 - bit)
            value >>= 3
        palette += [red, green, blue]
    return palette


def voc_xml(name: str, objects: list[tuple[str, tuple[str, str, str, str]]]) -> bytes:
    parts = "".join(
        f"<object><name>{label}</name><pose>Left</pose><truncated>0</truncated><difficult>0</difficult>"
        f"<bndbox><xmin>{box[0]}</xmin><ymin>{box[1]}</ymin><xmax>{box[2]}</xmax><ymax>{box[3]}</ymax>"
        "</bndbox><part><name>head</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax>"
        "</bndbox></part>"
        "</object>" for label, box in objects)
    return (f"<annotation><folder>VOC2012</folder><filename>{name}.jpg</filename><size><width>7</width>"
            f"<height>5</height><depth>3</depth></size><segmented>1</segmented>{parts}</annotation>").encode()


def voc_tar() -> bytes:
    root = "VOCdevkit/VOC2012"
    files = {}
    for i, name in enumerate(["2012_000001", "2012_000002", "2012_000003"]):
        pixels = np.full((5, 7, 3), 60 * (i + 1), np.uint8)
        files[f"{root}/JPEGImages/{name}.jpg"] = image_bytes(pixels, "JPEG")
    files[f"{root}/Annotations/2012_000001.xml"] = voc_xml("2012_000001", [("person", ("1", "2", "5", "4")),
                                                                             ("dog", ("0", "0", "3.0", "2"))])
    files[f"{root}/Annotations/2012_000002.xml"] = voc_xml("2012_000002",
                                                           [("tvmonitor", ("2", "1", "6", "4"))])
    files[f"{root}/Annotations/2012_000003.xml"] = voc_xml("2012_000003",
                                                           [("aeroplane", ("0", "0", "6", "4"))])
    indices = np.zeros((5, 7), np.uint8)
    indices[1:3, 1:4], indices[4, :] = 15, 255  # a person, and the "void" border
    indices[0, 6] = 12  # a dog pixel
    for name in ("2012_000001", "2012_000003"):
        png = Image.frombytes("P", (7, 5), indices.tobytes())
        png.putpalette(voc_palette())
        buffer = io.BytesIO()
        png.save(buffer, format="PNG")
        files[f"{root}/SegmentationClass/{name}.png"] = buffer.getvalue()
    lists = {"Segmentation": {"train": "2012_000001\n", "val": "2012_000003\n"},
             "Main": {"train": "2012_000002\n2012_000001\n", "val": "2012_000003\n"}}
    for task, sets in lists.items():
        for image_set, text in sets.items():
            files[f"{root}/ImageSets/{task}/{image_set}.txt"] = text.encode()
        files[f"{root}/ImageSets/{task}/trainval.txt"] = "".join(sets.values()).encode()
    return tar_archive(files, mode="w", folders=True)


def test_pascal_voc(data_server, tmp_path, monkeypatch):
    path = data_server.publish("PascalVoc", "VOCtrainval_11-May-2012.tar", voc_tar())
    trust_fixtures(pascal_voc, data_server, "PascalVoc", monkeypatch)
    train, evals = pascal_voc.load_data()
    assert isinstance(train, pascal_voc.PascalVoc) and (len(train), len(evals)) == (1, 1)
    sample = train[0]
    assert list(sample) == ["image", "mask"]
    assert sample["image"].shape == (5, 7, 3) and sample["image"].dtype == np.uint8
    assert abs(int(sample["image"][2, 3, 0]) - 60) <= 3
    mask = sample["mask"]
    assert mask.shape == (5, 7, 20) and mask.dtype == np.float32
    person, dog = pascal_voc.VOC_CLASSES.index("person"), pascal_voc.VOC_CLASSES.index("dog")
    assert mask[1, 2, person] == 1 and mask[1, 2].sum() == 1 and mask[0, 6, dog] == 1
    assert mask[0, 0].sum() == 0 and mask[4].sum() == 0  # background and border mark no class
    assert mask.sum() == 7

    both, both_eval = pascal_voc.load_data(load_bboxes=True, load_masks=True)
    assert both.filenames == ["2012_000001", "2012_000002"] and len(both_eval) == 1
    first, second = both[0], both[1]
    assert first["bbox"] == [(1, 2, 5, 4, person), (0, 0, 3, 2, dog)] and first["mask"].shape == (5, 7, 20)
    tv = pascal_voc.VOC_CLASSES.index("tvmonitor")
    assert second["bbox"] == [(2, 1, 6, 4, tv)] and second["mask"] is None
    boxes, _ = pascal_voc.load_data(load_bboxes=True, load_masks=False)
    assert list(boxes[0]) == ["image", "bbox"]
    assert len(boxes.split([1])) == 1 and boxes.filenames == ["2012_000001"]
    assert data_server.gets[path] == 1

    pascal_voc.load_data(root_dir=str(tmp_path / "r"))
    devkit = tmp_path / "r" / "PascalVoc" / "VOCdevkit" / "VOC2012"
    assert (devkit / "JPEGImages" / "2012_000003.jpg").is_file() and data_server.gets[path] == 2
    with pytest.raises(FastestValueError, match="Did you mean 'val'"):
        pascal_voc.PascalVoc(str(devkit), image_set="vall")


# ------------------------------------------------------------------------------------------------ platelet-em

SIDE = 20


def tiff_bytes(volume: np.ndarray) -> bytes:
    pages = [Image.fromarray(page) for page in volume]  # uint16 pages: "I;16"; (h, w, 4) uint8 pages: "RGBA"
    buffer = io.BytesIO()
    pages[0].save(buffer, format="TIFF", save_all=True, append_images=pages[1:], compression="tiff_deflate")
    return buffer.getvalue()


def em_volumes(depth: int) -> tuple[np.ndarray, np.ndarray]:
    z, y, x = np.meshgrid(np.arange(depth), np.arange(SIDE), np.arange(SIDE), indexing="ij")
    image = (z * 1000 + y * SIDE + x).astype(np.uint16)
    colors = np.zeros((depth, SIDE, SIDE, 4), np.uint8)
    colors[:, 10:, :] = em_3d.CLASS_COLORS[1]  # cell in the lower half
    colors[5, 1, 2] = em_3d.CLASS_COLORS[2]  # one mitochondrion voxel
    colors[20, 3, 3] = em_3d.CLASS_COLORS[6]
    return image, colors


@pytest.fixture
def platelets(data_server, monkeypatch):
    files = {}
    for depth in (50, 24):
        image, colors = em_volumes(depth)
        files[f"platelet-em/images/{depth}-images.tif"] = tiff_bytes(image)
        files[f"platelet-em/labels-semantic/{depth}-semantic.tif"] = tiff_bytes(colors)
    path = data_server.publish("electronmicroscopy", "images_and_labels_rgba.zip", zip_archive(files, folders=True))
    trust_fixtures(em_3d, data_server, "electronmicroscopy", monkeypatch)
    return data_server, path


def test_em_3d_tiles(platelets, tmp_path, monkeypatch):
    server, path = platelets
    monkeypatch.setattr(em_3d, "TILE_SIZE", 8)  # 20-pixel sides: tiles start at 0, 4, 8 (as 800 → 0..512)
    monkeypatch.setattr(em_3d, "TILE_OVERLAP", 4)
    train, evals = em_3d.load_data()
    assert (len(train), len(evals)) == (27, 9)
    sample = train[0]
    assert sorted(sample) == ["image", "label"]
    assert sample["image"].shape == (8, 8, 24) and sample["image"].dtype == np.uint16
    assert sample["label"].shape == (8, 8, 24, 6) and sample["label"].dtype == np.float32
    assert sample["image"][1, 2, 5] == 5 * 1000 + 1 * SIDE + 2
    assert sample["label"][1, 2, 5].tolist() == [0, 1, 0, 0, 0, 0]  # mitochondrion = class 2 = channel 1
    assert sample["label"][0, 0, 0].sum() == 0  # background
    assert train[9]["image"][0, 0, 0] == 13 * 1000  # the second slab starts at slice 13
    assert train[9]["label"][3, 3, 20 - 13].tolist() == [0, 0, 0, 0, 0, 1]  # slice 20, row 3, column 3
    lower = train[6]  # tile row 2 starts at pixel 8: rows 10.. are cell
    assert lower["label"][2:, :, :, 0].all() and not lower["label"][:2, :, :, 0].any()
    assert evals[0]["image"][0, 0, 23] == 23 * 1000
    assert server.gets[path] == 1

    again, _ = em_3d.load_data(image_key="x", label_key="y")
    assert sorted(again[0]) == ["x", "y"] and server.gets[path] == 1
    em_3d.load_data(root_dir=str(tmp_path / "r"))
    assert (tmp_path / "r" / "electronmicroscopy" / "platelet-em" / "images" / "24-images.tif").is_file()


def test_em_3d_whole_volumes(platelets):
    train, evals = em_3d.load_data(tile=False)
    assert (len(train), len(evals)) == (1, 1)
    assert train[0]["image"].shape == (SIDE, SIDE, 50) and train[0]["label"].shape == (SIDE, SIDE, 50, 6)
    assert evals[0]["image"].shape == (SIDE, SIDE, 24) and evals[0]["label"].dtype == np.float32
    assert train[0]["image"][7, 9, 42] == 42 * 1000 + 7 * SIDE + 9
    assert train[0]["label"][3, 3, 20, 5] == 1 and train[0]["label"][12, 0, 0, 0] == 1


def test_em_3d_tiles_at_full_size():
    assert em_3d.make_tiles(np.zeros((2, 800, 800), np.uint8)).shape == (25, 2, 256, 256)
    assert em_3d.make_tiles(np.zeros((2, 100, 100), np.uint8)).shape == (0, 2, 256, 256)
