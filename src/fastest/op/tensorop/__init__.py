"""Network operators: models, updates, losses and tensor transforms."""

from fastest._lazy import lazy_submodules
from fastest.op.tensorop.tensorop import Delete, LambdaOp, TensorOp

__all__ = ["Delete", "LambdaOp", "TensorOp"]
__getattr__ = lazy_submodules(__name__)
