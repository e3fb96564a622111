"""Dict-sample datasets and loaders of public data sets (``fastest.dataset.data.<name>``)."""

from fastest._lazy import lazy_submodules
from fastest.dataset.dataset import FEDataset, NumpyDataset

__all__ = ["FEDataset", "NumpyDataset"]
__getattr__ = lazy_submodules(__name__)
