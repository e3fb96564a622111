"""Operators: key:value transforms of a sample (NumpyOp) or a batch on the device (TensorOp)."""

from fastest.op.op import Op

__all__ = ["Op"]
