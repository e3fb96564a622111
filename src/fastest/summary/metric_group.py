"""``_MetricGroup``: one metric's logged values, by run, mode and dataset id, as arrays ready to draw.

FastEstimator 1.7 code and tests reach it as ``fastest.summary.logs._MetricGroup``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import numpy as np

from fastest.summary.summary import ValWithError

_NUMBER = re.compile(r"(\d+\.\d+|\.?\d+)")


def _plottable(value: Any) -> Any:
    """A value a curve can hold: a number (a text with exactly one number in it counts as that number), a
    ValWithError; None for anything else (arrays with more than one element, ambiguous text)."""
    if isinstance(value, np.ndarray):
        if value.size != 1:
            return None
        value = value.item()
    if isinstance(value, str):
        found = [float(match) for match in _NUMBER.findall(value)]
        return found[0] if len(found) == 1 else None
    return value if isinstance(value, (int, float, ValWithError)) else None


class _MetricGroup:
    """The values of one metric: ``group[run][mode][ds_id]`` is an ``(n, 2)`` array of ``(step, value)`` rows.

    >>> group = _MetricGroup()
    >>> group.add(exp_id=0, mode="train", ds_id="", values={10: 0.5, 0: 0.9})
    True
    >>> group[0]["train"][""].tolist(), group.ndim(), group.modes(0)
    ([[0.0, 0.9], [10.0, 0.5]], 2, ['train'])
    """

    def __init__(self) -> None:
        self.state: defaultdict[int, defaultdict[str, dict[str, np.ndarray]]] = defaultdict(lambda: defaultdict(dict))

    def __getitem__(self, exp_id: int) -> dict[str, dict[str, np.ndarray]]:
        return self.state[exp_id]

    def add(self, exp_id: int, mode: str, ds_id: str, values: dict[int, Any]) -> bool:
        """Store ``{step: value}`` of run ``exp_id``, ``mode`` and ``ds_id`` ("" for none); False when the values
        cannot be drawn over time (several points, one of which is not a number)."""
        if not values:
            return False
        points = sorted(values.items())
        if len(points) == 1:  # one value of any kind: shown as a number or text
            plain = isinstance(points[0][1], (int, float))
            self.state[exp_id][mode][ds_id] = np.array(points, dtype=None if plain else object)
            return True
        converted = [(step, _plottable(value)) for step, value in points]
        if any(value is None for _, value in converted):
            return False
        if any(isinstance(value, ValWithError) for _, value in converted):
            converted = [(step, v if isinstance(v, ValWithError) else ValWithError(v, v, v)) for step, v in converted]
            self.state[exp_id][mode][ds_id] = np.array(converted, dtype=object)
        else:
            self.state[exp_id][mode][ds_id] = np.array(converted)
        return True

    def ndim(self) -> int:
        """1 when every entry is a single value (shown as text), 2 when some are curves over steps."""
        dims = [0]
        for modes in self.state.values():
            for by_ds in modes.values():
                for values in by_ds.values():
                    if values.ndim < 2:
                        dims.append(1)
                    elif values.ndim == 2:
                        single = values.shape[0] == 1 and not isinstance(values[0][1], ValWithError)
                        dims.append(1 if single else 2)
                    else:
                        dims.append(3)
        return max(dims)

    def get_val(self, exp_idx: int, mode: str, ds_id: str) -> None | str | np.ndarray:
        """The entry of a run / mode / ds_id: None when missing, text for a single value (floats with 5
        decimals), else the ``(step, value)`` array."""
        values = self.state[exp_idx].get(mode, {}).get(ds_id)
        if values is None:
            return None
        if values.ndim < 2 or values.shape[0] == 1:
            item = values.item() if values.ndim < 2 else values[0][1]
            return f"{item:.5f}" if isinstance(item, float) else str(item)
        return values

    def modes(self, exp_id: int) -> list[str]:
        """The modes run ``exp_id`` has values for, in the order they were added."""
        return list(self.state[exp_id].keys())

    def ds_ids(self, exp_id: int, mode: str | list[str] | None = None) -> list[str]:
        """The dataset ids run ``exp_id`` has values for (in ``mode``, or in any mode)."""
        modes = self.modes(exp_id) if mode is None else [mode] if isinstance(mode, str) else list(mode)
        return [ds for md, by_ds in self.state[exp_id].items() if md in modes for ds in by_ds]
