"""Row filters written as pandas ``DataFrame.query`` strings, evaluated on numpy columns (no pandas needed).

The expression is parsed with :mod:`ast` and evaluated column-wise, never with ``eval``: names are
columns (``\\`odd name\\``` in backticks when they are not identifiers), ``@name`` is a variable of the
caller, and the operators are pandas': ``and``/``&``, ``or``/``|``, ``not``/``~``, comparisons (chained
too), ``in`` / ``not in`` a list or column, and arithmetic. As in pandas, ``&`` and ``|`` bind more loosely
than comparisons, and a comparison with a missing value (NaN or None) is False.

>>> columns = {"mode": np.array(["train", "eval", "test"], dtype=object), "type": np.array([0.0, 2.0, np.nan])}
>>> query_mask("type >= 1 | mode == 'train'", columns).tolist()
[True, True, False]
>>> query_mask("mode in ['eval', 'test'] and not type > 1", columns).tolist()
[False, False, True]
"""

from __future__ import annotations

import ast
import io
import operator
import re
import tokenize
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from fastest.errors import FastestKeyError, FastestValueError, closest_match

_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_ARITHMETIC: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_LOCAL_PREFIX, _BACKTICK_PREFIX = "__fastest_local_", "__fastest_column_"


def query_mask(expression: str, columns: Mapping[str, np.ndarray],
               local_variables: Mapping[str, Any] | None = None) -> np.ndarray:
    """Which rows satisfy a pandas-style query ``expression``, as a bool array.

    Args:
        expression: The query, e.g. ``"type >= 1 and mode != 'test'"``.
        columns: ``{column name: 1-D array}``, all of one length.
        local_variables: Values for ``@name`` references.
    """
    size = len(next(iter(columns.values()))) if columns else 0
    names: dict[str, Any] = dict(columns)
    backticked: list[str] = []

    def name_backtick(match: re.Match[str]) -> str:
        backticked.append(match.group(1))
        return f"{_BACKTICK_PREFIX}{len(backticked) - 1}"

    source = re.sub(r"`([^`]*)`", name_backtick, expression.strip())
    source = re.sub(r"@([A-Za-z_]\w*)", _LOCAL_PREFIX + r"\1", source)
    for i, column in enumerate(backticked):
        names[f"{_BACKTICK_PREFIX}{i}"] = _lookup(column, columns, expression)
    try:
        tree = ast.parse(_loosen_bitwise(source), mode="eval")
    except SyntaxError as error:
        raise FastestValueError(f"include_if query {expression!r} is not a valid expression: {error.msg}.") from None
    evaluator = _Evaluator(names, dict(local_variables or {}), expression)
    result = np.asarray(evaluator.visit(tree.body))
    if result.dtype != bool:
        raise FastestValueError(
            f"include_if query {expression!r} must give True/False per row, it gave values of dtype {result.dtype}."
        )
    return np.broadcast_to(result, (size,)).copy()


def _loosen_bitwise(source: str) -> str:
    """``&`` → ``and``, ``|`` → ``or`` (pandas' precedence: ``a == 1 & b == 2`` is two comparisons)."""
    tokens = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.OP and token.string in ("&", "|"):
            token = token._replace(string=" and " if token.string == "&" else " or ")
        tokens.append((token.type, token.string))
    return tokenize.untokenize(tokens)


def _lookup(name: str, columns: Mapping[str, np.ndarray], expression: str) -> np.ndarray:
    if name not in columns:
        match = closest_match(name, list(columns))
        raise FastestKeyError(f"include_if query {expression!r} names {name!r}, which is not a column; columns are "
                              f"{list(columns)}." + (f" Did you mean {match!r}?" if match else ""))
    return columns[name]


def _missing(values: Any) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind == "f":
        return np.isnan(array)
    if array.dtype == object:
        return np.array([v is None or (isinstance(v, float) and v != v) for v in array.ravel()],
                        dtype=bool).reshape(array.shape)
    return np.zeros(array.shape, dtype=bool)


class _Evaluator(ast.NodeVisitor):
    def __init__(self, names: dict[str, Any], local_variables: dict[str, Any], expression: str) -> None:
        self.names, self.local_variables, self.expression = names, local_variables, expression

    def generic_visit(self, node: ast.AST) -> Any:
        raise FastestValueError(
            f"include_if query {self.expression!r} uses {ast.unparse(node)!r}, which fastest's query support does "
            "not handle (columns, constants, @variables, comparisons, in, and/or/not, arithmetic). Pass a function "
            "of the columns instead, e.g. include_if=lambda mode: mode.startswith('tr')."
        )

    def visit_Constant(self, node: ast.Constant) -> Any:
        return node.value

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id.startswith(_LOCAL_PREFIX):
            name = node.id[len(_LOCAL_PREFIX):]
            if name not in self.local_variables:
                raise FastestKeyError(f"include_if query {self.expression!r} uses @{name}, which is not a variable "
                                      "where CSVDataset was created.")
            return self.local_variables[name]
        return _lookup(node.id, self.names, self.expression)

    def visit_List(self, node: ast.List | ast.Tuple) -> Any:
        return [self.visit(element) for element in node.elts]

    visit_Tuple = visit_List

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        result = self._boolean(self.visit(node.values[0]))
        for value in node.values[1:]:
            result = combine(result, self._boolean(self.visit(value)))
        return result

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        operand = self.visit(node.operand)
        if isinstance(node.op, (ast.Not, ast.Invert)):
            return np.logical_not(self._boolean(operand))
        if isinstance(node.op, ast.USub):
            return -np.asarray(operand) if isinstance(operand, (list, np.ndarray)) else -operand
        return operand

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        if type(node.op) not in _ARITHMETIC:
            return self.generic_visit(node)
        left, right = self.visit(node.left), self.visit(node.right)
        return _ARITHMETIC[type(node.op)](_as_array(left), _as_array(right))

    def visit_Compare(self, node: ast.Compare) -> Any:
        result: Any = True
        left = self.visit(node.left)
        for op, right_node in zip(node.ops, node.comparators):
            right = self.visit(right_node)
            result = np.logical_and(result, self._compare(op, left, right))
            left = right
        return result

    def _compare(self, op: ast.cmpop, left: Any, right: Any) -> Any:
        if isinstance(op, (ast.In, ast.NotIn)):
            found = _isin(left, right)
            return np.logical_not(found) if isinstance(op, ast.NotIn) else found
        if type(op) not in _COMPARE:
            return self.generic_visit(op)
        left_array, right_array = _as_array(left), _as_array(right)
        try:
            with np.errstate(invalid="ignore"):
                result = np.asarray(_COMPARE[type(op)](left_array, right_array), dtype=bool)
        except TypeError:  # an object column mixing types: compare cell by cell
            pairs = np.broadcast(left_array, right_array)
            result = np.array([_safe(_COMPARE[type(op)], a, b) for a, b in pairs], dtype=bool).reshape(pairs.shape)
        missing = _missing(left_array) | _missing(right_array)
        return np.where(missing, isinstance(op, ast.NotEq), result)

    def _boolean(self, value: Any) -> np.ndarray:
        array = np.asarray(value)
        if array.dtype != bool:
            raise FastestValueError(f"include_if query {self.expression!r}: and/or/not need True/False values, "
                                    f"received values of dtype {array.dtype}.")
        return array


def _as_array(value: Any) -> Any:
    return np.asarray(value) if isinstance(value, list) else value


def _safe(compare: Callable[[Any, Any], Any], a: Any, b: Any) -> bool:
    try:
        return bool(compare(a, b))
    except TypeError:
        return False


def _isin(left: Any, right: Any) -> np.ndarray:
    """``left in right`` element-wise, missing values matching missing values (pandas' ``isin``)."""
    wanted = list(right) if isinstance(right, (list, tuple, set, np.ndarray)) else [right]
    return isin(np.asarray(left, dtype=object) if isinstance(left, list) else left, wanted)


def isin(values: Any, wanted: list[Any]) -> np.ndarray:
    """Which of ``values`` are among ``wanted``; NaN and None each match NaN and None.

    >>> isin(np.array([1.0, np.nan, 2.0]), [2, None]).tolist()
    [False, True, True]
    """
    array = np.asarray(values)
    want_missing = any(_missing(np.asarray([w], dtype=object))[0] for w in wanted)
    present = [w for w in wanted if not _missing(np.asarray([w], dtype=object))[0]]
    flat = array.ravel()
    found = np.array([_member(v, present) for v in flat], dtype=bool).reshape(array.shape)
    return np.where(_missing(array), want_missing, found)


def _member(value: Any, present: list[Any]) -> bool:
    try:
        return value in present
    except (TypeError, ValueError):
        return False
