import os

import numpy as np
import pytest
import torch
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from tensorboard.plugins.projector import projector_config_pb2

from fastest.errors import FastestValueError
from fastest.xai.umap import as_features, umap_embedding, write_projector


def penultimate(model, x):
    """LeNet's fc1 output (the layer before the classifier), as ModelOp(intermediate_layers="fc1") gives it."""
    store = []
    handle = model.fc1.register_forward_hook(lambda m, a, out: store.append(out))
    with torch.no_grad():
        model(x)
    handle.remove()
    return store[0]


def test_umap_of_the_penultimate_layer_separates_the_digits(digits_lenet):
    model, x, y = digits_lenet
    embedding = umap_embedding(penultimate(model, x))
    assert embedding.shape == (len(x), 2) and embedding.dtype == np.float32
    scores = cross_val_score(KNeighborsClassifier(n_neighbors=5), embedding, y.numpy(), cv=5)
    assert scores.mean() >= 0.9, scores
    # the raw pixels, for comparison, separate less well: the classes come from the learned features
    pixels = umap_embedding(x)
    assert cross_val_score(KNeighborsClassifier(n_neighbors=5), pixels, y.numpy(), cv=5).mean() < scores.mean()


def test_umap_is_reproducible_with_a_seed_and_checks_its_input():
    features = np.random.default_rng(0).normal(size=(40, 5))
    np.testing.assert_array_equal(umap_embedding(features, seed=3), umap_embedding(features, seed=3))
    assert umap_embedding(features[:6], n_neighbors=15).shape == (6, 2)  # n_neighbors capped at N - 1
    with pytest.raises(FastestValueError, match="at least 4 samples, received 3"):
        umap_embedding(features[:3])
    with pytest.raises(FastestValueError, match="NaN or infinite"):
        umap_embedding(np.full((10, 2), np.nan))
    assert as_features(torch.ones(3, 2, 2)).shape == (3, 4)


def test_projector_files_hold_features_labels_and_thumbnails(tmp_path):
    features = np.arange(12, dtype=np.float32).reshape(4, 3)
    write_projector(str(tmp_path), features, labels=["cat", "dog", "cat", "dog"],
                    images=torch.rand(4, 1, 6, 6), tag="fc1", step=7)
    folder = tmp_path / "00007" / "fc1"
    np.testing.assert_allclose(np.loadtxt(folder / "tensors.tsv"), features)
    assert (folder / "metadata.tsv").read_text().split() == ["cat", "dog", "cat", "dog"]
    assert (folder / "sprite.png").read_bytes()[:4] == b"\x89PNG"
    config = projector_config_pb2.ProjectorConfig()
    from google.protobuf import text_format

    text_format.Parse((tmp_path / "projector_config.pbtxt").read_text(), config)
    (embedding,) = config.embeddings
    assert embedding.tensor_name == "fc1:00007" and list(embedding.sprite.single_image_dim) == [6, 6]
    with pytest.raises(FastestValueError, match="3 labels for 4 samples"):
        write_projector(str(tmp_path), features, labels=[1, 2, 3])
    with pytest.raises(FastestValueError, match=r"read as 1 image\(s\) for 4 samples; pass one per sample"):
        write_projector(str(tmp_path), features, images=np.zeros((8, 8)))
    assert os.path.isdir(tmp_path)
