"""Dict-sample datasets and loaders of public data sets (``fastest.dataset.data.<name>``)."""

from fastest._lazy import lazy_submodules
from fastest.dataset.compose import BatchDataset, CombinedDataset
from fastest.dataset.csv_dataset import CSVDataset
from fastest.dataset.dataset import DatasetSummary, FEDataset, KeySummary, NumpyDataset
from fastest.dataset.extend import ExtendDataset
from fastest.dataset.files import DirDataset, LabeledDirDataset, SiameseDirDataset
from fastest.dataset.generator import GeneratorDataset
from fastest.dataset.interleave import InterleaveDataset
from fastest.dataset.pickle_dataset import PickleDataset

__all__ = [
    "BatchDataset",
    "CSVDataset",
    "CombinedDataset",
    "DatasetSummary",
    "DirDataset",
    "ExtendDataset",
    "FEDataset",
    "GeneratorDataset",
    "InterleaveDataset",
    "KeySummary",
    "LabeledDirDataset",
    "NumpyDataset",
    "PickleDataset",
    "SiameseDirDataset",
]
__getattr__ = lazy_submodules(__name__)
