"""A table saved with ``pickle`` (a pandas DataFrame, a dict of columns or a list of rows) as a dataset."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import pickle
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fastest.dataset.dataset import NumpyDataset
from fastest.dataset.files import object_array
from fastest.errors import FastestRuntimeError, FastestTypeError, FastestValueError

_OPENERS: dict[str, Any] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


class PickleDataset(NumpyDataset):
    """The rows of a pickled table as samples ``{column: value}``.

    The file may hold a pandas DataFrame (pandas must then be installed to unpickle it), a dict of
    equal-length columns, or a list of row dicts; ``.gz``, ``.bz2`` and ``.xz`` files are decompressed.
    Columns of numbers become numpy arrays, columns of equally shaped arrays are stacked, and anything
    else (strings, per-row lists such as the boxes of an image) stays one Python object per sample.
    ``parent_path`` is the file's folder, to resolve relative paths stored in the table.

    Only open pickles you trust: unpickling can run arbitrary code.

    Args:
        file_path: The pickle file.

    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "boxes.pickle")
    >>> table = {"image": ["a.png", "b.png"], "label": [[1, 9], [4]], "score": [0.5, 0.25]}
    >>> with open(path, "wb") as stream: pickle.dump(table, stream)
    >>> ds = PickleDataset(path)
    >>> len(ds), ds[0]["image"], ds[0]["label"], float(ds[1]["score"])
    (2, 'a.png', [1, 9], 0.25)
    >>> ds.parent_path == os.path.dirname(path)
    True
    """

    def __init__(self, file_path: str) -> None:
        if not os.path.isfile(file_path):
            raise FastestValueError(f"PickleDataset: no file at {file_path!r}.")
        opener = _OPENERS.get(os.path.splitext(file_path)[1].lower(), open)
        try:
            with opener(file_path, "rb") as stream:
                table = pickle.load(stream)
        except ModuleNotFoundError as error:
            raise FastestRuntimeError(
                f"PickleDataset: {file_path!r} needs the module {error.name!r} to be unpickled (a pandas "
                "DataFrame needs pandas). Install it, or save the table as a dict of columns instead."
            ) from error
        columns = _columns(table, file_path)
        super().__init__({name: _column_array(values) for name, values in columns.items()})
        self.file_path = file_path
        self.parent_path = os.path.dirname(os.path.abspath(file_path))


def _columns(table: Any, file_path: str) -> dict[str, list[Any]]:
    """``{column name: list of values}`` from a DataFrame, a dict of columns or a list of row dicts."""
    if hasattr(table, "to_dict") and hasattr(table, "columns"):  # a DataFrame, found without importing pandas
        table = table.to_dict(orient="list")
    if isinstance(table, Mapping):
        columns = {str(name): list(values) for name, values in table.items()}
    elif isinstance(table, Sequence) and not isinstance(table, (str, bytes)) and table \
            and all(isinstance(row, Mapping) for row in table):
        names = list(dict.fromkeys(name for row in table for name in row))
        columns = {str(name): [row.get(name) for row in table] for name in names}
    else:
        raise FastestTypeError(
            f"PickleDataset: {file_path!r} holds a {type(table).__name__}; expected a pandas DataFrame, a "
            "dict of equal-length columns, or a non-empty list of row dicts.")
    lengths = {name: len(values) for name, values in columns.items()}
    if not columns or not any(lengths.values()):
        raise FastestValueError(f"PickleDataset: {file_path!r} holds an empty table.")
    if len(set(lengths.values())) != 1:
        raise FastestValueError(f"PickleDataset: the columns of {file_path!r} differ in length: {lengths}.")
    return columns


def _column_array(values: list[Any]) -> np.ndarray:
    """Numbers → a numeric array; equally shaped arrays → one stacked array; anything else → objects."""
    if all(isinstance(v, (bool, int, float, np.number, np.bool_)) for v in values):
        return np.asarray(values)
    if all(isinstance(v, np.ndarray) for v in values) and len({v.shape for v in values}) == 1:
        return np.stack(values)
    return object_array(values)


__all__ = ["PickleDataset"]
