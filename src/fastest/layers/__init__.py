"""Extra PyTorch layers, FastEstimator 1.7's ``fastestimator.layers.pytorch``: ``HadamardCode``, ``Cropping2D``."""

from fastest._lazy import lazy_submodules
from fastest.layers.cropping import Cropping2D
from fastest.layers.hadamard import HadamardCode

__all__ = ["Cropping2D", "HadamardCode"]
__getattr__ = lazy_submodules(__name__)
