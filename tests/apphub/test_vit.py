"""The ViT app: the model's shapes, then pretraining and fine-tuning for a couple of steps each on tiny data."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fastest.dataset import NumpyDataset
from fastest.dataset.data import cifair10, cifair100
from fastest.errors import FastestValueError
from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/image_classification/vit/vit.py"


@pytest.fixture(scope="module")
def app():
    return load_script(SCRIPT, "vit_app")


def cifar_like(classes: int, seed: int) -> tuple[NumpyDataset, NumpyDataset]:
    """What the ciFAIR loaders return: uint8 (32, 32, 3) images and uint8 labels, here 12 train and 4 eval samples."""
    rng = np.random.default_rng(seed)
    return tuple(NumpyDataset({"x": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                               "y": rng.integers(0, classes, n).astype(np.uint8)}) for n in (12, 4))


def test_vit_tokens_and_outputs(app):
    model = app.ViTModel(num_classes=100, **app.CIFAR_VIT).eval()
    embedding = model.vit_encoder.embedding
    assert embedding.position_embedding.shape == (1, 65, 256)  # 8×8 patches of 4×4 and the class token
    x = torch.randn(2, 3, 32, 32)
    assert embedding(x).shape == (2, 65, 256) and model(x).shape == (2, 100)
    assert len(model.vit_encoder.encoder.layers) == 6
    with torch.no_grad():  # the class token enters the encoder as the learned token plus its position, no patch
        start = embedding.cls_token[0, 0] + embedding.position_embedding[0, 0]
        assert torch.equal(embedding(x)[:, 0], start.expand(2, -1))
    with pytest.raises(FastestValueError, match="image_size 30 is not a multiple of patch_size 4"):
        app.ViTModel(num_classes=2, image_size=30, patch_size=4)
    with pytest.raises(FastestValueError, match="received 'cifar10'"):
        app.get_estimator("cifar10")


def test_vit_pretrains_on_cifair100_then_finetunes_its_encoder_on_cifair10(app, monkeypatch, tmp_path):
    monkeypatch.setattr(cifair100, "load_data", lambda: cifar_like(100, 0))
    monkeypatch.setattr(cifair10, "load_data", lambda: cifar_like(10, 1))
    pretrained = app.pretrain(batch_size=4, epochs=1, model_dir=str(tmp_path / "pre"), train_steps_per_epoch=2,
                              eval_steps_per_epoch=1, log_steps=1)
    assert pretrained.linear_classifier.out_features == 100
    assert (tmp_path / "pre" / f"{pretrained.model_name}_best_accuracy.pt").is_file()

    estimator = app.get_estimator("cifair10", batch_size=4, epochs=1, model_dir=str(tmp_path / "fine"),
                                  train_steps_per_epoch=2, eval_steps_per_epoch=1, pretrained_model=pretrained,
                                  log_steps=1)
    model = estimator.network.models[0]
    assert model.linear_classifier.out_features == 10
    start = model.vit_encoder.state_dict()
    assert all(torch.equal(value, pretrained.vit_encoder.state_dict()[key]) for key, value in start.items())
    start = {key: value.clone() for key, value in start.items()}
    summary = estimator.fit("finetune", warmup=False)
    train, evals = summary.history["train"], summary.history["eval"]
    assert sorted(train["ce"]) == [1, 2] and all(math.isfinite(v) for v in train["ce"].values())
    assert list(evals["accuracy"]) == [2] and 0.0 <= evals["accuracy"][2] <= 1.0
    assert not torch.equal(model.vit_encoder.state_dict()["embedding.position_embedding"],
                           start["embedding.position_embedding"])  # the whole model is fine-tuned
    assert (tmp_path / "fine" / f"{model.model_name}_best_accuracy.pt").is_file()
