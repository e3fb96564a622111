"""SuperLoss curriculum learning on ciFAIR-100 with 40% of the training labels corrupted.

SuperLoss (Castells et al., "SuperLoss: A Generic Loss for Robust Curriculum Learning", NeurIPS 2020)
wraps a task loss and gives every sample a confidence ``sigma`` from how its loss compares with a running
average: samples that look too hard (often the mislabelled ones) are down-weighted, so the network learns
from the easy samples first. Here it wraps the cross entropy of a LeNet-like CNN with swish activations.

Before training, 40% of the training images of each class get a wrong label (the true one shifted by a
random 1..99). A ``data_labels`` column remembers which: the ``LabelTracker`` then draws the mean
confidence of the clean and the corrupted samples over the epochs (``label_confidence_*.png`` in
``save_dir``), which shows SuperLoss learning to distrust the corrupted labels. The model with the best
eval MCC is kept and restored at the end; half of ciFAIR-100's test set is the eval set, the other half
the test set.

The data, ciFAIR-100 (CIFAR-100 with the test images that duplicate training images replaced), is
downloaded by ``fastest.dataset.data.cifair100`` on first use. Run
``python superloss.py [--epochs 50 --batch_size 128 --save_dir DIR]`` (a GPU is advised). Its accuracy on
the real data has not been measured here (this machine has no internet).
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch
from torch import nn

import fastest as fe
from fastest.dataset.data import cifair100
from fastest.dataset.dataset import NumpyDataset
from fastest.errors import FastestValueError
from fastest.op.numpyop.meta import Sometimes
from fastest.op.numpyop.multivariate import HorizontalFlip, PadIfNeeded, RandomCrop
from fastest.op.numpyop.univariate import ChannelTranspose, CoarseDropout, Normalize
from fastest.op.tensorop.loss import CrossEntropy, SuperLoss
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.io import BestModelSaver, ImageSaver
from fastest.trace.metric import MCC
from fastest.trace.xai import LabelTracker

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)
CLASSES = 100


class BigLeNet(nn.Module):
    """Three conv blocks (32, 64, 128 channels: 3×3 conv, swish, batch norm, 2×2 max-pool), then a
    128-unit swish layer with batch norm and a softmax over ``classes``. Takes (batch, 3, 32, 32) images.

    Args:
        classes: Number of outputs.

    >>> BigLeNet()(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 100])
    """

    def __init__(self, classes: int = CLASSES) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for width_in, width_out in ((3, 32), (32, 64), (64, 128)):
            blocks += [nn.Conv2d(width_in, width_out, 3, padding=1), nn.SiLU(),
                       nn.BatchNorm2d(width_out, momentum=0.01), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*blocks, nn.Flatten())
        self.head = nn.Sequential(nn.Linear(128 * 4 * 4, 128), nn.SiLU(), nn.BatchNorm1d(128, momentum=0.01),
                                  nn.Linear(128, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(self.features(x)), dim=-1)


def corrupt_dataset(dataset: NumpyDataset, n_classes: int = CLASSES, corruption_fraction: float = 0.4,
                    seed: int | None = None) -> np.ndarray:
    """Give ``floor(corruption_fraction * len(dataset) / n_classes)`` samples of each class a wrong label.

    The first samples of each class (in dataset order) are corrupted: their label moves by a random
    1..``n_classes - 1``, so it is never the true one. A ``data_labels`` column (int32, shape (1,) per
    sample) records 1 for a corrupted sample and 0 for a clean one.

    Args:
        dataset: A NumpyDataset with class indices under ``y``; changed in place.
        n_classes: Number of classes.
        corruption_fraction: Share of the average class size to corrupt per class, in [0, 1].
        seed: Seed of the new labels (None: different on each call).

    Returns:
        The indices of the corrupted samples.
    """
    if not 0 <= corruption_fraction <= 1:
        raise FastestValueError(f"corrupt_dataset: corruption_fraction must be in [0, 1], received "
                                f"{corruption_fraction!r}.")
    labels = np.asarray(dataset["y"])
    per_class = int(np.floor(corruption_fraction * (len(dataset) // n_classes)))
    chosen = np.concatenate([np.flatnonzero(labels.reshape(-1) == c)[:per_class] for c in range(n_classes)])
    chosen = np.sort(chosen.astype(np.int64))
    shift = np.random.default_rng(seed).integers(1, n_classes, size=len(chosen))
    noisy = labels.copy()
    noisy[chosen] = ((labels[chosen].astype(np.int64) + shift.reshape(labels[chosen].shape)) % n_classes)
    flags = np.zeros((len(dataset), 1), dtype=np.int32)
    flags[chosen] = 1
    dataset["y"] = noisy
    dataset["data_labels"] = flags
    return chosen


def get_estimator(epochs: int = 50, batch_size: int = 128, train_steps_per_epoch: int | None = None,
                  eval_steps_per_epoch: int | None = None, save_dir: str | None = None) -> fe.Estimator:
    """The SuperLoss Estimator, with eval and test data (``estimator.test()`` after ``fit``).

    Args:
        epochs: Training epochs.
        batch_size: Images per batch.
        train_steps_per_epoch: Batches per training epoch (None: one pass over the data).
        eval_steps_per_epoch: Batches per eval epoch (None: all).
        save_dir: Folder of the best model (``big_lenet_best_mcc.pt``) and of the confidence plots
            (None: a new temporary folder).
    """
    save_dir = save_dir or tempfile.mkdtemp()
    train_data, eval_data = cifair100.load_data()
    corrupt_dataset(train_data)
    test_data = eval_data.split(range(len(eval_data) // 2))
    pipeline = fe.Pipeline(train_data=train_data, eval_data=eval_data, test_data=test_data, batch_size=batch_size,
                           ops=[
                               Normalize(inputs="x", outputs="x", mean=CIFAR_MEAN, std=CIFAR_STD),
                               PadIfNeeded(min_height=40, min_width=40, image_in="x", image_out="x", mode="train"),
                               RandomCrop(32, 32, image_in="x", image_out="x", mode="train"),
                               Sometimes(HorizontalFlip(image_in="x", image_out="x", mode="train")),
                               CoarseDropout(inputs="x", outputs="x", mode="train", max_holes=1),
                               ChannelTranspose(inputs="x", outputs="x"),
                           ])
    model = fe.build(model_fn=BigLeNet, optimizer_fn="adam", model_name="big_lenet")
    network = fe.Network(ops=[
        ModelOp(model=model, inputs="x", outputs="y_pred"),
        SuperLoss(CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), output_confidence="confidence"),
        UpdateOp(model=model, loss_name="ce"),
    ])
    traces = [
        MCC(true_key="y", pred_key="y_pred"),
        BestModelSaver(model=model, save_dir=save_dir, metric="mcc", save_best_mode="max", load_best_final=True),
        LabelTracker(metric="confidence", label="data_labels", label_mapping={"Normal": 0, "Corrupted": 1},
                     mode="train", outputs="label_confidence"),
        ImageSaver(inputs="label_confidence", save_dir=save_dir, mode="train"),
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces,
                        train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--save_dir", default=None, help="folder of the model and plots (default: a temporary one)")
    args = parser.parse_args()
    estimator = get_estimator(epochs=args.epochs, batch_size=args.batch_size, save_dir=args.save_dir)
    estimator.fit()
    estimator.test()


if __name__ == "__main__":
    main()
