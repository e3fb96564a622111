"""Vision Transformer: pretrain on ciFAIR-100, then fine-tune on ciFAIR-10.

A Vision Transformer (Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021) cuts an image
into square patches, embeds each patch linearly, prepends a learned class token, adds learned
position embeddings and runs a Transformer encoder; the class token's final state, layer-normed,
feeds a linear classifier. Here the images are 32×32 with 4×4 patches (64 tokens plus the class
token), 6 encoder layers of width 256 with 8 heads and a 512-unit feed-forward part, dropout 0.1.

``pretrain`` trains the model on ciFAIR-100 (100 classes, 100 epochs); ``finetune`` copies its encoder
into a new model with a fresh 10-class classifier and trains that on ciFAIR-10 (1 epoch); both use
SGD (learning rate 0.01, momentum 0.9, weight decay 1e-4), 128-image batches, the CIFAR channel
normalization, and for training padding to 40×40, a random 32×32 crop, a random left-right flip and
one 8×8 cutout hole. Each saves its model with the best eval accuracy to its ``model_dir``. The data
comes from ``fastest.dataset.data.cifair100`` and ``cifair10`` (downloaded on first use into
``$FASTEST_DATA_DIR``). Run ``python vit.py [--batch_size 128] [--pretrain_epochs 100]
[--finetune_epochs 1]``. The accuracy this program reaches on the real data has not been measured
here (the machine it was written on has no internet access).
"""

from __future__ import annotations

import argparse
import tempfile

import torch
from torch import nn

import fastest as fe
from fastest.dataset.data import cifair10, cifair100
from fastest.errors import FastestValueError
from fastest.op.numpyop.meta import Sometimes
from fastest.op.numpyop.multivariate import HorizontalFlip, PadIfNeeded, RandomCrop
from fastest.op.numpyop.univariate import ChannelTranspose, CoarseDropout, Normalize
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.io import BestModelSaver
from fastest.trace.metric import Accuracy

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2471, 0.2435, 0.2616)
DATASETS = {"cifair100": (cifair100, 100), "cifair10": (cifair10, 10)}  # loader module, classes
# the model this program trains (ViTModel's defaults are ViT-Base on 224×224 images)
CIFAR_VIT = {"image_size": 32, "patch_size": 4, "num_layers": 6, "num_channels": 3, "em_dim": 256,
             "num_heads": 8, "ff_dim": 512}


class ViTEmbeddings(nn.Module):
    """Image (B, C, H, W) → tokens (B, 1 + patches, em_dim): patch embeddings after a class token, plus
    learned position embeddings, then dropout.

    >>> ViTEmbeddings(image_size=8, patch_size=4, em_dim=6)(torch.zeros(2, 3, 8, 8)).shape
    torch.Size([2, 5, 6])
    """

    def __init__(self, image_size: int = 224, patch_size: int = 16, num_channels: int = 3, em_dim: int = 768,
                 drop: float = 0.1) -> None:
        super().__init__()
        if image_size % patch_size:
            raise FastestValueError(f"ViT: image_size {image_size} is not a multiple of patch_size {patch_size}; "
                                    "pick a patch size that tiles the image.")
        self.patch_embedding = nn.Conv2d(num_channels, em_dim, kernel_size=patch_size, stride=patch_size, bias=False)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, em_dim))
        self.position_embedding = nn.Parameter(torch.zeros(1, (image_size // patch_size) ** 2 + 1, em_dim))
        self.dropout = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = self.patch_embedding(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls_token.expand(len(x), -1, -1), patches], dim=1)
        return self.dropout(tokens + self.position_embedding)


class ViTEncoder(nn.Module):
    """Embeddings, ``num_layers`` post-norm Transformer encoder layers (GELU), and a layer norm of the class
    token's output: (B, C, H, W) → (B, em_dim)."""

    def __init__(self, num_layers: int, image_size: int, patch_size: int, num_channels: int, em_dim: int,
                 drop: float, num_heads: int, ff_dim: int) -> None:
        super().__init__()
        self.embedding = ViTEmbeddings(image_size, patch_size, num_channels, em_dim, drop)
        layer = nn.TransformerEncoderLayer(em_dim, nhead=num_heads, dim_feedforward=ff_dim, dropout=drop,
                                           activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=num_layers, enable_nested_tensor=False)
        self.layernorm = nn.LayerNorm(em_dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layernorm(self.encoder(self.embedding(x))[:, 0])


class ViTModel(nn.Module):
    """A Vision Transformer classifier: :class:`ViTEncoder` then a linear layer (logits). The defaults are
    ViT-Base/16 on 224×224 images; this program uses ``CIFAR_VIT``.

    Args:
        num_classes: Number of classes.
        num_layers: Encoder layers.
        image_size: Height and width of the (square) images.
        patch_size: Height and width of the patches; must divide ``image_size``.
        num_channels: Image channels.
        em_dim: Token width.
        drop: Dropout rate (embeddings, attention and feed-forward).
        num_heads: Attention heads; must divide ``em_dim``.
        ff_dim: Units of each feed-forward part.

    >>> model = ViTModel(num_classes=7, num_layers=1, image_size=8, patch_size=4, em_dim=8, num_heads=2, ff_dim=16)
    >>> model(torch.zeros(3, 3, 8, 8)).shape
    torch.Size([3, 7])
    """

    def __init__(self, num_classes: int, num_layers: int = 12, image_size: int = 224, patch_size: int = 16,
                 num_channels: int = 3, em_dim: int = 768, drop: float = 0.1, num_heads: int = 12,
                 ff_dim: int = 3072) -> None:
        super().__init__()
        self.vit_encoder = ViTEncoder(num_layers, image_size, patch_size, num_channels, em_dim, drop, num_heads,
                                      ff_dim)
        self.linear_classifier = nn.Linear(em_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_classifier(self.vit_encoder(x))


def get_estimator(dataset: str = "cifair100", batch_size: int = 128, epochs: int = 100, model_dir: str | None = None,
                  train_steps_per_epoch: int | None = None, eval_steps_per_epoch: int | None = None,
                  pretrained_model: ViTModel | None = None, log_steps: int | None = 100) -> fe.Estimator:
    """The Estimator of one training phase: a CIFAR-sized ViT on ciFAIR-100 or ciFAIR-10.

    Args:
        dataset: ``"cifair100"`` (pretraining) or ``"cifair10"`` (fine-tuning).
        batch_size: Images per batch.
        epochs: Training epochs.
        model_dir: Folder for the model with the best eval accuracy (None: a new temporary folder).
        train_steps_per_epoch: Batches per training epoch (None: one pass over the 50,000 images).
        eval_steps_per_epoch: Batches per eval epoch (None: all 10,000 test images).
        pretrained_model: A trained ViTModel whose encoder weights the new model starts from (its classifier
            stays freshly initialized); None starts from scratch.
        log_steps: Training log interval in steps (None: no step logs).
    """
    if dataset not in DATASETS:
        raise FastestValueError(f"ViT get_estimator: dataset must be one of {sorted(DATASETS)}, "
                                f"received {dataset!r}.")
    loader, num_classes = DATASETS[dataset]
    train_data, eval_data = loader.load_data()
    pipeline = fe.Pipeline(
        train_data=train_data, eval_data=eval_data, batch_size=batch_size,
        ops=[
            Normalize(inputs="x", outputs="x", mean=CIFAR_MEAN, std=CIFAR_STD),
            PadIfNeeded(min_height=40, min_width=40, image_in="x", image_out="x", mode="train"),
            RandomCrop(32, 32, image_in="x", image_out="x", mode="train"),
            Sometimes(HorizontalFlip(image_in="x", image_out="x", mode="train")),
            CoarseDropout(inputs="x", outputs="x", mode="train", max_holes=1),
            ChannelTranspose(inputs="x", outputs="x"),
        ])
    model = fe.build(model_fn=lambda: ViTModel(num_classes=num_classes, **CIFAR_VIT),
                     optimizer_fn=lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4))
    if pretrained_model is not None:
        model.vit_encoder.load_state_dict(pretrained_model.vit_encoder.state_dict())
    network = fe.Network(ops=[
        ModelOp(model=model, inputs="x", outputs="y_pred"),
        CrossEntropy(inputs=("y_pred", "y"), outputs="ce", from_logits=True),
        UpdateOp(model=model, loss_name="ce"),
    ])
    traces = [
        Accuracy(true_key="y", pred_key="y_pred"),
        BestModelSaver(model=model, save_dir=model_dir or tempfile.mkdtemp(), metric="accuracy",
                       save_best_mode="max"),
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces, log_steps=log_steps,
                        train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch)


def pretrain(batch_size: int, epochs: int, model_dir: str | None = None, train_steps_per_epoch: int | None = None,
             eval_steps_per_epoch: int | None = None, log_steps: int | None = 100) -> ViTModel:
    """Train a ViT from scratch on ciFAIR-100 and return it (see :func:`get_estimator` for the arguments)."""
    estimator = get_estimator("cifair100", batch_size, epochs, model_dir, train_steps_per_epoch,
                              eval_steps_per_epoch, log_steps=log_steps)
    estimator.fit(warmup=False)
    return estimator.network.models[0]


def finetune(pretrained_model: ViTModel, batch_size: int, epochs: int, model_dir: str | None = None,
             train_steps_per_epoch: int | None = None, eval_steps_per_epoch: int | None = None,
             log_steps: int | None = 100) -> ViTModel:
    """Train a ViT with ``pretrained_model``'s encoder and a new classifier on ciFAIR-10 and return it."""
    estimator = get_estimator("cifair10", batch_size, epochs, model_dir, train_steps_per_epoch,
                              eval_steps_per_epoch, pretrained_model=pretrained_model, log_steps=log_steps)
    estimator.fit(warmup=False)
    return estimator.network.models[0]


def fastestimator_run(batch_size: int = 128, pretrain_epochs: int = 100, finetune_epochs: int = 1,
                      train_steps_per_epoch: int | None = None,
                      eval_steps_per_epoch: int | None = None) -> tuple[ViTModel, ViTModel]:
    """Pretrain on ciFAIR-100, then fine-tune on ciFAIR-10; returns the two models."""
    pretrained = pretrain(batch_size=batch_size, epochs=pretrain_epochs, train_steps_per_epoch=train_steps_per_epoch,
                          eval_steps_per_epoch=eval_steps_per_epoch)
    finetuned = finetune(pretrained, batch_size=batch_size, epochs=finetune_epochs,
                         train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch)
    return pretrained, finetuned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--pretrain_epochs", type=int, default=100)
    parser.add_argument("--finetune_epochs", type=int, default=1)
    parser.add_argument("--train_steps_per_epoch", type=int, default=None)
    parser.add_argument("--eval_steps_per_epoch", type=int, default=None)
    args = parser.parse_args()
    fastestimator_run(batch_size=args.batch_size, pretrain_epochs=args.pretrain_epochs,
                      finetune_epochs=args.finetune_epochs, train_steps_per_epoch=args.train_steps_per_epoch,
                      eval_steps_per_epoch=args.eval_steps_per_epoch)


if __name__ == "__main__":
    main()
