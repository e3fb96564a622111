"""The errors fastest raises for user mistakes.

Every error subclasses :class:`FastestError` and the builtin a user would expect (``KeyError`` for a
missing key, ``ValueError`` for a bad argument, ``TypeError`` for a wrong type), so
``except KeyError`` keeps working. Messages say what was received, what was expected and what to do.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class FastestError(Exception):
    """Base class of every error fastest raises on purpose."""

    def __str__(self) -> str:  # KeyError would otherwise print the message in quotes
        return str(self.args[0]) if self.args else ""


class FastestKeyError(FastestError, KeyError):
    """A data key that an op or trace reads is not produced by anything before it."""


class FastestValueError(FastestError, ValueError):
    """An argument has the right type but a wrong value."""


class FastestTypeError(FastestError, TypeError):
    """An argument has the wrong type."""


class FastestRuntimeError(FastestError, RuntimeError):
    """An exception raised inside a user's op or trace, re-raised with where it happened.

    The original exception is kept as ``__cause__``.
    """


def closest_match(key: str, candidates: Iterable[str]) -> str | None:
    """The candidate that looks most like ``key``, or None when none is close.

    >>> closest_match("y_prd", ["x", "y", "y_pred"])
    'y_pred'
    >>> closest_match("zzz", ["x", "y"]) is None
    True
    """
    matches = difflib.get_close_matches(key, sorted(set(candidates)), n=1, cutoff=0.6)
    return matches[0] if matches else None


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
