"""One-shot character recognition with a Siamese network on Omniglot (Koch et al., 2015).

Two drawings go through the same convolutional branch; the absolute difference of their 4096-d
embeddings goes to one sigmoid unit that says whether both show the same character. Training pairs
come from the 30 "background" alphabets (half of them matching, each drawing shifted, scaled and
rotated a little most of the time); the loss is binary cross-entropy plus an L2 penalty on the
convolutions and on the embedding layer. Evaluation uses the 20 other alphabets, characters the
network has never seen: besides the pair accuracy, a 20-way one-shot test repeatedly shows one
drawing with 20 candidates (one of its own character, 19 of others) and counts how often the
matching candidate scores highest. Half of the evaluation characters are held out for ``est.test()``.

Omniglot is downloaded into ``~/fastest_data/Omniglot`` (``$FASTEST_DATA_DIR`` or ``--data_dir``) on first
use. Run ``python siamese.py [--epochs 200 --batch_size 128 --one_shot_trials 400]``; a GPU is advised. Its
accuracy on the real data has not been measured here (this machine has no internet access).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

import fastest as fe
from fastest.dataset import SiameseDirDataset
from fastest.dataset.data import omniglot
from fastest.op.numpyop.meta import Sometimes
from fastest.op.numpyop.multivariate import ShiftScaleRotate
from fastest.op.numpyop.univariate import Minmax, ReadImage, Reshape
from fastest.op.tensorop import TensorOp
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace import Data, Trace
from fastest.trace.adapt import EarlyStopping, LRScheduler
from fastest.trace.io import BestModelSaver
from fastest.trace.metric import Accuracy

IMAGE_SIZE = 105  # Omniglot drawings are 105x105 binary PNGs


def branch_features(image_size: int) -> int:
    """Length of one branch's flattened output for square ``image_size`` inputs (9216 for 105)."""
    side = image_size
    for kernel, pooled in ((10, True), (7, True), (4, True), (4, False)):
        side = side - kernel + 1
        side = side // 2 if pooled else side
    if side < 1:
        raise ValueError(f"SiameseNetwork needs images of at least 65x65 pixels, received {image_size}.")
    return 256 * side * side


class SiameseNetwork(nn.Module):
    """Koch et al.'s twin network: a shared conv branch, |embedding difference|, one sigmoid output.

    Args:
        image_size: Side of the square grey input images.
        classes: Output units (1: same / different).
    """

    def __init__(self, image_size: int = IMAGE_SIZE, classes: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, 10)
        self.conv2 = nn.Conv2d(64, 128, 7)
        self.conv3 = nn.Conv2d(128, 128, 4)
        self.conv4 = nn.Conv2d(128, 256, 4)
        self.fc1 = nn.Linear(branch_features(image_size), 4096)
        self.fc2 = nn.Linear(4096, classes)
        for layer in self.modules():  # the paper's initialization: small weights, biases around 0.5
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(layer.weight, mean=0.0, std=0.01 if isinstance(layer, nn.Conv2d) else 0.2)
                nn.init.normal_(layer.bias, mean=0.5, std=0.01)  # type: ignore[arg-type]  # both have a bias

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        for conv in (self.conv1, self.conv2, self.conv3):
            x = torch.relu(nn.functional.max_pool2d(conv(x), 2))
        x = torch.relu(self.conv4(x))
        return torch.sigmoid(self.fc1(x.flatten(1)))

    def forward(self, x_a: torch.Tensor, x_b: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc2(torch.abs(self.embed(x_a) - self.embed(x_b))))


class WeightPenalty(TensorOp):
    """Add the L2 penalty of the paper to a loss: 0.01·Σw² over the convolutions, 1e-4·Σw² over ``fc1``.

    Args:
        inputs: Key of the loss.
        outputs: Key of the penalized loss.
        model: The SiameseNetwork.
        mode: Modes to run in.
    """

    def __init__(self, inputs: str, outputs: str, model: SiameseNetwork, mode: str | None = "train") -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode)
        self.model = model

    def forward(self, data: Any, state: Mapping[str, Any]) -> torch.Tensor:
        penalty = sum(0.01 * layer.weight.square().sum() for layer in self.model.modules()
                      if isinstance(layer, nn.Conv2d))
        return data + penalty + 1e-4 * self.model.fc1.weight.square().sum()


class OneShotAccuracy(Trace):
    """N-way one-shot accuracy, measured at the end of every eval (and test) epoch.

    Each trial draws one drawing and N candidates from ``dataset`` (``one_shot_trial``: candidate 0 is
    another drawing of the same character); the trial counts as correct when candidate 0 gets the
    highest score and the scores are not all alike (standard deviation above 0.01).

    Args:
        dataset: The SiameseDirDataset to draw trials from.
        model: The SiameseNetwork.
        N: Candidates per trial.
        trials: Trials per epoch.
        mode: Modes to run in.
        output_name: Key of the logged accuracy.
    """

    def __init__(self, dataset: SiameseDirDataset, model: nn.Module, N: int = 20, trials: int = 400,
                 mode: str | tuple[str, ...] = ("eval", "test"), output_name: str = "one_shot_accuracy") -> None:
        super().__init__(outputs=output_name, mode=mode)
        self.dataset, self.model, self.N, self.trials = dataset, model, N, trials
        self.reader = ReadImage(inputs="path", outputs="image", color_flag="gray")

    def read(self, paths: list[str], device: torch.device) -> torch.Tensor:
        images = np.stack([self.reader.forward(path, {}) for path in paths]).astype(np.float32) / 255.0
        return torch.from_numpy(images).permute(0, 3, 1, 2).to(device)  # (N, 1, H, W)

    @torch.no_grad()
    def on_epoch_end(self, data: Data) -> None:
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        correct = 0
        for _ in range(self.trials):
            left, right = self.dataset.one_shot_trial(self.N)  # left repeats one drawing N times
            query = self.read(left[:1], device).expand(len(right), -1, -1, -1)
            scores = self.model(query, self.read(right, device)).flatten().cpu().numpy()
            correct += int(np.argmax(scores) == 0 and scores.std() > 0.01)
        self.model.train(was_training)
        data.write_with_log(self.outputs[0], correct / self.trials)


def lr_schedule(epoch: int) -> float:
    """1e-4, shrunk by 1% every epoch."""
    return 1e-4 * 0.99**epoch


def get_estimator(epochs: int = 200, batch_size: int = 128, train_steps_per_epoch: int | None = None,
                  eval_steps_per_epoch: int | None = None, save_dir: str | None = None,
                  data_dir: str | None = None, one_shot_trials: int = 400, image_size: int = IMAGE_SIZE,
                  log_steps: int | None = 100) -> fe.Estimator:
    """The Siamese-network Estimator.

    Args:
        epochs: Training epochs (early stopping after 20 epochs without a better one-shot accuracy).
        batch_size: Pairs per batch.
        train_steps_per_epoch: Batches per training epoch (None = one pass over the drawings).
        eval_steps_per_epoch: Batches per eval epoch.
        save_dir: Folder of the best model (by one-shot accuracy); None = a new temporary folder.
        data_dir: Folder under which Omniglot is kept (None = ``$FASTEST_DATA_DIR`` or ``~/fastest_data``).
        one_shot_trials: 20-way one-shot trials per eval and test epoch.
        image_size: Side of the drawings (Omniglot's are 105).
        log_steps: Training log interval (None = silent).
    """
    train_data, eval_data = omniglot.load_data(root_dir=data_dir)
    test_data = eval_data.split(0.5)  # by character: the test characters never show up in evaluation
    augment = [Sometimes(ShiftScaleRotate(image_in=key, image_out=key, shift_limit=0.05, scale_limit=0.2,
                                          rotate_limit=10, mode="train"), prob=0.89) for key in ("x_a", "x_b")]
    pipeline = fe.Pipeline(train_data=train_data, eval_data=eval_data, test_data=test_data, batch_size=batch_size,
                           ops=[ReadImage(inputs=("x_a", "x_b"), outputs=("x_a", "x_b"), color_flag="gray"),
                                *augment,
                                Minmax(inputs=("x_a", "x_b"), outputs=("x_a", "x_b")),
                                Reshape(shape=(1, image_size, image_size), inputs=("x_a", "x_b"),
                                        outputs=("x_a", "x_b"))])
    model = fe.build(model_fn=lambda: SiameseNetwork(image_size), optimizer_fn="adam", model_name="siamese_net")
    network = fe.Network(ops=[
        ModelOp(model=model, inputs=("x_a", "x_b"), outputs="y_pred"),
        CrossEntropy(inputs=("y_pred", "y"), outputs="loss", form="binary"),
        WeightPenalty(inputs="loss", outputs="loss", model=model),
        UpdateOp(model=model, loss_name="loss"),
    ])
    traces = [
        LRScheduler(model=model, lr_fn=lr_schedule),
        Accuracy(true_key="y", pred_key="y_pred"),
        OneShotAccuracy(dataset=eval_data, model=model, trials=one_shot_trials),
        BestModelSaver(model=model, save_dir=save_dir or tempfile.mkdtemp(), metric="one_shot_accuracy",
                       save_best_mode="max"),
        EarlyStopping(monitor="one_shot_accuracy", patience=20, compare="max", mode="eval"),
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces, log_steps=log_steps,
                        train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch,
                        progress_bar=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--train_steps_per_epoch", type=int, default=None)
    parser.add_argument("--eval_steps_per_epoch", type=int, default=None)
    parser.add_argument("--one_shot_trials", type=int, default=400)
    parser.add_argument("--save_dir", default=None)
    parser.add_argument("--data_dir", default=None)
    args = parser.parse_args()
    estimator = get_estimator(epochs=args.epochs, batch_size=args.batch_size,
                              train_steps_per_epoch=args.train_steps_per_epoch,
                              eval_steps_per_epoch=args.eval_steps_per_epoch, save_dir=args.save_dir,
                              data_dir=args.data_dir, one_shot_trials=args.one_shot_trials)
    estimator.fit()
    estimator.test()


if __name__ == "__main__":
    main()
