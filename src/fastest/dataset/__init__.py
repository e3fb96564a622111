"""Dict-sample datasets and loaders of public data sets (``fastest.dataset.data.<name>``)."""

from fastest.dataset.dataset import FEDataset, NumpyDataset

__all__ = ["FEDataset", "NumpyDataset"]
