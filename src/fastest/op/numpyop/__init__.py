"""Pipeline operators. ``fastest.op.numpyop.univariate`` holds the single-key transforms."""

from fastest._lazy import lazy_submodules
from fastest.op.numpyop.numpyop import Batch, Delete, LambdaOp, NumpyOp, RemoveIf

__all__ = ["Batch", "Delete", "LambdaOp", "NumpyOp", "RemoveIf"]
__getattr__ = lazy_submodules(__name__)
