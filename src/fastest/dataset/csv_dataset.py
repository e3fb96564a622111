"""The rows of a CSV file as a dataset, read with the ``csv`` module and typed like pandas' ``read_csv``."""

from __future__ import annotations

import csv
import inspect
import math
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from fastest.dataset.dataset import NumpyDataset, object_array
from fastest.dataset.query import isin, query_mask
from fastest.errors import FastestKeyError, FastestTypeError, FastestValueError, closest_match

#: Cells read as missing values, as in pandas' ``read_csv``.
NA_VALUES = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                       "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})
_BOOLEANS = {"True": True, "TRUE": True, "true": True, "False": False, "FALSE": False, "false": False}
_CSV_OPTIONS = {"quotechar", "escapechar", "doublequote", "skipinitialspace", "quoting", "strict", "lineterminator"}
_PANDAS_OPTIONS = {"sep", "encoding", "usecols", "nrows", "na_values", "keep_default_na", "dtype"}
_DEFAULT_FILL = "pandas_default"


def parse_column(texts: list[str | None], na_values: Iterable[str] = NA_VALUES) -> np.ndarray:
    """CSV cells → int64 (every cell an int), float64 (numbers, missing cells NaN), bool, or objects.

    Missing cells (``""``, ``"NA"``, ``"nan"`` ... as in pandas) become NaN in every kind of column.

    >>> parse_column(["1", "2"]).dtype, parse_column(["1", ""]).tolist(), parse_column(["a", "1"]).tolist()
    (dtype('int64'), [1.0, nan], ['a', '1'])
    >>> parse_column(["True", "false"]).tolist(), parse_column(["a", "NA"]).tolist()
    ([True, False], ['a', nan])
    """
    missing_cells = set(na_values)
    cells = [None if t is None or t in missing_cells or t.strip() in missing_cells else t for t in texts]
    filled = [c for c in cells if c is not None]
    if filled and len(filled) == len(cells):
        for convert, dtype in ((int, np.int64), (_BOOLEANS.__getitem__, np.bool_)):
            try:
                return np.asarray([convert(c) for c in filled], dtype=dtype)
            except (ValueError, OverflowError, KeyError):
                pass
    try:
        return np.asarray([math.nan if c is None else float(c) for c in cells], dtype=np.float64)
    except ValueError:
        pass
    booleans = all(c in _BOOLEANS for c in filled)
    return object_array([math.nan if c is None else _BOOLEANS[c] if booleans else c for c in cells])


def fill_missing(column: np.ndarray, fill_na: Any) -> np.ndarray:
    """Replace a column's NaNs by ``fill_na`` (None keeps them as ``None``, pandas' object column).

    >>> fill_missing(np.array([1.0, np.nan]), None).tolist(), fill_missing(np.array([1.0, np.nan]), 0).tolist()
    ([1.0, None], [1.0, 0.0])
    """
    if column.dtype.kind == "f":
        missing = np.isnan(column)
    elif column.dtype == object:
        missing = np.array([isinstance(v, float) and math.isnan(v) for v in column], dtype=bool)
    else:
        return column
    if not missing.any():
        return column
    if column.dtype.kind == "f" and isinstance(fill_na, (int, float, np.number)) and not isinstance(fill_na, bool):
        return np.where(missing, float(fill_na), column)
    filled = object_array(column.tolist())
    filled[missing] = fill_na
    return filled


class CSVDataset(NumpyDataset):
    """The rows of a CSV file (first row: the column names) as samples ``{column: value}``, like FastEstimator.

    Columns are typed as pandas' ``read_csv`` types them, without needing pandas: int64 when every cell
    is an int, float64 for numbers (missing cells NaN), bool for True/False, otherwise Python objects
    (strings, NaN for missing cells). ``parent_path`` is the folder of the file, to resolve relative
    paths stored in it. ``:``, ``|`` and ``;`` are removed from column names (they cannot be data keys).

    Args:
        file_path: The CSV file.
        delimiter: Field separator.
        include_if: Keep only some rows. A dict ``{column: value or values}`` keeps rows whose value is one of
            them for every column (None matches missing cells); a string is a pandas-style query
            (``"type >= 1 and mode != 'test'"``, see :func:`~fastest.dataset.query.query_mask`); a function is
            called with the columns its parameters name (``lambda mode, idx: mode == "test" or idx % 2``; a
            ``**row`` parameter receives every column) and keeps the row when it returns True.
        fill_na: What missing cells hold: ``"pandas_default"`` (NaN), None, or any fill value.
        **kwargs: ``csv`` module options (``quotechar``, ``escapechar``, ``skipinitialspace`` ...) and the
            pandas ``read_csv`` options ``sep``, ``encoding``, ``usecols``, ``nrows``, ``na_values``,
            ``keep_default_na`` and ``dtype``.

    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(path, "w").write("image,label\\na.png,0\\nb.png,1\\nc.png,\\n")
    >>> ds = CSVDataset(path, include_if="label >= 1 or label < 0", fill_na=-1)
    >>> len(ds), ds["image"], ds["label"]
    (2, ['b.png', 'c.png'], [1.0, -1.0])
    """

    def __init__(self, file_path: str, delimiter: str = ",",
                 include_if: Mapping[str, Any] | str | Callable[..., bool] | None = None,
                 fill_na: Any = _DEFAULT_FILL, **kwargs: Any) -> None:
        if not os.path.isfile(file_path):
            raise FastestValueError(f"CSVDataset: no file at {file_path!r}.")
        unknown = sorted(set(kwargs) - _CSV_OPTIONS - _PANDAS_OPTIONS)
        if unknown:
            raise FastestTypeError(f"CSVDataset does not support the option(s) {unknown}; it takes the csv module's "
                                   f"{sorted(_CSV_OPTIONS)} and pandas' {sorted(_PANDAS_OPTIONS)}.")
        columns = _read(file_path, kwargs.pop("sep", delimiter), kwargs)
        if fill_na is None or not (isinstance(fill_na, str) and fill_na == _DEFAULT_FILL):
            columns = {name: fill_missing(values, fill_na) for name, values in columns.items()}
        super().__init__(columns)
        self.file_path = file_path
        self.parent_path = os.path.dirname(file_path)
        if include_if is not None:
            caller = sys._getframe(1) if isinstance(include_if, str) else None  # for @variables in a query
            variables = {**caller.f_globals, **caller.f_locals} if caller is not None else {}
            self._keep(np.flatnonzero(self._include(include_if, variables)))
        self.data = {_clean_name(name): values for name, values in self.data.items()}

    def _include(self, include_if: Any, variables: dict[str, Any]) -> np.ndarray:
        if isinstance(include_if, str):
            return query_mask(include_if, self.data, variables)
        if isinstance(include_if, Mapping):
            mask = np.ones(len(self), dtype=bool)
            for column, wanted in include_if.items():
                self._check_column(column, f"include_if={include_if!r}")
                values = [wanted] if wanted is None or isinstance(wanted, (str, bytes)) or not isinstance(
                    wanted, Iterable) else list(wanted)
                mask &= isin(self.data[column], values)
            return mask
        if callable(include_if):
            parameters = inspect.signature(include_if).parameters.values()
            names = [p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            every = any(p.kind == p.VAR_KEYWORD for p in parameters)
            for name in names:
                self._check_column(name, "the include_if function", ValueError)
            keys = list(self.data) if every else names
            return np.array([bool(include_if(**{k: self.data[k][i] for k in keys})) for i in range(len(self))],
                            dtype=bool)
        raise FastestTypeError(f"CSVDataset include_if must be a dict, a query string or a function of columns, "
                               f"received {type(include_if).__name__}.")

    def _check_column(self, column: str, where: str, error: type = KeyError) -> None:
        if column in self.data:
            return
        match = closest_match(column, list(self.data))
        message = (f"CSVDataset {where} names column {column!r}, which {self.file_path!r} lacks; columns are "
                   f"{list(self.data)}." + (f" Did you mean {match!r}?" if match else ""))
        raise FastestValueError(message) if error is ValueError else FastestKeyError(message)


def _read(file_path: str, delimiter: str, options: dict[str, Any]) -> dict[str, np.ndarray]:
    na_values = set(NA_VALUES) if options.pop("keep_default_na", True) else set()
    extra = options.pop("na_values", None)
    na_values |= {extra} if isinstance(extra, str) else set(extra or ())
    usecols, nrows, dtype = options.pop("usecols", None), options.pop("nrows", None), options.pop("dtype", None)
    with open(file_path, newline="", encoding=options.pop("encoding", None)) as handle:
        rows = [row for row in csv.reader(handle, delimiter=delimiter, **options) if row]
    if not rows:
        raise FastestValueError(f"CSVDataset: {file_path!r} is empty; it needs a header row.")
    header, rows = _names(rows[0]), rows[1:nrows + 1 if nrows is not None else None]
    if not rows:
        raise FastestValueError(f"CSVDataset: {file_path!r} has a header row but no data rows.")
    columns = {name: parse_column([row[i] if i < len(row) else None for row in rows], na_values)
               for i, name in enumerate(header) if usecols is None or name in usecols}
    if dtype is not None:
        for name in columns:
            wanted = dtype.get(name) if isinstance(dtype, Mapping) else dtype
            if wanted is not None:
                columns[name] = columns[name].astype(wanted)
    return columns


def _names(header: list[str]) -> list[str]:
    """pandas' column names: ``Unnamed: i`` for blank ones, ``a.1`` for the second ``a``."""
    names: list[str] = []
    for i, name in enumerate(header):
        name = name if name.strip() else f"Unnamed: {i}"
        base, count = name, 1
        while name in names:
            name, count = f"{base}.{count}", count + 1
        names.append(name)
    return names


def _clean_name(name: str) -> str:
    return name.replace(":", "").replace("|", "").replace(";", "")
