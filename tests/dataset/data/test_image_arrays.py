"""Image-array loaders (MNIST, CIFAR, ciFAIR, SVHN, USPS, MedMNIST) against tiny fixtures in each source's
real file format, served by the local data server."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from fastest.dataset import LabeledDirDataset, NumpyDataset
from fastest.dataset.data import cifair10, cifair100, cifar10, cifar100, medmnist, mnist, svhn_cropped, usps
from fastest.dataset.download import DATA_DIR_VARIABLE, DownloadError
from fastest.errors import FastestValueError

from .conftest import tar_archive, trust_fixtures, zip_archive

# ---------------------------------------------------------------- fixture file builders


def idx_gz(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(size.to_bytes(4, "big") for size in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def images(count: int, start: int, shape: tuple[int, ...]) -> np.ndarray:
    """Distinct uint8 images: pixel value = (start + flat index) % 256."""
    return ((start + np.arange(count * int(np.prod(shape)))) % 256).astype(np.uint8).reshape(count, *shape)


def pickled(batch: dict) -> bytes:
    return pickle.dumps({key.encode(): value for key, value in batch.items()}, protocol=2)


def cifar_batch(count: int, start: int, **labels: list[int]) -> bytes:
    return pickled({"data": images(count, start, (3072,)), "batch_label": "fixture", **labels})






def ten_class_batches(folder: str) -> dict[str, bytes]:
    """data_batch_1..5 with 2 images each (labels 2i-2, 2i-1) and a 3-image test_batch."""
    files = {f"{folder}/data_batch_{i}": cifar_batch(2, 10 * i, labels=[2 * i - 2, 2 * i - 1])
             for i in range(1, 6)}
    files[f"{folder}/test_batch"] = cifar_batch(3, 99, labels=[9, 0, 4])
    return files


def hundred_class_files(folder: str) -> dict[str, bytes]:
    return {
        f"{folder}/train": cifar_batch(3, 5, fine_labels=[99, 42, 7], coarse_labels=[19, 3, 0]),
        f"{folder}/test": cifar_batch(2, 77, fine_labels=[1, 2], coarse_labels=[11, 12]),
    }


def publish(server, module, dataset: str, files: dict[str, bytes], monkeypatch) -> dict[str, str]:
    """Publish one fixture per REMOTES entry (keyed like REMOTES) and trust their checksums."""
    paths = {key: server.publish(dataset, module.REMOTES[key].name, content)
             for key, content in files.items()}
    trust_fixtures(module, server, dataset, monkeypatch)
    return paths


def check_split(data: NumpyDataset, size: int, image_shape: tuple[int, ...], label_dtype: type,
                image_key: str = "x", label_key: str = "y") -> None:
    assert isinstance(data, NumpyDataset) and len(data) == size
    sample = data[0]
    assert sorted(sample) == sorted([image_key, label_key])
    assert sample[image_key].shape == image_shape and sample[image_key].dtype == np.uint8
    assert data.data[label_key].dtype == label_dtype


# ---------------------------------------------------------------- MNIST


def test_mnist_parses_idx_files_once(data_server, monkeypatch):
    train_x, eval_x = images(3, 0, (28, 28)), images(2, 50, (28, 28))
    paths = publish(data_server, mnist, "MNIST", {
        "train_images": idx_gz(train_x), "train_labels": idx_gz(np.array([5, 0, 4])),
        "eval_images": idx_gz(eval_x), "eval_labels": idx_gz(np.array([7, 2])),
    }, monkeypatch)
    train, evals = mnist.load_data(image_key="image", label_key="label")
    check_split(train, 3, (28, 28), np.uint8, "image", "label")
    check_split(evals, 2, (28, 28), np.uint8, "image", "label")
    assert train.data["label"].tolist() == [5, 0, 4] and evals.data["label"].tolist() == [7, 2]
    np.testing.assert_array_equal(train[1]["image"], train_x[1])
    np.testing.assert_array_equal(evals[1]["image"], eval_x[1])
    train[0]["image"][0, 0] = 1  # writable, like the arrays Keras returned
    mnist.load_data()
    assert all(data_server.gets[path] == 1 for path in paths.values())


def test_mnist_rejects_a_file_with_the_wrong_magic_number(data_server, monkeypatch):
    good = idx_gz(np.array([1, 2]))
    publish(data_server, mnist, "MNIST", {
        "train_images": gzip.compress(b"\x00\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x07"),  # 1-D, not 3-D
        "train_labels": good, "eval_images": good, "eval_labels": good}, monkeypatch)
    with pytest.raises(DownloadError, match=r"magic number is 0x00000801, expected 0x00000803"):
        mnist.load_data()


# ---------------------------------------------------------------- CIFAR / ciFAIR


@pytest.mark.parametrize("channels_last", [True, False])
def test_cifar10_reads_the_pickled_batches(data_server, monkeypatch, channels_last):
    path = publish(data_server, cifar10, "cifar10",
                   {"archive": tar_archive({**ten_class_batches("cifar-10-batches-py"),
                                       "cifar-10-batches-py/batches.meta": pickled({"label_names": []})})},
                   monkeypatch)["archive"]
    with pytest.warns(UserWarning, match="cifair10"):
        train, evals = cifar10.load_data(channels_last=channels_last)
    shape = (32, 32, 3) if channels_last else (3, 32, 32)
    check_split(train, 10, shape, np.uint8)
    check_split(evals, 3, shape, np.uint8)
    assert train.data["y"].tolist() == list(range(10)) and evals.data["y"].tolist() == [9, 0, 4]
    # sample 2 is the first image of data_batch_2: channel 1, row 2, column 3 is flat index 1024 + 67
    pixel = train[2]["x"][2, 3, 1] if channels_last else train[2]["x"][1, 2, 3]
    assert pixel == (20 + 1024 + 67) % 256
    with pytest.warns(UserWarning):
        cifar10.load_data()
    assert data_server.gets[path] == 1


def test_cifar100_fine_and_coarse_labels(data_server, monkeypatch):
    path = publish(data_server, cifar100, "cifar100",
                   {"archive": tar_archive(hundred_class_files("cifar-100-python"))}, monkeypatch)["archive"]
    with pytest.warns(UserWarning, match="cifair100"):
        train, evals = cifar100.load_data(image_key="img", label_key="label")
    check_split(train, 3, (32, 32, 3), np.int64, "img", "label")
    check_split(evals, 2, (32, 32, 3), np.int64, "img", "label")
    assert train.data["label"].tolist() == [99, 42, 7]
    assert evals[0]["img"][0, 0].tolist() == [77, (77 + 1024) % 256, (77 + 2048) % 256]
    with pytest.warns(UserWarning):
        coarse, _ = cifar100.load_data(label_mode="coarse", channels_last=False)
    assert coarse.data["y"].tolist() == [19, 3, 0] and coarse[0]["x"].shape == (3, 32, 32)
    assert data_server.gets[path] == 1


def test_cifair10_reads_the_release_zip(data_server, monkeypatch):
    path = publish(data_server, cifair10, "ciFAIR10", {"archive": zip_archive(ten_class_batches("ciFAIR-10"))},
                   monkeypatch)["archive"]
    train, test = cifair10.load_data()
    check_split(train, 10, (32, 32, 3), np.uint8)
    check_split(test, 3, (32, 32, 3), np.uint8)
    assert test.data["y"].tolist() == [9, 0, 4] and test[0]["x"][0, 1, 2] == (99 + 2048 + 1) % 256
    cifair10.load_data()
    assert data_server.gets[path] == 1


def test_cifair100_reads_the_release_zip(data_server, monkeypatch):
    archive = zip_archive(hundred_class_files("ciFAIR-100"))
    path = publish(data_server, cifair100, "ciFAIR100", {"archive": archive}, monkeypatch)["archive"]
    train, test = cifair100.load_data(label_mode="coarse")
    check_split(train, 3, (32, 32, 3), np.uint8)
    check_split(test, 2, (32, 32, 3), np.uint8)
    assert train.data["y"].tolist() == [19, 3, 0] and test.data["y"].tolist() == [11, 12]
    fine, _ = cifair100.load_data()
    assert fine.data["y"].tolist() == [99, 42, 7]
    assert data_server.gets[path] == 1


@pytest.mark.parametrize("module", [cifar100, cifair100])
def test_cifar100_family_rejects_an_unknown_label_mode(data_server, module):
    with pytest.raises(FastestValueError, match=r"received 'fien'\. Did you mean 'fine'\?"):
        module.load_data(label_mode="fien")
    assert not data_server.gets  # nothing was downloaded


# ---------------------------------------------------------------- SVHN


def svhn_mat(count: int, start: int, labels: list[int]) -> bytes:
    from scipy.io import savemat

    buffer = io.BytesIO()
    x = np.moveaxis(images(count, start, (32, 32, 3)), 0, -1)  # the file stores (32, 32, 3, N)
    savemat(buffer, {"X": x, "y": np.array(labels, dtype=np.uint8).reshape(-1, 1)})
    return buffer.getvalue()


def test_svhn_cropped_reads_mat_files_and_maps_label_10_to_0(data_server, monkeypatch):
    paths = publish(data_server, svhn_cropped, "SVHN_Cropped",
                    {"train": svhn_mat(3, 1, [10, 1, 9]), "test": svhn_mat(2, 200, [3, 10])}, monkeypatch)
    train, test = svhn_cropped.load_data()
    check_split(train, 3, (32, 32, 3), np.uint8)
    check_split(test, 2, (32, 32, 3), np.uint8)
    assert train[0]["y"].shape == (1,)
    assert train.data["y"].ravel().tolist() == [0, 1, 9] and test.data["y"].ravel().tolist() == [3, 0]
    np.testing.assert_array_equal(test[1]["x"], images(2, 200, (32, 32, 3))[1])
    svhn_cropped.load_data()
    assert all(data_server.gets[path] == 1 for path in paths.values())


# ---------------------------------------------------------------- USPS


def libsvm_bz2(records: list[tuple[int, np.ndarray]]) -> bytes:
    lines = [f"{digit + 1} " + " ".join(f"{i + 1}:{float(v)}" for i, v in enumerate(pixels.ravel()) if v != 0)
             for digit, pixels in records]
    return bz2.compress(("\n".join(lines) + "\n").encode())


def test_usps_writes_png_folders_once(data_server, monkeypatch):
    from PIL import Image

    ramp = np.linspace(-1, 1, 256, dtype=np.float32).reshape(16, 16)
    half = np.full((16, 16), -0.5, dtype=np.float32)
    half[0, 0], half[0, 2] = 0.5, 0.0
    paths = publish(data_server, usps, "USPS", {
        "train": libsvm_bz2([(3, ramp), (0, half), (3, -ramp)]),
        "test": libsvm_bz2([(9, ramp), (1, half)]),
    }, monkeypatch)
    train, test = usps.load_data()
    assert isinstance(train, LabeledDirDataset) and (len(train), len(test)) == (3, 2)
    folder = Path(train[0]["x"]).parents[2]
    assert folder == Path(os.environ[DATA_DIR_VARIABLE]) / "USPS"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png")) == [
        "test/1/test_1.png", "test/9/test_0.png",
        "train/0/train_1.png", "train/3/train_0.png", "train/3/train_2.png"]
    assert train.mapping == {"0": 0, "3": 1} and [int(s["y"]) for s in train] == [0, 1, 1]
    ramp_png = np.asarray(Image.open(folder / "train/3/train_0.png"))
    assert ramp_png.dtype == np.uint8 and ramp_png.shape == (16, 16)
    assert (ramp_png[0, 0], ramp_png[15, 15]) == (0, 255)
    assert (np.diff(ramp_png.ravel().astype(int)) >= 0).all()
    half_png = np.asarray(Image.open(folder / "train/0/train_1.png"))
    # each image's own range is stretched to 0..255 (-0.5 -> 0) and truncated (0.0 -> 127.5 -> 127); the
    # 0.0 pixel was left out of the LIBSVM line and still parses as 0
    assert half_png[0, :3].tolist() == [255, 0, 127]
    assert not [p for p in folder.iterdir() if p.name.startswith(".") and "partial" in p.name]
    usps.load_data()
    assert all(data_server.gets[path] == 1 for path in paths.values())


# ---------------------------------------------------------------- MedMNIST


def medmnist_npz(image_shape: tuple[int, ...], label_width: int) -> bytes:
    buffer = io.BytesIO()
    arrays = {}
    for split, count in (("train", 3), ("val", 2), ("test", 1)):
        arrays[f"{split}_images"] = images(count, count, image_shape)
        arrays[f"{split}_labels"] = np.arange(count * label_width, dtype=np.uint8).reshape(count, label_width)
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize("name, shape, width", [("pathmnist", (28, 28, 3), 1), ("chestmnist", (28, 28), 14),
                                                ("nodulemnist3d", (28, 28, 28), 1)])
def test_medmnist_returns_train_val_test(data_server, monkeypatch, name, shape, width):
    path = publish(data_server, medmnist, "medmnist", {name: medmnist_npz(shape, width)}, monkeypatch)[name]
    train, val, test = medmnist.load_data(name, image_key="image", label_key="label")
    for data, size in ((train, 3), (val, 2), (test, 1)):
        check_split(data, size, shape, np.uint8, "image", "label")
        assert data[0]["label"].shape == (width,)
    assert val.data["label"][1, 0] == width
    np.testing.assert_array_equal(train[2]["image"], images(3, 3, shape)[2])
    medmnist.load_data(dataset_name=name)
    assert data_server.gets[path] == 1


def test_medmnist_knows_fe_s_eighteen_names_and_suggests_one(data_server):
    assert len(medmnist.REMOTES) == 18 and all(r.md5 for r in medmnist.REMOTES.values())
    assert medmnist.REMOTES["organamnist"].name == "organamnist.npz"
    with pytest.raises(FastestValueError, match=r"'bloodmnst'\. Did you mean 'bloodmnist'\?.*tissuemnist"):
        medmnist.load_data("bloodmnst")
    assert not data_server.gets


# ---------------------------------------------------------------- root_dir


@pytest.mark.parametrize("module, dataset, files, call", [
    (cifar10, "cifar10", lambda: {"archive": tar_archive(ten_class_batches("cifar-10-batches-py"))}, {}),
    (cifar100, "cifar100", lambda: {"archive": tar_archive(hundred_class_files("cifar-100-python"))}, {}),
    (cifair10, "ciFAIR10", lambda: {"archive": zip_archive(ten_class_batches("ciFAIR-10"))}, {}),
    (cifair100, "ciFAIR100", lambda: {"archive": zip_archive(hundred_class_files("ciFAIR-100"))}, {}),
    (svhn_cropped, "SVHN_Cropped", lambda: {"train": svhn_mat(1, 0, [1]), "test": svhn_mat(1, 0, [2])}, {}),
    (usps, "USPS", lambda: {"train": libsvm_bz2([(1, np.ones((16, 16)))]),
                            "test": libsvm_bz2([(2, np.ones((16, 16)))])}, {}),
    (medmnist, "medmnist", lambda: {"breastmnist": medmnist_npz((28, 28), 1)},
     {"dataset_name": "breastmnist"}),
], ids=["cifar10", "cifar100", "ciFAIR10", "ciFAIR100", "SVHN_Cropped", "USPS", "medmnist"])
def test_root_dir_holds_the_fe_named_folder(data_server, monkeypatch, tmp_path, module, dataset, files, call):
    publish(data_server, module, dataset, files(), monkeypatch)
    root = tmp_path / "elsewhere"
    with pytest.warns(UserWarning) if module in (cifar10, cifar100) else contextlib.nullcontext():
        module.load_data(root_dir=str(root), **call)
    stored = {remote.name for remote in module.REMOTES.values()}
    assert {p.name for p in (root / dataset).iterdir()} & stored
    assert not (Path(os.environ[DATA_DIR_VARIABLE]) / dataset).exists()
