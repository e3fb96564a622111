"""Text ops: split sentences into tokens, map tokens to ids, pad or truncate sequences."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from fastest.errors import FastestKeyError, FastestTypeError, FastestValueError
from fastest.op.numpyop.univariate.base import Keys, OptKeys, _PerKey


class Tokenize(_PerKey):
    """Split a string into tokens: ``str.split()`` or ``tokenize_fn``, optionally lower-cased.

    Args:
        inputs: Key(s) of the strings.
        outputs: Key(s) to write the token lists to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        tokenize_fn: ``str -> list[str]``; None splits on whitespace.
        to_lower_case: Lower-case every token.

    >>> Tokenize("text", "tokens", to_lower_case=True).forward("Hello  fast World", {})
    ['hello', 'fast', 'world']
    """

    as_array = False

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 tokenize_fn: Callable[[str], list[str]] | None = None, to_lower_case: bool = False) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        if tokenize_fn is not None and not callable(tokenize_fn):
            raise FastestTypeError(f"Tokenize: tokenize_fn must be callable or None, received {type(tokenize_fn).__name__}.")
        self.tokenize_fn = tokenize_fn
        self.to_lower_case = to_lower_case

    def transform(self, value: Any) -> list[str]:
        text = value.item() if isinstance(value, np.ndarray) else value
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        tokens = self.tokenize_fn(text) if self.tokenize_fn is not None else str(text).split()
        return [token.lower() for token in tokens] if self.to_lower_case else list(tokens)


class WordtoId(_PerKey):
    """Map tokens to ids with a dict or a callable; returns an int array. ``mapping`` comes first, as in FE.

    Args:
        mapping: ``{token: id}``, or a callable ``list[str] -> list[int]``.
        inputs: Key(s) of the token lists.
        outputs: Key(s) to write the id arrays to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.

    >>> WordtoId({"a": 1, "b": 2}, "tokens", "ids").forward([["b", "a", "b"]], {})  # one token list per key
    [array([2, 1, 2])]
    """

    as_array = False

    def __init__(self, mapping: Mapping[str, int] | Callable[[list[str]], list[int]], inputs: Keys,
                 outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        if not callable(mapping) and not isinstance(mapping, Mapping):
            raise FastestTypeError(
                f"WordtoId: mapping must be a dict {{token: id}} or a callable, received {type(mapping).__name__}."
            )
        self.mapping = mapping

    def transform(self, value: Any) -> np.ndarray:
        tokens = list(value)
        if callable(self.mapping):
            return np.asarray(self.mapping(tokens))
        missing = [token for token in tokens if token not in self.mapping]
        if missing:
            raise FastestKeyError(
                f"WordtoId: token(s) {missing[:5]} are not in the mapping ({len(self.mapping)} tokens). Add them "
                "(e.g. an '<unk>' id), or pass a callable mapping that handles unknown tokens."
            )
        return np.asarray([self.mapping[token] for token in tokens])


class PadSequence(_PerKey):
    """Pad a 1-d sequence with ``value`` to ``max_len`` (after it, or before if not ``append``); truncate longer ones.

    Args:
        inputs: Key(s) of the sequences.
        outputs: Key(s) to write the padded sequences to.
        max_len: Output length.
        value: Padding value.
        append: Pad after the sequence (True) or before it (False).
        mode: Modes to run in.
        ds_id: Dataset ids to run for.

    >>> PadSequence("ids", "ids", max_len=5, value=-1).forward(np.array([4, 5, 6]), {})
    array([ 4,  5,  6, -1, -1])
    """

    def __init__(self, inputs: Keys, outputs: Keys, max_len: int, value: int | float | str = 0,
                 append: bool = True, mode: OptKeys = None, ds_id: OptKeys = None) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        if not isinstance(max_len, int) or max_len < 1:
            raise FastestValueError(f"PadSequence: max_len must be a positive int, received {max_len!r}.")
        self.max_len = max_len
        self.value = value
        self.append = append

    def transform(self, value: np.ndarray) -> np.ndarray:
        if value.ndim != 1:
            raise FastestValueError(f"PadSequence expects 1-d sequences, received shape {value.shape}.")
        if len(value) >= self.max_len:
            return value[: self.max_len]
        pad = np.full(self.max_len - len(value), self.value, dtype=np.result_type(value, np.asarray(self.value)))
        return np.concatenate([value, pad] if self.append else [pad, value])
