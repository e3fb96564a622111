"""A tiny Montgomery tree in the real layout, for the lung-segmentation apps (unet, line_search).

``<root>/MontgomerySet/CXR_png/MCUCXR_NNNN_k.png`` grey X-rays, masks of the same name under
``ManualMask/leftMask`` and ``ManualMask/rightMask`` (0 / 255, one box per lung), and ``montgomery.csv``
beside ``MontgomerySet`` listing them with paths relative to the CSV's folder, as the loader writes it.
"""

import csv

import numpy as np
from PIL import Image

from fastest.dataset import CSVDataset


def lung_masks(height, width):
    """Left and right lung masks (uint8 0/255): one box in each half of the image."""
    left, right = np.zeros((height, width), np.uint8), np.zeros((height, width), np.uint8)
    left[height // 5:4 * height // 5, width // 8:width // 2 - 3] = 255
    right[height // 4:3 * height // 4, width // 2 + 3:7 * width // 8] = 255
    return left, right


def make_montgomery(root, count=6, seed=0):
    """Write ``count`` X-rays (portrait and landscape, as the real 4020×4892 / 4892×4020 ones) and their masks;
    returns the CSVDataset the real loader would."""
    rng = np.random.default_rng(seed)
    base = root / "MontgomerySet"
    rows = []
    for i in range(count):
        name = f"MCUCXR_{i:04d}_{i % 2}.png"
        height, width = (48, 40) if i % 2 else (40, 48)
        images = {"CXR_png": rng.integers(0, 256, (height, width), dtype=np.uint8)}
        images["ManualMask/leftMask"], images["ManualMask/rightMask"] = lung_masks(height, width)
        for folder, pixels in images.items():
            (base / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(base / folder / name)
        rows.append([f"MontgomerySet/{folder}/{name}" for folder in images])
    with open(root / "montgomery.csv", "w", newline="") as file:
        csv.writer(file).writerows([["image", "mask_left", "mask_right"], *rows])
    return CSVDataset(str(root / "montgomery.csv"))
