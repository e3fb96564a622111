"""Cropping2D: remove rows and columns at the borders of channels-first images."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fastest.errors import FastestValueError

Crop = int | tuple[int, int]


def _pair(value: object, what: str, cropping: object) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        pair: Sequence[object] = (value, value)
    elif isinstance(value, Sequence) and len(value) == 2:
        pair = value
    else:
        pair = ()
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in pair):
        raise FastestValueError(
            f"Cropping2D: the {what} cropping must be an int >= 0 or a pair of them (before, after), received "
            f"{value!r} in cropping={cropping!r}.")
    return int(pair[0]), int(pair[1])  # type: ignore[call-overload]


class Cropping2D(nn.Module):
    """Crop the height and width of ``(N, C, H, W)`` tensors.

    Args:
        cropping: ``n`` removes ``n`` rows and columns at every border; ``(h, w)`` removes ``h`` rows at the
            top and bottom and ``w`` columns at the left and right; ``((top, bottom), (left, right))`` says
            each border separately (either half may also be a single int).

    >>> x = torch.arange(100).view(1, 1, 10, 10)
    >>> Cropping2D(3)(x)[0, 0, 0].tolist(), Cropping2D((3, 4))(x).shape[-2:], Cropping2D(((1, 4), 4))(x)[0, 0, :, 0].tolist()
    ([33, 34, 35, 36], torch.Size([4, 2]), [14, 24, 34, 44, 54])
    """

    def __init__(self, cropping: int | tuple[Crop, Crop] = 0) -> None:
        super().__init__()
        if isinstance(cropping, int) and not isinstance(cropping, bool):
            self.cropping = (_pair(cropping, "height", cropping), _pair(cropping, "width", cropping))
        elif isinstance(cropping, Sequence) and len(cropping) == 2:
            self.cropping = (_pair(cropping[0], "height", cropping), _pair(cropping[1], "width", cropping))
        else:
            raise FastestValueError(
                f"Cropping2D: cropping must be an int, a pair (height, width), or a pair of pairs "
                f"((top, bottom), (left, right)), received {cropping!r}.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (top, bottom), (left, right) = self.cropping
        height, width = x.shape[-2:]
        return x[..., top:height - bottom, left:width - right]
