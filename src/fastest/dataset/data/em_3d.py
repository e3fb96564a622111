"""platelet-em: two labelled 3-D electron microscope volumes of platelets (bio3d-vision.github.io)."""

from __future__ import annotations

import os

import numpy as np

from fastest.dataset.dataset import NumpyDataset
from fastest.dataset.download import Remote, data_folder, fetch, unpack

NAME = "electronmicroscopy"
# The "images and TIF labels" (RGBA) archive linked from the data set's page; no checksum is published.
REMOTES: dict[str, Remote] = {
    "images_and_labels": Remote("https://www.dropbox.com/s/pvrfnurjq11k0l3/images_and_labels_rgba.zip?dl=1",
                                filename="images_and_labels_rgba.zip"),
}
# RGBA color of each semantic class in the label volumes; 0 is the background.
CLASS_COLORS = {
    0: (0, 0, 0, 0),
    1: (0, 40, 255, 255),  # cell
    2: (0, 212, 255, 255),  # mitochondrion
    3: (124, 255, 121, 255),  # alpha granule
    4: (127, 0, 0, 255),  # canalicular vessel
    5: (255, 70, 0, 255),  # dense granule body
    6: (255, 229, 0, 255),  # dense granule core
}
TILE_SIZE = 256
TILE_OVERLAP = 128
TRAIN_SLABS = ((0, 24), (13, 37), (26, 50))  # overlapping 24-slice slabs of the 50-slice training volume


def load_data(root_dir: str | None = None, image_key: str = "image", label_key: str = "label",
              tile: bool = True) -> tuple[NumpyDataset, NumpyDataset]:
    """Return ``(train_data, eval_data)`` from the 50-slice (train) and 24-slice (eval) 800x800 volumes.

    Images are uint16 with the slices last: (height, width, depth). Labels are float32 one-hot with a
    last axis of 6 classes — cell, mitochondrion, alpha granule, canalicular vessel, dense granule body,
    dense granule core — and background marked by no class: (height, width, depth, 6).

    With ``tile`` (the default), three overlapping 24-slice slabs of the training volume (slices 0-23,
    13-36, 26-49) and the whole eval volume are cut into 256x256 tiles every 128 pixels, keeping tiles
    that end before the border: 75 training and 25 eval samples of (256, 256, 24). Without it each split
    is its single whole volume: (1, 800, 800, 50) and (1, 800, 800, 24).

    Args:
        root_dir: Folder under which the ``electronmicroscopy`` folder is made (default ``$FASTEST_DATA_DIR``
            or ``~/fastest_data``).
        image_key: Key of the image in each sample.
        label_key: Key of the label in each sample.
        tile: Cut the volumes into tiles.
    """
    folder = data_folder(NAME, root_dir)
    top = folder / "platelet-em"
    if not top.exists():
        unpack(fetch(REMOTES["images_and_labels"], folder, NAME), folder / "platelet-em", "platelet-em")
    train_image = read_tiff_volume(top / "images" / "50-images.tif")
    eval_image = read_tiff_volume(top / "images" / "24-images.tif")
    train_label = encode_labels(read_tiff_volume(top / "labels-semantic" / "50-semantic.tif", "RGBA"))
    eval_label = encode_labels(read_tiff_volume(top / "labels-semantic" / "24-semantic.tif", "RGBA"))
    if tile:
        train_image = np.concatenate([make_tiles(train_image[start:stop]) for start, stop in TRAIN_SLABS])
        train_label = np.concatenate([make_tiles(train_label[start:stop]) for start, stop in TRAIN_SLABS])
        eval_image, eval_label = make_tiles(eval_image), make_tiles(eval_label)
    else:
        train_image, train_label, eval_image, eval_label = (
            volume[np.newaxis] for volume in (train_image, train_label, eval_image, eval_label))
    return (_dataset(train_image, train_label, image_key, label_key),
            _dataset(eval_image, eval_label, image_key, label_key))


def _dataset(images: np.ndarray, labels: np.ndarray, image_key: str, label_key: str) -> NumpyDataset:
    """(sample, depth, height, width) volumes → samples of (height, width, depth) with one-hot labels."""
    return NumpyDataset({image_key: np.moveaxis(images, 1, -1),
                         label_key: one_hot(np.moveaxis(labels, 1, -1))})


def read_tiff_volume(path: str | os.PathLike[str], mode: str | None = None) -> np.ndarray:
    """The pages of a multi-page TIFF stacked into one (pages, height, width[, channels]) array.

    Args:
        path: The TIFF file.
        mode: Convert every page to this PIL mode first (e.g. ``"RGBA"``); None keeps the stored one.
    """
    from PIL import Image, ImageSequence

    with Image.open(path) as image:
        pages = [np.array(page.convert(mode) if mode else page) for page in ImageSequence.Iterator(image)]
    volume = np.stack(pages)
    return volume if volume.dtype.isnative else volume.astype(volume.dtype.newbyteorder("="))


def encode_labels(colors: np.ndarray) -> np.ndarray:
    """RGBA label colors (..., 4) → uint8 class indices (...); colors of no class become 0 (background).

    >>> colors = np.array([[[0, 40, 255, 255], [255, 229, 0, 255], [9, 9, 9, 9]]], dtype=np.uint8)
    >>> encode_labels(colors).tolist()
    [[1, 6, 0]]
    """
    codes = np.ascontiguousarray(colors, dtype=np.uint8).view(np.uint32)[..., 0]
    labels = np.zeros(codes.shape, dtype=np.uint8)
    for label, color in CLASS_COLORS.items():
        labels[codes == np.array(color, dtype=np.uint8).view(np.uint32)[0]] = label
    return labels


def make_tiles(volume: np.ndarray, tile_size: int | None = None, overlap: int | None = None) -> np.ndarray:
    """Square (depth, tile, tile) crops of a (depth, height, width) volume, row by row.

    A crop starts every ``tile_size - overlap`` pixels and is kept only when it ends before the volume's
    far edge (so an 800-pixel side gives 5 positions for 256-pixel tiles every 128 pixels).

    Args:
        volume: The volume.
        tile_size: Side of a tile (default ``TILE_SIZE``).
        overlap: Pixels shared by neighbouring tiles (default ``TILE_OVERLAP``).

    >>> make_tiles(np.zeros((24, 800, 800), dtype=np.uint8)).shape
    (25, 24, 256, 256)
    """
    size = TILE_SIZE if tile_size is None else tile_size
    stride = size - (TILE_OVERLAP if overlap is None else overlap)
    depth, height, width = volume.shape[:3]
    rows = [top for top in range(0, height, stride) if top + size < height]
    columns = [left for left in range(0, width, stride) if left + size < width]
    tiles = [volume[:, top:top + size, left:left + size] for top in rows for left in columns]
    if not tiles:
        return np.zeros((0, depth, size, size) + volume.shape[3:], dtype=volume.dtype)
    return np.stack(tiles)


def one_hot(labels: np.ndarray) -> np.ndarray:
    """Class indices → float32 one-hot over classes 1..6 on a new last axis (background: all zeros)."""
    classes = sorted(label for label in CLASS_COLORS if label)
    encoded = np.zeros(labels.shape + (len(classes),), dtype=np.float32)
    for channel, label in enumerate(classes):
        encoded[..., channel] = labels == label
    return encoded




__all__ = ["CLASS_COLORS", "REMOTES", "encode_labels", "load_data", "make_tiles", "one_hot",
           "read_tiff_volume"]
