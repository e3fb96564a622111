"""PASCAL VOC 2012 images with object boxes and class masks (http://host.robots.ox.ac.uk/pascal/VOC/)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np

from fastest.dataset.dataset import FEDataset
from fastest.dataset.download import Remote, data_folder, fetch, unpack
from fastest.errors import FastestValueError, closest_match

NAME = "PascalVoc"
# torchvision's address (the Oxford mirror of host.robots.ox.ac.uk) and MD5 for the same file.
REMOTES: dict[str, Remote] = {
    "trainval": Remote("https://thor.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
                       md5="6cd6e144f989b92b3379bac3b3de84fd"),
}
VOC_CLASSES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor"]


def _class_color(label: int) -> tuple[int, int, int]:
    """The RGB color of class ``label`` (1..20) in VOC's palette: its bits spread over R, G and B."""
    red = green = blue = 0
    for shift in range(8):
        red |= ((label >> (3 * shift)) & 1) << (7 - shift)
        green |= ((label >> (3 * shift + 1)) & 1) << (7 - shift)
        blue |= ((label >> (3 * shift + 2)) & 1) << (7 - shift)
    return red, green, blue


# The color of each class in VOC_CLASSES order (background, 0, and the "void" border, 255, are not classes).
VOC_COLORMAP = [_class_color(label) for label in range(1, len(VOC_CLASSES) + 1)]
IMAGE_SETS = ("train", "trainval", "val")


class PascalVoc(FEDataset):
    """The VOC 2012 images of one image set, read from ``VOCdevkit/VOC2012`` when a sample is asked for.

    A sample is ``{"image": uint8 (height, width, 3) RGB array}`` plus, when asked for, ``bbox``: a list of
    ``(xmin, ymin, xmax, ymax, class_id)`` int tuples (class ids index ``VOC_CLASSES``; an image without an
    annotation gets ``[]``), and ``mask``: a float32 (height, width, 20) one-hot array, channel ``k`` marking
    the pixels of ``VOC_CLASSES[k]`` (background and the 255 border marking no channel; an image without a
    segmentation gets None). The samples are the images listed for boxes (``ImageSets/Main``), for
    segmentation (``ImageSets/Segmentation``), or both, in sorted name order.

    Args:
        root_dir: The ``VOC2012`` folder.
        include_bboxes: Add ``bbox``.
        include_masks: Add ``mask``.
        image_set: ``"train"``, ``"trainval"`` or ``"val"``.
    """

    def __init__(self, root_dir: str, include_bboxes: bool = False, include_masks: bool = True,
                 image_set: str = "train") -> None:
        if image_set not in IMAGE_SETS:
            match = closest_match(image_set, IMAGE_SETS)
            raise FastestValueError(f"PascalVoc: image_set must be one of {list(IMAGE_SETS)}, received "
                                    f"{image_set!r}." + (f" Did you mean {match!r}?" if match else ""))
        self.root_dir = root_dir
        self.include_bboxes = include_bboxes
        self.include_masks = include_masks
        self.image_set = image_set
        self.box_names = set(self._listed("Main")) if include_bboxes else set()
        self.mask_names = set(self._listed("Segmentation")) if include_masks else set()
        self.filenames = sorted(self.box_names | self.mask_names)

    def _listed(self, task: str) -> list[str]:
        with open(os.path.join(self.root_dir, "ImageSets", task, f"{self.image_set}.txt")) as listing:
            return [line.strip() for line in listing if line.strip()]

    def __len__(self) -> int:
        return len(self.filenames)

    def _keep(self, indices: np.ndarray) -> None:
        self.filenames = [self.filenames[i] for i in indices]

    def __getitem__(self, index: int) -> dict[str, Any]:
        from PIL import Image

        name = self.filenames[index]
        with Image.open(os.path.join(self.root_dir, "JPEGImages", f"{name}.jpg")) as image:
            sample: dict[str, Any] = {"image": np.asarray(image.convert("RGB"))}
        if self.include_bboxes:
            sample["bbox"] = self._boxes(name) if name in self.box_names else []
        if self.include_masks:
            sample["mask"] = self._mask(name) if name in self.mask_names else None
        return sample

    def _boxes(self, name: str) -> list[tuple[int, int, int, int, int]]:
        root = ET.parse(os.path.join(self.root_dir, "Annotations", f"{name}.xml")).getroot()
        boxes = []
        for item in root.findall("object"):
            corner = item.find("bndbox")
            if corner is None:
                continue
            xmin, ymin, xmax, ymax = (int(float(corner.findtext(side, "0")))  # tolerate "273.0"
                                      for side in ("xmin", "ymin", "xmax", "ymax"))
            boxes.append((xmin, ymin, xmax, ymax, VOC_CLASSES.index((item.findtext("name") or "").strip())))
        return boxes

    def _mask(self, name: str) -> np.ndarray:
        from PIL import Image

        with Image.open(os.path.join(self.root_dir, "SegmentationClass", f"{name}.png")) as png:
            rgb = np.asarray(png.convert("RGB")).astype(np.int32)
        codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        mask = np.zeros(codes.shape + (len(VOC_COLORMAP),), dtype=np.float32)
        for channel, (red, green, blue) in enumerate(VOC_COLORMAP):
            mask[..., channel] = codes == (red << 16 | green << 8 | blue)
        return mask


def load_data(root_dir: str | None = None, load_bboxes: bool = False,
              load_masks: bool = True) -> tuple[PascalVoc, PascalVoc]:
    """Return ``(train_data, eval_data)``: VOC 2012's ``train`` and ``val`` image sets.

    With masks only (the default) these are the 1,464 and 1,449 segmentation images; with boxes, the
    5,717 and 5,823 detection images (the union when both are asked for). See :class:`PascalVoc` for the
    keys. The 2 GB trainval archive is unpacked into ``<root>/PascalVoc/VOCdevkit/VOC2012``.

    Args:
        root_dir: Folder under which the ``PascalVoc`` folder is made (default ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).
        load_bboxes: Add ``bbox``: ``(xmin, ymin, xmax, ymax, class_id)`` tuples.
        load_masks: Add ``mask``: a float32 (height, width, 20) one-hot array.
    """
    folder = data_folder(NAME, root_dir)
    devkit = folder / "VOCdevkit"
    if not devkit.exists():
        unpack(fetch(REMOTES["trainval"], folder, NAME), folder / "VOCdevkit", "VOCdevkit")
    root = str(devkit / "VOC2012")
    return (PascalVoc(root, include_bboxes=load_bboxes, include_masks=load_masks, image_set="train"),
            PascalVoc(root, include_bboxes=load_bboxes, include_masks=load_masks, image_set="val"))




__all__ = ["IMAGE_SETS", "REMOTES", "VOC_CLASSES", "VOC_COLORMAP", "PascalVoc", "load_data"]
