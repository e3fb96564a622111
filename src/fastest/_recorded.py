"""Constructor arguments of fastest's ops, traces and datasets, remembered when they are built.

The Traceability report (``fastest.trace.traceability``) shows what every object was built with.
``Keyed`` (the base of ops, traces and slicers), ``FEDataset`` and ``TestCase`` inherit
:class:`Recorded`, whose ``__new__`` keeps the call's arguments in a table keyed by the object's id
until the object is freed. That is one dictionary entry per construction (a few microseconds); ops,
traces and datasets are built once per run, never per step, so training steps pay nothing. Copies (``copy.copy``, pickling into DataLoader workers) are
not recorded; :func:`constructor_arguments` then reads the attributes that mirror the arguments.
"""

from __future__ import annotations

import inspect
import weakref
from typing import Any

_ARGUMENTS: dict[int, tuple[tuple[Any, ...], dict[str, Any]]] = {}


class Recorded:
    """Mixin: an instance remembers the arguments of the call that built it."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        obj = super().__new__(cls)
        if args or kwargs:  # copies and unpickling call __new__ without arguments: nothing to keep
            key = id(obj)
            _ARGUMENTS[key] = (args, kwargs)
            weakref.finalize(obj, _ARGUMENTS.pop, key, None).atexit = False
        return obj


def constructor_arguments(obj: Any) -> tuple[dict[str, Any], bool]:
    """``({argument: value}, exact)`` for the constructor parameters of ``obj``'s class.

    ``exact`` is True when the values are the recorded arguments (defaults filled in). Otherwise, for
    objects built without arguments, copies, and classes without :class:`Recorded`, a parameter takes
    the value of the attribute of the same name when there is one, else its default; parameters with
    neither are left out.

    >>> from fastest.op.numpyop.univariate import Minmax
    >>> args, exact = constructor_arguments(Minmax(inputs="x", outputs="x"))
    >>> exact, args["inputs"], args["mode"]
    (True, 'x', None)
    """
    try:
        parameters = list(inspect.signature(type(obj).__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        return {}, False
    record = _ARGUMENTS.get(id(obj))
    if record is not None:
        signature = inspect.Signature(parameters)
        try:
            bound = signature.bind(*record[0], **record[1])
        except TypeError:
            pass
        else:
            bound.apply_defaults()
            return dict(bound.arguments), True
    values: dict[str, Any] = {}
    for parameter in parameters:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        try:
            values[parameter.name] = getattr(obj, parameter.name)
        except Exception:  # no such attribute (or a property that fails): the default, if any
            if parameter.default is not parameter.empty:
                values[parameter.name] = parameter.default
    return values, False
