"""PGGAN: progressive growing of GANs (Karras et al., 2018), drawing chest X-rays.

Generator and discriminator start at 4×4 pixels and double their resolution in stages up to
``target_size``. Training is split into ``2 * log2(target_size / 4) + 1`` equal phases: the 4×4 phase,
then for every new resolution a fade-in phase (the new layers blend in while ``alpha`` runs from 0 to
1, the real images are blended from their upsampled half-resolution version the same way) and a
stable phase. Everything that changes with the resolution is an ``EpochScheduler`` keyed by the
phases' first epochs: the image size, the half-resolution copy and the batch size in the Pipeline, and
the ``ModelOp`` / ``UpdateOp`` of the generator and discriminator of that resolution in the Network.
The models of all resolutions share their layers (one model per resolution, as FastEstimator builds
them), each with its own Adam (lr 1e-3, betas 0.0 / 0.99). The paper's tricks are all here:
equalized learning rate, pixel normalization, minibatch standard deviation, and the WGAN-GP loss
(gradient-penalty weight 10, drift 1e-3).

The data is NIH ChestX-ray14 from ``fastest.dataset.data.nih_chestxray`` (12 archives, about 42 GB,
downloaded on first use), read as grey images. Run
``python pggan.py [--target_size 128 --epochs 55 --save_dir outputs/pggan --data_dir DIR]``: at the end
of each resolution it writes a grid of 16 generated images, ``pggan_<size>x<size>_epoch_<n>.png``, and
every phase the weights of the full generator, ``G_epoch_<n>.pt``, to ``--save_dir``. Image quality on
the real data has not been checked here (this machine has no internet access to download the data).
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

import fastest as fe
from fastest.backend import get_gradient
from fastest.dataset.data import nih_chestxray
from fastest.errors import FastestValueError
from fastest.op.numpyop import Batch, LambdaOp
from fastest.op.numpyop.multivariate import Resize
from fastest.op.numpyop.univariate import ChannelTranspose, Normalize, ReadImage
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.op.tensorop.tensorop import TensorOp
from fastest.schedule import EpochScheduler
from fastest.trace.display import save_png
from fastest.trace.io import ModelSaver
from fastest.trace.trace import Trace


# ----- layers -------------------------------------------------------------------------------------------------------
def features(stage: int, fmap_max: int = 512, fmap_base: int = 8192) -> int:
    """Channels at a stage (stage ``r - 1`` works at ``2**r`` pixels): halving as the resolution doubles, capped."""
    return min(fmap_base // 2**stage, fmap_max)


class EqualizedConv(nn.Conv2d):
    """A bias-free convolution with N(0, 1) weights scaled at run time by ``gain / sqrt(fan_in)`` (equalized lr)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, gain: float = math.sqrt(2)) -> None:
        super().__init__(c_in, c_out, kernel, padding=kernel // 2, bias=False)
        nn.init.normal_(self.weight)
        self.scale = gain / math.sqrt(c_in * kernel * kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * self.scale


class EqualizedLinear(nn.Linear):
    """A bias-free dense layer with the same run-time weight scaling."""

    def __init__(self, n_in: int, n_out: int, gain: float = math.sqrt(2)) -> None:
        super().__init__(n_in, n_out, bias=False)
        nn.init.normal_(self.weight)
        self.scale = gain / math.sqrt(n_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * self.scale


class ChannelBias(nn.Module):
    """A learned bias per channel (axis 1), zero at the start."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias.view(1, -1, *([1] * (x.ndim - 2)))


class PixelNorm(nn.Module):
    """Scale each pixel's feature vector to unit mean square."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class MinibatchStd(nn.Module):
    """Append one channel: the mean over features of the standard deviation within groups of 4 samples
    (sample ``i`` is in group ``i % (B / 4)``); B must be a multiple of the group size."""

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        g = min(self.group_size, b)
        grouped = x.reshape(g, -1, *x.shape[1:])
        spread = torch.sqrt(grouped.var(dim=0, unbiased=False) + 1e-8).mean(dim=(1, 2, 3))  # one per group
        return torch.cat([x, spread.view(1, -1, 1, 1, 1).expand(g, -1, 1, h, w).reshape(b, 1, h, w)], dim=1)


def _conv_act(c_in: int, c_out: int, pixel_norm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [EqualizedConv(c_in, c_out), ChannelBias(c_out), nn.LeakyReLU(0.2)]
    return [*layers, PixelNorm()] if pixel_norm else layers


def fade(old: torch.Tensor, new: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    return (1 - alpha) * old + alpha * new


# ----- growing models -----------------------------------------------------------------------------------------------
def generator_block(res: int, latent_dim: int, fmap_max: int) -> nn.Sequential:
    """The layers that bring the generator to ``2**res`` pixels (res 2: from the latent vector)."""
    c_out = features(res - 1, fmap_max)
    if res == 2:
        return nn.Sequential(PixelNorm(), EqualizedLinear(latent_dim, 16 * c_out, gain=math.sqrt(2) / 4),
                             nn.Unflatten(1, (c_out, 4, 4)), ChannelBias(c_out), nn.LeakyReLU(0.2), PixelNorm(),
                             *_conv_act(c_out, c_out, pixel_norm=True))
    return nn.Sequential(nn.Upsample(scale_factor=2), *_conv_act(features(res - 2, fmap_max), c_out, True),
                         *_conv_act(c_out, c_out, True))


def discriminator_block(res: int, fmap_max: int) -> nn.Sequential:
    """The layers that take the discriminator from ``2**res`` pixels to half that (res 2: to the score)."""
    c_in, c_out = features(res - 1, fmap_max), features(res - 2, fmap_max)
    if res == 2:
        return nn.Sequential(MinibatchStd(), *_conv_act(c_in + 1, c_in, pixel_norm=False), nn.Flatten(),
                             EqualizedLinear(16 * c_in, c_out), ChannelBias(c_out), nn.LeakyReLU(0.2),
                             EqualizedLinear(c_out, 1, gain=1.0), ChannelBias(1))
    return nn.Sequential(*_conv_act(c_in, c_in, False), *_conv_act(c_in, c_out, False), nn.AvgPool2d(2))


class FadingGenerator(nn.Module):
    """The generator while its newest block fades in: ``fade(upsampled old image, new image, alpha)``."""

    def __init__(self, blocks: Sequence[nn.Module], old_rgb: nn.Module, new_rgb: nn.Module, alpha: torch.Tensor) -> None:
        super().__init__()
        self.trunk, self.top = nn.Sequential(*blocks[:-1]), blocks[-1]
        self.old_rgb, self.new_rgb, self.alpha = old_rgb, new_rgb, alpha
        self.upsample = nn.Upsample(scale_factor=2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.trunk(z)
        return fade(self.upsample(self.old_rgb(x)), self.new_rgb(self.top(x)), self.alpha)


class FadingDiscriminator(nn.Module):
    """The discriminator while its newest block fades in: the features of the new block and of the
    half-size image are faded together, then the older blocks score them."""

    def __init__(self, blocks: Sequence[nn.Module], old_rgb: nn.Module, new_rgb: nn.Module, alpha: torch.Tensor) -> None:
        super().__init__()
        self.lower, self.top = nn.ModuleList(blocks[:-1]), blocks[-1]
        self.old_rgb, self.new_rgb, self.alpha = old_rgb, new_rgb, alpha
        self.pool = nn.AvgPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = fade(self.old_rgb(self.pool(x)), self.top(self.new_rgb(x)), self.alpha)
        for block in reversed(self.lower):  # from the block next below the new one down to the score
            x = block(x)
        return x


def build_generators(alpha: torch.Tensor, target_res: int, latent_dim: int = 512, channels: int = 1,
                     fmap_max: int = 512) -> list[nn.Module]:
    """One generator per resolution 4, 8, … ``2**target_res`` (all but the first fade with ``alpha``), then
    the full generator without fading; all share their blocks."""
    resolutions = range(2, target_res + 1)
    blocks = [generator_block(res, latent_dim, fmap_max) for res in resolutions]
    to_rgb = [nn.Sequential(EqualizedConv(features(res - 1, fmap_max), channels, 1, gain=1.0), ChannelBias(channels))
              for res in resolutions]
    models: list[nn.Module] = [nn.Sequential(blocks[0], to_rgb[0])]
    models += [FadingGenerator(blocks[:k + 1], to_rgb[k - 1], to_rgb[k], alpha) for k in range(1, len(blocks))]
    return [*models, nn.Sequential(*blocks, to_rgb[-1])]


def build_discriminators(alpha: torch.Tensor, target_res: int, channels: int = 1,
                         fmap_max: int = 512) -> list[nn.Module]:
    """One discriminator per resolution 4, 8, … ``2**target_res``; all share their blocks."""
    resolutions = range(2, target_res + 1)
    blocks = [discriminator_block(res, fmap_max) for res in resolutions]
    from_rgb = [nn.Sequential(EqualizedConv(channels, features(res - 1, fmap_max), 1), ChannelBias(features(
        res - 1, fmap_max)), nn.LeakyReLU(0.2)) for res in resolutions]
    models: list[nn.Module] = [nn.Sequential(from_rgb[0], blocks[0])]
    return models + [FadingDiscriminator(blocks[:k + 1], from_rgb[k - 1], from_rgb[k], alpha)
                     for k in range(1, len(blocks))]


# ----- ops ----------------------------------------------------------------------------------------------------------
class ImageBlender(TensorOp):
    """``alpha * image + (1 - alpha) * low_res``: real images fade in with the new resolution too."""

    def __init__(self, alpha: torch.Tensor, inputs: Iterable[str], outputs: str) -> None:
        super().__init__(inputs=inputs, outputs=outputs)
        self.alpha = alpha

    def forward(self, data: list[torch.Tensor], state: Mapping[str, Any]) -> torch.Tensor:
        image, low_res = data
        return fade(low_res, image, self.alpha)


class Interpolate(TensorOp):
    """A random point on the line between each fake and its real image (one uniform draw per sample)."""

    def forward(self, data: list[torch.Tensor], state: Mapping[str, Any]) -> torch.Tensor:
        fake, real = data
        return real + (fake - real) * torch.rand(real.shape[0], 1, 1, 1, device=real.device)


class GradientPenalty(TensorOp):
    """``(||d score / d x_interp||_2 - 1)**2`` per sample, differentiable (WGAN-GP)."""

    def forward(self, data: list[torch.Tensor], state: Mapping[str, Any]) -> torch.Tensor:
        x_interp, score = data
        gradient = get_gradient(score.sum(), x_interp, higher_order=True)
        return (gradient.flatten(1).norm(dim=1) - 1) ** 2


class GLoss(TensorOp):
    """The generator's WGAN loss: ``-mean(D(fake))``."""

    def forward(self, data: torch.Tensor, state: Mapping[str, Any]) -> torch.Tensor:
        return -data.mean()


class DLoss(TensorOp):
    """``mean(D(fake) - D(real) + wgan_lambda * gp + wgan_epsilon * D(real)**2)``; inputs real, fake scores, gp."""

    def __init__(self, inputs: Iterable[str], outputs: str, wgan_lambda: float = 10.0,
                 wgan_epsilon: float = 0.001) -> None:
        super().__init__(inputs=inputs, outputs=outputs)
        self.wgan_lambda, self.wgan_epsilon = wgan_lambda, wgan_epsilon

    def forward(self, data: list[torch.Tensor], state: Mapping[str, Any]) -> torch.Tensor:
        real, fake, gp = (value.flatten() for value in data)
        return torch.mean(fake - real + self.wgan_lambda * gp + self.wgan_epsilon * real**2)


# ----- traces -------------------------------------------------------------------------------------------------------
def fade_alpha(epoch: int, step: int, fade_epochs: dict[int, int], duration: int) -> float:
    """``alpha`` at a training step (1-based within its epoch): 1.0 outside the fade-in phases; in a fade
    starting at epoch ``s`` with ``fade_epochs[s]`` steps per epoch, the share of its steps done so far."""
    for start, steps in fade_epochs.items():
        if start <= epoch < start + duration:
            return min(1.0, ((epoch - start) * steps + step) / (duration * steps))
    return 1.0


class AlphaController(Trace):
    """Set the shared ``alpha`` before every training step to :func:`fade_alpha` of the epoch and step."""

    def __init__(self, alpha: torch.Tensor, fade_epochs: dict[int, int], duration: int) -> None:
        super().__init__(mode="train")
        self.alpha, self.fade_epochs, self.duration = alpha, fade_epochs, duration

    def on_batch_begin(self, data: Any) -> None:
        self.alpha.fill_(fade_alpha(self.system.epoch_idx, self.system.batch_idx, self.fade_epochs, self.duration))

    def on_end(self, data: Any) -> None:
        self.alpha.fill_(1.0)


class SampleSaver(Trace):
    """At the given epochs, draw ``num_sample`` images with that epoch's generator into a grid PNG,
    ``<save_dir>/pggan_<size>x<size>_epoch_<n>.png``; each image is stretched to its own min..max."""

    def __init__(self, epoch_models: dict[int, nn.Module], save_dir: str, num_sample: int = 16,
                 latent_dim: int = 512) -> None:
        super().__init__(mode="train")
        self.epoch_models, self.save_dir = epoch_models, save_dir
        self.num_sample, self.latent_dim = num_sample, latent_dim
        self.paths: list[str] = []

    def on_epoch_end(self, data: Any) -> None:
        model = self.epoch_models.get(self.system.epoch_idx)
        if model is None:
            return
        model.eval()
        with torch.no_grad():
            z = torch.randn(self.num_sample, self.latent_dim, device=next(model.parameters()).device)
            images = model(z).float().cpu().numpy()[:, 0]
        model.train()
        low = images.min(axis=(1, 2), keepdims=True)
        images = (images - low) / (images.max(axis=(1, 2), keepdims=True) - low + 1e-8)
        cols = math.ceil(math.sqrt(self.num_sample))
        rows = math.ceil(self.num_sample / cols)
        figure = Figure(figsize=(cols, rows))
        for k, axes in enumerate(figure.subplots(rows, cols, squeeze=False).flat):
            axes.axis("off")
            if k < self.num_sample:
                axes.imshow(images[k], cmap="gray", vmin=0, vmax=1)
        size = images.shape[-1]
        os.makedirs(self.save_dir, exist_ok=True)
        self.paths.append(os.path.join(self.save_dir, f"pggan_{size}x{size}_epoch_{self.system.epoch_idx}.png"))
        save_png(figure, self.paths[-1])


# ----- estimator ----------------------------------------------------------------------------------------------------
def growth_schedule(target_size: int, epochs: int) -> tuple[int, list[int], list[int]]:
    """``(phase_length, first epoch of each resolution, resolutions)``: 4×4 from epoch 1, then each larger size
    from the start of its fade-in phase.

    >>> growth_schedule(16, 10)
    (2, [1, 3, 7], [4, 8, 16])
    """
    grows = math.log2(target_size) - 2 if target_size > 0 else 0
    if grows < 1 or grows % 1:
        raise FastestValueError(f"pggan: target_size must be a power of 2 of at least 8, received {target_size}.")
    phases = 2 * int(grows) + 1
    if epochs % phases:
        raise FastestValueError(f"pggan: epochs must be a multiple of {phases} for target_size {target_size} (the 4x4 "
                                f"phase, then a fade-in and a stable phase per doubling), received {epochs}.")
    length = epochs // phases
    starts = [1] + [1 + length * (2 * k - 1) for k in range(1, int(grows) + 1)]
    return length, starts, [4 * 2**k for k in range(int(grows) + 1)]


def get_estimator(target_size: int = 128, epochs: int = 55, save_dir: str = "outputs/pggan",
                  train_steps_per_epoch: int | None = None, data_dir: str | None = None, latent_dim: int = 512,
                  fmap_max: int = 512, batch_scale: int = 512, log_steps: int | None = 100,
                  traces: Iterable[Trace] = ()) -> fe.Estimator:
    """The PGGAN Estimator on NIH chest X-rays.

    Args:
        target_size: Final image side, a power of 2 of at least 8.
        epochs: Training epochs, a multiple of the number of phases (``2 * log2(target_size / 4) + 1``).
        save_dir: Folder of the sample grids and of the full generator's weights (``G_epoch_<n>.pt``).
        train_steps_per_epoch: Batches per epoch (None = one pass over the images).
        data_dir: Folder under which the data set is kept (None = fastest's data folder).
        latent_dim: Length of the generator's noise vector.
        fmap_max: Most channels of any layer (the paper's 512; smaller for quick trials).
        batch_scale: The batch size at resolution ``s`` is ``max(batch_scale // s, 4)``.
        log_steps: Training log interval (None = silent).
        traces: Extra traces.
    """
    phase_length, starts, sizes = growth_schedule(target_size, epochs)
    dataset = nih_chestxray.load_data(root_dir=data_dir)
    batch_sizes = {start: max(batch_scale // size, 4) for start, size in zip(starts, sizes)}

    def per_resolution(make: Any) -> EpochScheduler:
        return EpochScheduler({start: make(size) for start, size in zip(starts, sizes)})

    pipeline = fe.Pipeline(train_data=dataset, batch_size=EpochScheduler(batch_sizes), num_process=0, ops=[
        ReadImage(inputs="x", outputs="x", color_flag="gray"),
        per_resolution(lambda size: Resize(size, size, image_in="x", image_out="x")),
        per_resolution(lambda size: Resize(size // 2, size // 2, image_in="x", image_out="x_low_res")),
        per_resolution(lambda size: Resize(size, size, image_in="x_low_res", image_out="x_low_res")),
        Normalize(inputs=("x", "x_low_res"), outputs=("x", "x_low_res"), mean=1.0, std=1.0, max_pixel_value=127.5),
        ChannelTranspose(inputs=("x", "x_low_res"), outputs=("x", "x_low_res")),
        LambdaOp(fn=lambda: np.random.normal(size=latent_dim).astype(np.float32), outputs="z"),
        Batch(drop_last=True),  # the scheduled batch size
    ])

    alpha = torch.tensor(1.0)  # shared by the fading models, the ImageBlender and the AlphaController

    def adam(params: Any) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=1e-3, betas=(0.0, 0.99), eps=1e-8)

    target_res = int(math.log2(target_size))
    d_models = fe.build(model_fn=lambda: build_discriminators(alpha, target_res, fmap_max=fmap_max),
                        optimizer_fn=[adam] * len(sizes), model_name=[f"d_{size}" for size in sizes])
    g_models = fe.build(model_fn=lambda: build_generators(alpha, target_res, latent_dim, fmap_max=fmap_max),
                        optimizer_fn=[adam] * len(sizes) + [None], model_name=[f"g_{size}" for size in sizes] + ["G"])
    g_of = dict(zip(sizes, g_models))
    d_of = dict(zip(sizes, d_models))
    network = fe.Network(ops=[
        per_resolution(lambda size: ModelOp(model=g_of[size], inputs="z", outputs="x_fake")),
        per_resolution(lambda size: ModelOp(model=d_of[size], inputs="x_fake", outputs="fake_score")),
        ImageBlender(alpha=alpha, inputs=("x", "x_low_res"), outputs="x_blend"),
        per_resolution(lambda size: ModelOp(model=d_of[size], inputs="x_blend", outputs="real_score")),
        Interpolate(inputs=("x_fake", "x"), outputs="x_interp"),
        per_resolution(lambda size: ModelOp(model=d_of[size], inputs="x_interp", outputs="interp_score")),
        GradientPenalty(inputs=("x_interp", "interp_score"), outputs="gp"),
        GLoss(inputs="fake_score", outputs="gloss"),
        DLoss(inputs=("real_score", "fake_score", "gp"), outputs="dloss"),
        per_resolution(lambda size: UpdateOp(model=g_of[size], loss_name="gloss")),
        per_resolution(lambda size: UpdateOp(model=d_of[size], loss_name="dloss")),
    ])
    # steps of each fade-in epoch, to run alpha from 0 to 1 over the fade-in phase
    fade_steps = {start: train_steps_per_epoch or len(dataset) // batch_sizes[start] for start in starts[1:]}
    ends = [start - 1 for start in starts[1:]] + [epochs]  # the last epoch at each resolution
    all_traces = [AlphaController(alpha, fade_steps, duration=phase_length),
                  ModelSaver(model=g_models[-1], save_dir=save_dir, frequency=phase_length),
                  SampleSaver(dict(zip(ends, g_models[:-1])), save_dir=save_dir, latent_dim=latent_dim), *traces]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=all_traces,
                        train_steps_per_epoch=train_steps_per_epoch, log_steps=log_steps, progress_bar=False,
                        accelerator="cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target_size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=55)
    parser.add_argument("--train_steps_per_epoch", type=int, default=None)
    parser.add_argument("--save_dir", default="outputs/pggan")
    parser.add_argument("--data_dir", default=None)
    args = parser.parse_args()
    estimator = get_estimator(target_size=args.target_size, epochs=args.epochs, save_dir=args.save_dir,
                              train_steps_per_epoch=args.train_steps_per_epoch, data_dir=args.data_dir)
    summary = estimator.fit("pggan")
    if summary is None:  # not the chief process
        return
    saver = next(t for t in estimator.traces if isinstance(t, SampleSaver))
    for path in saver.paths:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
