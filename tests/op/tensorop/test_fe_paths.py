"""FastEstimator 1.7's module paths of the tensor ops, models and layers import the same fastest objects."""

import importlib

import pytest

import fastest.architecture as architecture
import fastest.layers as layers
import fastest.op.tensorop as tensorop
from fastest.op.tensorop import augmentation, gradient, loss, meta, model


@pytest.mark.parametrize("path, name, expected", [
    ("fastest.op.tensorop.argmax", "Argmax", tensorop.Argmax),
    ("fastest.op.tensorop.average", "Average", tensorop.Average),
    ("fastest.op.tensorop.reshape", "Reshape", tensorop.Reshape),
    ("fastest.op.tensorop.normalize", "Normalize", tensorop.Normalize),
    ("fastest.op.tensorop.resize3d", "Resize3D", tensorop.Resize3D),
    ("fastest.op.tensorop.un_hadamard", "UnHadamard", tensorop.UnHadamard),
    ("fastest.op.tensorop.augmentation.mixup_batch", "MixUpBatch", augmentation.MixUpBatch),
    ("fastest.op.tensorop.augmentation.cutmix_batch", "CutMixBatch", augmentation.CutMixBatch),
    ("fastest.op.tensorop.gradient.fgsm", "FGSM", gradient.FGSM),
    ("fastest.op.tensorop.gradient.watch", "Watch", gradient.Watch),
    ("fastest.op.tensorop.loss.focal_loss", "FocalLoss", loss.FocalLoss),
    ("fastest.op.tensorop.loss.l1_loss", "L1_Loss", loss.L1Loss),
    ("fastest.op.tensorop.meta.sometimes", "Sometimes", meta.Sometimes),
    ("fastest.op.tensorop.model.update", "UpdateOp", model.UpdateOp),
    ("fastest.architecture.pytorch", "WideResidualNetwork", architecture.WideResidualNetwork),
    ("fastest.architecture.pytorch.lenet", "LeNet", architecture.LeNet),
    ("fastest.architecture.pytorch.resnet9", "Residual", architecture.Residual),
    ("fastest.architecture.pytorch.wideresnet", "NetworkBlock", architecture.NetworkBlock),
    ("fastest.architecture.pytorch.attention_unet", "AttentionBlock", architecture.AttentionBlock),
    ("fastest.layers.pytorch", "HadamardCode", layers.HadamardCode),
    ("fastest.layers.pytorch.cropping_2d", "Cropping2D", layers.Cropping2D),
])
def test_fastestimator_module_paths(path, name, expected):
    assert getattr(importlib.import_module(path), name) is expected
