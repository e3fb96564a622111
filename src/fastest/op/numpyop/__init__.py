"""Pipeline operators. ``fastest.op.numpyop.univariate`` holds the single-key transforms."""

from fastest._lazy import lazy_submodules
from fastest.op.numpyop.numpyop import Batch, Delete, LambdaOp, NumpyOp

__all__ = ["Batch", "Delete", "LambdaOp", "NumpyOp"]
__getattr__ = lazy_submodules(__name__)
