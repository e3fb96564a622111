"""The errors fastest raises for user mistakes.

Every error subclasses :class:`FastestError` and the builtin a user would expect (``KeyError`` for a
missing key, ``ValueError`` for a bad argument, ``TypeError`` for a wrong type), so
``except KeyError`` keeps working. FastEstimator 1.7 checked arguments with ``assert``; the key, value
and type errors are also ``AssertionError`` subclasses, so FastEstimator code that catches
``AssertionError`` keeps working too. Messages say what was received, what was expected and what to do.

>>> issubclass(FastestValueError, ValueError) and issubclass(FastestValueError, AssertionError)
True
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class FastestError(Exception):
    """Base class of every error fastest raises on purpose."""

    def __str__(self) -> str:  # KeyError would otherwise print the message in quotes
        return str(self.args[0]) if self.args else ""


class FastestKeyError(FastestError, KeyError, AssertionError):
    """A data key that an op or trace reads is not produced by anything before it."""


class FastestValueError(FastestError, ValueError, AssertionError):
    """An argument has the right type but a wrong value."""


class FastestTypeError(FastestError, TypeError, AssertionError):
    """An argument has the wrong type."""


class FastestRuntimeError(FastestError, RuntimeError):
    """Something the run needs is impossible with the data or settings given (e.g. no pair to draw)."""


def add_location(error: BaseException, who: str, context: str) -> None:
    """Prefix ``error``'s message with where it happened: ``who`` (op or trace and method) and the run context.

    The exception keeps its type, traceback and ``__cause__``, so ``except ValueError`` still catches a
    ValueError raised inside a user's op; re-raise it with a bare ``raise``. Only the innermost location
    is added (an op inside a meta op names the inner op). An ``OSError`` with an errno gets it in its
    ``strerror``; any other message that ignores ``args`` gets it as a note.

    >>> error = ValueError("negative size")
    >>> add_location(error, "Crop.forward", "mode='train', epoch=2")
    >>> str(error)
    "Crop.forward failed (mode='train', epoch=2): negative size"
    """
    if getattr(error, "fastest_where", None) is not None:
        return
    prefix = f"{who} failed ({context}): "
    error.fastest_where = prefix  # type: ignore[attr-defined]
    if isinstance(error, OSError) and error.strerror is not None:  # "[Errno 2] <strerror>: 'path'"
        error.strerror = prefix + error.strerror
        return
    original = error.args
    error.args = (prefix + str(error), *original[1:])
    if prefix not in str(error):  # its __str__ does not come from args
        error.args = original
        if hasattr(error, "add_note"):
            error.add_note(f"Raised in {who} ({context}).")


def closest_match(key: str, candidates: Iterable[str]) -> str | None:
    """The candidate that looks most like ``key``, or None when none is close.

    >>> closest_match("y_prd", ["x", "y", "y_pred"])
    'y_pred'
    >>> closest_match("zzz", ["x", "y"]) is None
    True
    >>> closest_match("acc", ["accuracy", "ce"])  # a shortened name: the key a candidate starts with
    'accuracy'
    """
    candidates = sorted(set(candidates))
    matches = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    if matches:
        return matches[0]
    longer = [c for c in candidates if len(key) >= 2 and c.startswith(key)]
    return min(longer, key=len) if longer else None


def missing_key_message(who: str, key: str, available: Iterable[str], where: str = "") -> str:
    """The standard text for a key that nothing produces.

    >>> print(missing_key_message("CrossEntropy", "y_prd", ["x", "y", "y_pred"], "mode 'train'"))
    CrossEntropy reads key 'y_prd' in mode 'train', but nothing produces it before CrossEntropy runs. Available keys: 'x', 'y', 'y_pred'. Did you mean 'y_pred'?
    """
    available = sorted(set(available))
    where = f" in {where}" if where else ""
    text = (
        f"{who} reads key '{key}'{where}, but nothing produces it before {who.split('(')[0].strip()} runs. "
        f"Available keys: {', '.join(repr(k) for k in available) or '(none)'}."
    )
    match = closest_match(key, available)
    if match is not None:
        text += f" Did you mean '{match}'?"
    else:
        text += " Produce it with an op or trace that lists it in `outputs`, or fix the key name."
    return text
