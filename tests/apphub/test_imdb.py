"""The IMDB sentiment app: a few steps on tiny reviews in the loader's format (word-index rows, 0/1 labels)."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fastest.dataset import NumpyDataset
from fastest.dataset.data import imdb_review
from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/NLP/imdb/imdb.py"
MAX_WORDS, MAX_LEN = 50, 16


def load_app():
    return load_script(SCRIPT, "imdb_app")


def reviews(n, seed):
    """Rows as imdb_review.load_data gives them: int64 (max_len,), 1 first, words from 3 up, 0 padding after."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, MAX_LEN), dtype=np.int64)
    for row in x:
        length = rng.integers(4, MAX_LEN)
        row[0] = imdb_review.START
        row[1:length] = rng.integers(imdb_review.INDEX_FROM, MAX_WORDS, length - 1)
    return NumpyDataset({"x": x, "y": rng.integers(0, 2, n).astype(np.int64)})


@pytest.fixture
def app(monkeypatch):
    calls = []

    def fake_load_data(max_len, vocab_size, root_dir=None):
        calls.append((max_len, vocab_size))
        return reviews(24, 0), reviews(12, 1)

    monkeypatch.setattr(imdb_review, "load_data", fake_load_data)
    module = load_app()
    module.loader_calls = calls
    return module


def test_model_reads_each_review_on_its_own():
    app = load_app()
    torch.manual_seed(0)
    model = app.ReviewSentiment(max_words=MAX_WORDS).eval()
    x = torch.from_numpy(reviews(5, 2).data["x"])
    with torch.no_grad():
        out = model(x)
        alone = model(x[2:3])
        longer = app.ReviewSentiment(max_words=MAX_WORDS)(torch.zeros(2, 40, dtype=torch.int64))
    assert out.shape == (5, 1) and longer.shape == (2, 1)
    assert ((out > 0) & (out < 1)).all()
    assert torch.allclose(out[2:3], alone, atol=1e-6)  # no mixing between the reviews of a batch
    assert model.lstm.input_size == 32 and model.lstm.hidden_size == 64 and model.embedding.num_embeddings == 50


def test_fit_trains_and_reports_loss_and_accuracy(app, tmp_path):
    estimator = app.get_estimator(max_words=MAX_WORDS, max_len=MAX_LEN, epochs=1, batch_size=4,
                                  train_steps_per_epoch=3, eval_steps_per_epoch=2, save_dir=str(tmp_path),
                                  log_steps=1, num_process=0)
    assert app.loader_calls == [(MAX_LEN, MAX_WORDS)]
    model = estimator.network.models[0]
    before = [p.detach().clone() for p in model.parameters()]
    summary = estimator.fit("imdb")
    assert all(not p.equal(b) for p, b in zip(model.parameters(), before))
    train, evals = summary.history["train"], summary.history["eval"]
    assert sorted(train["loss"]) == [1, 2, 3] and all(math.isfinite(v) for v in train["loss"].values())
    assert list(evals["loss"]) == [3] and math.isfinite(evals["loss"][3])
    assert list(evals["accuracy"]) == [3] and evals["accuracy"][3] in {k / 8 for k in range(9)}  # 2 batches of 4
    best = tmp_path / "review_sentiment_best_loss.pt"
    assert best.is_file()
    app.ReviewSentiment(max_words=MAX_WORDS).load_state_dict(torch.load(best, weights_only=True))
