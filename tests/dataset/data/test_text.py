"""Text and small tabular loaders against a local server, with tiny fixtures in the sources' real formats."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from fastest.dataset import NumpyDataset
from fastest.dataset.data import (
    imdb_review,
    mitmovie_ner,
    penn_treebank,
    shakespeare,
    skl_digits,
    tednmt,
    unnatural_instructions,
    wikitext_103,
)
from fastest.dataset.download import DownloadError
from fastest.errors import FastestValueError

from .conftest import tar_archive, trust_fixtures, zip_archive


def _root(tmp_path: Path) -> Path:
    return tmp_path / "data"  # where the data_server fixture points FASTEST_DATA_DIR


# ---------------------------------------------------------------- IMDB


def _objects(lists: list[list[int]]) -> np.ndarray:
    array = np.empty(len(lists), dtype=object)
    for i, item in enumerate(lists):
        array[i] = item
    return array


def _npz(x_train: list[list[int]], y_train: list[int], x_test: list[list[int]], y_test: list[int]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, x_train=_objects(x_train), y_train=np.array(y_train, dtype=np.int64),
             x_test=_objects(x_test), y_test=np.array(y_test, dtype=np.int64))
    return buffer.getvalue()


def _keras_reference(x_train, y_train, x_test, y_test, maxlen, num_words):
    """Keras' imdb.load_data steps on plain lists, then FE's zero padding: the expected result."""
    rng = np.random.RandomState(113)
    splits = []
    for xs, ys in ((x_train, y_train), (x_test, y_test)):
        order = np.arange(len(xs))
        rng.shuffle(order)
        marked = [[1] + [w + 3 for w in xs[i]] for i in order]
        labels = [ys[i] for i in order]
        kept = [(x, y) for x, y in zip(marked, labels) if len(x) < maxlen]
        splits.append(kept)
    result = []
    for kept in splits:
        rows = [[w if w < num_words else 2 for w in x] for x, _ in kept]
        rows = [row + [0] * (maxlen - len(row)) for row in rows]
        result.append((np.array(rows), np.array([y for _, y in kept])))
    return result


IMDB_TRAIN = [[5, 1, 20], [1, 2, 3, 4, 5, 6, 7, 8], [7], [], [30, 2, 2, 9], [4, 4]]
IMDB_TRAIN_Y = [1, 0, 1, 0, 1, 0]
IMDB_TEST = [[2, 3], [9, 9, 9, 9, 9, 9, 9], [11, 1]]
IMDB_TEST_Y = [0, 1, 1]
IMDB = (IMDB_TRAIN, IMDB_TRAIN_Y, IMDB_TEST, IMDB_TEST_Y)


def test_imdb_matches_keras_semantics_and_pads(data_server, monkeypatch, tmp_path):
    path = data_server.publish("IMDB", "imdb.npz", _npz(*IMDB))
    trust_fixtures(imdb_review, data_server, "IMDB", monkeypatch)
    train, evals = imdb_review.load_data(max_len=6, vocab_size=10)
    (x_train, y_train), (x_test, y_test) = _keras_reference(*IMDB, maxlen=6, num_words=10)
    assert isinstance(train, NumpyDataset) and sorted(train[0]) == ["x", "y"]
    assert train.data["x"].dtype == np.int64 and train.data["y"].dtype == np.int64
    assert train.data["x"].shape == (5, 6)
    np.testing.assert_array_equal(train.data["x"], x_train)
    np.testing.assert_array_equal(train.data["y"], y_train)
    np.testing.assert_array_equal(evals.data["x"], x_test)
    np.testing.assert_array_equal(evals.data["y"], y_test)
    rows = {tuple(row) for row in train.data["x"]}
    assert (1, 8, 4, 2, 0, 0) in rows  # [5, 1, 20] -> start, 5+3, 1+3, 20+3 >= 10 -> OOV, padding
    assert (1, 0, 0, 0, 0, 0) in rows  # an empty review is just its start marker
    assert len(evals) == 2  # the 7-word test review (8 with its marker) is dropped
    again, _ = imdb_review.load_data(max_len=6, vocab_size=10)
    assert data_server.gets[path] == 1
    np.testing.assert_array_equal(again.data["x"], train.data["x"])
    assert (_root(tmp_path) / "IMDB" / "imdb.npz").exists()


def test_imdb_without_vocab_size_uses_keras_largest_index(data_server, monkeypatch):
    data_server.publish("IMDB", "imdb.npz", _npz(*IMDB))
    trust_fixtures(imdb_review, data_server, "IMDB", monkeypatch)
    train, evals = imdb_review.load_data(max_len=20, vocab_size=None)
    largest = max(max(x) for x in IMDB_TRAIN + IMDB_TEST if x) + 3
    (x_train, _), (x_test, _) = _keras_reference(*IMDB, maxlen=20, num_words=largest)
    np.testing.assert_array_equal(train.data["x"], x_train)
    np.testing.assert_array_equal(evals.data["x"], x_test)
    assert len(train) == 6 and len(evals) == 3


def test_imdb_root_dir_and_errors(data_server, monkeypatch, tmp_path):
    data_server.publish("IMDB", "imdb.npz", _npz(*IMDB))
    with pytest.raises(DownloadError, match="sha256"):  # the real checksum rejects the fixture before np.load
        imdb_review.load_data(6, 10)
    trust_fixtures(imdb_review, data_server, "IMDB", monkeypatch)
    imdb_review.load_data(6, 10, root_dir=str(tmp_path / "elsewhere"))
    assert (tmp_path / "elsewhere" / "IMDB" / "imdb.npz").exists()
    with pytest.raises(FastestValueError, match="Increase max_len"):
        imdb_review.load_data(2, 10)
    with pytest.raises(FastestValueError, match="max_len"):
        imdb_review.load_data(0, 10)
    with pytest.raises(FastestValueError, match="vocab_size"):
        imdb_review.load_data(6, -1)


# ---------------------------------------------------------------- Penn Treebank

PTB = {"ptb.train.txt": " the cat sat \n a dog sat on the mat \n",
       "ptb.valid.txt": " a cat \n the dog sat \n",
       "ptb.test.txt": " on the mat \n"}


def _publish_ptb(server, monkeypatch, texts=PTB) -> None:
    for name, text in texts.items():
        server.publish("PennTreeBank", name, text.encode())
    trust_fixtures(penn_treebank, server, "PennTreeBank", monkeypatch)


def test_penn_treebank_rows_and_vocab(data_server, monkeypatch, tmp_path):
    _publish_ptb(data_server, monkeypatch)
    train, evals, test, vocab = penn_treebank.load_data(seq_length=4)
    assert vocab == ["<eos>", "a", "cat", "dog", "mat", "on", "sat", "the"]
    index = {word: i for i, word in enumerate(vocab)}
    words = ["the", "cat", "sat", "<eos>", "a", "dog", "sat", "on", "the", "mat", "<eos>"]  # 2 rows of 4
    assert train.data["x"].dtype == np.int64 and train.data["x"].shape == (2, 4)
    np.testing.assert_array_equal(train.data["x"].ravel(), [index[w] for w in words[:8]])
    assert evals.data["x"].shape == (1, 4) and test.data["x"].shape == (1, 4)  # 6 and 4 words
    np.testing.assert_array_equal(test.data["x"][0], [index[w] for w in ["on", "the", "mat", "<eos>"]])
    penn_treebank.load_data(seq_length=4)
    assert all(data_server.gets[f"/PennTreeBank/{name}"] == 1 for name in PTB)
    paths = penn_treebank.load_data(return_text_path=True)
    assert paths[:3] == tuple(str(_root(tmp_path) / "PennTreeBank" / n) for n in
                              ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"))
    assert paths[3] == vocab


def test_penn_treebank_root_dir_and_errors(data_server, monkeypatch, tmp_path):
    _publish_ptb(data_server, monkeypatch)
    train, *_ = penn_treebank.load_data(root_dir=str(tmp_path / "mine"), seq_length=11)
    assert (tmp_path / "mine" / "PennTreeBank" / "ptb.test.txt").exists()
    assert train.data["x"].shape == (1, 11)  # an exact multiple keeps every word
    with pytest.raises(FastestValueError, match="seq_length"):
        penn_treebank.load_data(seq_length=0)


# ---------------------------------------------------------------- Shakespeare

SHAKESPEARE = "To be, or not.\nBe é!\n"  # 21 characters, one of them not ASCII


def test_shakespeare_characters(data_server, monkeypatch, tmp_path):
    path = data_server.publish("Shakespeare", "shakespeare.txt", SHAKESPEARE.encode("utf-8"))
    trust_fixtures(shakespeare, data_server, "Shakespeare", monkeypatch)
    data, vocab = shakespeare.load_data(seq_length=5)
    assert vocab == sorted(set(SHAKESPEARE)) and "é" in vocab
    assert data.data["x"].dtype == np.int64
    assert data.data["x"].shape == (5, 5)  # 21 characters + 4 padding zeros
    flat = data.data["x"].ravel()
    np.testing.assert_array_equal(flat[:21], [vocab.index(c) for c in SHAKESPEARE])
    np.testing.assert_array_equal(flat[21:], [0, 0, 0, 0])
    shakespeare.load_data(seq_length=5)
    assert data_server.gets[path] == 1
    exact, _ = shakespeare.load_data(root_dir=str(tmp_path / "mine"), seq_length=7)
    assert exact.data["x"].shape == (3, 7)  # no padding row when the length divides evenly
    assert (tmp_path / "mine" / "Shakespeare" / "shakespeare.txt").exists()
    with pytest.raises(FastestValueError, match="seq_length"):
        shakespeare.load_data(seq_length=-3)


# ---------------------------------------------------------------- MIT Movie

MIT_TRAIN = ("O\twhat\nB-GENRE\thorror\nO\tfilms\n\n"
             "B-ACTOR\tsteve\nI-ACTOR\tmcqueen\n\n\n"  # a doubled blank line makes no empty sentence
             "O\tshow\nB-YEAR\t1980s\n")  # the last sentence has no blank line after it
MIT_TEST = "B-TITLE\tjaws\n\n"


def test_mitmovie_sentences_and_vocabularies(data_server, monkeypatch, tmp_path):
    data_server.publish("MITMovie", "engtrain.bio", MIT_TRAIN.encode())
    data_server.publish("MITMovie", "engtest.bio", MIT_TEST.encode())
    trust_fixtures(mitmovie_ner, data_server, "MITMovie", monkeypatch)
    train, evals, words, tags = mitmovie_ner.load_data()
    assert list(train.data["x"]) == ["what horror films", "steve mcqueen", "show 1980s"]
    assert train.data["y"].dtype == object and train.data["y"].shape == (3,)
    assert train.data["y"][1] == ["B-ACTOR", "I-ACTOR"]
    assert list(evals.data["x"]) == ["jaws"] and evals.data["y"][0] == ["B-TITLE"]
    assert "jaws" in words and "mcqueen" in words and len(words) == 8
    assert tags == {"O", "B-GENRE", "B-ACTOR", "I-ACTOR", "B-YEAR", "B-TITLE"}
    mitmovie_ner.load_data()
    assert data_server.gets["/MITMovie/engtrain.bio"] == 1 and data_server.gets["/MITMovie/engtest.bio"] == 1
    mitmovie_ner.load_data(root_dir=str(tmp_path / "mine"))
    assert (tmp_path / "mine" / "MITMovie" / "engtest.bio").exists()


# ---------------------------------------------------------------- TED NMT

TED_FILES = {
    "az_tr_to_en/az-tr.train": "salam\n\nmerhaba\n", "az_tr_to_en/en.train": "hello\nhi\n",
    "az_tr_to_en/az.dev": "sağ ol\n", "az_tr_to_en/en.dev": "thanks\n",
    "az_tr_to_en/az.test": "bəli\nxeyr\n", "az_tr_to_en/en.test": "yes\nno\n",
    "pt_to_en/pt.train": "olá\n", "pt_to_en/en.train": "hello\n", "pt_to_en/pt.dev": "sim\n",
    "pt_to_en/en.dev": "yes\n", "pt_to_en/pt.test": "não\n", "pt_to_en/en.test": "no\n",
    "az_to_en/az.train": "su\n", "az_to_en/en.train": "water\n", "az_to_en/az.dev": "ev\n",
    "az_to_en/en.dev": "house\n", "az_to_en/az.test": "gül\n", "az_to_en/en.test": "rose\n",
}




def test_tednmt_pairs(data_server, monkeypatch, tmp_path):
    path = data_server.publish("tednmt", "qi18naacl-dataset.tar.gz", tar_archive({f"datasets/{name}": text.encode("utf-8") for name, text in TED_FILES.items()}))
    trust_fixtures(tednmt, data_server, "tednmt", monkeypatch)
    train, evals, test = tednmt.load_data(translate_option="az_tr_to_en")
    assert sorted(train[0]) == ["source", "target"]
    assert list(train.data["source"]) == ["salam", "merhaba"]  # the blank line is skipped
    assert list(train.data["target"]) == ["hello", "hi"]
    assert list(evals.data["source"]) == ["sağ ol"] and list(evals.data["target"]) == ["thanks"]
    assert len(test) == 2 and test[1]["source"] == "xeyr" and test[1]["target"] == "no"
    train, _, test = tednmt.load_data(translate_option="pt_to_en")  # the archive is already extracted
    assert train[0]["source"] == "olá" and test[0]["source"] == "não"
    assert data_server.gets[path] == 1
    train, evals, test = tednmt.load_data(root_dir=str(tmp_path / "mine"))  # default: az_to_en
    assert (train[0]["source"], evals[0]["target"], test[0]["source"]) == ("su", "house", "gül")
    assert (tmp_path / "mine" / "tednmt" / "qi18naacl-dataset.tar.gz").exists()


def test_tednmt_rejects_an_unknown_option_before_downloading(data_server, monkeypatch):
    data_server.publish("tednmt", "qi18naacl-dataset.tar.gz", tar_archive({f"datasets/{name}": text.encode("utf-8") for name, text in TED_FILES.items()}))
    trust_fixtures(tednmt, data_server, "tednmt", monkeypatch)
    with pytest.raises(FastestValueError, match=r"'az_en'.*'es_to_pt'.*Did you mean 'az_to_en'\?"):
        tednmt.load_data(translate_option="az_en")
    with pytest.raises(FastestValueError, match="en_to_az"):
        tednmt.load_data(translate_option="en_to_az")
    assert not data_server.gets


# ---------------------------------------------------------------- WikiText-103

WIKI = {"train-00000-of-00002.parquet": b"PAR1train0PAR1", "train-00001-of-00002.parquet": b"PAR1train1PAR1",
        "validation-00000-of-00001.parquet": b"PAR1validPAR1", "test-00000-of-00001.parquet": b"PAR1testPAR1"}


def test_wikitext_103_paths_of_the_first_train_shard(data_server, monkeypatch, tmp_path):
    for name, content in WIKI.items():
        data_server.publish("wiki_text_103", name, content)
    trust_fixtures(wikitext_103, data_server, "wiki_text_103", monkeypatch)
    train, evals, test = wikitext_103.load_data()
    folder = _root(tmp_path) / "wiki_text_103"
    assert (train, evals, test) == (str(folder / "train-00000-of-00002.parquet"),
                                    str(folder / "validation-00000-of-00001.parquet"),
                                    str(folder / "test-00000-of-00001.parquet"))
    assert Path(train).read_bytes() == b"PAR1train0PAR1" and Path(test).read_bytes() == b"PAR1testPAR1"
    assert wikitext_103.load_data() == (train, evals, test)
    assert data_server.gets["/wiki_text_103/train-00000-of-00002.parquet"] == 1
    assert data_server.gets["/wiki_text_103/test-00000-of-00001.parquet"] == 1
    assert "/wiki_text_103/train-00001-of-00002.parquet" not in data_server.gets  # FE uses one shard only
    mine = wikitext_103.load_data(root_dir=str(tmp_path / "mine"))
    assert mine[1] == str(tmp_path / "mine" / "wiki_text_103" / "validation-00000-of-00001.parquet")


# ---------------------------------------------------------------- Unnatural Instructions

UNNATURAL = [{"instruction": "Add the numbers.", "instances": [{"input": "1 2", "output": "3"}]},
             {"instruction": "Say hi.", "instances": [{"input": "", "output": "hi"}]}]




def test_unnatural_instructions_jsonl_path(data_server, monkeypatch, tmp_path):
    path = data_server.publish("unnatural_instructions", "core_data.zip", zip_archive({"core_data.jsonl": "".join(json.dumps(row) + "\n" for row in UNNATURAL)}))
    trust_fixtures(unnatural_instructions, data_server, "unnatural_instructions", monkeypatch)
    jsonl = unnatural_instructions.load_data()
    assert isinstance(jsonl, str) and jsonl.endswith("core_data.jsonl")
    assert Path(jsonl).is_relative_to(_root(tmp_path) / "unnatural_instructions")
    rows = [json.loads(line) for line in Path(jsonl).read_text().splitlines()]
    assert rows == UNNATURAL
    assert unnatural_instructions.load_data() == jsonl and data_server.gets[path] == 1
    mine = unnatural_instructions.load_data(root_dir=str(tmp_path / "mine"))
    assert Path(mine).is_relative_to(tmp_path / "mine" / "unnatural_instructions") and Path(mine).exists()


# ---------------------------------------------------------------- scikit-learn digits


def test_skl_digits_offline():
    data = skl_digits.load_data()
    assert isinstance(data, NumpyDataset) and len(data) == 1797 and sorted(data[0]) == ["x", "y"]
    assert data.data["x"].shape == (1797, 8, 8) and data.data["x"].dtype == np.float64
    assert data.data["y"].dtype == np.int64 and set(data.data["y"].tolist()) == set(range(10))
    assert float(data.data["x"].max()) == 16.0 and int(data[0]["y"]) == 0
    renamed = skl_digits.load_data(image_key="image", label_key="label")
    assert sorted(renamed[0]) == ["image", "label"]
    with pytest.raises(FastestValueError, match="both 'x'"):
        skl_digits.load_data(image_key="x", label_key="x")
