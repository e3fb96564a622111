"""DCGAN: a deep convolutional GAN that draws handwritten digits (Radford et al., 2016), trained on MNIST.

A generator turns 100 normal random numbers into a 28×28 image in [-1, 1] (a dense layer to 7×7×256,
then three transposed convolutions with batch norm and leaky ReLU, tanh at the end); a discriminator
(two stride-2 convolutions with dropout, one dense logit) scores images as real or generated. Each step
the generator is updated to make the discriminator call its fakes real, then the discriminator to tell
the real batch from the same fakes (binary cross entropy on logits, Adam at 1e-4 for both). The
generator's weights are saved every 5 epochs.

The data is MNIST from ``fastest.dataset.data.mnist`` (downloaded on first use; only the 60,000 training
images are used). Run ``python dcgan.py [--epochs 50 --batch_size 256 --save_dir outputs/dcgan]``: it
writes ``generator_epoch_<n>.pt`` and ``dcgan_samples.png`` (a grid of generated digits) to ``--save_dir``.
The quality of the digits after a full run on the real data has not been checked here (this machine has
no internet access to download MNIST).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

import fastest as fe
from fastest.backend import binary_crossentropy
from fastest.dataset.data import mnist
from fastest.op.numpyop import LambdaOp
from fastest.op.numpyop.univariate import ExpandDims, Normalize
from fastest.op.tensorop.loss import LossOp
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.display import save_png
from fastest.trace.io import ModelSaver
from fastest.trace.trace import Trace

LATENT_DIM = 100


# ----- models -------------------------------------------------------------------------------------------------------
class Generator(nn.Module):
    """``[B, 100]`` noise → ``[B, 1, 28, 28]`` images in [-1, 1]: 7×7 → 7×7 → 14×14 → 28×28."""

    def __init__(self, latent_dim: int = LATENT_DIM) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.Linear(latent_dim, 256 * 7 * 7, bias=False), nn.BatchNorm1d(256 * 7 * 7),
                                     nn.LeakyReLU())

        def up(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
            return [nn.ConvTranspose2d(c_in, c_out, 5, stride=stride, padding=2, output_padding=stride - 1,
                                       bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU()]

        self.draw = nn.Sequential(*up(256, 128, 1), *up(128, 64, 2),
                                  nn.ConvTranspose2d(64, 1, 5, stride=2, padding=2, output_padding=1, bias=False),
                                  nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.draw(self.project(z).view(-1, 256, 7, 7))


class Discriminator(nn.Module):
    """``[B, 1, 28, 28]`` images → ``[B, 1]`` logits of "real"."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 64, 5, stride=2, padding=2), nn.LeakyReLU(), nn.Dropout2d(0.3),
            nn.Conv2d(64, 128, 5, stride=2, padding=2), nn.LeakyReLU(), nn.Dropout2d(0.3),
            nn.Flatten(), nn.Linear(128 * 7 * 7, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# ----- losses -------------------------------------------------------------------------------------------------------
class GeneratorLoss(LossOp):
    """Binary cross entropy of the discriminator's logits on the fakes against "real" (1)."""

    def forward(self, data: torch.Tensor, state: Mapping[str, Any]) -> torch.Tensor:
        return binary_crossentropy(y_pred=data, y_true=torch.ones_like(data), from_logits=True)


class DiscriminatorLoss(LossOp):
    """``BCE(real logits, 1) + BCE(fake logits, 0)``; ``inputs``: the real scores, then the fake scores."""

    def forward(self, data: list[torch.Tensor], state: Mapping[str, Any]) -> torch.Tensor:
        real, fake = data
        return (binary_crossentropy(y_pred=real, y_true=torch.ones_like(real), from_logits=True)
                + binary_crossentropy(y_pred=fake, y_true=torch.zeros_like(fake), from_logits=True))


# ----- estimator ----------------------------------------------------------------------------------------------------
def get_estimator(epochs: int = 50, batch_size: int = 256, train_steps_per_epoch: int | None = None,
                  save_dir: str = "outputs/dcgan", log_steps: int | None = 100,
                  traces: Iterable[Trace] = ()) -> fe.Estimator:
    """The DCGAN Estimator on MNIST.

    Args:
        epochs: Training epochs.
        batch_size: Real images (and noise vectors) per batch.
        train_steps_per_epoch: Batches per epoch (None = one pass over the 60,000 images).
        save_dir: Folder of the generator's weights, saved every 5 epochs as ``generator_epoch_<n>.pt``.
        log_steps: Training log interval (None = silent).
        traces: Extra traces.
    """
    train_data, _ = mnist.load_data()  # uint8 28×28 images under "x"; the labels are not used
    pipeline = fe.Pipeline(
        train_data=train_data, batch_size=batch_size, num_process=0,
        ops=[ExpandDims(inputs="x", outputs="x", axis=0),
             Normalize(inputs="x", outputs="x", mean=1.0, std=1.0, max_pixel_value=127.5),  # x / 127.5 - 1
             LambdaOp(fn=lambda: np.random.normal(size=LATENT_DIM).astype(np.float32), outputs="z")])

    def adam(params: Any) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=1e-4)

    generator = fe.build(model_fn=Generator, optimizer_fn=adam, model_name="generator")
    discriminator = fe.build(model_fn=Discriminator, optimizer_fn=adam, model_name="discriminator")
    network = fe.Network(ops=[
        ModelOp(model=generator, inputs="z", outputs="x_fake"),
        ModelOp(model=discriminator, inputs="x_fake", outputs="fake_score"),
        GeneratorLoss(inputs="fake_score", outputs="gloss"),
        UpdateOp(model=generator, loss_name="gloss"),
        ModelOp(model=discriminator, inputs="x", outputs="true_score"),
        DiscriminatorLoss(inputs=("true_score", "fake_score"), outputs="dloss"),
        UpdateOp(model=discriminator, loss_name="dloss"),
    ])
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs,
                        traces=[ModelSaver(model=generator, save_dir=save_dir, frequency=5), *traces],
                        train_steps_per_epoch=train_steps_per_epoch, log_steps=log_steps, progress_bar=False,
                        accelerator="cpu")


# ----- outputs ------------------------------------------------------------------------------------------------------
def save_samples(generator: nn.Module, path: str, rows: int = 4, cols: int = 4, seed: int = 0) -> str:
    """Draw ``rows × cols`` digits from fixed noise (``seed``) into a PNG grid at ``path``; returns the path."""
    noise = torch.randn(rows * cols, LATENT_DIM, generator=torch.Generator().manual_seed(seed))
    device = next(generator.parameters()).device
    generator.eval()
    with torch.no_grad():
        images = generator(noise.to(device)).cpu().numpy()[:, 0]
    figure = Figure(figsize=(cols, rows))
    for k, axes in enumerate(figure.subplots(rows, cols, squeeze=False).flat):
        axes.imshow((images[k] + 1) / 2, cmap="gray", vmin=0, vmax=1)
        axes.axis("off")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    save_png(figure, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--train_steps_per_epoch", type=int, default=None)
    parser.add_argument("--save_dir", default="outputs/dcgan")
    args = parser.parse_args()
    estimator = get_estimator(epochs=args.epochs, batch_size=args.batch_size,
                              train_steps_per_epoch=args.train_steps_per_epoch, save_dir=args.save_dir)
    summary = estimator.fit("dcgan")
    if summary is None:  # not the chief process
        return
    train = summary.history["train"]
    last = max(train["dloss"])
    print(f"step {last}: generator loss {train['gloss'][last]:.3f}, discriminator loss {train['dloss'][last]:.3f}")
    generator = next(m for m in estimator.network.models if m.model_name == "generator")
    print(f"wrote {save_samples(generator, os.path.join(args.save_dir, 'dcgan_samples.png'))}")


if __name__ == "__main__":
    main()
