"""CycleGAN: unpaired image-to-image translation (Zhu et al., 2017; the paper's Fig. 10).

Two generators (A→B, B→A) and two PatchGAN discriminators, trained on unpaired batches from a
``BatchDataset`` of the two domains. Generators minimize the least-squares adversarial loss plus
the cycle loss (A→B→A and B→A→B, L1) and the identity loss (a generator fed its own target
domain should change nothing); discriminators see real images and fakes from a history pool.
The four ``UpdateOp``s close the op list, so the Network defers their optimizer steps: all four
gradients come from the same graph before any model changes. Each generator minimizes every
loss term it takes part in, so the four separate updates equal CycleGAN's joint generator step.
The learning rate is constant for the first half of training, then decays linearly.

Nothing is downloaded: pass ``data_a`` / ``data_b`` (datasets of ``{"A": image}`` and ``{"B": image}``,
uint8 H×W×3 with even H and W, as FastEstimator's horse2zebra loader names them), or the
script learns to turn generated dark squares (domain A) into bright circles (domain B) on 16×16
images. Run ``python cyclegan.py`` (a few minutes on 2 CPU cores): it writes the two generators,
``cyclegan_samples.png`` (a few images of each domain, translated and translated back) and
``cyclegan_curves.png`` (the losses) to ``outputs/cyclegan`` (``--save_dir``).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.utils.data import Dataset

import fastest as fe
from fastest.backend import feed_forward, save_model
from fastest.dataset import BatchDataset, NumpyDataset
from fastest.op.numpyop import Delete
from fastest.op.numpyop.univariate import ChannelTranspose, Normalize
from fastest.op.tensorop.loss import L1Loss, LossOp
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.op.tensorop.tensorop import TensorOp
from fastest.summary import Summary
from fastest.summary.logs import visualize_logs
from fastest.trace.adapt import LRScheduler
from fastest.trace.display import save_png
from fastest.trace.trace import Trace

LOSSES = ("g_AtoB_loss", "g_BtoA_loss", "d_A_loss", "d_B_loss", "cycle_A", "cycle_B", "identity_A", "identity_B")


# ----- data ---------------------------------------------------------------------------------------------------------
def make_domain(kind: str, n: int = 256, size: int = 16, seed: int = 0) -> NumpyDataset:
    """``n`` grey ``size×size×3`` uint8 images under key ``kind``, one shape each: "A" a dark square, "B" a bright disc."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size]
    images = rng.normal(128, 10, (n, size, size, 3))
    for image in images:
        half = rng.uniform(size / 8, size / 4)
        cy, cx = rng.uniform(half, size - half, 2)
        if kind == "A":
            inside = (abs(rows + 0.5 - cy) <= half) & (abs(cols + 0.5 - cx) <= half)
            image[inside] = rng.normal(30, 10, (int(inside.sum()), 3))
        else:
            inside = (rows + 0.5 - cy) ** 2 + (cols + 0.5 - cx) ** 2 <= half**2
            image[inside] = rng.normal(230, 10, (int(inside.sum()), 3))
    return NumpyDataset({kind: np.clip(images, 0, 255).astype(np.uint8)})


# ----- models -------------------------------------------------------------------------------------------------------
def _norm_relu(channels: int) -> list[nn.Module]:
    return [nn.InstanceNorm2d(channels, affine=True), nn.ReLU()]


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect"),
                                  *_norm_relu(channels),
                                  nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect"),
                                  nn.InstanceNorm2d(channels, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Generator(nn.Module):
    """7×7 stem, one stride-2 downsampling, residual blocks, one upsampling, 7×7 head with tanh (images in [-1, 1])."""

    def __init__(self, channels: int = 3, width: int = 16, blocks: int = 2) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 7, padding=3, padding_mode="reflect"), *_norm_relu(width),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), *_norm_relu(2 * width),
            *[ResidualBlock(2 * width) for _ in range(blocks)],
            nn.ConvTranspose2d(2 * width, width, 3, stride=2, padding=1, output_padding=1), *_norm_relu(width),
            nn.Conv2d(width, channels, 7, padding=3, padding_mode="reflect"), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Discriminator(nn.Module):
    """PatchGAN: a map of real/fake scores, one per overlapping patch (no sigmoid: least-squares loss)."""

    def __init__(self, channels: int = 3, width: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.InstanceNorm2d(2 * width, affine=True),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# ----- ops ----------------------------------------------------------------------------------------------------------
class ImagePool(TensorOp):
    """A history of generated images for the discriminator (Shrivastava et al., 2017).

    Until the pool holds ``pool_size`` images each fake passes through and is stored; then each fake
    is, with probability 0.5, swapped for a random stored one (which it replaces). The output is
    detached. ``pool_size=0`` passes the fakes through. The preflight step leaves the pool alone.
    """

    def __init__(self, inputs: str, outputs: str, pool_size: int = 50) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode="train")
        self.pool_size = pool_size
        self.images: list[torch.Tensor] = []

    def forward(self, data: torch.Tensor, state: dict[str, Any]) -> torch.Tensor:
        fakes = data.detach()
        if self.pool_size == 0 or state.get("warmup"):
            return fakes
        out = []
        for image in fakes:
            if len(self.images) < self.pool_size:
                self.images.append(image)
                out.append(image)
            elif torch.rand(()) < 0.5:
                k = int(torch.randint(self.pool_size, ()))
                out.append(self.images[k])
                self.images[k] = image
            else:
                out.append(image)
        return torch.stack(out)


class GeneratorLoss(LossOp):
    """``mean((D(fake) - 1)²) + weight * (cycle_A + cycle_B) + 0.5 * weight * identity``.

    ``inputs``: the discriminator's scores of this generator's fakes, the two cycle losses, and this
    generator's identity loss.
    """

    def __init__(self, inputs: Iterable[str], outputs: str, weight: float = 10.0) -> None:
        super().__init__(inputs=inputs, outputs=outputs)
        self.weight = weight

    def forward(self, data: list[torch.Tensor], state: dict[str, Any]) -> torch.Tensor:
        d_fake, cycle_a, cycle_b, identity = data
        adversarial = torch.mean((d_fake - 1) ** 2)
        return adversarial + self.weight * (cycle_a + cycle_b) + 0.5 * self.weight * identity


class DiscriminatorLoss(LossOp):
    """Least-squares GAN loss of a discriminator: ``0.5 * (mean((D(real) - 1)²) + mean(D(fake)²))``."""

    def forward(self, data: list[torch.Tensor], state: dict[str, Any]) -> torch.Tensor:
        d_real, d_fake = data
        return 0.5 * (torch.mean((d_real - 1) ** 2) + torch.mean(d_fake**2))


# ----- estimator ----------------------------------------------------------------------------------------------------
def linear_decay(epoch: int, epochs: int, lr: float) -> float:
    """``lr`` for the first half of the epochs, then a straight line down to ``lr / (epochs - epochs // 2 + 1)``."""
    constant = epochs // 2
    return lr if epoch <= constant else lr * (epochs + 1 - epoch) / (epochs + 1 - constant)


def get_estimator(epochs: int = 20, batch_size: int = 8, data_a: Dataset | None = None,
                  data_b: Dataset | None = None, lr: float = 2e-4, cycle_weight: float = 10.0,
                  pool_size: int = 50, width: int = 16, train_steps_per_epoch: int | None = None,
                  log_steps: int | None = 20, traces: Iterable[Trace] = ()) -> fe.Estimator:
    """The CycleGAN Estimator.

    Args:
        epochs: Training epochs.
        batch_size: Images of each domain per batch.
        data_a: Domain A, a dataset of ``{"A": uint8 HxWx3}`` (H and W even); None = dark squares.
        data_b: Domain B, a dataset of ``{"B": uint8 HxWx3}``; None = bright discs.
        lr: Adam learning rate (betas 0.5, 0.999) of all four models; decays linearly in the second half.
        cycle_weight: Weight of the cycle losses (the identity loss gets half of it).
        pool_size: Fakes kept in each discriminator's history pool (0 = no pool).
        width: Channels of the first convolution of every model.
        train_steps_per_epoch: Batches per epoch (None = one pass over the larger domain).
        log_steps: Training log interval (None = silent).
        traces: Extra traces.
    """
    data_a = data_a if data_a is not None else make_domain("A", seed=0)
    data_b = data_b if data_b is not None else make_domain("B", seed=1)
    pipeline = fe.Pipeline(
        train_data=BatchDataset([data_a, data_b], num_samples=[batch_size, batch_size]),  # rows {"A": .., "B": ..}
        num_process=0,
        ops=[Normalize(inputs=("A", "B"), outputs=("real_A", "real_B"), mean=0.5, std=0.5),  # [-1, 1]
             ChannelTranspose(inputs=("real_A", "real_B"), outputs=("real_A", "real_B")),
             Delete(keys=("A", "B"))])

    def adam(params: Any) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999))

    g_ab, g_ba = (fe.build(lambda: Generator(width=width), adam, model_name=name) for name in ("g_AtoB", "g_BtoA"))
    d_a, d_b = (fe.build(lambda: Discriminator(width=width), adam, model_name=name) for name in ("d_A", "d_B"))
    network = fe.Network(ops=[
        ModelOp(model=g_ab, inputs="real_A", outputs="fake_B"),
        ModelOp(model=g_ba, inputs="real_B", outputs="fake_A"),
        ModelOp(model=g_ba, inputs="fake_B", outputs="cycled_A"),
        ModelOp(model=g_ab, inputs="fake_A", outputs="cycled_B"),
        ModelOp(model=g_ba, inputs="real_A", outputs="same_A"),
        ModelOp(model=g_ab, inputs="real_B", outputs="same_B"),
        ModelOp(model=d_a, inputs="fake_A", outputs="d_fake_A"),
        ModelOp(model=d_b, inputs="fake_B", outputs="d_fake_B"),
        ModelOp(model=d_a, inputs="real_A", outputs="d_real_A"),
        ModelOp(model=d_b, inputs="real_B", outputs="d_real_B"),
        ImagePool(inputs="fake_A", outputs="pool_fake_A", pool_size=pool_size),
        ImagePool(inputs="fake_B", outputs="pool_fake_B", pool_size=pool_size),
        ModelOp(model=d_a, inputs="pool_fake_A", outputs="d_pool_fake_A"),
        ModelOp(model=d_b, inputs="pool_fake_B", outputs="d_pool_fake_B"),
        L1Loss(inputs=("cycled_A", "real_A"), outputs="cycle_A"),
        L1Loss(inputs=("cycled_B", "real_B"), outputs="cycle_B"),
        L1Loss(inputs=("same_A", "real_A"), outputs="identity_A"),
        L1Loss(inputs=("same_B", "real_B"), outputs="identity_B"),
        GeneratorLoss(inputs=("d_fake_B", "cycle_A", "cycle_B", "identity_B"), outputs="g_AtoB_loss",
                      weight=cycle_weight),
        GeneratorLoss(inputs=("d_fake_A", "cycle_A", "cycle_B", "identity_A"), outputs="g_BtoA_loss",
                      weight=cycle_weight),
        DiscriminatorLoss(inputs=("d_real_A", "d_pool_fake_A"), outputs="d_A_loss"),
        DiscriminatorLoss(inputs=("d_real_B", "d_pool_fake_B"), outputs="d_B_loss"),
        UpdateOp(model=g_ab, loss_name="g_AtoB_loss"),
        UpdateOp(model=g_ba, loss_name="g_BtoA_loss"),
        UpdateOp(model=d_a, loss_name="d_A_loss"),
        UpdateOp(model=d_b, loss_name="d_B_loss"),
    ])
    schedules = [LRScheduler(model, lr_fn=lambda epoch: linear_decay(epoch, epochs, lr))
                 for model in (g_ab, g_ba, d_a, d_b)]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=[*schedules, *traces],
                        train_steps_per_epoch=train_steps_per_epoch, log_steps=log_steps,
                        monitor_names=["cycle_A", "cycle_B", "identity_A", "identity_B"], progress_bar=False,
                        accelerator="cpu")


# ----- outputs ------------------------------------------------------------------------------------------------------
def translation_figure(g_ab: nn.Module, g_ba: nn.Module, real_a: torch.Tensor, real_b: torch.Tensor) -> Figure:
    """One row per sample: A | A→B | A→B→A | B | B→A | B→A→B, from NCHW images in [-1, 1] (the Pipeline's)."""
    fake_b, fake_a = feed_forward(g_ab, real_a), feed_forward(g_ba, real_b)
    columns = {"A": real_a, "A → B": fake_b, "A → B → A": feed_forward(g_ba, fake_b),
               "B": real_b, "B → A": fake_a, "B → A → B": feed_forward(g_ab, fake_a)}
    rows = min(len(real_a), len(real_b))
    figure = Figure(figsize=(1.6 * len(columns), 1.6 * rows + 0.4))
    axes = figure.subplots(rows, len(columns), squeeze=False)
    for col, (title, images) in enumerate(columns.items()):
        pictures = ((images[:rows].detach().float().cpu() + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).numpy()
        axes[0, col].set_title(title, fontsize="small")
        for row, picture in enumerate(pictures):
            axes[row, col].imshow(picture)
            axes[row, col].axis("off")
    figure.tight_layout()
    return figure


def save_outputs(estimator: fe.Estimator, summary: Summary, save_dir: str, samples: int = 4) -> list[str]:
    """Write the generators (``g_AtoB.pt``, ``g_BtoA.pt``), ``cyclegan_samples.png`` (``samples`` images of
    each domain from one training batch, see :func:`translation_figure`) and ``cyclegan_curves.png`` (the
    losses) to ``save_dir``; returns their paths."""
    models = {model.model_name: model for model in estimator.network.models}
    paths = [save_model(models[name], save_dir) for name in ("g_AtoB", "g_BtoA")]
    batch: Any = estimator.pipeline.get_results(mode="train")
    figure = translation_figure(models["g_AtoB"], models["g_BtoA"], batch["real_A"][:samples],
                                batch["real_B"][:samples])
    paths.append(os.path.join(save_dir, "cyclegan_samples.png"))
    save_png(figure, paths[-1])
    paths.append(os.path.join(save_dir, "cyclegan_curves.png"))
    visualize_logs(summary, save_path=paths[-1], include_metrics=LOSSES)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--save_dir", default="outputs/cyclegan")
    args = parser.parse_args()
    fe.enable_deterministic(0)
    estimator = get_estimator(epochs=args.epochs, batch_size=args.batch_size)
    summary = estimator.fit("cyclegan")
    if summary is None:  # not the chief process
        return
    train = summary.history["train"]
    last = max(train["g_AtoB_loss"])
    print("final losses: " + ", ".join(f"{key} {train[key][last]:.3f}" for key in LOSSES[:6]))
    for path in save_outputs(estimator, summary, args.save_dir):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
