"""Network operators: models, updates, losses and tensor transforms."""

from fastest._lazy import lazy_submodules
from fastest.op.tensorop.tensorop import Delete, LambdaOp, TensorOp
from fastest.op.tensorop.util import (
           Argmax,
           Average,
           Gather,
           Normalize,
           Permute,
           Reshape,
           Resize3D,
           UnHadamard,
)

__all__ = ["Argmax", "Average", "Delete", "Gather", "LambdaOp", "Normalize", "Permute", "Reshape", "Resize3D", "TensorOp",
           "UnHadamard"]
__getattr__ = lazy_submodules(__name__)
