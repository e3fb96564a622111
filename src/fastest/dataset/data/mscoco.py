"""Microsoft COCO 2017 images with boxes, masks, captions and person keypoints (https://cocodataset.org)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import numpy as np

from fastest.dataset.download import Remote, data_folder, fetch, unpack
from fastest.dataset.files import DirDataset
from fastest.errors import FastestRuntimeError, FastestValueError

NAME = "MSCOCO2017"
# MD5s as published by several independent download scripts (PaddleDetection, mmdetection users, ...).
REMOTES: dict[str, Remote] = {
    "train2017": Remote("http://images.cocodataset.org/zips/train2017.zip",
                        md5="cced6f7f71b7629ddf16f17bbcfab6b2"),
    "val2017": Remote("http://images.cocodataset.org/zips/val2017.zip",
                      md5="442b8da7639aecaf257c1dceb8ba8c80"),
    "annotations": Remote("http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
                          md5="f4bbac642086de4f52a3fdda2de5fa2c"),
}
NUM_KEYPOINTS = 17


class MSCOCODataset(DirDataset):
    """The images of a COCO folder, each with the annotations asked for.

    A sample is ``{"image": path, "image_id": int}`` plus, when asked for: ``bbox``, a list of
    ``(x, y, width, height, category_id)`` tuples; ``mask``, a list of uint8 (height, width) masks, one
    per box; ``caption``, a list of strings; ``keypoint``, a list of int32 (17, 3) arrays of
    ``(x, y, visibility)`` for each person with keypoints, and ``keypoint_bbox``, their
    ``(x, y, width, height)`` boxes. Objects whose box area is not above ``min_bbox_area`` are dropped.

    With ``replacement`` on, asking for an image that lacks any of the requested annotations returns a
    random image (numpy's global generator) that has them all, so every sample carries data; with it off,
    such an image comes back with empty lists.

    Args:
        image_dir: Folder of the images, named ``<image id>.jpg``.
        annotation_file: ``instances_*.json``, for boxes and masks.
        caption_file: ``captions_*.json``.
        keypoint_file: ``person_keypoints_*.json``.
        include_bboxes: Add ``bbox``.
        include_masks: Add ``mask`` (needs ``include_bboxes``).
        include_captions: Add ``caption``.
        include_keypoints: Add ``keypoint`` and ``keypoint_bbox``.
        min_bbox_area: Smallest box area kept (exclusive).
        replacement: Replace images that lack requested annotations by random ones that have them.
    """

    def __init__(self, image_dir: str, annotation_file: str, caption_file: str, keypoint_file: str,
                 include_bboxes: bool = True, include_masks: bool = False, include_captions: bool = False,
                 include_keypoints: bool = False, min_bbox_area: float = 1.0,
                 replacement: bool = True) -> None:
        if include_masks and not include_bboxes:
            raise FastestValueError(
                "MSCOCODataset: include_masks=True needs include_bboxes=True (each mask belongs to a box); "
                "pass load_bboxes=True with load_masks=True.")
        super().__init__(image_dir, data_key="image", recursive_search=False)
        paths = self.data["image"]
        try:
            self.data["image_id"] = np.array([int(Path(p).stem) for p in paths], dtype=np.int64)
        except ValueError as error:
            raise FastestValueError(f"MSCOCODataset: {image_dir!r} holds a file not named <image id>.jpg "
                                    f"({error}).") from error
        self.include_bboxes = include_bboxes
        self.include_masks = include_masks
        self.min_bbox_area = min_bbox_area
        self.replacement = replacement
        self.instances = _coco(annotation_file) if include_bboxes else None
        self.captions = _coco(caption_file) if include_captions else None
        self.keypoints = _coco(keypoint_file) if include_keypoints else None
        self._complete = np.array([self._has_all(i) for i in self.data["image_id"].tolist()], dtype=bool)

    def _boxes(self, image_id: int) -> list[dict[str, Any]]:
        if self.instances is None:  # boxes were not asked for
            return []
        annotations = self.instances.loadAnns(self.instances.getAnnIds(imgIds=image_id))
        return [a for a in annotations if a["bbox"][2] * a["bbox"][3] > self.min_bbox_area]

    def _people(self, image_id: int) -> list[dict[str, Any]]:
        if self.keypoints is None:  # keypoints were not asked for
            return []
        annotations = self.keypoints.loadAnns(self.keypoints.getAnnIds(imgIds=image_id))
        return [a for a in annotations if a["num_keypoints"] > 0]

    def _has_all(self, image_id: int) -> bool:
        """Whether the image has every requested kind of annotation (a mask exists for every kept box)."""
        if self.instances is not None and not self._boxes(image_id):
            return False
        if self.captions is not None and not self.captions.getAnnIds(imgIds=image_id):
            return False
        return self.keypoints is None or bool(self._people(image_id))

    def _keep(self, indices: np.ndarray) -> None:
        super()._keep(indices)
        self._complete = self._complete[indices]

    def _column(self, key: str) -> Any:
        return self.data[key] if key in self.data else [self[i][key] for i in range(len(self))]

    def __getitem__(self, index: int) -> dict[str, Any]:  # type: ignore[override]
        index = int(index) + (len(self) if index < 0 else 0)
        if self.replacement and not self._complete[index]:
            candidates = np.flatnonzero(self._complete)
            if not len(candidates):
                raise FastestRuntimeError(
                    "MSCOCODataset: no image has all the requested annotations, so none can replace "
                    f"{self.data['image'][index]!r}. Request fewer kinds or use replacement=False.")
            index = int(np.random.choice(candidates))
        image_id = int(self.data["image_id"][index])
        sample: dict[str, Any] = {"image": self.data["image"][index], "image_id": image_id}
        if self.instances is not None:
            boxes = self._boxes(image_id)
            sample["bbox"] = [(*a["bbox"], a["category_id"]) for a in boxes]
            if self.include_masks:
                sample["mask"] = [self.instances.annToMask(a) for a in boxes]
        if self.captions is not None:
            captions = self.captions.loadAnns(self.captions.getAnnIds(imgIds=image_id))
            sample["caption"] = [a["caption"] for a in captions]
        if self.keypoints is not None:
            people = self._people(image_id)
            sample["keypoint"] = [np.asarray(a["keypoints"], dtype=np.int32).reshape(NUM_KEYPOINTS, 3)
                                  for a in people]
            sample["keypoint_bbox"] = [tuple(a["bbox"]) for a in people]
        return sample


def _coco(annotation_file: str) -> Any:
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):  # COCO prints its loading progress
        return COCO(annotation_file)


def load_data(root_dir: str | None = None, load_bboxes: bool = True, load_masks: bool = False,
              load_captions: bool = False, load_keypoints: bool = False,
              replacement: bool = True) -> tuple[MSCOCODataset, MSCOCODataset]:
    """Return ``(train_data, eval_data)``: COCO 2017 train (118,287 images) and val (5,000 images).

    See :class:`MSCOCODataset` for the keys of a sample. The archives (about 19 GB) are downloaded and
    unpacked into ``<root>/MSCOCO2017/{train2017,val2017,annotations}``; an archive is not fetched again
    once its folder exists.

    Args:
        root_dir: Folder under which the ``MSCOCO2017`` folder is made (default ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).
        load_bboxes: Add ``bbox``: ``(x, y, width, height, category_id)`` tuples.
        load_masks: Add ``mask``: a uint8 (height, width) mask per box (needs ``load_bboxes``).
        load_captions: Add ``caption``: the image's captions.
        load_keypoints: Add ``keypoint`` (int32 (17, 3) arrays of x, y, visibility: 0 not labeled,
            1 labeled but hidden, 2 visible) and ``keypoint_bbox`` for each person with keypoints.
        replacement: Replace an image lacking a requested annotation by a random image that has them all.
    """
    if load_masks and not load_bboxes:
        raise FastestValueError("mscoco.load_data(load_masks=True) needs load_bboxes=True (each mask belongs "
                                "to a box); pass load_bboxes=True, or load_masks=False.")
    folder = data_folder(NAME, root_dir)
    for top, remote in REMOTES.items():
        if not (folder / top).exists():
            unpack(fetch(remote, folder, NAME), folder / top, top)
    annotations = folder / "annotations"
    datasets = []
    for split in ("train2017", "val2017"):
        datasets.append(MSCOCODataset(
            str(folder / split), annotation_file=str(annotations / f"instances_{split}.json"),
            caption_file=str(annotations / f"captions_{split}.json"),
            keypoint_file=str(annotations / f"person_keypoints_{split}.json"), include_bboxes=load_bboxes,
            include_masks=load_masks, include_captions=load_captions, include_keypoints=load_keypoints,
            replacement=replacement))
    return datasets[0], datasets[1]




__all__ = ["MSCOCODataset", "REMOTES", "load_data"]
