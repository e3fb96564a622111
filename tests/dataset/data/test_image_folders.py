"""Image-folder data set loaders against a local server, with tiny archives in each source's real layout."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from fastest.dataset import BatchDataset, CSVDataset, DirDataset, LabeledDirDataset, SiameseDirDataset
from fastest.dataset.data import (
    cub200,
    food101,
    horse2zebra,
    mendeley,
    montgomery,
    nih_chestxray,
    omniglot,
    tiny_imagenet,
)
from fastest.dataset.download import DownloadError
from fastest.errors import FastestValueError

from .conftest import tar_archive, trust_fixtures, zip_archive


def image_bytes(value: int, fmt: str = "PNG", mode: str = "L", size: int = 8) -> bytes:
    """A small uniform image of ``value`` (all channels) encoded as ``fmt``."""
    buffer = io.BytesIO()
    Image.new(mode, (size, size), value if mode == "L" else (value,) * 3).save(buffer, format=fmt)
    return buffer.getvalue()






def pixel(path: str | os.PathLike[str]) -> int:
    return int(np.asarray(Image.open(path))[0, 0].ravel()[0])


def visible(folder: Path) -> list[str]:
    """What a loader left in ``folder``, without lock files."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


# ---------------------------------------------------------------- Omniglot


def omniglot_zips() -> dict[str, bytes]:
    train, evals = {}, {}
    value = 10
    for alphabet in ("Greek", "Latin"):
        for character in ("character01", "character02"):
            for drawing in (1, 2):
                name = f"{alphabet[0]}{character[-2:]}_{drawing:02d}.png"
                train[f"images_background/{alphabet}/{character}/{name}"] = image_bytes(value)
                value += 10
    for character in ("character01", "character02", "character03"):
        for drawing in (1, 2):
            name = f"A{character[-2:]}_{drawing:02d}.png"
            evals[f"images_evaluation/Angelic/{character}/{name}"] = image_bytes(200)
    return {"images_background.zip": zip_archive(train), "images_evaluation.zip": zip_archive(evals)}


@pytest.fixture
def omniglot_server(data_server, monkeypatch):
    for name, content in omniglot_zips().items():
        data_server.publish("Omniglot", name, content)
    trust_fixtures(omniglot, data_server, "Omniglot", monkeypatch)
    return data_server


def test_omniglot_pairs_drawings_by_character(omniglot_server, tmp_path):
    train, evals = omniglot.load_data()
    assert isinstance(train, SiameseDirDataset) and isinstance(evals, SiameseDirDataset)
    assert (len(train), len(evals)) == (8, 6)
    assert list(train.mapping) == ["Greek/character01", "Greek/character02", "Latin/character01",
                                   "Latin/character02"]
    assert len(evals.mapping) == 3 and train.data["y"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    folder = tmp_path / "data" / "Omniglot"
    assert train.data["x_a"][2] == str(folder / "images_background" / "Greek" / "character02" / "G02_01.png")
    assert pixel(train.data["x_a"][2]) == 30
    np.random.seed(0)
    train.percent_matching_data = 1.0
    sample = train[5]
    assert sorted(sample) == ["x_a", "x_b", "y"] and sample["y"] == 1
    assert Path(sample["x_a"]).parent == Path(sample["x_b"]).parent and sample["x_a"] != sample["x_b"]
    train.percent_matching_data = 0.0
    assert Path(train[5]["x_b"]).parent != Path(train[5]["x_a"]).parent and train[5]["y"] == 0
    left, right = evals.one_shot_trial(3)
    assert len(set(left)) == 1 and Path(right[0]).parent == Path(left[0]).parent
    assert train.split(0.25).mapping is not None and len(train) == 6  # splits by character: 1 of 4 leaves
    assert visible(folder) == ["images_background", "images_background.zip", "images_evaluation",
                               "images_evaluation.zip"]
    omniglot.load_data()
    assert omniglot_server.gets["/Omniglot/images_background.zip"] == 1
    assert omniglot_server.gets["/Omniglot/images_evaluation.zip"] == 1


def test_omniglot_root_dir(omniglot_server, tmp_path):
    train, _ = omniglot.load_data(root_dir=str(tmp_path / "elsewhere"))
    folder = tmp_path / "elsewhere" / "Omniglot" / "images_background"
    assert train.data["x_a"][0].startswith(str(folder) + os.sep)
    assert not (tmp_path / "data" / "Omniglot").exists()


# ---------------------------------------------------------------- horse2zebra


def horse2zebra_zip(top: str = "horse2zebra") -> bytes:
    files = {f"{top}/trainA/n02381460_{k}.jpg": image_bytes(40 + k, "JPEG", "RGB") for k in range(3)}
    files.update({f"{top}/trainB/n02391049_{k}.jpg": image_bytes(200, "JPEG", "RGB") for k in range(2)})
    files.update({f"{top}/testA/n02381460_{k}0.jpg": image_bytes(100, "JPEG", "RGB") for k in range(2)})
    files.update({f"{top}/testB/n02391049_{k}0.jpg": image_bytes(150, "JPEG", "RGB") for k in range(2)})
    files[f"{top}/trainA/notes.txt"] = b"not an image"
    return zip_archive(files)


def test_horse2zebra_batches_pair_horses_with_zebras(data_server, monkeypatch, tmp_path):
    data_server.publish("horse2zebra", "horse2zebra.zip", horse2zebra_zip())
    trust_fixtures(horse2zebra, data_server, "horse2zebra", monkeypatch)
    train, evals = horse2zebra.load_data(batch_size=2)
    assert isinstance(train, BatchDataset) and isinstance(evals, BatchDataset)
    assert (len(train), len(evals), train.fe_batch) == (2, 1, 2)
    images = tmp_path / "data" / "horse2zebra" / "images"
    assert sorted(p.name for p in images.iterdir()) == ["testA", "testB", "trainA", "trainB"]
    batch = train[0]
    assert len(batch) == 2 and all(sorted(row) == ["A", "B"] for row in batch)
    for row in batch:
        assert Path(row["A"]).parent == images / "trainA" and Path(row["B"]).parent == images / "trainB"
        assert abs(pixel(row["B"]) - 200) <= 3
    horses = train.datasets[0]
    assert isinstance(horses, DirDataset) and len(horses) == 3  # notes.txt is not a jpg
    assert abs(pixel(horses[1]["A"]) - 41) <= 3
    assert {Path(row["A"]).parent.name for row in evals[0]} == {"testA"}
    horse2zebra.load_data(4)
    assert data_server.gets["/horse2zebra/horse2zebra.zip"] == 1
    horse2zebra.load_data(1, root_dir=str(tmp_path / "other"))
    assert (tmp_path / "other" / "horse2zebra" / "images" / "testB").is_dir()


def test_horse2zebra_rejects_a_bad_batch_size_before_downloading(data_server):
    for batch_size in (0, -2, 1.5, True, "4"):
        with pytest.raises(FastestValueError, match=r"batch_size to be a positive integer, received"):
            horse2zebra.load_data(batch_size)  # type: ignore[arg-type]
    assert not data_server.gets


def test_an_archive_without_the_expected_folder_is_refused(data_server, monkeypatch, tmp_path):
    data_server.publish("horse2zebra", "horse2zebra.zip", horse2zebra_zip(top="h2z"))
    trust_fixtures(horse2zebra, data_server, "horse2zebra", monkeypatch)
    with pytest.raises(DownloadError, match="no folder 'horse2zebra'"):
        horse2zebra.load_data(1)
    assert visible(tmp_path / "data" / "horse2zebra") == ["horse2zebra.zip"]


# ---------------------------------------------------------------- Montgomery


def montgomery_zip() -> bytes:
    files = {}
    for k, name in enumerate(("MCUCXR_0001_0.png", "MCUCXR_0002_1.png")):
        files[f"MontgomerySet/CXR_png/{name}"] = image_bytes(50 + k)
        files[f"MontgomerySet/ManualMask/leftMask/{name}"] = image_bytes(255 if k else 0)
        files[f"MontgomerySet/ManualMask/rightMask/{name}"] = image_bytes(255)
        files[f"MontgomerySet/ClinicalReadings/{name[:-4]}.txt"] = b"Patient's Sex: F\nPatient's Age: 041Y\n"
        files[f"__MACOSX/MontgomerySet/CXR_png/._{name}"] = b"\x00\x05\x16\x07"
    files["MontgomerySet/CXR_png/Thumbs.db"] = b"junk"
    return zip_archive(files)


def test_montgomery_lists_xrays_and_masks(data_server, monkeypatch, tmp_path):
    data_server.publish("Montgomery", "NLM-MontgomeryCXRSet.zip", montgomery_zip())
    trust_fixtures(montgomery, data_server, "Montgomery", monkeypatch)
    folder = tmp_path / "data" / "Montgomery"
    folder.mkdir(parents=True)  # leftovers of a killed run must not count
    (folder / ".montgomery.csv.999.tmp").write_text("image,mask_left,mask_right\nhalf")
    (folder / ".MontgomerySet.partial-999" / "MontgomerySet" / "CXR_png").mkdir(parents=True)
    ds = montgomery.load_data()
    assert isinstance(ds, CSVDataset) and len(ds) == 2
    assert sorted(ds[0]) == ["image", "mask_left", "mask_right"]
    assert ds.parent_path == str(folder) and ds.file_path == str(folder / "montgomery.csv")
    assert ds[1]["image"] == "MontgomerySet/CXR_png/MCUCXR_0002_1.png"
    assert ds[1]["mask_left"] == "MontgomerySet/ManualMask/leftMask/MCUCXR_0002_1.png"
    assert ds[1]["mask_right"] == "MontgomerySet/ManualMask/rightMask/MCUCXR_0002_1.png"
    assert pixel(os.path.join(ds.parent_path, ds[1]["image"])) == 51
    assert pixel(os.path.join(ds.parent_path, ds[1]["mask_left"])) == 255
    assert pixel(os.path.join(ds.parent_path, ds[0]["mask_left"])) == 0
    assert "MontgomerySet" in visible(folder) and "__MACOSX" not in visible(folder)
    assert not (folder / ".MontgomerySet.partial-999").exists()
    montgomery.load_data()
    assert data_server.gets["/Montgomery/NLM-MontgomeryCXRSet.zip"] == 1
    other = montgomery.load_data(root_dir=str(tmp_path / "other"))
    assert other.parent_path == str(tmp_path / "other" / "Montgomery") and len(other) == 2


# ---------------------------------------------------------------- Mendeley


def test_mendeley_labels_normal_and_pneumonia(data_server, monkeypatch, tmp_path):
    files = {
        "chest_xray/train/NORMAL/IM-0115-0001.jpeg": image_bytes(20, "JPEG"),
        "chest_xray/train/NORMAL/IM-0117-0001.jpeg": image_bytes(20, "JPEG"),
        "chest_xray/train/PNEUMONIA/person1_bacteria_1.jpeg": image_bytes(220, "JPEG"),
        "chest_xray/train/.DS_Store": b"junk",
        "chest_xray/test/NORMAL/IM-0001-0001.jpeg": image_bytes(20, "JPEG"),
        "chest_xray/test/PNEUMONIA/person100_bacteria_475.jpeg": image_bytes(220, "JPEG"),
        "chest_xray/test/PNEUMONIA/person101_virus_187.jpeg": image_bytes(220, "JPEG"),
        "__MACOSX/chest_xray/._train": b"junk",
    }
    data_server.publish("Mendeley", "ChestXRay2017.zip", zip_archive(files))
    trust_fixtures(mendeley, data_server, "Mendeley", monkeypatch)
    train, test = mendeley.load_data()
    assert isinstance(train, LabeledDirDataset) and (len(train), len(test)) == (3, 3)
    assert train.mapping == test.mapping == {"NORMAL": 0, "PNEUMONIA": 1}
    assert train.data["y"].tolist() == [0, 0, 1] and test.data["y"].tolist() == [0, 1, 1]
    folder = tmp_path / "data" / "Mendeley"
    assert train[2]["x"] == str(folder / "chest_xray" / "train" / "PNEUMONIA" / "person1_bacteria_1.jpeg")
    assert abs(pixel(train[2]["x"]) - 220) <= 3
    assert visible(folder) == ["ChestXRay2017.zip", "chest_xray"]
    mendeley.load_data()
    assert data_server.gets["/Mendeley/ChestXRay2017.zip"] == 1
    train, _ = mendeley.load_data(root_dir=str(tmp_path / "other"))
    assert train[0]["x"].startswith(str(tmp_path / "other" / "Mendeley" / "chest_xray" / "train"))


# ---------------------------------------------------------------- NIH ChestX-ray14


def test_nih_chestxray_gathers_all_twelve_archives(data_server, monkeypatch, tmp_path):
    for k in range(1, 13):
        files = {f"images/{k:08d}_000.png": image_bytes(k)}
        if k == 1:
            files["images/00000001_001.png"] = image_bytes(100)
        data_server.publish("NIH_Chestxray", f"images_{k:03d}.tar.gz", tar_archive(files))
    trust_fixtures(nih_chestxray, data_server, "NIH_Chestxray", monkeypatch)
    ds = nih_chestxray.load_data()
    assert isinstance(ds, DirDataset) and len(ds) == 13 and sorted(ds[0]) == ["x"]
    images = tmp_path / "data" / "NIH_Chestxray" / "images"
    assert ds[1]["x"] == str(images / "00000001_001.png") and pixel(ds[1]["x"]) == 100
    assert ds[12]["x"] == str(images / "00000012_000.png") and pixel(ds[12]["x"]) == 12
    assert visible(images.parent) == ["images"] + [f"images_{k:03d}.tar.gz" for k in range(1, 13)]
    nih_chestxray.load_data()
    assert all(data_server.gets[f"/NIH_Chestxray/images_{k:03d}.tar.gz"] == 1 for k in range(1, 13))
    other = nih_chestxray.load_data(root_dir=str(tmp_path / "other"))
    assert other[0]["x"] == str(tmp_path / "other" / "NIH_Chestxray" / "images" / "00000001_000.png")


# ---------------------------------------------------------------- Food-101


def food101_tar() -> bytes:
    classes = ["apple_pie", "baby_back_ribs", "baklava"]
    train = ["apple_pie/1005649", "apple_pie/1014775", "baby_back_ribs/1005293", "baklava/1006121"]
    test = ["apple_pie/1011328", "baklava/1034361"]
    files = {}
    for item in train + test:
        value = 30 + 60 * classes.index(item.split("/")[0])
        files[f"food-101/images/{item}.jpg"] = image_bytes(value, "JPEG", "RGB")
    files["food-101/meta/classes.txt"] = "".join(f"{name}\n" for name in classes).encode()
    files["food-101/meta/labels.txt"] = b"Apple pie\nBaby back ribs\nBaklava\n"
    files["food-101/meta/train.txt"] = "".join(f"{item}\n" for item in train).encode()
    files["food-101/meta/test.txt"] = "".join(f"{item}\n" for item in test).encode()
    files["food-101/README.txt"] = b"Food-101\n"
    return tar_archive(files)


def test_food101_builds_csvs_from_the_meta_files(data_server, monkeypatch, tmp_path):
    data_server.publish("Food_101", "food-101.tar.gz", food101_tar())
    trust_fixtures(food101, data_server, "Food_101", monkeypatch)
    train, test = food101.load_data()
    assert isinstance(train, CSVDataset) and (len(train), len(test)) == (4, 2)
    folder = tmp_path / "data" / "Food_101"
    assert train.parent_path == str(folder) and visible(folder) == ["food-101", "food-101.tar.gz", "test.csv",
                                                                     "train.csv"]
    assert train.data["label"].dtype == np.int64
    labels = dict(zip(train.data["image"], train.data["label"].tolist()))
    assert labels == {"food-101/images/apple_pie/1005649.jpg": 0, "food-101/images/apple_pie/1014775.jpg": 0,
                      "food-101/images/baby_back_ribs/1005293.jpg": 1,
                      "food-101/images/baklava/1006121.jpg": 2}
    assert sorted(zip(test.data["image"], test.data["label"].tolist())) == [
        ("food-101/images/apple_pie/1011328.jpg", 0), ("food-101/images/baklava/1034361.jpg", 2)]
    for sample in train:
        assert abs(pixel(os.path.join(train.parent_path, sample["image"])) - (30 + 60 * sample["label"])) <= 3
    with open(folder / "train.csv", newline="") as stream:
        assert next(csv.reader(stream)) == ["image", "label"]
    again, _ = food101.load_data()
    assert again.data["image"].tolist() == train.data["image"].tolist()
    assert data_server.gets["/Food_101/food-101.tar.gz"] == 1
    other, _ = food101.load_data(root_dir=str(tmp_path / "other"))
    assert other.parent_path == str(tmp_path / "other" / "Food_101")
    assert other.data["image"].tolist() == train.data["image"].tolist()  # the same fixed order


# ---------------------------------------------------------------- Tiny ImageNet


def tiny_imagenet_zip() -> bytes:
    top = "tiny-imagenet-200"
    wnids = ["n01443537", "n01629819"]
    files = {f"{top}/wnids.txt": "".join(f"{w}\n" for w in wnids).encode(),
             f"{top}/words.txt": b"n01443537\tgoldfish\nn01629819\tEuropean fire salamander\n"}
    for k, wnid in enumerate(wnids):
        for i in range(3):
            files[f"{top}/train/{wnid}/images/{wnid}_{i}.JPEG"] = image_bytes(50 + 100 * k, "JPEG", "RGB")
        files[f"{top}/train/{wnid}/{wnid}_boxes.txt"] = "".join(
            f"{wnid}_{i}.JPEG\t0\t0\t63\t63\n" for i in range(3)).encode()
    val = [("val_0.JPEG", wnids[1]), ("val_1.JPEG", wnids[0]), ("val_2.JPEG", wnids[1])]
    for name, wnid in val:
        files[f"{top}/val/images/{name}"] = image_bytes(50 + 100 * wnids.index(wnid), "JPEG", "RGB")
    lines = [f"{name}\t{wnid}\t1\t2\t60\t61\n" for name, wnid in val]
    files[f"{top}/val/val_annotations.txt"] = "".join(lines).encode()
    files[f"{top}/test/images/test_0.JPEG"] = image_bytes(0, "JPEG", "RGB")
    return zip_archive(files)


def test_tiny_imagenet_sorts_validation_images_into_class_folders(data_server, monkeypatch, tmp_path):
    data_server.publish("tiny_imagenet", "tiny-imagenet-200.zip", tiny_imagenet_zip())
    trust_fixtures(tiny_imagenet, data_server, "tiny_imagenet", monkeypatch)
    train, evals = tiny_imagenet.load_data()
    assert isinstance(train, LabeledDirDataset) and (len(train), len(evals)) == (6, 3)
    assert sorted(train[0]) == ["image", "label"]
    assert train.mapping == evals.mapping == {"n01443537": 0, "n01629819": 1}
    assert train.data["label"].tolist() == [0, 0, 0, 1, 1, 1] and evals.data["label"].tolist() == [0, 1, 1]
    base = tmp_path / "data" / "tiny_imagenet" / "tiny-imagenet-200"
    assert train[4]["image"] == str(base / "train" / "n01629819" / "n01629819_1.JPEG")
    assert evals[0]["image"] == str(base / "val" / "n01443537" / "val_1.JPEG")
    assert abs(pixel(evals[0]["image"]) - 50) <= 3 and abs(pixel(evals[2]["image"]) - 150) <= 3
    assert sorted(p.name for p in (base / "val").iterdir()) == ["n01443537", "n01629819"]
    assert not list(base.glob("train/**/*.txt")) and (base / "test" / "images" / "test_0.JPEG").exists()
    tiny_imagenet.load_data()
    assert data_server.gets["/tiny_imagenet/tiny-imagenet-200.zip"] == 1
    other, _ = tiny_imagenet.load_data(root_dir=str(tmp_path / "other"))
    assert other[0]["image"].startswith(str(tmp_path / "other" / "tiny_imagenet" / "tiny-imagenet-200"))


# ---------------------------------------------------------------- CUB-200


def cub200_tars() -> dict[str, bytes]:
    species = {"001.Black_footed_Albatross": ["Black_footed_Albatross_0001", "Black_footed_Albatross_0002"],
               "002.Laysan_Albatross": ["Laysan_Albatross_0001"],
               "010.Red_winged_Blackbird": ["Red_winged_Blackbird_0007"]}
    images, annotations = {}, {}
    for k, (name, photos) in enumerate(species.items()):
        for photo in photos:
            images[f"images/{name}/{photo}.jpg"] = image_bytes(40 + 80 * k, "JPEG", "RGB")
            images[f"images/{name}/._{photo}.jpg"] = b"\x00\x05\x16\x07 AppleDouble"
            mask = np.zeros((8, 8), dtype=np.uint8)
            mask[2:5, 3:6] = k + 1
            stream = io.BytesIO()
            scipy.io.savemat(stream, {"seg": mask, "bbox": {"left": 3, "top": 2, "right": 6, "bottom": 5},
                                      "wikipedia_url": "https://en.wikipedia.org/wiki/Albatross"})
            annotations[f"annotations-mat/{name}/{photo}.mat"] = stream.getvalue()
    images["images/._001.Black_footed_Albatross"] = b"\x00\x05\x16\x07 AppleDouble"
    return {"images.tgz": tar_archive(images), "annotations.tgz": tar_archive(annotations)}


def test_cub200_lists_photos_labels_and_masks(data_server, monkeypatch, tmp_path):
    for name, content in cub200_tars().items():
        data_server.publish("CUB200", name, content)
    trust_fixtures(cub200, data_server, "CUB200", monkeypatch)
    ds = cub200.load_data()
    assert isinstance(ds, CSVDataset) and len(ds) == 4 and sorted(ds[0]) == ["annotation", "image", "label"]
    folder = tmp_path / "data" / "CUB200"
    assert ds.parent_path == str(folder)
    assert visible(folder) == ["annotations-mat", "annotations.tgz", "cub200.csv", "images", "images.tgz"]
    rows = {image: (label, annotation) for image, label, annotation in
            zip(ds.data["image"], ds.data["label"].tolist(), ds.data["annotation"])}
    assert rows["images/010.Red_winged_Blackbird/Red_winged_Blackbird_0007.jpg"] == (
        2, "annotations-mat/010.Red_winged_Blackbird/Red_winged_Blackbird_0007.mat")
    assert sorted(label for label, _ in rows.values()) == [0, 0, 1, 2]
    for image, (label, annotation) in rows.items():
        assert abs(pixel(folder / image) - (40 + 80 * label)) <= 3
        seg = scipy.io.loadmat(folder / annotation)["seg"]
        assert seg.shape == (8, 8) and seg[3, 4] == label + 1 and seg[0, 0] == 0
    cub200.load_data()
    assert data_server.gets["/CUB200/images.tgz"] == 1 and data_server.gets["/CUB200/annotations.tgz"] == 1
    other = cub200.load_data(root_dir=str(tmp_path / "other"))
    assert other.parent_path == str(tmp_path / "other" / "CUB200")
    assert other.data["image"].tolist() == ds.data["image"].tolist()
