"""SimCLR: self-supervised contrastive pretraining of a ResNet9 encoder on ciFAIR-10, then fine-tuning.

SimCLR (Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020;
https://github.com/google-research/simclr) learns image features without labels: each image is augmented
twice at random (crop, flip, colour jitter, grey, blur), both views go through the same network, and the
NT-Xent loss asks every view to pick its partner out of the other ``2 * batch - 2`` views of the batch by
cosine similarity. The program runs in two stages:

1. **Pretraining** (no labels): a ResNet9 encoder (512 features) with a linear 128-unit projection head,
   trained with NT-Xent and Adam. ``contrastive_accuracy`` is how often a view's nearest view among the
   other image's views is its own partner. The weights are saved after each epoch (``ModelSaver``).
2. **Fine-tuning**: a new model with the pretrained encoder and a linear 10-class head is trained with
   cross entropy on 10% of the labelled training images and evaluated on the test set (``accuracy``).

The data, ciFAIR-10 (CIFAR-10 with the test images that duplicate training images replaced), is
downloaded by ``fastest.dataset.data.cifair10`` on first use. Run
``python simclr.py [--epochs_pretrain 50 --epochs_finetune 10 --batch_size 512 --save_dir DIR]`` (a GPU is
advised). Its accuracy on the real data has not been measured here (this machine has no internet).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as fn

import fastest as fe
from fastest.architecture import ResNet9
from fastest.dataset.data import cifair10
from fastest.op.numpyop import Batch, Delete, NumpyOp
from fastest.op.numpyop.meta import Sometimes
from fastest.op.numpyop.multivariate import HorizontalFlip, PadIfNeeded, RandomCrop
from fastest.op.numpyop.univariate import ChannelTranspose, ColorJitter, GaussianBlur, ToFloat, ToGray
from fastest.op.tensorop import TensorOp
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.summary import Summary
from fastest.trace.io import ModelSaver
from fastest.trace.metric import Accuracy


class ResNet9Encoder(ResNet9):
    """ResNet9's layers up to its global max-pool: 512 features per image, no classifier.

    The parameter names are ResNet9's (``conv0`` … ``residual3``), without ``fc1``.

    >>> ResNet9Encoder()(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 512])
    """

    def __init__(self, input_size: Sequence[int] = (3, 32, 32)) -> None:
        super().__init__(input_size=input_size)
        del self.fc1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = fn.leaky_relu(self.conv0_bn(self.conv0(x)), negative_slope=0.1)
        for conv, norm, residual in ((self.conv1, self.conv1_bn, self.residual1),
                                     (self.conv2, self.conv2_bn, self.residual2),
                                     (self.conv3, self.conv3_bn, self.residual3)):
            x = fn.leaky_relu(norm(fn.max_pool2d(conv(x), 2)), negative_slope=0.1)
            x = x + residual(x)
        return torch.flatten(fn.adaptive_max_pool2d(x, 1), 1)


class ResNet9OneLayerHead(nn.Module):
    """The encoder followed by one linear layer of ``length`` outputs (no activation: projections or logits).

    Args:
        length: Outputs of the head (128 for the contrastive projection, 10 for the classifier).
        input_size: (channels, height, width) of the images.

    >>> ResNet9OneLayerHead(length=10)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(self, length: int, input_size: Sequence[int] = (3, 32, 32)) -> None:
        super().__init__()
        self.encoder = ResNet9Encoder(input_size)
        self.fc1 = nn.Linear(512, length)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc1(self.encoder(x))


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The NT-Xent loss of two batches of views, ``a[i]`` and ``b[i]`` from the same image.

    After L2 normalization, view ``a[i]`` scores every ``b[j]`` and every other ``a[j]`` by cosine similarity
    over ``temperature``; its cross entropy against the right answer ``b[i]`` is added to the same for
    ``b[i]`` (against ``a[i]``), and the sum is averaged over the batch.

    Returns:
        The loss and the ``a``-to-``b`` similarity logits (batch × batch; the partners are on the diagonal).

    >>> views = torch.eye(4)
    >>> round(float(nt_xent(views, views, temperature=0.1)[0]), 4)  # each view is nearest its partner
    0.0005
    """
    a, b = fn.normalize(a, dim=-1), fn.normalize(b, dim=-1)
    itself = torch.eye(len(a), dtype=torch.bool, device=a.device)
    a_to_b = a @ b.T / temperature
    a_to_a = (a @ a.T / temperature).masked_fill(itself, float("-inf"))  # a view is not its own partner
    b_to_b = (b @ b.T / temperature).masked_fill(itself, float("-inf"))
    partner = torch.arange(len(a), device=a.device)
    loss = fn.cross_entropy(torch.cat([a_to_b, a_to_a], dim=1), partner) + fn.cross_entropy(
        torch.cat([a_to_b.T, b_to_b], dim=1), partner)
    return loss, a_to_b


class NTXentOp(TensorOp):
    """NT-Xent of two projection keys; writes the loss, the view-to-view logits and the partners' indices
    (``arange(batch)``, the labels of a contrastive accuracy).

    Args:
        arg1: Key of the first views' projections.
        arg2: Key of the second views' projections.
        outputs: Keys of the loss, the logits and the labels.
        temperature: Softmax temperature of the similarities.
        mode: Modes to run in.
    """

    def __init__(self, arg1: str, arg2: str, outputs: Sequence[str], temperature: float = 1.0,
                 mode: str | None = None) -> None:
        super().__init__(inputs=[arg1, arg2], outputs=list(outputs), mode=mode)
        self.temperature = temperature

    def forward(self, data: list[torch.Tensor], state: dict[str, Any]) -> list[torch.Tensor]:
        loss, logits = nt_xent(data[0], data[1], self.temperature)
        return [loss, logits, torch.arange(len(logits), device=logits.device)]


def augment(image_in: str, image_out: str) -> list[NumpyOp]:
    """SimCLR's random view of a (padded 40×40) uint8 image: a 32×32 crop, a flip half of the time, strong
    colour jitter 80%, grey 20%, a 3×3 Gaussian blur half of the time; as float32 (3, 32, 32), values 0..255."""
    return [
        RandomCrop(32, 32, image_in=image_in, image_out=image_out),
        Sometimes(HorizontalFlip(image_in=image_out, image_out=image_out), prob=0.5),
        Sometimes(ColorJitter(inputs=image_out, outputs=image_out, brightness=0.8, contrast=0.8, saturation=0.8,
                              hue=0.2), prob=0.8),
        Sometimes(ToGray(inputs=image_out, outputs=image_out), prob=0.2),
        Sometimes(GaussianBlur(inputs=image_out, outputs=image_out, blur_limit=(3, 3), sigma_limit=(0.1, 2.0)),
                  prob=0.5),
        ChannelTranspose(inputs=image_out, outputs=image_out),
        ToFloat(inputs=image_out, outputs=image_out),
    ]


def get_pretrain_estimator(epochs: int = 50, batch_size: int = 512, train_steps_per_epoch: int | None = None,
                           save_dir: str | None = None) -> fe.Estimator:
    """Stage 1: contrastive pretraining of ``ResNet9OneLayerHead(length=128)`` on unlabelled training images.

    The last incomplete batch of each epoch is dropped: NT-Xent and its accuracy compare a view with the
    rest of its batch, so every batch has the same size (and the same difficulty).

    Args:
        epochs: Pretraining epochs.
        batch_size: Images per batch (each gives two views).
        train_steps_per_epoch: Batches per epoch (None: one pass over the data).
        save_dir: Folder of the per-epoch weights, ``simclr_epoch_<n>.pt`` (None: a new temporary folder).
    """
    train_data, _ = cifair10.load_data()
    pipeline = fe.Pipeline(train_data=train_data, batch_size=batch_size, ops=[
        PadIfNeeded(min_height=40, min_width=40, image_in="x", image_out="x", mode="train"),
        *augment("x", "x_aug"),
        *augment("x", "x_aug2"),
        Delete(keys=["x", "y"]),  # only the two views go on: the labels are not used before fine-tuning
        Batch(drop_last=True),
    ])
    model = fe.build(model_fn=lambda: ResNet9OneLayerHead(length=128), optimizer_fn="adam", model_name="simclr")
    network = fe.Network(ops=[
        ModelOp(model=model, inputs="x_aug", outputs="y_pred"),
        ModelOp(model=model, inputs="x_aug2", outputs="y_pred2"),
        NTXentOp(arg1="y_pred", arg2="y_pred2", outputs=["NTXent", "logit", "label"]),
        UpdateOp(model=model, loss_name="NTXent"),
    ])
    traces = [
        Accuracy(true_key="label", pred_key="logit", mode="train", output_name="contrastive_accuracy"),
        ModelSaver(model=model, save_dir=save_dir or tempfile.mkdtemp()),
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces,
                        train_steps_per_epoch=train_steps_per_epoch)


def get_finetune_estimator(pretrained: nn.Module, epochs: int = 10, batch_size: int = 512,
                           train_steps_per_epoch: int | None = None) -> fe.Estimator:
    """Stage 2: a ``ResNet9OneLayerHead(length=10)`` that starts from ``pretrained``'s encoder weights, trained
    with cross entropy on a random 10% of the labelled training images and evaluated on the test images.

    Args:
        pretrained: The stage-1 model (its ``encoder`` weights are copied; the model itself is not changed).
        epochs: Fine-tuning epochs.
        batch_size: Images per batch.
        train_steps_per_epoch: Batches per epoch (None: one pass over the 10%).
    """
    train_data, test_data = cifair10.load_data()
    labelled = train_data.split(0.1)
    pipeline = fe.Pipeline(train_data=labelled, eval_data=test_data, batch_size=batch_size, ops=[
        ToFloat(inputs="x", outputs="x"),
        ChannelTranspose(inputs="x", outputs="x"),
    ])
    model = fe.build(model_fn=lambda: ResNet9OneLayerHead(length=10), optimizer_fn="adam",
                     model_name="simclr_finetune")
    model.encoder.load_state_dict(pretrained.encoder.state_dict())
    network = fe.Network(ops=[
        ModelOp(model=model, inputs="x", outputs="y_pred"),
        CrossEntropy(inputs=["y_pred", "y"], outputs="ce", from_logits=True),
        UpdateOp(model=model, loss_name="ce"),
    ])
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs,
                        traces=[Accuracy(true_key="y", pred_key="y_pred")],
                        train_steps_per_epoch=train_steps_per_epoch)


def fastestimator_run(epochs_pretrain: int = 50, epochs_finetune: int = 10, batch_size: int = 512,
                      train_steps_per_epoch: int | None = None,
                      save_dir: str | None = None) -> tuple[Summary | None, Summary | None]:
    """Pretrain, then fine-tune; returns the two stages' Summaries (``simclr_pretrain``, ``simclr_finetune``).

    Args:
        epochs_pretrain: Contrastive pretraining epochs.
        epochs_finetune: Supervised fine-tuning epochs.
        batch_size: Images per batch in both stages.
        train_steps_per_epoch: Batches per epoch in both stages (None: one pass).
        save_dir: Folder of the pretraining weights (None: a new temporary folder).
    """
    pretrain = get_pretrain_estimator(epochs_pretrain, batch_size, train_steps_per_epoch, save_dir)
    pretrained = pretrain.fit("simclr_pretrain")
    finetune = get_finetune_estimator(pretrain.network.models[0], epochs_finetune, batch_size, train_steps_per_epoch)
    return pretrained, finetune.fit("simclr_finetune")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs_pretrain", type=int, default=50)
    parser.add_argument("--epochs_finetune", type=int, default=10)
    parser.add_argument("--batch_size", type=int, default=512)
    parser.add_argument("--save_dir", default=None, help="folder of the pretraining weights (default: temporary)")
    args = parser.parse_args()
    fastestimator_run(epochs_pretrain=args.epochs_pretrain, epochs_finetune=args.epochs_finetune,
                      batch_size=args.batch_size, save_dir=args.save_dir)


if __name__ == "__main__":
    main()
