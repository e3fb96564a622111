"""Network operators: models, updates, losses and tensor transforms."""

from fastest.op.tensorop.tensorop import Delete, LambdaOp, TensorOp

__all__ = ["Delete", "LambdaOp", "TensorOp"]
