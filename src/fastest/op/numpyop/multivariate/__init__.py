"""Multivariate NumpyOps: geometric augmentations applied with one random draw to an image and its
masks, bounding boxes and keypoints (FastEstimator's albumentations ops, rebuilt on numpy slicing and
``torchvision.transforms.v2``). See ``MultiVariate`` for the formats and conventions.
"""

from fastest.op.numpyop.multivariate.axis_aligned import (
    CenterCrop,
    Crop,
    Flip,
    HorizontalFlip,
    PadIfNeeded,
    RandomCrop,
    RandomRotate90,
    Transpose,
    VerticalFlip,
)
from fastest.op.numpyop.multivariate.base import MultiVariate
from fastest.op.numpyop.multivariate.crops import (
    BBoxSafeRandomCrop,
    CropAndPad,
    CropNonEmptyMaskIfExists,
    RandomCropFromBorders,
    RandomCropNearBBox,
    RandomSizedBBoxSafeCrop,
)
from fastest.op.numpyop.multivariate.distortion import ElasticTransform, GridDistortion, OpticalDistortion
from fastest.op.numpyop.multivariate.io import ReadMat
from fastest.op.numpyop.multivariate.regions import MaskDropout, RandomGridShuffle
from fastest.op.numpyop.multivariate.resize import (
    LongestMaxSize,
    RandomResizedCrop,
    RandomScale,
    RandomSizedCrop,
    Resize,
    SmallestMaxSize,
)
from fastest.op.numpyop.multivariate.warp import Affine, Rotate, ShiftScaleRotate

__all__ = [
    "Affine",
    "CenterCrop",
    "Crop",
    "Flip",
    "HorizontalFlip",
    "LongestMaxSize",
    "MultiVariate",
    "PadIfNeeded",
    "RandomCrop",
    "RandomResizedCrop",
    "RandomRotate90",
    "RandomScale",
    "RandomSizedCrop",
    "Resize",
    "Rotate",
    "ShiftScaleRotate",
    "SmallestMaxSize",
    "Transpose",
    "VerticalFlip",
]
__all__ += [  # crops, distortion, regions, io
    "BBoxSafeRandomCrop", "CropAndPad", "CropNonEmptyMaskIfExists", "ElasticTransform", "GridDistortion", "MaskDropout",
    "OpticalDistortion", "RandomCropFromBorders", "RandomCropNearBBox", "RandomGridShuffle", "RandomSizedBBoxSafeCrop",
    "ReadMat",
]
