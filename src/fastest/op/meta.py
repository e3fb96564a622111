"""Meta ops: ops that run other ops. One implementation serves NumpyOps and TensorOps.

``fastest.op.numpyop.meta`` and ``fastest.op.tensorop.meta`` mix these bases with ``NumpyOp`` or
``TensorOp``; the mix-in supplies ``op_type`` (what may be wrapped) and ``random()`` (a float in
[0, 1): numpy's generator for NumpyOps, torch's for TensorOps).

A meta op declares the keys its wrapped ops read and write, receives their values as a list, runs
the wrapped ops on a small local dict (``run_ops_in``), and returns the values of its outputs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any, ClassVar

import numpy as np

from fastest.errors import FastestTypeError, FastestValueError
from fastest.op.numpyop.numpyop import Batch
from fastest.op.op import Filtered, Op, removed_keys, run_op, to_list


def run_ops_in(ops: Sequence[Op], store: MutableMapping[str, Any], state: Mapping[str, Any], method: str,
               retain: bool = False) -> Filtered | None:
    """Run ``ops`` in order on ``store``: ``Delete``-style ops remove keys, the others run through ``run_op``.

    Returns the :class:`~fastest.op.op.Filtered` marker of an op that dropped the sample (the ops after it
    do not run), else None.

    Inside a Network step, every gradient op but the last of the sequence keeps the autograd graph;
    the last keeps it if the meta op itself must (or ``retain``, for repeats).
    """
    engine = getattr(state, "_engine", None)
    gradient_ops = [i for i, op in enumerate(ops) if getattr(op, "computes_gradients", False)]
    if engine is None or not gradient_ops:
        for op in ops:
            if (marker := run_op(op, store, state, method)) is not None:
                return marker
        return None
    outer = engine.retain_graph
    try:
        for i, op in enumerate(ops):
            engine.retain_graph = bool(outer or retain or i != gradient_ops[-1])
            if (marker := run_op(op, store, state, method)) is not None:
                return marker
    finally:
        engine.retain_graph = outer
    return None


def _same_filter(a: Any, b: Any) -> bool:
    return a.mode == b.mode and (a.ds_id.ids, a.ds_id.negated) == (b.ds_id.ids, b.ds_id.negated)


class MetaOp(Op):
    """Shared behaviour of the meta ops; ``self.ops`` holds the wrapped ops."""

    op_type: ClassVar[type[Op]]
    random: Callable[[], float]

    def _setup(self, ops: Sequence[Any], inputs: list[str], outputs: list[str], allow_delete: bool = False) -> None:
        """Check the wrapped ops, then declare keys and take mode/ds_id from the first op."""
        owner = type(self).__name__
        if not ops:
            raise FastestValueError(f"{owner} needs at least one op to wrap, received none.")
        for op in ops:
            if isinstance(op, Batch):
                raise FastestValueError(
                    f"{owner} cannot wrap a Batch op: batching is a Pipeline setting, not an op that may be skipped, "
                    "repeated or chosen at random. Put Batch directly in Pipeline(ops=[...])."
                )
            if not isinstance(op, self.op_type):
                raise FastestTypeError(
                    f"{owner} from {type(self).__module__} wraps {self.op_type.__name__}s, received "
                    f"{type(op).__name__}. Use the meta ops of fastest.op.numpyop.meta for the Pipeline and of "
                    "fastest.op.tensorop.meta for the Network."
                )
            deleting = removed_keys(op)
            if (deleting or getattr(op, "deletes", False)) and not allow_delete:
                raise FastestValueError(
                    f"{owner} cannot wrap {type(op).__name__}, which deletes {deleting}: keys deleted at random or "
                    f"repeatedly would differ between samples. Delete them with a plain Delete op after the {owner} "
                    "(a Fuse may delete the temporary keys it creates itself)."
                )
            if not _same_filter(op, ops[0]):
                raise FastestValueError(
                    f"All ops inside {owner} must share mode and ds_id, but {type(ops[0]).__name__} has "
                    f"mode={_modes(ops[0])}, ds_id={_ids(ops[0])} and {type(op).__name__} has "
                    f"mode={_modes(op)}, ds_id={_ids(op)}. Set mode/ds_id on every wrapped op alike."
                )
        super().__init__(inputs=inputs, outputs=outputs)
        self.mode = ops[0].mode
        self.ds_id = ops[0].ds_id
        self.ops = list(ops)

    @property
    def op(self) -> Op:
        """The (first) wrapped op, as FastEstimator's ``Sometimes.op`` and ``Repeat.op``."""
        return self.ops[0]

    def forward(self, data: list[Any], state: Mapping[str, Any]) -> list[Any] | Filtered:
        return self._run(data, state, "forward")

    def forward_batch(self, data: list[Any], state: Mapping[str, Any]) -> list[Any] | Filtered:
        return self._run(data, state, "forward_batch")

    def _run(self, data: list[Any], state: Mapping[str, Any], method: str) -> list[Any] | Filtered:
        store = dict(zip(self.inputs, data))
        marker = self.run_local(store, state, method)
        if marker is not None:  # a wrapped op dropped the sample (FastEstimator's FilteredData): pass it up
            return marker
        return [store[key] for key in self.outputs]

    def run_local(self, store: dict[str, Any], state: Mapping[str, Any], method: str) -> Filtered | None:
        """Run the wrapped ops on ``store`` (the subclass decides which and how often); returns the
        :class:`~fastest.op.op.Filtered` marker of a wrapped op that dropped the sample, else None."""
        raise NotImplementedError

    def set_rua_level(self, magnitude_coef: float) -> None:
        """Pass RUA's strength to every wrapped op (each must have ``set_rua_level``)."""
        for op in self.ops:
            if not callable(getattr(op, "set_rua_level", None)):
                raise FastestTypeError(f"RUA needs set_rua_level on every op, but {type(op).__name__} has none.")
            op.set_rua_level(magnitude_coef)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(repr(op) for op in getattr(self, 'ops', []))})"


def _modes(op: Any) -> Any:
    return None if op.mode is None else sorted(op.mode)


def _ids(op: Any) -> Any:
    return None if not op.ds_id.ids else sorted(("!" if op.ds_id.negated else "") + i for i in op.ds_id.ids)


class SometimesBase(MetaOp):
    """Run ``op`` with probability ``prob``; its outputs are read too, so they keep their values when skipped."""

    def __init__(self, op: Op, prob: float = 0.5) -> None:
        if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0.0 <= prob <= 1.0:
            raise FastestValueError(f"{type(self).__name__}: prob must be a number in [0, 1], received {prob!r}.")
        inputs = list(getattr(op, "inputs", []))
        outputs = list(getattr(op, "outputs", []))
        self._setup([op], inputs + [k for k in outputs if k not in inputs], outputs)
        self.prob = float(prob)

    def run_local(self, store: dict[str, Any], state: Mapping[str, Any], method: str) -> Filtered | None:
        if self.random() < self.prob:
            return run_ops_in(self.ops, store, state, method)
        return None


class OneOfBase(MetaOp):
    """Run one of ``ops``, chosen uniformly or with ``probs``; all ops share inputs, outputs, mode, ds_id."""

    def __init__(self, *ops: Op, probs: Sequence[float] | None = None) -> None:
        owner = type(self).__name__
        if len(ops) == 1 and isinstance(ops[0], (list, tuple)):
            ops = tuple(ops[0])
        if ops:
            first = ops[0]
            for op in ops[1:]:
                if isinstance(op, Op) and isinstance(first, Op) and (op.inputs, op.outputs) != (first.inputs, first.outputs):
                    raise FastestValueError(
                        f"All ops inside {owner} must share inputs and outputs, but {type(first).__name__} has "
                        f"inputs={first.inputs}, outputs={first.outputs} and {type(op).__name__} has "
                        f"inputs={op.inputs}, outputs={op.outputs}."
                    )
        keys = (list(ops[0].inputs), list(ops[0].outputs)) if ops and isinstance(ops[0], Op) else ([], [])
        self._setup(list(ops), *keys)
        self.probs = None if probs is None else self._check_probs(list(probs), len(ops))

    def _check_probs(self, probs: list[float], count: int) -> np.ndarray:
        owner = type(self).__name__
        if len(probs) != count:
            raise FastestValueError(f"{owner}: got {len(probs)} probs for {count} ops; give one probability per op.")
        if any(p < 0 for p in probs):
            raise FastestValueError(f"{owner}: probs must be non-negative, received {probs}.")
        total = float(sum(probs))
        if not np.isclose(total, 1.0):
            raise FastestValueError(f"{owner}: probs must sum to 1, but {probs} sums to {total:g}.")
        return np.cumsum(probs) / total

    def choose(self) -> Op:
        """One of the ops, drawn with ``probs`` (uniformly without)."""
        draw = self.random()
        if self.probs is None:
            index = min(int(draw * len(self.ops)), len(self.ops) - 1)
        else:
            index = min(int(np.searchsorted(self.probs, draw, side="right")), len(self.ops) - 1)
        return self.ops[index]

    def run_local(self, store: dict[str, Any], state: Mapping[str, Any], method: str) -> Filtered | None:
        return run_ops_in([self.choose()], store, state, method)


class RepeatBase(MetaOp):
    """Run ``op`` ``repeat`` times, or while ``repeat(*values)`` is True (at least once, at most ``max_iter``).

    Inputs are the op's inputs plus the keys the ``repeat`` callable reads that the op does not write
    (FastEstimator's rule): the op runs at least once, so its outputs need not exist beforehand.
    """

    def __init__(self, op: Op, repeat: int | Callable[..., bool] = 1, max_iter: int | None = None) -> None:
        owner = type(self).__name__
        self.repeat_inputs: list[str] = []
        if isinstance(repeat, bool) or not (isinstance(repeat, int) or callable(repeat)):
            raise FastestTypeError(f"{owner}: repeat must be an int or a callable, received {type(repeat).__name__}.")
        if isinstance(repeat, int):
            if repeat < 1:
                raise FastestValueError(f"{owner}: repeat must be >= 1, received {repeat}.")
            if max_iter is not None:
                raise FastestValueError(
                    f"{owner}: max_iter only applies when repeat is a callable; with repeat={repeat} leave it None."
                )
        else:
            parameters = inspect.signature(repeat).parameters.values()
            if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
                raise FastestValueError(f"{owner}: the repeat callable must name its data keys as arguments, not *args.")
            self.repeat_inputs = [p.name for p in parameters]
            if max_iter is not None and (isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1):
                raise FastestValueError(f"{owner}: max_iter must be a positive int or None, received {max_iter!r}.")
        inputs = list(getattr(op, "inputs", []))
        outputs = list(getattr(op, "outputs", []))
        extra = [k for k in self.repeat_inputs if k not in inputs and k not in outputs]
        self._setup([op], inputs + extra, outputs)
        self.repeat = repeat
        self.max_iter = max_iter

    def run_local(self, store: dict[str, Any], state: Mapping[str, Any], method: str) -> Filtered | None:
        if isinstance(self.repeat, int):
            for i in range(self.repeat):
                if (marker := run_ops_in(self.ops, store, state, method, retain=i < self.repeat - 1)) is not None:
                    return marker
            return None
        if (marker := run_ops_in(self.ops, store, state, method, retain=True)) is not None:
            return marker
        count = 1
        while (self.max_iter is None or count < self.max_iter) and self.repeat(*[store[k] for k in self.repeat_inputs]):
            if (marker := run_ops_in(self.ops, store, state, method, retain=True)) is not None:
                return marker
            count += 1
        return None


class FuseBase(MetaOp):
    """Run a sequence of ops as one op; its keys are computed from the sequence, honouring ``Delete``.

    Inputs are the keys read before any op of the sequence writes them; outputs are the keys written
    and not deleted afterwards. Keys from outside the Fuse (not written by an op of it before their
    Delete) that a Delete removes and no later op writes again are its ``deleted_keys``: the Pipeline
    and the Network remove them from the data after the Fuse runs, as the Delete would outside a Fuse.
    Keys the sequence creates and deletes itself (temporaries) never leave the Fuse.

    Attributes:
        deleted_keys: The outside keys the Fuse removes from the data.
    """

    def __init__(self, ops: Op | Sequence[Op]) -> None:
        ops_list = to_list(ops) if not isinstance(ops, Op) else [ops]
        inputs: list[str] = []
        outputs: list[str] = []
        deleted: dict[str, None] = {}  # an ordered set
        outside: dict[str, bool] = {}  # key → came from outside (read or deleted before any op wrote it)
        for op in ops_list:
            if not isinstance(op, Op):
                continue  # _setup reports the type error
            if getattr(op, "deletes", False):
                removed = list(op.inputs)
            else:
                for key in op.inputs:
                    if key in deleted:
                        raise FastestValueError(
                            f"{type(self).__name__}: {type(op).__name__} reads {key!r}, which an earlier Delete in "
                            "the same Fuse removed. Move the Delete after it."
                        )
                    if key not in outputs and key not in inputs:
                        inputs.append(key)
                    outside.setdefault(key, True)
                for key in op.outputs:
                    if key not in outputs:
                        outputs.append(key)
                    outside.setdefault(key, False)
                    deleted.pop(key, None)
                removed = list(getattr(op, "deleted_keys", ()))  # a nested Fuse
            for key in removed:
                if key in outputs:
                    outputs.remove(key)
                deleted[key] = None
                outside.setdefault(key, True)
        self._setup(ops_list, inputs, outputs, allow_delete=True)
        self.deleted_keys = [key for key in deleted if outside[key]]

    def run_local(self, store: dict[str, Any], state: Mapping[str, Any], method: str) -> Filtered | None:
        return run_ops_in(self.ops, store, state, method)
