"""A convolutional variational autoencoder (Kingma and Welling, 2014) with a 2-D latent space, on MNIST.

The encoder (two stride-2 convolutions and a dense layer) maps a binarized 28×28 digit to the mean and
log-variance of a 2-D Gaussian; a latent point is drawn from it with the reparameterization trick (so
gradients reach the encoder) and the decoder (a dense layer to 7×7×32 and three transposed convolutions,
sigmoid at the end) turns it back into pixel probabilities. The loss is the single-sample estimate of the
negative evidence lower bound used by TensorFlow's CVAE tutorial
(https://www.tensorflow.org/tutorials/generative/cvae): the binary cross entropy summed over the 784
pixels, plus ``log q(z|x) - log p(z)`` with a standard normal prior. Both models use Adam.

The data is MNIST from ``fastest.dataset.data.mnist`` (downloaded on first use): the 60,000 training
images train, the 10,000 test images are the eval set that picks the best encoder and decoder. Run
``python cvae.py [--epochs 20 --batch_size 100 --save_dir outputs/cvae]``: it writes
``encoder_best_loss.pt``, ``decoder_best_loss.pt`` and ``cvae_latent_grid.png`` (the digits the decoder
draws across the latent plane) to ``--save_dir``. The loss reached on the real data has not been measured
here (this machine has no internet access to download MNIST).
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

import fastest as fe
from fastest.dataset.data import mnist
from fastest.op.numpyop.univariate import Binarize, ExpandDims, Minmax
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.op.tensorop.tensorop import TensorOp
from fastest.trace.display import save_png
from fastest.trace.io import BestModelSaver
from fastest.trace.trace import Trace

LATENT_DIM = 2
PIXELS = 28 * 28


# ----- models -------------------------------------------------------------------------------------------------------
class Encoder(nn.Module):
    """``[B, 1, 28, 28]`` → ``[B, 2 * LATENT_DIM]``: the latent mean, then the latent log-variance."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 32, 3, stride=2), nn.ReLU(),  # 13×13
                                 nn.Conv2d(32, 64, 3, stride=2), nn.ReLU(),  # 6×6
                                 nn.Flatten(), nn.Linear(64 * 6 * 6, 2 * LATENT_DIM))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    """``[B, LATENT_DIM]`` → ``[B, 1, 28, 28]`` pixel probabilities."""

    def __init__(self) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.Linear(LATENT_DIM, 32 * 7 * 7), nn.ReLU())
        self.draw = nn.Sequential(
            nn.ConvTranspose2d(32, 64, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),  # 14×14
            nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),  # 28×28
            nn.ConvTranspose2d(32, 1, 3, padding=1), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.draw(self.project(z).view(-1, 32, 7, 7))


# ----- ops ----------------------------------------------------------------------------------------------------------
class SplitOp(TensorOp):
    """The encoder's output → (mean, log-variance), ``LATENT_DIM`` columns each."""

    def forward(self, data: torch.Tensor, state: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = data.split(LATENT_DIM, dim=1)
        return mean, logvar


class ReparameterizeOp(TensorOp):
    """A sample ``mean + exp(logvar / 2) * eps`` with ``eps ~ N(0, 1)``, differentiable in mean and logvar."""

    def forward(self, data: list[torch.Tensor], state: Mapping[str, Any]) -> torch.Tensor:
        mean, logvar = data
        return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)


def log_normal(z: torch.Tensor, mean: torch.Tensor | float, logvar: torch.Tensor | float) -> torch.Tensor:
    """Log-density of ``z`` under a diagonal Gaussian, summed over the latent axis (one value per sample)."""
    logvar = torch.as_tensor(logvar, dtype=z.dtype, device=z.device)
    return (-0.5 * ((z - mean) ** 2 * torch.exp(-logvar) + logvar + math.log(2 * math.pi))).sum(dim=1)


class CVAELoss(TensorOp):
    """``784 * mean pixel BCE + mean over the batch of (log q(z|x) - log p(z))``.

    ``inputs``: the mean pixel cross entropy, the latent mean, log-variance and sample.
    """

    def forward(self, data: list[torch.Tensor], state: Mapping[str, Any]) -> torch.Tensor:
        cross_entropy, mean, logvar, z = data
        return PIXELS * cross_entropy + torch.mean(log_normal(z, mean, logvar) - log_normal(z, 0.0, 0.0))


# ----- estimator ----------------------------------------------------------------------------------------------------
def get_estimator(batch_size: int = 100, epochs: int = 20, train_steps_per_epoch: int | None = None,
                  save_dir: str = "outputs/cvae", eval_steps_per_epoch: int | None = None,
                  log_steps: int | None = 100, traces: Iterable[Trace] = ()) -> fe.Estimator:
    """The CVAE Estimator on MNIST.

    Args:
        batch_size: Images per batch.
        epochs: Training epochs.
        train_steps_per_epoch: Batches per training epoch (None = one pass over the 60,000 images).
        save_dir: Folder of the best encoder and decoder (lowest eval loss), ``<model>_best_loss.pt``.
        eval_steps_per_epoch: Batches per eval epoch (None = all 10,000 test images).
        log_steps: Training log interval (None = silent).
        traces: Extra traces.
    """
    train_data, eval_data = mnist.load_data()
    pipeline = fe.Pipeline(train_data=train_data, eval_data=eval_data, batch_size=batch_size, num_process=0,
                           ops=[ExpandDims(inputs="x", outputs="x", axis=0),
                                Minmax(inputs="x", outputs="x"),
                                Binarize(inputs="x", outputs="x", threshold=0.5)])
    encoder = fe.build(model_fn=Encoder, optimizer_fn="adam", model_name="encoder")
    decoder = fe.build(model_fn=Decoder, optimizer_fn="adam", model_name="decoder")
    network = fe.Network(ops=[
        ModelOp(model=encoder, inputs="x", outputs="meanlogvar"),
        SplitOp(inputs="meanlogvar", outputs=("mean", "logvar")),
        ReparameterizeOp(inputs=("mean", "logvar"), outputs="z"),
        ModelOp(model=decoder, inputs="z", outputs="x_logit"),  # FE's name; the values are probabilities
        CrossEntropy(inputs=("x_logit", "x"), outputs="cross_entropy", form="binary"),  # per pixel
        CVAELoss(inputs=("cross_entropy", "mean", "logvar", "z"), outputs="loss"),
        UpdateOp(model=encoder, loss_name="loss"),
        UpdateOp(model=decoder, loss_name="loss"),
    ])
    savers = [BestModelSaver(model=model, save_dir=save_dir) for model in (encoder, decoder)]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=[*savers, *traces],
                        train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch,
                        log_steps=log_steps, progress_bar=False, accelerator="cpu")


# ----- outputs ------------------------------------------------------------------------------------------------------
def save_latent_grid(decoder: nn.Module, path: str, n: int = 10, extent: float = 2.0) -> str:
    """Decode an ``n × n`` grid of latent points over ``[-extent, extent]²`` into one PNG image at ``path``
    (the first latent axis runs left to right, the second bottom to top); returns the path."""
    axis = np.linspace(-extent, extent, n, dtype=np.float32)
    points = torch.from_numpy(np.stack(np.meshgrid(axis, axis[::-1]), axis=-1).reshape(-1, LATENT_DIM))
    decoder.eval()
    with torch.no_grad():
        digits = decoder(points.to(next(decoder.parameters()).device)).cpu().numpy()[:, 0]
    canvas = digits.reshape(n, n, 28, 28).transpose(0, 2, 1, 3).reshape(n * 28, n * 28)
    figure = Figure(figsize=(n * 0.5, n * 0.5))
    axes = figure.add_axes((0, 0, 1, 1))
    axes.imshow(canvas, cmap="gray", vmin=0, vmax=1)
    axes.axis("off")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    save_png(figure, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=100)
    parser.add_argument("--train_steps_per_epoch", type=int, default=None)
    parser.add_argument("--save_dir", default="outputs/cvae")
    args = parser.parse_args()
    estimator = get_estimator(batch_size=args.batch_size, epochs=args.epochs,
                              train_steps_per_epoch=args.train_steps_per_epoch, save_dir=args.save_dir)
    summary = estimator.fit("cvae")
    if summary is None:  # not the chief process
        return
    evals = summary.history["eval"]["loss"]
    print("eval loss by step: " + ", ".join(f"{step}: {value:.2f}" for step, value in sorted(evals.items())))
    decoder = next(m for m in estimator.network.models if m.model_name == "decoder")
    print(f"wrote {save_latent_grid(decoder, os.path.join(args.save_dir, 'cvae_latent_grid.png'))}")


if __name__ == "__main__":
    main()
