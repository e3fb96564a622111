"""Loaders of public data sets: ``fastest.dataset.data.<name>.load_data()``."""
