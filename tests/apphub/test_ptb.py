"""The Penn Treebank language-model app: a few steps on a tiny text in the loader's format."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fastest.dataset import NumpyDataset
from fastest.dataset.data import penn_treebank
from fastest.errors import FastestValueError
from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/NLP/language_modeling/ptb.py"
VOCAB = [f"w{k:02d}" for k in range(30)]
SEQ = 8


def load_app():
    return load_script(SCRIPT, "ptb_app")


def rows(n, length, seed):
    """What penn_treebank.load_data gives: consecutive int64 word indices cut into rows of ``length``."""
    stream = np.random.default_rng(seed).integers(0, len(VOCAB), n * length)
    return NumpyDataset({"x": stream.reshape(n, length).astype(np.int64)})


@pytest.fixture
def app(monkeypatch):
    def fake_load_data(root_dir=None, seq_length=64, return_text_path=False):
        assert seq_length == SEQ + 1  # one more word than the model reads: the last target
        return rows(20, seq_length, 0), rows(8, seq_length, 1), rows(4, seq_length, 2), VOCAB

    monkeypatch.setattr(penn_treebank, "load_data", fake_load_data)
    return load_app()


def test_batches_pair_each_word_with_the_next_and_the_model_predicts_every_step(app):
    estimator = app.get_estimator(batch_size=4, seq_length=SEQ, vocab_size=len(VOCAB), embedding_dim=16,
                                  rnn_units=32, num_process=0)
    batch = estimator.pipeline.get_results(mode="train")
    assert batch["x"].shape == batch["y"].shape == (4, SEQ)
    assert torch.equal(batch["x"][:, 1:], batch["y"][:, :-1])
    model = estimator.network.models[0]
    assert model.lstm.input_size == 16 and model.lstm.hidden_size == 32 and model.fc.out_features == 30
    out = estimator.network.transform(batch, mode="eval")
    assert out["y_pred"].shape == (4 * SEQ, 30) and out["y"].shape == (4 * SEQ,)
    assert torch.equal(out["y"], batch["y"].reshape(-1))  # row k * SEQ + t of the logits is sample k, step t
    model.eval()
    with torch.no_grad():
        first = model(batch["x"][1:2])
    assert torch.allclose(out["y_pred"][SEQ:2 * SEQ], first, atol=1e-5)
    expected = torch.nn.functional.cross_entropy(out["y_pred"], out["y"])
    assert float(out["ce"]) == pytest.approx(float(expected), rel=1e-5)
    assert math.log(30) - 0.5 < float(out["ce"]) < math.log(30) + 0.5  # an untrained model guesses near uniform


def test_fit_logs_perplexity_of_the_eval_loss_and_follows_the_lr_schedule(app, tmp_path):
    estimator = app.get_estimator(epochs=2, batch_size=4, seq_length=SEQ, vocab_size=len(VOCAB), embedding_dim=16,
                                  rnn_units=32, train_steps_per_epoch=2, eval_steps_per_epoch=2,
                                  save_dir=str(tmp_path), log_steps=1, num_process=0)
    model = estimator.network.models[0]
    before = [p.detach().clone() for p in model.parameters()]
    summary = estimator.fit("ptb")
    assert all(not p.equal(b) for p, b in zip(model.parameters(), before))
    train, evals = summary.history["train"], summary.history["eval"]
    assert sorted(train["ce"]) == [1, 2, 3, 4] and all(math.isfinite(v) for v in train["ce"].values())
    assert sorted(evals["perplexity"]) == [2, 4]
    for step, value in evals["perplexity"].items():
        assert value == pytest.approx(math.exp(evals["ce"][step]), rel=1e-6)
    for step in (1, 2, 3, 4):
        assert train["lstm_lm_lr"][step] == pytest.approx(app.lr_schedule(step))
    best = tmp_path / "lstm_lm_best_perplexity.pt"
    assert best.is_file()
    saved = torch.load(best, weights_only=True)
    # load_best_final: the model ends with the weights of the best eval epoch
    assert all(torch.equal(saved[name], value) for name, value in model.state_dict().items())


def test_lr_schedule_warms_up_then_decays_to_a_floor(app):
    assert app.lr_schedule(1) == 1.0 and app.lr_schedule(1725) == pytest.approx(1.0 + 0.7 * 1724 / 1725)
    assert app.lr_schedule(1726) == pytest.approx(1.7 * 2414 / 2415)
    assert app.lr_schedule(4000) == pytest.approx(1.7 * 140 / 2415) and app.lr_schedule(5000) == 0.01
    assert app.lr_schedule(1, init_lr=0.5) == 0.5


def test_a_vocabulary_larger_than_vocab_size_is_refused(app):
    with pytest.raises(FastestValueError, match="30 distinct words but vocab_size=10. Pass vocab_size=30"):
        app.get_estimator(vocab_size=10, seq_length=SEQ)
