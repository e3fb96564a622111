"""RandAugment (Cubuk et al., 2020) on ciFAIR-10 with ResNet9: a grid over its two knobs.

RandAugment replaces a learned augmentation policy by two numbers: ``num_augment`` (N), how many
augmentations each training image gets, each picked uniformly from a fixed list of 14, and ``level``
(M, 0–10), one strength shared by all of them. Every pick applies its strength with a random sign. The
list and the strength of each op at level M:

- Rotate: ±3·M degrees;
- Identity: the image unchanged;
- AutoContrast: each channel stretched to 0..255;
- Equalize: each channel's histogram equalized;
- Posterize: ``8 - int(0.4·M)`` bits kept;
- Solarize: pixels >= ``256 - int(25.6·M)`` inverted;
- Sharpness, Contrast, Color (saturation), Brightness: enhancement factor 1 ± 0.09·M;
- ShearX, ShearY: shear coefficient ±0.03·M;
- TranslateX, TranslateY: a shift of ±M/30 of the image side.

The ops are fastest's own image ops (torchvision underneath); a fixed strength with a random sign is a
``OneOf`` of the op at ``+s`` and at ``-s``, and each of the N picks is a ``OneOf`` over the 14.
``get_estimator(level, num_augment)`` trains ResNet9 on ciFAIR-10's training set with those settings and
reports the accuracy on its test set. ``python rand_augment.py`` trains one model per (level,
num_augment) pair of a grid (1..10 × 1..10 for 50 epochs each by default: a long job, a GPU is advised)
and saves the test accuracies as a matrix (rows: levels, columns: num_augment) to ``result.npy``;
``--levels 5 --num_augments 2 --epochs 24`` runs a single setting. ciFAIR-10 is downloaded by
``fastest.dataset.data.cifair10`` on first use. The accuracies on the real data have not been measured
here (this machine has no internet).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import fastest as fe
from fastest.architecture import ResNet9
from fastest.dataset.data import cifair10
from fastest.errors import FastestValueError
from fastest.op.numpyop import NumpyOp
from fastest.op.numpyop.meta import OneOf
from fastest.op.numpyop.univariate import (
    AutoContrast,
    Brightness,
    ChannelTranspose,
    Color,
    Contrast,
    Equalize,
    Normalize,
    Posterize,
    Sharpness,
    ShearX,
    ShearY,
    Solarize,
    TranslateX,
    TranslateY,
)
from fastest.op.numpyop.univariate.rua import Identity, Rotate
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.metric import Accuracy

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)


def random_sign(make: Callable[[float], NumpyOp], strength: float) -> OneOf:
    """The op ``make(s)`` at ``s = +strength`` or ``-strength``, with even odds on each call."""
    return OneOf(make(strength), make(-strength))


def augmentations(level: float, inputs: str = "x", outputs: str = "x", mode: str = "train") -> list[NumpyOp]:
    """RandAugment's 14 image ops (uint8 images) at strength ``level`` in [0, 10], as in the table above."""
    keys: dict[str, Any] = {"inputs": inputs, "outputs": outputs, "mode": mode}

    def fixed(value: float) -> tuple[float, float]:  # a range holding one value: no random draw inside the op
        return (value, value)

    enhance = 0.09 * level
    shear = 0.03 * level
    shift = level / 30
    return [
        random_sign(lambda s: Rotate(**keys, limit=fixed(s)), 3.0 * level),
        Identity(**keys),
        AutoContrast(**keys),
        Equalize(**keys),
        Posterize(**keys, num_bits=8 - int(level * 0.4)),
        Solarize(**keys, threshold=256 - int(level * 25.6)),
        random_sign(lambda s: Sharpness(**keys, limit=fixed(s)), enhance),
        random_sign(lambda s: Contrast(**keys, limit=fixed(s)), enhance),
        random_sign(lambda s: Color(**keys, limit=fixed(s)), enhance),
        random_sign(lambda s: Brightness(**keys, limit=fixed(s)), enhance),
        random_sign(lambda s: ShearX(**keys, shear_coef=fixed(s)), shear),
        random_sign(lambda s: ShearY(**keys, shear_coef=fixed(s)), shear),
        random_sign(lambda s: TranslateX(**keys, shift_limit=fixed(s)), shift),
        random_sign(lambda s: TranslateY(**keys, shift_limit=fixed(s)), shift),
    ]


def get_estimator(level: float, num_augment: int, epochs: int = 24, batch_size: int = 512,
                  train_steps_per_epoch: int | None = None, eval_steps_per_epoch: int | None = None,
                  log_steps: int | None = 100, num_process: int | None = None) -> fe.Estimator:
    """ResNet9 on ciFAIR-10, each training image augmented by ``num_augment`` random ops at strength ``level``.

    There is no eval set: ``Estimator.test`` reports the accuracy on ciFAIR-10's test set.

    Args:
        level: Strength M of every augmentation, in [0, 10].
        num_augment: Augmentations N per training image (0: none).
        epochs: Training epochs.
        batch_size: Samples per batch.
        train_steps_per_epoch: Training batches per epoch (None: the whole training set).
        eval_steps_per_epoch: Batches per eval epoch (FastEstimator's argument; this app has no eval data).
        log_steps: Training log interval (None: silent).
        num_process: DataLoader worker processes (None: the Pipeline's default, one per CPU core up to 16).
    """
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 <= level <= 10:
        raise FastestValueError(f"rand_augment: level must be a number in [0, 10], received {level!r}.")
    if isinstance(num_augment, bool) or not isinstance(num_augment, int) or num_augment < 0:
        raise FastestValueError(f"rand_augment: num_augment must be an int >= 0, received {num_augment!r}.")
    train_data, test_data = cifair10.load_data()
    picks = [OneOf(*augmentations(level)) for _ in range(num_augment)]
    pipeline = fe.Pipeline(
        train_data=train_data, test_data=test_data, batch_size=batch_size, num_process=num_process,
        ops=[*picks,
             Normalize(inputs="x", outputs="x", mean=CIFAR_MEAN, std=CIFAR_STD),
             ChannelTranspose(inputs="x", outputs="x")])
    model = fe.build(model_fn=ResNet9, optimizer_fn="adam", model_name="resnet9")
    network = fe.Network(ops=[
        ModelOp(model=model, inputs="x", outputs="y_pred"),
        CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
        UpdateOp(model=model, loss_name="ce"),
    ])
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs,
                        traces=Accuracy(true_key="y", pred_key="y_pred"), log_steps=log_steps,
                        train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch,
                        progress_bar=False)


def grid_search(levels: Sequence[float], num_augments: Sequence[int], **kwargs: Any) -> np.ndarray:
    """Test accuracy after training with each (level, num_augment) pair: ``result[i, j]`` for
    ``levels[i]`` and ``num_augments[j]``. ``kwargs`` go to :func:`get_estimator`."""
    result = np.zeros((len(levels), len(num_augments)))
    for i, level in enumerate(levels):
        for j, num_augment in enumerate(num_augments):
            print(f"RandAugment: level {level}, num_augment {num_augment}")
            estimator = get_estimator(level=level, num_augment=num_augment, **kwargs)
            estimator.fit()
            summary = estimator.test("rand_augment")
            if summary is not None:
                accuracy = summary.history["test"]["accuracy"]
                result[i, j] = accuracy[max(accuracy)]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=float, nargs="+", default=list(range(1, 11)))
    parser.add_argument("--num_augments", type=int, nargs="+", default=list(range(1, 11)))
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch_size", type=int, default=512)
    parser.add_argument("--save_path", default="result.npy")
    args = parser.parse_args()
    result = grid_search(args.levels, args.num_augments, epochs=args.epochs, batch_size=args.batch_size)
    np.save(args.save_path, result)
    print(f"test accuracy (rows: levels {args.levels}, columns: num_augment {args.num_augments}):\n{result}")
    print(f"wrote {args.save_path}")


if __name__ == "__main__":
    main()
