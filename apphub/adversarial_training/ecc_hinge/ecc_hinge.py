"""Error-correcting output codes trained with a hinge loss, attacked with FGSM, on ciFAIR-10.

A variant of the ``ecc`` app (Verma and Swami, NeurIPS 2019): instead of turning the code into class
probabilities inside the model and training with cross entropy, the model's output *is* the code. Each
label becomes its class's 16-bit Hadamard code word (±1) in the Pipeline (``Hadamard``); four
independent heads, each ending in ``tanh``, predict four bits apiece; the loss is the hinge loss
between predicted and true code. Class probabilities are only needed for the metrics: ``UnHadamard``
decodes a code into probabilities by its distance to each class's code word. Every eval and test batch
is also attacked with the Fast Gradient Sign Method (``epsilon`` 0.04 on the normalized images,
increasing the hinge loss), and the model is scored on clean and attacked images. The weights with the
lowest clean eval hinge loss are kept and restored after training; half of the ciFAIR-10 test images
serve as eval data, the other half as test data.

ciFAIR-10 is downloaded by ``fastest.dataset.data.cifair10`` on first use. Run ``python ecc_hinge.py
[--epochs 20] [--batch_size 32] [--epsilon 0.04] [--code_length 16] [--save_dir outputs/ecc_hinge]``; a GPU
is advised. Its clean and adversarial accuracies on the real data have not been measured here (this
machine has no internet).
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import fastest as fe
from fastest.dataset.data import cifair10
from fastest.op.numpyop.univariate import ChannelTranspose, Hadamard, Normalize
from fastest.op.tensorop import UnHadamard
from fastest.op.tensorop.gradient import FGSM, Watch
from fastest.op.tensorop.loss import Hinge
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.io import BestModelSaver
from fastest.trace.metric import Accuracy

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)
ATTACKED = ("eval", "test")  # the modes in which batches are attacked and decoded
CLASSES = 10


class EccLeNet(nn.Module):
    """Three 3×3 convolutions (ELU, two 2×2 max pools), then ``code_length // 4`` heads of ``code_length // heads`` bits.

    Each head is ``Linear(flat, 16) → ELU → Linear(16, bits) → tanh``; the heads' bits are concatenated
    into one ``(N, code_length)`` code in [-1, 1].

    Args:
        input_shape: ``(channels, height, width)`` of the images.
        classes: Number of classes (sets the default code length).
        code_length: Bits of the code; None: the smallest power of 2 >= ``classes``, at least 16.
    """

    def __init__(self, input_shape: tuple[int, int, int] = (3, 32, 32), classes: int = 10,
                 code_length: int | None = None) -> None:
        super().__init__()
        channels, height, width = input_shape
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 3), nn.ELU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ELU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3), nn.ELU(), nn.Flatten())

        def side(size: int) -> int:  # a valid 3×3 conv trims 2 pixels, each pool halves (rounding down)
            return ((size - 2) // 2 - 2) // 2 - 2

        flat = 64 * side(height) * side(width)
        code_length = code_length or max(16, 1 << (classes - 1).bit_length())
        n_heads = code_length // 4
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(flat, 16), nn.ELU(), nn.Linear(16, code_length // n_heads), nn.Tanh())
            for _ in range(n_heads))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x)
        return torch.cat([head(features) for head in self.heads], dim=-1)


def get_estimator(epsilon: float = 0.04, epochs: int = 20, batch_size: int = 32, code_length: int = 16,
                  train_steps_per_epoch: int | None = None, eval_steps_per_epoch: int | None = None,
                  save_dir: str = "outputs/ecc_hinge", log_steps: int | None = 100) -> fe.Estimator:
    """The hinge-loss ECC Estimator: clean training on code words, FGSM attacks on every eval and test batch.

    Args:
        epsilon: FGSM step size, in units of the normalized images.
        epochs: Training epochs.
        batch_size: Samples per batch.
        code_length: Bits the model predicts. The labels' code words have the ``Hadamard`` op's default
            length for 10 classes (16), so only 16 trains.
        train_steps_per_epoch: Training batches per epoch (None: the whole training set).
        eval_steps_per_epoch: Eval batches per epoch (None: the whole eval set).
        save_dir: Where the best weights (``ecc_hinge_lenet_best_base_hinge.pt``) are written.
        log_steps: Training log interval (None: silent).
    """
    train_data, eval_data = cifair10.load_data()
    test_data = eval_data.split(0.5)
    pipeline = fe.Pipeline(
        train_data=train_data, eval_data=eval_data, test_data=test_data, batch_size=batch_size, num_process=0,
        ops=[Normalize(inputs="x", outputs="x", mean=CIFAR_MEAN, std=CIFAR_STD),
             ChannelTranspose(inputs="x", outputs="x"),
             Hadamard(inputs="y", outputs="y_code", n_classes=CLASSES)])
    model = fe.build(model_fn=lambda: EccLeNet(code_length=code_length), optimizer_fn="adam",
                     model_name="ecc_hinge_lenet")
    network = fe.Network(ops=[
        Watch(inputs="x", mode=ATTACKED),
        ModelOp(model=model, inputs="x", outputs="y_pred_code"),
        Hinge(inputs=("y_pred_code", "y_code"), outputs="base_hinge"),
        UpdateOp(model=model, loss_name="base_hinge"),
        UnHadamard(inputs="y_pred_code", outputs="y_pred", n_classes=CLASSES, mode=ATTACKED),
        FGSM(data="x", loss="base_hinge", outputs="x_adverse_hinge", epsilon=epsilon, mode=ATTACKED),
        ModelOp(model=model, inputs="x_adverse_hinge", outputs="y_pred_adv_hinge_code", mode=ATTACKED),
        Hinge(inputs=("y_pred_adv_hinge_code", "y_code"), outputs="adv_hinge", mode=ATTACKED),
        UnHadamard(inputs="y_pred_adv_hinge_code", outputs="y_pred_adv_hinge", n_classes=CLASSES, mode=ATTACKED),
    ])
    traces = [
        Accuracy(true_key="y", pred_key="y_pred", output_name="base_accuracy"),
        Accuracy(true_key="y", pred_key="y_pred_adv_hinge", output_name="adversarial_accuracy"),
        BestModelSaver(model=model, save_dir=save_dir, metric="base_hinge", save_best_mode="min",
                       load_best_final=True),
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces, log_steps=log_steps,
                        train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch,
                        monitor_names=["adv_hinge"], progress_bar=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--epsilon", type=float, default=0.04)
    parser.add_argument("--code_length", type=int, default=16)
    parser.add_argument("--save_dir", default="outputs/ecc_hinge")
    args = parser.parse_args()
    estimator = get_estimator(epsilon=args.epsilon, epochs=args.epochs, batch_size=args.batch_size,
                              code_length=args.code_length, save_dir=args.save_dir)
    estimator.fit()
    summary = estimator.test("ecc_hinge")
    if summary is not None:
        test = summary.history["test"]
        step = max(test["base_accuracy"])
        print(f"test accuracy: clean {test['base_accuracy'][step]:.4f}, "
              f"adversarial {test['adversarial_accuracy'][step]:.4f}")


if __name__ == "__main__":
    main()
