"""Operators: key:value transforms of a sample (NumpyOp) or a batch on the device (TensorOp)."""

from fastest._lazy import lazy_submodules
from fastest.op.op import Op

__all__ = ["Op"]
__getattr__ = lazy_submodules(__name__)
