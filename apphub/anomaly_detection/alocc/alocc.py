"""ALOCC: adversarially learned one-class classification (Sabokrou et al., CVPR 2018), on MNIST.

The normal class is the digit 1; every other digit is an anomaly. Two networks are trained only on
images of 1s. The reconstructor R, a small convolutional encoder-decoder, receives a 1 with Gaussian
noise (σ = 0.155 on images scaled to [-1, 1]) and learns to give back the clean image; the
discriminator D learns to tell real images from R's outputs. R's loss is the adversarial term (fool D)
plus 0.2 times a reconstruction term; D's is the usual real-vs-fake cross entropy. Both losses use
binary cross entropy *on logits*, applied to D's sigmoid output and to R's tanh output (against targets
in [-1, 1]), as FastEstimator's program does; this softer loss is kept so that results compare.

At evaluation ``D(R(x))`` is the score of an image being normal: R maps 1s to convincing 1s and other
digits to something D rejects. The eval set holds every 1 of MNIST's test set (label 1) and as many
other test digits drawn at random (label 0); the ``AnomalyScores`` trace reports the ROC AUC of the
score and the F1 score of the anomaly class at the equal-error-rate threshold. Both models are saved
whenever that F1 score is at its best.

MNIST is downloaded by ``fastest.dataset.data.mnist`` on first use. Run ``python alocc.py [--epochs 20]
[--batch_size 128] [--save_dir outputs/alocc]``. Its AUC and F1 on the real data have not been measured
here (this machine has no internet).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.metrics import auc, f1_score, roc_curve
from torch import nn

import fastest as fe
from fastest.backend import binary_crossentropy
from fastest.dataset import NumpyDataset
from fastest.dataset.data import mnist
from fastest.op.numpyop import LambdaOp
from fastest.op.numpyop.univariate import ChannelTranspose, ExpandDims, Normalize
from fastest.op.tensorop.loss import LossOp
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.io import BestModelSaver
from fastest.trace.trace import Trace
from fastest.util import to_number

NORMAL_DIGIT = 1
NOISE_STD = 0.155


# ----- data ---------------------------------------------------------------------------------------------------------
def one_class_split(train: NumpyDataset, test: NumpyDataset) -> tuple[NumpyDataset, NumpyDataset]:
    """The training set (the normal digit's images only) and a balanced eval set from MNIST's two splits.

    The eval set holds every normal test image (``y`` 1) and an equal number of other test images drawn
    without replacement with numpy's global generator (``y`` 0, anomalies). The training set has no labels.
    """
    train_x, test_x, test_y = train.data["x"], test.data["x"], test.data["y"]
    normal, others = test_x[test_y == NORMAL_DIGIT], test_x[test_y != NORMAL_DIGIT]
    anomalies = others[np.random.choice(len(others), len(normal), replace=False)]
    eval_x = np.concatenate([normal, anomalies])
    eval_y = np.concatenate([np.ones(len(normal)), np.zeros(len(anomalies))]).astype(np.float32)
    return (NumpyDataset({"x": train_x[train.data["y"] == NORMAL_DIGIT]}),
            NumpyDataset({"x": eval_x, "y": eval_y}))


# ----- models -------------------------------------------------------------------------------------------------------
def _init_conv_weights(module: nn.Module) -> None:
    """Convolution kernels from N(0, 0.02), as in DCGAN; biases and batch norms keep PyTorch's defaults."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, mean=0.0, std=0.02)


def _down(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 5, stride=2, padding=2)  # halves the side, rounding up


class Reconstructor(nn.Module):
    """Encoder 1×28×28 → 128×4×4 (three stride-2 5×5 convolutions), decoder back to 1×28×28 with tanh."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            _down(1, 32), nn.BatchNorm2d(32), nn.LeakyReLU(0.2),
            _down(32, 64), nn.BatchNorm2d(64), nn.LeakyReLU(0.2),
            _down(64, 128), nn.LeakyReLU(0.2), nn.BatchNorm2d(128))  # FastEstimator's order in the last block
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(128, 32, 5, stride=2, padding=2), nn.BatchNorm2d(32), nn.ReLU(),  # 4 → 7
            nn.ConvTranspose2d(32, 16, 5, stride=2, padding=2, output_padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.ConvTranspose2d(16, 1, 5, stride=2, padding=2, output_padding=1), nn.Tanh())  # 14 → 28
        _init_conv_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class Discriminator(nn.Module):
    """Four stride-2 5×5 convolutions (28 → 14 → 7 → 4 → 2), then one sigmoid unit: P(image is real)."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            _down(1, 16), nn.BatchNorm2d(16), nn.LeakyReLU(0.2),
            _down(16, 32), nn.BatchNorm2d(32), nn.LeakyReLU(0.2),
            _down(32, 64), nn.BatchNorm2d(64), nn.LeakyReLU(0.2),
            _down(64, 128), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(128 * 2 * 2, 1), nn.Sigmoid())
        _init_conv_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


# ----- losses -------------------------------------------------------------------------------------------------------
class RLoss(LossOp):
    """Reconstructor loss: fool D, plus ``alpha`` × reconstruction. Inputs ``(fake_score, x_fake, x)``."""

    def __init__(self, inputs: Sequence[str], outputs: str, alpha: float = 0.2, mode: Any = "!infer") -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode)
        self.alpha = alpha

    def forward(self, data: list[torch.Tensor], state: Mapping[str, Any]) -> torch.Tensor:
        fake_score, x_fake, x = data
        reconstruction = binary_crossentropy(y_pred=x_fake, y_true=x, from_logits=True)
        adversarial = binary_crossentropy(y_pred=fake_score, y_true=torch.ones_like(fake_score), from_logits=True)
        return adversarial + self.alpha * reconstruction


class DLoss(LossOp):
    """Discriminator loss: real images scored 1, reconstructions 0. Inputs ``(true_score, fake_score)``."""

    def forward(self, data: list[torch.Tensor], state: Mapping[str, Any]) -> torch.Tensor:
        true_score, fake_score = data
        return (binary_crossentropy(y_pred=true_score, y_true=torch.ones_like(true_score), from_logits=True)
                + binary_crossentropy(y_pred=fake_score, y_true=torch.zeros_like(fake_score), from_logits=True))


# ----- metric -------------------------------------------------------------------------------------------------------
def anomaly_scores(y_true: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """``(roc_auc, f1)`` of normality scores against labels (1 normal, 0 anomaly).

    The F1 score is the anomaly class's, with images whose score is at least the equal-error-rate
    threshold (where the false positive rate meets the false negative rate) called normal.
    """
    fpr, tpr, thresholds = roc_curve(y_true, score, pos_label=1)
    threshold = thresholds[np.nanargmin(np.abs(1.0 - tpr - fpr))]
    predicted = (score >= threshold).astype(np.float32)
    return float(auc(fpr, tpr)), float(f1_score(y_true, predicted, pos_label=0))


class AnomalyScores(Trace):
    """Collect labels and scores over an epoch, then log the ROC AUC and F1 of :func:`anomaly_scores`.

    Args:
        true_key: Key of the labels (1 normal, 0 anomaly).
        pred_key: Key of the normality scores.
        mode: Modes to run in.
        output_name: Names of the two logged values, ``(auc, f1)``.
    """

    def __init__(self, true_key: str, pred_key: str, mode: str | Sequence[str] = ("eval", "test"),
                 output_name: Sequence[str] = ("auc_score", "f1_score")) -> None:
        super().__init__(inputs=(true_key, pred_key), outputs=output_name, mode=mode)
        self.y_true: list[np.ndarray] = []
        self.y_score: list[np.ndarray] = []

    def on_epoch_begin(self, data: Any) -> None:
        self.y_true, self.y_score = [], []

    def on_batch_end(self, data: Any) -> None:
        self.y_true.append(np.ravel(to_number(data[self.inputs[0]])))
        self.y_score.append(np.ravel(to_number(data[self.inputs[1]])))

    def on_epoch_end(self, data: Any) -> None:
        roc_auc, f1 = anomaly_scores(np.concatenate(self.y_true), np.concatenate(self.y_score))
        data.write_with_log(self.outputs[0], roc_auc)
        data.write_with_log(self.outputs[1], f1)


# ----- estimator ----------------------------------------------------------------------------------------------------
def add_noise(x: np.ndarray) -> np.ndarray:
    return (x + np.random.normal(0.0, NOISE_STD, size=x.shape)).astype(np.float32)


def get_estimator(epochs: int = 20, batch_size: int = 128, train_steps_per_epoch: int | None = None,
                  save_dir: str = "outputs/alocc", log_steps: int | None = 50,
                  num_process: int | None = None) -> fe.Estimator:
    """The ALOCC Estimator on MNIST, with the digit 1 as the normal class.

    Args:
        epochs: Training epochs.
        batch_size: Samples per batch.
        train_steps_per_epoch: Training batches per epoch (None: all the 1s of MNIST's training set).
        save_dir: Where the best weights (``reconstructor_best_f1_score.pt``, ``discriminator_best_f1_score.pt``)
            are written.
        log_steps: Training log interval (None: silent).
        num_process: DataLoader worker processes (None: the Pipeline's default, one per CPU core up to 16).
    """
    train_data, eval_data = one_class_split(*mnist.load_data())
    pipeline = fe.Pipeline(
        train_data=train_data, eval_data=eval_data, batch_size=batch_size, num_process=num_process,
        ops=[ExpandDims(inputs="x", outputs="x"),  # (28, 28, 1)
             Normalize(inputs="x", outputs="x", mean=1.0, std=1.0, max_pixel_value=127.5),  # [-1, 1]
             LambdaOp(fn=add_noise, inputs="x", outputs="x_w_noise", mode="train"),
             ChannelTranspose(inputs="x", outputs="x"),
             ChannelTranspose(inputs="x_w_noise", outputs="x_w_noise", mode="train")])
    recon_model = fe.build(model_fn=Reconstructor, optimizer_fn=lambda p: torch.optim.RMSprop(p, lr=2e-4),
                           model_name="reconstructor")
    disc_model = fe.build(model_fn=Discriminator, optimizer_fn=lambda p: torch.optim.RMSprop(p, lr=1e-4),
                          model_name="discriminator")
    network = fe.Network(ops=[
        ModelOp(model=recon_model, inputs="x_w_noise", outputs="x_fake", mode="train"),
        ModelOp(model=recon_model, inputs="x", outputs="x_fake", mode="eval"),
        ModelOp(model=disc_model, inputs="x_fake", outputs="fake_score"),
        ModelOp(model=disc_model, inputs="x", outputs="true_score"),
        RLoss(inputs=("fake_score", "x_fake", "x"), outputs="rloss"),
        UpdateOp(model=recon_model, loss_name="rloss"),
        DLoss(inputs=("true_score", "fake_score"), outputs="dloss"),
        UpdateOp(model=disc_model, loss_name="dloss"),
    ])
    traces = [
        AnomalyScores(true_key="y", pred_key="fake_score", mode="eval", output_name=("auc_score", "f1_score")),
        BestModelSaver(model=recon_model, save_dir=save_dir, metric="f1_score", save_best_mode="max"),
        BestModelSaver(model=disc_model, save_dir=save_dir, metric="f1_score", save_best_mode="max"),
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces, log_steps=log_steps,
                        train_steps_per_epoch=train_steps_per_epoch, progress_bar=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--save_dir", default="outputs/alocc")
    args = parser.parse_args()
    summary = get_estimator(epochs=args.epochs, batch_size=args.batch_size, save_dir=args.save_dir).fit("alocc")
    if summary is not None:
        evals = summary.history["eval"]
        step = max(evals["f1_score"], key=lambda s: evals["f1_score"][s])
        print(f"best eval F1 {evals['f1_score'][step]:.4f} (AUC {evals['auc_score'][step]:.4f}) at step {step}")


if __name__ == "__main__":
    main()
