"""Progressive growing (as FastEstimator's PGGAN app does it): per-epoch image sizes, batch sizes and models."""

import os

import numpy as np
import torch
from torch import nn

import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.op.numpyop import Batch
from fastest.op.numpyop.multivariate import Resize
from fastest.op.numpyop.univariate import ChannelTranspose, Normalize
from fastest.op.tensorop import TensorOp
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.schedule import EpochScheduler
from fastest.trace.io import ModelSaver
from fastest.trace.trace import Trace
from tests.conftest import quiet_estimator


class Seen(Trace):
    """Records (epoch, shape of "x", shape of "x_low") for every training batch."""

    def __init__(self):
        super().__init__(inputs=("x", "x_low"), mode="train")
        self.seen = []

    def on_batch_end(self, data):
        self.seen.append((self.system.epoch_idx, tuple(data["x"].shape), tuple(data["x_low"].shape)))


class Scorer(nn.Module):
    """Scores an image of any size: a 1x1 convolution, then the mean."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, kernel_size=1)

    def forward(self, x):
        return self.conv(x).mean(dim=(1, 2, 3))


class MeanLoss(TensorOp):
    def forward(self, data, state):
        return torch.mean(data)


def grown_pipeline(n=10, low_res=True):
    sizes = {1: 4, 2: 8}
    keys = ("x", "x_low") if low_res else ("x",)
    images = np.random.default_rng(0).integers(0, 256, size=(n, 16, 16, 1), dtype=np.uint8)
    ops = [EpochScheduler({e: Resize(image_in="x", image_out="x", height=s, width=s) for e, s in sizes.items()})]
    if low_res:
        ops.append(EpochScheduler({e: Resize(image_in="x", image_out="x_low", height=s // 2, width=s // 2)
                                   for e, s in sizes.items()}))
    ops += [Normalize(inputs=keys, outputs=keys, mean=1.0, std=1.0, max_pixel_value=127.5),
            ChannelTranspose(inputs=keys, outputs=keys),
            Batch(drop_last=True)]  # no batch_size of its own: the pipeline's scheduled one applies
    return fe.Pipeline(train_data=NumpyDataset({"x": images}), batch_size=EpochScheduler({1: 4, 2: 3}),
                       num_process=0, ops=ops)


def test_a_batch_op_without_a_size_takes_the_scheduled_pipeline_batch_size():
    seen = Seen()
    model = fe.build(Scorer, optimizer_fn="adam")
    network = fe.Network([
        ModelOp(model=model, inputs="x", outputs="score"),
        MeanLoss(inputs="score", outputs="loss"),
        UpdateOp(model=model, loss_name="loss"),
    ])
    quiet_estimator(grown_pipeline(), network, epochs=3, traces=[seen]).fit(warmup=False)
    # 10 samples: epoch 1 gives two batches of 4 (2 dropped), epochs 2-3 three batches of 3 (1 dropped)
    assert seen.seen == ([(1, (4, 1, 4, 4), (4, 1, 2, 2))] * 2 + [(2, (3, 1, 8, 8), (3, 1, 4, 4))] * 3
                         + [(3, (3, 1, 8, 8), (3, 1, 4, 4))] * 3)


def test_each_epoch_trains_only_its_scheduled_model_and_the_optimizer_free_one_is_saved(tmp_path):
    small, large, whole = fe.build(lambda: [Scorer(), Scorer(), Scorer()],
                                   optimizer_fn=[lambda p: torch.optim.SGD(p, lr=0.1)] * 2 + [None],
                                   model_name=["s_4", "s_8", "S"])
    assert whole.optimizer is None and small.optimizer is not None
    before = {m.model_name: m.conv.weight.detach().clone() for m in (small, large, whole)}
    changed = []

    class Changed(Trace):
        def on_epoch_end(self, data):
            changed.append(sorted(name for name, m in (("s_4", small), ("s_8", large), ("S", whole))
                                  if not torch.equal(m.conv.weight, before[name])))

    network = fe.Network([
        EpochScheduler({1: ModelOp(model=small, inputs="x", outputs="score"),
                        2: ModelOp(model=large, inputs="x", outputs="score")}),
        MeanLoss(inputs="score", outputs="loss"),
        EpochScheduler({1: UpdateOp(model=small, loss_name="loss"), 2: UpdateOp(model=large, loss_name="loss")}),
    ])
    saver = ModelSaver(model=whole, save_dir=str(tmp_path), frequency=1)
    quiet_estimator(grown_pipeline(low_res=False), network, epochs=2, traces=[Changed(mode="train"), saver]).fit()
    assert changed == [["s_4"], ["s_4", "s_8"]]  # epoch 1 trains s_4 only, epoch 2 adds s_8; S never trains
    assert sorted(os.listdir(tmp_path)) == ["S_epoch_1.pt", "S_epoch_2.pt"]
