"""Loaders of public data sets: ``fastest.dataset.data.<name>.load_data()``."""

from fastest._lazy import lazy_submodules

__getattr__ = lazy_submodules(__name__)
