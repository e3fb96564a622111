"""Dict-sample datasets and loaders of public data sets (``fastest.dataset.data.<name>``)."""

from fastest._lazy import lazy_submodules
from fastest.dataset.compose import BatchDataset, CombinedDataset, InterleaveDataset
from fastest.dataset.dataset import DatasetSummary, FEDataset, KeySummary, NumpyDataset
from fastest.dataset.files import CSVDataset, DirDataset, LabeledDirDataset, SiameseDirDataset
from fastest.dataset.generator import GeneratorDataset
from fastest.dataset.pickle_dataset import PickleDataset

__all__ = [
    "BatchDataset",
    "CSVDataset",
    "CombinedDataset",
    "DatasetSummary",
    "DirDataset",
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
