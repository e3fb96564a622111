"""RUA ("Random Unified Augmentation"): RandAugment-style random ops whose count and strength follow one level."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torchvision.transforms.v2.functional as F
from torchvision.transforms.v2 import InterpolationMode

from fastest.errors import FastestTypeError, FastestValueError, closest_match
from fastest.op.meta import run_ops_in
from fastest.op.numpyop.numpyop import NumpyOp
from fastest.op.numpyop.univariate.base import (
    Keys,
    OptKeys,
    _Deterministic,
    _RandomPerKey,
    check_image,
    on_tensor,
    scale_range,
    to_range,
    uniform,
)
from fastest.op.numpyop.univariate.color import Brightness, Color, Contrast, Sharpness
from fastest.op.numpyop.univariate.geometry import ShearX, ShearY, TranslateX, TranslateY
from fastest.op.numpyop.univariate.pixel import AutoContrast, Equalize, Posterize, Solarize


class Rotate(_RandomPerKey):
    """Rotate the image (only) about its centre by an angle in degrees from ``limit``; fill 0.

    This is RUA's image-only rotation; to rotate images with their masks or boxes use
    ``fastest.op.numpyop.multivariate.Rotate``.

    >>> Rotate("x", "x", limit=(180, 180)).forward(np.array([[1, 2], [3, 4]], np.uint8), {})
    array([[4, 3],
           [2, 1]], dtype=uint8)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 limit: float | Sequence[float] = 30) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.limit = to_range(limit, "Rotate", "limit")

    def set_rua_level(self, magnitude_coef: float) -> None:
        """Shrink the angle range around its midpoint by ``magnitude_coef`` in [0, 1]."""
        self.limit = scale_range(self.limit, magnitude_coef)

    def draw(self, value: np.ndarray) -> float:
        return uniform(self.limit)

    def apply(self, value: np.ndarray, params: float) -> np.ndarray:
        check_image(value, "Rotate")
        return on_tensor(value, F.rotate, params, interpolation=InterpolationMode.BILINEAR)


class Identity(_Deterministic):
    """Pass the values through unchanged (RUA's "no augmentation" choice).

    >>> Identity("x", "x").forward(np.array([1, 2]), {})
    array([1, 2])
    """

    def transform(self, value: np.ndarray) -> np.ndarray:
        return value


def _default_pool(inputs: Keys, outputs: Keys, mode: OptKeys, ds_id: OptKeys) -> dict[str, NumpyOp]:
    keys: dict[str, Any] = {"inputs": inputs, "outputs": outputs, "mode": mode, "ds_id": ds_id}
    return {
        "Rotate": Rotate(**keys, limit=90), "Identity": Identity(**keys), "AutoContrast": AutoContrast(**keys),
        "Equalize": Equalize(**keys), "Posterize": Posterize(**keys, num_bits=7),
        "Solarize": Solarize(**keys, threshold=(0, 256)), "Sharpness": Sharpness(**keys, limit=0.9),
        "Contrast": Contrast(**keys, limit=0.9), "Color": Color(**keys, limit=0.9),
        "Brightness": Brightness(**keys, limit=0.9), "ShearX": ShearX(**keys, shear_coef=0.5),
        "ShearY": ShearY(**keys, shear_coef=0.5), "TranslateX": TranslateX(**keys, shift_limit=0.33),
        "TranslateY": TranslateY(**keys, shift_limit=0.33),
    }


class RUA(NumpyOp):
    """Apply ``N`` ops drawn at random from a pool, each at a strength set by ``level`` (0–30).

    ``N = 1 + level * (min(len(pool), 5) - 1) / 30``: the whole part always runs, the fraction runs with
    that probability. Each op's strength is scaled by ``level / 30`` through its ``set_rua_level``.
    The default pool is Rotate, Identity, AutoContrast, Equalize, Posterize, Solarize, Sharpness,
    Contrast, Color, Brightness, ShearX, ShearY, TranslateX and TranslateY (uint8 RGB or grey images).

    Args:
        inputs: Key(s) of uint8 images.
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        choices: "defaults"; names from the default pool (``["Rotate", "Equalize"]``); negated names to drop
            from it (``["!Rotate"]``, which implies the defaults); and/or your own NumpyOps that have a
            ``set_rua_level(magnitude_coef)`` method.
        level: Strength and count of the augmentations, in [0, 30].

    >>> op = RUA("x", "x", choices=["Identity", "Equalize"], level=0)
    >>> op.forward(np.full((4, 4, 3), 7, np.uint8), {}).max()
    np.uint8(7)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 choices: str | NumpyOp | Sequence[str | NumpyOp] = "defaults", level: float = 18) -> None:
        if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 <= level <= 30:
            raise FastestValueError(f"RUA: level must be a number in [0, 30], received {level!r}.")
        pool = self._parse_choices(_default_pool(inputs, outputs, mode, ds_id), choices)
        for op in pool:
            op.set_rua_level(level / 30.0)  # type: ignore[attr-defined]
        keys_in: list[str] = []
        keys_out: list[str] = []
        for op in pool:
            keys_out += [k for k in op.outputs if k not in keys_out]
            keys_in += [k for k in op.inputs if k not in keys_in]
        super().__init__(inputs=keys_in + [k for k in keys_out if k not in keys_in], outputs=keys_out,
                         mode=mode, ds_id=ds_id)
        self.in_list = self.out_list = True  # FastEstimator's convention: a list in, a list out
        self.pool = pool
        self.level = level
        count = level * (min(len(pool), 5) - 1) / 30 + 1
        self.num_ops = int(count)
        self.extra_prob = count - int(count)

    @staticmethod
    def _parse_choices(defaults: dict[str, NumpyOp], choices: Any) -> list[NumpyOp]:
        items = [choices] if isinstance(choices, (str, NumpyOp)) else list(choices)
        names = [c for c in items if isinstance(c, str)]
        custom = [c for c in items if not isinstance(c, str)]
        removed = [n[1:] for n in names if n.startswith("!")]
        added = [n for n in names if not n.startswith("!") and n != "defaults"]
        if removed and added:
            raise FastestValueError(f"RUA: choices mix names to add {added} with names to remove {removed}; use one kind.")
        if (removed or added) and "defaults" in names:
            raise FastestValueError(
                f"RUA: 'defaults' already holds {sorted(defaults)}; drop it when naming ops ({added or removed})."
            )
        for name in removed + added:
            if name not in defaults:
                hint = closest_match(name, defaults)
                raise FastestValueError(
                    f"RUA: unknown augmentation {name!r}. Available: {list(defaults)}."
                    + (f" Did you mean {hint!r}?" if hint else "")
                )
        for op in custom:
            if not isinstance(op, NumpyOp) or not callable(getattr(op, "set_rua_level", None)):
                raise FastestTypeError(
                    f"RUA: custom choices must be NumpyOps with a set_rua_level(magnitude_coef) method, received "
                    f"{type(op).__name__}."
                )
        if removed or "defaults" in names:
            pool = [op for name, op in defaults.items() if name not in removed]
        else:
            pool = [defaults[name] for name in added]
        pool += custom
        if not pool:
            raise FastestValueError("RUA: choices leave no augmentation to pick from.")
        return pool

    def forward(self, data: Any, state: Mapping[str, Any]) -> Any:
        return self._run(data, state, "forward")

    def forward_batch(self, data: Any, state: Mapping[str, Any]) -> Any:
        return self._run(data, state, "forward_batch")

    def _run(self, data: Any, state: Mapping[str, Any], method: str) -> Any:
        if not isinstance(data, (list, tuple)):  # a single bare value gives a bare result
            return self._run([data], state, method)[0]
        store = dict(zip(self.inputs, data))
        count = self.num_ops + int(np.random.random() < self.extra_prob)
        chosen = [self.pool[i] for i in np.random.randint(len(self.pool), size=count)]
        run_ops_in(chosen, store, state, method)
        return [store[key] for key in self.outputs]
