"""Univariate NumpyOps: each input key is transformed on its own (random ops share one draw per call).

Images are numpy arrays (H, W, C) or (H, W), uint8 in [0, 255] or float in [0, 1]. Modules by theme:
``basic`` (scaling, shapes, dtypes, label codes), ``color``, ``pixel`` (tone and channels), ``blur``,
``noise``, ``geometry``, ``text``, ``io`` (ReadImage) and ``rua``.
"""

from fastest.op.numpyop.univariate.basic import (
    Binarize,
    ChannelTranspose,
    ExpandDims,
    FromFloat,
    Hadamard,
    Minmax,
    Normalize,
    Onehot,
    Reshape,
    ToArray,
    ToFloat,
)
from fastest.op.numpyop.univariate.blur import (
    Blur,
    Downscale,
    GaussianBlur,
    ImageCompression,
    MedianBlur,
    MotionBlur,
)
from fastest.op.numpyop.univariate.calibrate import Calibrate
from fastest.op.numpyop.univariate.camera import Defocus, ISONoise, ZoomBlur
from fastest.op.numpyop.univariate.color import (
    Brightness,
    Color,
    ColorJitter,
    Contrast,
    HueSaturationValue,
    RandomBrightnessContrast,
    RandomGamma,
    RGBShift,
    Sharpness,
)
from fastest.op.numpyop.univariate.geometry import ShearX, ShearY, TranslateX, TranslateY
from fastest.op.numpyop.univariate.histogram import CLAHE, FDA, HistogramMatching, PixelDistributionAdaptation
from fastest.op.numpyop.univariate.io import ReadImage
from fastest.op.numpyop.univariate.noise import CoarseDropout, GaussianNoise, MultiplicativeNoise
from fastest.op.numpyop.univariate.pixel import (
    AutoContrast,
    ChannelDropout,
    ChannelShuffle,
    Equalize,
    InvertImg,
    Posterize,
    Solarize,
    ToGray,
    ToSepia,
)
from fastest.op.numpyop.univariate.rua import RUA
from fastest.op.numpyop.univariate.shapes import RandomShapes
from fastest.op.numpyop.univariate.text import PadSequence, Tokenize, WordtoId
from fastest.op.numpyop.univariate.weather import (
    RandomFog,
    RandomRain,
    RandomShadow,
    RandomSnow,
    RandomSunFlare,
)

__all__ = [
    "RUA", "AutoContrast", "Binarize", "Blur", "Brightness", "ChannelDropout", "ChannelShuffle", "ChannelTranspose",
    "CoarseDropout", "Color", "ColorJitter", "Contrast", "Downscale", "Equalize", "ExpandDims", "FromFloat",
    "GaussianBlur", "GaussianNoise", "Hadamard", "HueSaturationValue", "ImageCompression", "InvertImg",
    "MedianBlur", "Minmax", "MotionBlur", "MultiplicativeNoise", "Normalize", "Onehot", "PadSequence", "Posterize",
    "RGBShift", "RandomBrightnessContrast", "RandomGamma", "ReadImage", "Reshape", "ShearX", "ShearY", "Sharpness",
    "Solarize", "ToArray", "ToFloat", "ToGray", "ToSepia", "Tokenize", "TranslateX", "TranslateY", "WordtoId",
]
__all__ += [  # camera, histogram, shapes, weather, calibrate
    "CLAHE", "FDA", "Calibrate", "Defocus", "HistogramMatching", "ISONoise", "PixelDistributionAdaptation", "RandomFog",
    "RandomRain", "RandomShadow", "RandomShapes", "RandomSnow", "RandomSunFlare", "ZoomBlur",
]
