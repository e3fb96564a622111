"""Error-correcting output codes against adversarial attacks, on ciFAIR-10.

Verma and Swami (NeurIPS 2019, "Error Correcting Output Codes Improve Probability Estimation and
Adversarial Robustness of Deep Neural Networks") replace a classifier's softmax layer with a code:
each class owns a row of a Hadamard matrix, several independent heads predict the bits, and the class
probabilities come from how close the predicted code is to each class's row. A gradient step that
flips a few bits then rarely lands on another class. Here a small three-convolution network with four
16-unit heads and a :class:`~fastest.layers.HadamardCode` output (code length 16) is trained on clean
ciFAIR-10 images with cross entropy; every eval and test batch is also attacked with the Fast Gradient
Sign Method (``epsilon`` 0.04 on the normalized images) and the model is scored on both. The weights
with the lowest mean of the clean and adversarial eval losses are kept and restored after training;
half of the ciFAIR-10 test images serve as eval data, the other half as test data.

ciFAIR-10 (CIFAR-10 with its near-duplicate test images replaced) is downloaded by
``fastest.dataset.data.cifair10`` on first use. Run ``python ecc.py [--epochs 20] [--batch_size 32]
[--epsilon 0.04] [--code_length 16] [--save_dir outputs/ecc]``; a GPU is advised. Its clean and
adversarial accuracies on the real data have not been measured here (this machine has no internet).
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import fastest as fe
from fastest.dataset.data import cifair10
from fastest.layers import HadamardCode
from fastest.op.numpyop.univariate import ChannelTranspose, Normalize
from fastest.op.tensorop import Average
from fastest.op.tensorop.gradient import FGSM, Watch
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.io import BestModelSaver
from fastest.trace.metric import Accuracy

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)
ATTACKED = ("eval", "test")  # the modes in which batches are attacked


class EccLeNet(nn.Module):
    """Three 3×3 convolutions (two 2×2 max pools between them), ``code_length // 4`` heads, a Hadamard code.

    Args:
        input_shape: ``(channels, height, width)`` of the images.
        classes: Number of classes.
        code_length: Length of the Hadamard code (a power of 2, >= ``classes``); also sets the head count.
            None: ``ceil(classes / 4)`` heads and HadamardCode's default length.
    """

    def __init__(self, input_shape: tuple[int, int, int] = (3, 32, 32), classes: int = 10,
                 code_length: int | None = None) -> None:
        super().__init__()
        channels, height, width = input_shape
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten())

        def side(size: int) -> int:  # a valid 3×3 conv trims 2 pixels, each pool halves (rounding down)
            return ((size - 2) // 2 - 2) // 2 - 2

        flat = 64 * side(height) * side(width)
        n_heads = code_length // 4 if code_length else -(-classes // 4)
        self.heads = nn.ModuleList(nn.Sequential(nn.Linear(flat, 16), nn.ReLU()) for _ in range(n_heads))
        self.code = HadamardCode(in_features=[16] * n_heads, n_classes=classes, code_length=code_length)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x)
        return self.code([head(features) for head in self.heads])


def get_estimator(epsilon: float = 0.04, epochs: int = 20, batch_size: int = 32, code_length: int = 16,
                  train_steps_per_epoch: int | None = None, eval_steps_per_epoch: int | None = None,
                  save_dir: str = "outputs/ecc", log_steps: int | None = 100,
                  num_process: int | None = None) -> fe.Estimator:
    """The ECC Estimator: clean training, FGSM attacks on every eval and test batch.

    Args:
        epsilon: FGSM step size, in units of the normalized images.
        epochs: Training epochs.
        batch_size: Samples per batch.
        code_length: Hadamard code length of the model's output (a power of 2, at least 16 for 4 heads).
        train_steps_per_epoch: Training batches per epoch (None: the whole training set).
        eval_steps_per_epoch: Eval batches per epoch (None: the whole eval set).
        save_dir: Where the best weights (``ecc_lenet_best_avg_ce.pt``) are written.
        log_steps: Training log interval (None: silent).
        num_process: DataLoader worker processes (None: the Pipeline's default, one per CPU core up to 16).
    """
    train_data, eval_data = cifair10.load_data()
    test_data = eval_data.split(0.5)
    pipeline = fe.Pipeline(
        train_data=train_data, eval_data=eval_data, test_data=test_data, batch_size=batch_size,
        num_process=num_process,
        ops=[Normalize(inputs="x", outputs="x", mean=CIFAR_MEAN, std=CIFAR_STD),
             ChannelTranspose(inputs="x", outputs="x")])
    model = fe.build(model_fn=lambda: EccLeNet(code_length=code_length), optimizer_fn="adam",
                     model_name="ecc_lenet")
    network = fe.Network(ops=[
        Watch(inputs="x", mode=ATTACKED),
        ModelOp(model=model, inputs="x", outputs="y_pred"),
        CrossEntropy(inputs=("y_pred", "y"), outputs="base_ce"),
        UpdateOp(model=model, loss_name="base_ce"),
        FGSM(data="x", loss="base_ce", outputs="x_adverse", epsilon=epsilon, mode=ATTACKED),
        ModelOp(model=model, inputs="x_adverse", outputs="y_pred_adv", mode=ATTACKED),
        CrossEntropy(inputs=("y_pred_adv", "y"), outputs="adv_ce", mode=ATTACKED),
        # FastEstimator averages in "eval" only; fastest's Estimator.test refuses a monitored key that its test
        # run never produces, so the average is also computed (and logged) on test batches
        Average(inputs=("base_ce", "adv_ce"), outputs="avg_ce", mode=ATTACKED),
    ])
    traces = [
        Accuracy(true_key="y", pred_key="y_pred", output_name="base_accuracy"),
        Accuracy(true_key="y", pred_key="y_pred_adv", output_name="adversarial_accuracy"),
        BestModelSaver(model=model, save_dir=save_dir, metric="avg_ce", save_best_mode="min", load_best_final=True),
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces, log_steps=log_steps,
                        train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch,
                        monitor_names=["adv_ce", "avg_ce"], progress_bar=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--epsilon", type=float, default=0.04)
    parser.add_argument("--code_length", type=int, default=16)
    parser.add_argument("--save_dir", default="outputs/ecc")
    args = parser.parse_args()
    estimator = get_estimator(epsilon=args.epsilon, epochs=args.epochs, batch_size=args.batch_size,
                              code_length=args.code_length, save_dir=args.save_dir)
    estimator.fit()
    summary = estimator.test("ecc")
    if summary is not None:
        test = summary.history["test"]
        step = max(test["base_accuracy"])
        print(f"test accuracy: clean {test['base_accuracy'][step]:.4f}, "
              f"adversarial {test['adversarial_accuracy'][step]:.4f}")


if __name__ == "__main__":
    main()
