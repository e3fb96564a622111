"""The Operator contract shared by NumpyOps (Pipeline) and TensorOps (Network).

An op reads the values of its ``inputs`` keys from a data dict, computes, and writes its return
values under its ``outputs`` keys. A single-string key passes the raw value; a list of keys passes
a list. ``mode`` and ``ds_id`` say when the op runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

from fastest._recorded import Recorded
from fastest.errors import FastestError, FastestTypeError, FastestValueError, add_location, closest_match
from fastest.op.step import location

MODES = ("train", "eval", "test", "infer")
_FORBIDDEN_KEY_CHARS = (":", ";")


class Filtered:
    """A dropped sample (or batch): what a ``RemoveIf`` op leads to, or what an op returns (as
    ``fastest.types.FilteredData``) to drop its sample."""

    __slots__ = ("replacement",)

    def __init__(self, replacement: bool) -> None:
        self.replacement = replacement


class FilteredData(Filtered):
    """Return this from a dataset's ``__getitem__`` (or an op) to drop the sample.

    Args:
        replacement: True: fill the batch with another sample (same steps per epoch); False: the epoch
            gets shorter.

    >>> FilteredData(), FilteredData(replacement=False).replacement
    (FilteredData, False)
    """

    __slots__ = ()

    def __init__(self, replacement: bool = True) -> None:
        super().__init__(replacement)

    def __repr__(self) -> str:
        return "FilteredData"


def to_list(keys: Any) -> list[Any]:
    """Keys as a list: None → [], "x" → ["x"], ("x", "y") → ["x", "y"].

    >>> to_list(3)
    Traceback (most recent call last):
    ...
    fastest.errors.FastestTypeError: expected a key (str) or a list of keys, received 3 (int).
    """
    if keys is None:
        return []
    if isinstance(keys, str):
        return [keys]
    if not isinstance(keys, Iterable) or isinstance(keys, Mapping):
        raise FastestTypeError(f"expected a key (str) or a list of keys, received {keys!r} ({type(keys).__name__}).")
    return list(keys)


def _keys(keys: Any, owner: str, what: str) -> list[Any]:
    try:
        return to_list(keys)
    except FastestTypeError as error:
        raise FastestTypeError(f"{owner}: {what} {error}") from None


def _check_keys(keys: list[str], owner: str, what: str) -> None:
    for key in keys:
        if not isinstance(key, str) or not key:
            raise FastestValueError(f"{owner}: every {what} key must be a non-empty string, received {key!r}.")
        if any(c in key for c in _FORBIDDEN_KEY_CHARS) or key.count("|") > 1:
            raise FastestValueError(
                f"{owner}: {what} key {key!r} may not contain ':' or ';' and at most one '|' "
                "('|' is reserved for per-dataset names such as 'accuracy|ds1')."
            )


def parse_modes(mode: str | Iterable[str] | None, owner: str = "op") -> frozenset[str] | None:
    """The set of modes an op or trace runs in; None means every mode.

    >>> sorted(parse_modes("!train"))
    ['eval', 'infer', 'test']
    >>> sorted(parse_modes({"eval", "test"}))
    ['eval', 'test']
    >>> parse_modes(None) is None
    True
    """
    if mode is None:
        return None
    modes = set(_keys(mode, owner, "mode"))
    negated = {m[1:] for m in modes if m.startswith("!")}
    plain = {m for m in modes if not m.startswith("!")}
    if negated and plain:
        raise FastestValueError(
            f"{owner}: mode {sorted(modes)} mixes '!mode' with 'mode'. Use either a whitelist like "
            "{'eval', 'test'} or a blacklist like {'!train', '!infer'}."
        )
    unknown = (negated | plain) - set(MODES)
    if unknown:
        first = sorted(unknown)[0]
        match = closest_match(first, MODES)
        raise FastestValueError(
            f"{owner}: unknown mode(s) {sorted(unknown)}. Valid modes are {list(MODES)}, optionally prefixed with '!'."
            + (f" Did you mean {match!r}?" if match else "")
        )
    return frozenset(set(MODES) - negated) if negated else frozenset(plain)


class DsIdFilter:
    """Which dataset ids an item runs for: a whitelist, a '!'-blacklist, or all (None)."""

    __slots__ = ("ids", "negated")

    def __init__(self, ds_id: str | Iterable[str] | None, owner: str = "op") -> None:
        ids = set(to_list(ds_id))
        negated = {i[1:] for i in ids if i.startswith("!")}
        plain = {i for i in ids if not i.startswith("!")}
        if negated and plain:
            raise FastestValueError(
                f"{owner}: ds_id {sorted(ids)} mixes '!ds_id' with 'ds_id'. Use a whitelist or a blacklist, not both."
            )
        for i in negated | plain:
            if not i or any(c in i for c in ":;|!"):
                raise FastestValueError(
                    f"{owner}: dataset id {i!r} must be a non-empty string without ':', ';', '|' or '!'."
                )
        self.negated = bool(negated)
        self.ids = frozenset(negated or plain)

    def matches(self, ds_id: str) -> bool:
        """True if the item runs for ``ds_id``. The single-dataset id '' only matches blacklists."""
        if not self.ids:
            return True
        return (ds_id not in self.ids) if self.negated else (ds_id in self.ids)


class Keyed(Recorded):
    """What Ops and Traces share: the keys they read and write, and when they run.

    Args:
        inputs: Key or list of keys to read.
        outputs: Key or list of keys to write.
        mode: Modes to run in: None (all), "train", {"eval", "test"}, "!infer" …
        ds_id: Dataset ids to run for: None (all), "ds1", {"!ds1"} …
    """

    def __init__(
        self,
        inputs: str | Iterable[str] | None = None,
        outputs: str | Iterable[str] | None = None,
        mode: str | Iterable[str] | None = None,
        ds_id: str | Iterable[str] | None = None,
    ) -> None:
        owner = type(self).__name__
        self.inputs = _keys(inputs, owner, "inputs:")
        self.outputs = _keys(outputs, owner, "outputs:")
        _check_keys([k for k in self.inputs if k != "*"], owner, "input")
        _check_keys(self.outputs, owner, "output")
        self.mode = parse_modes(mode, owner)
        self.ds_id = DsIdFilter(ds_id, owner)

    def runs_in(self, mode: str, ds_id: str = "") -> bool:
        """True if this runs in ``mode`` for dataset ``ds_id``."""
        return (self.mode is None or mode in self.mode) and self.ds_id.matches(ds_id)


class Op(Keyed):
    """The base of every Operator: declared keys, modes and dataset ids, and ``forward``.

    Subclasses override ``forward(data, state)``. ``data`` is the value of the single input key, a
    list of the values of the input keys (when ``inputs`` is a list), or None without inputs.
    ``forward`` returns one value per output key: the bare value for a single-string ``outputs``, a
    list or tuple otherwise. ``state`` is the read-only :class:`~fastest.op.step.StepContext`
    (``mode``, ``epoch``, ``ds_id``, ``warmup`` …, FastEstimator's keys).

    Args:
        inputs: Key or list of keys to read.
        outputs: Key or list of keys to write.
        mode: Modes to run in: None (all), "train", {"eval", "test"}, "!infer" …
        ds_id: Dataset ids to run for: None (all), "ds1", {"!ds1"} …

    >>> class Double(Op):
    ...     def forward(self, data, state):
    ...         return data * 2
    >>> from fastest.op.step import StepContext
    >>> op = Double(inputs="x", outputs="x2", mode="!infer")
    >>> store = {"x": 3}
    >>> run_op(op, store, StepContext("train"))
    >>> store["x2"]
    6
    """

    def __init__(
        self,
        inputs: str | Iterable[str] | None = None,
        outputs: str | Iterable[str] | None = None,
        mode: str | Iterable[str] | None = None,
        ds_id: str | Iterable[str] | None = None,
    ) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode, ds_id=ds_id)
        self.in_list = not isinstance(inputs, str)
        self.out_list = not isinstance(outputs, str)

    def forward(self, data: Any, state: Mapping[str, Any]) -> Any:
        """Compute the outputs from the inputs. The default passes the inputs through."""
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}(inputs={self.inputs}, outputs={self.outputs})"


class LambdaBase(Op):
    """``fn(*values)`` over the input values; the NumpyOp and TensorOp ``LambdaOp`` are this."""

    def __init__(
        self,
        fn: Callable[..., Any],
        inputs: str | Iterable[str] | None = None,
        outputs: str | Iterable[str] | None = None,
        mode: str | Iterable[str] | None = None,
        ds_id: str | Iterable[str] | None = None,
    ) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode, ds_id=ds_id)
        if not callable(fn):
            raise FastestTypeError(f"LambdaOp needs a callable `fn`, received {type(fn).__name__}.")
        self.fn = fn
        self.in_list = True

    def forward(self, data: list[Any], state: Mapping[str, Any]) -> Any:
        return self.fn(*data)


class DeleteBase(Op):
    """Removes keys (the runners drop them); the NumpyOp and TensorOp ``Delete`` are this."""

    deletes = True

    def __init__(
        self,
        keys: str | Iterable[str],
        mode: str | Iterable[str] | None = None,
        ds_id: str | Iterable[str] | None = None,
    ) -> None:
        super().__init__(inputs=keys, mode=mode, ds_id=ds_id)


def gather_inputs(op: Op, store: MutableMapping[str, Any]) -> Any:
    """The value ``op.forward`` receives: a bare value for a single key, else a list."""
    if op.in_list:
        return [store[key] for key in op.inputs]
    return store[op.inputs[0]]


def write_outputs(op: Op, store: MutableMapping[str, Any], result: Any) -> None:
    """Write ``result`` under ``op.outputs``; a count mismatch is an error, never a silent zip."""
    if not op.outputs:
        return
    if not op.out_list:
        store[op.outputs[0]] = result
        return
    if not isinstance(result, (list, tuple)) or len(result) != len(op.outputs):
        got = f"{len(result)} values" if isinstance(result, (list, tuple)) else f"a single {type(result).__name__}"
        raise FastestValueError(
            f"{type(op).__name__}.forward returned {got}, but the op declares {len(op.outputs)} outputs "
            f"{op.outputs}. Return exactly one value per output key (a list or tuple), or change `outputs`."
        )
    for key, value in zip(op.outputs, result):
        store[key] = value


def get_inputs_by_op(op: Op, store: MutableMapping[str, Any], copy_on_write: bool = False) -> Any:
    """FastEstimator's name for :func:`gather_inputs`; ``copy_on_write`` first replaces read-only arrays in
    ``store`` by writable copies (for ops that edit their inputs in place).

    >>> get_inputs_by_op(Op(inputs=["x", "y"]), {"x": 1, "y": 2})
    [1, 2]
    """
    if copy_on_write:
        for key in op.inputs:
            flags = getattr(store[key], "flags", None)
            if flags is not None and not getattr(flags, "writeable", True):
                store[key] = store[key].copy()
    return gather_inputs(op, store)


def write_outputs_by_op(op: Op, store: MutableMapping[str, Any], outputs: Any) -> None:
    """FastEstimator's name for :func:`write_outputs`.

    >>> store = {}
    >>> write_outputs_by_op(Op(outputs=["x", "y"]), store, [1, 2])
    >>> store
    {'x': 1, 'y': 2}
    """
    write_outputs(op, store, outputs)


def removed_keys(op: Any) -> list[str]:
    """Keys an op takes out of the data: a ``Delete``'s keys, or the outside keys a ``Fuse`` deletes."""
    return list(op.inputs) if getattr(op, "deletes", False) else list(getattr(op, "deleted_keys", ()))


def keys_after(op: Any, keys: set[str]) -> set[str]:
    """The keys present after ``op`` ran on data with ``keys``.

    >>> sorted(keys_after(Op(inputs="x", outputs="y"), {"x"}))
    ['x', 'y']
    """
    return (keys | set(op.outputs)) - set(removed_keys(op))


def run_op(op: Op, store: MutableMapping[str, Any], state: Mapping[str, Any], method: str = "forward",
           sample: str = "") -> Filtered | None:
    """Run one op on ``store`` in place (``Delete``-style ops remove their keys); returns the
    :class:`Filtered` marker an op returned to drop the sample (nothing is written then), else None.

    An exception from the op keeps its type and gets the op, method, run context (``sample`` too, e.g.
    "sample 40 of NumpyDataset") and, for errors not raised by fastest, its inputs' kinds and shapes in
    its message.
    """
    if getattr(op, "deletes", False):
        for key in op.inputs:
            store.pop(key, None)
        return None
    try:
        result = getattr(op, method)(gather_inputs(op, store), state)
        if isinstance(result, Filtered):
            return result
        write_outputs(op, store, result)
    except Exception as error:
        where = location(state) + (f", {sample}" if sample else "")
        if not isinstance(error, FastestError) and op.inputs:
            kinds = [describe_value(store[key]) if key in store else "missing" for key in op.inputs]
            where += "; inputs " + ", ".join(f"{key!r}: {kind}" for key, kind in zip(op.inputs, kinds))
            where += _hint(str(error), kinds)
        add_location(error, f"{type(op).__name__}.{method}", where)
        raise
    for key in getattr(op, "deleted_keys", ()):  # a Fuse that deletes keys from outside it
        store.pop(key, None)
    return None


def _hint(message: str, kinds: list[str]) -> str:
    """What to do about a few errors torch raises deep inside an op, judged from its message and inputs."""
    if "Double" in message and any(kind.startswith("float64") for kind in kinds):
        return "; float64 data meets float32 weights: cast it, e.g. x.astype('float32') in the dataset"
    if "out of bounds" in message and any(kind.startswith(("int", "uint")) for kind in kinds):
        return "; a class label is outside [0, number of classes): check the labels (1-based labels need y - 1)"
    return ""


def describe_value(value: Any) -> str:
    """A short description of a value for error messages: its kind, dtype and shape.

    >>> import numpy as np
    >>> describe_value(np.zeros((16, 4)))
    'float64 array (16, 4)'
    >>> describe_value(["cat", "dog"])
    'list of 2 str'
    """
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        kind = "tensor" if type(value).__module__.startswith("torch") else "array"
        return f"{str(dtype).replace('torch.', '')} {kind} {tuple(shape)}"
    if isinstance(value, (list, tuple)):
        kinds = sorted({type(v).__name__ for v in value})
        return f"{type(value).__name__} of {len(value)} {'/'.join(kinds) or 'items'}"
    return type(value).__name__


def check_op_types(ops: Iterable[Any], expected: type, owner: str) -> None:
    """Raise a clear TypeError if any op is not an instance of ``expected`` (Schedulers are checked later)."""
    for op in ops:
        if op is not None and not isinstance(op, expected) and not hasattr(op, "get_current_value"):
            if expected.__name__ == "NumpyOp":
                fix = "Move it to the Network's ops." if isinstance(op, Op) else "Wrap a function in LambdaOp(fn=...)."
            else:
                fix = ("Move it to the Pipeline's ops (NumpyOps run on samples in the Pipeline)." if isinstance(op, Op)
                       else "Wrap a function in fastest.op.tensorop.LambdaOp(fn=...).")
            names = {cls.__name__ for cls in type(op).__mro__}  # (op.py cannot import the op kinds)
            kind = "a NumpyOp" if "NumpyOp" in names else (
                "a TensorOp" if isinstance(op, Op) else f"a {type(op).__name__}")
            raise FastestTypeError(
                f"{owner} received {type(op).__name__} ({kind}) in its ops, but expects {expected.__name__}s. {fix}"
            )
