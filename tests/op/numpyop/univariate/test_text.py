"""Tokenize, WordtoId and PadSequence."""

import numpy as np
import pytest

from fastest.errors import FastestKeyError, FastestTypeError, FastestValueError
from fastest.op.numpyop.univariate import PadSequence, Tokenize, WordtoId


def test_tokenize_default_lower_case_custom_and_numpy_strings():
    assert Tokenize("t", "t").forward("The  cat\tsat", {}) == ["The", "cat", "sat"]
    assert Tokenize("t", "t", to_lower_case=True).forward(np.array("A B"), {}) == ["a", "b"]
    assert Tokenize("t", "t", tokenize_fn=lambda s: s.split(",")).forward(b"x,y", {}) == ["x", "y"]
    assert Tokenize(["a", "b"], ["a", "b"]).forward(["one two", "three"], {}) == [["one", "two"], ["three"]]
    with pytest.raises(FastestTypeError, match="tokenize_fn must be callable"):
        Tokenize("t", "t", tokenize_fn="split")


def test_word_to_id_with_a_dict_and_a_callable():
    vocab = {"the": 1, "cat": 2, "sat": 3}
    np.testing.assert_array_equal(WordtoId(vocab, "t", "ids").forward([["the", "cat", "sat"]], {})[0], [1, 2, 3])
    np.testing.assert_array_equal(WordtoId(lambda ts: [len(t) for t in ts], "t", "ids").forward([["ab", "c"]], {})[0], [2, 1])
    with pytest.raises(FastestKeyError, match=r"token\(s\) \['dog'\] are not in the mapping \(3 tokens\)"):
        WordtoId(vocab, "t", "ids").forward([["the", "dog"]], {})
    with pytest.raises(FastestTypeError, match="mapping must be a dict"):
        WordtoId(["the"], "t", "ids")


def test_pad_sequence_appends_prepends_and_truncates():
    seq = np.array([4, 5, 6])
    np.testing.assert_array_equal(PadSequence("s", "s", max_len=5).forward(seq, {}), [4, 5, 6, 0, 0])
    np.testing.assert_array_equal(PadSequence("s", "s", max_len=5, value=9, append=False).forward(seq, {}),
                                  [9, 9, 4, 5, 6])
    np.testing.assert_array_equal(PadSequence("s", "s", max_len=2).forward(seq, {}), [4, 5])
    words = PadSequence("s", "s", max_len=3, value="<pad>").forward(np.array(["hi"]), {})
    assert words.tolist() == ["hi", "<pad>", "<pad>"]
    with pytest.raises(FastestValueError, match="max_len must be a positive int"):
        PadSequence("s", "s", max_len=0)
    with pytest.raises(FastestValueError, match="expects 1-d sequences"):
        PadSequence("s", "s", max_len=3).forward(np.zeros((2, 2)), {})


def test_text_pipeline_end_to_end():
    vocab = {"a": 1, "b": 2}
    data = {"text": "A b a"}
    for op in (Tokenize("text", "tokens", to_lower_case=True), WordtoId(vocab, "tokens", "ids"),
               PadSequence("ids", "ids", max_len=4)):
        data[op.outputs[0]] = op.forward([data[op.inputs[0]]], {})[0]
    np.testing.assert_array_equal(data["ids"], [1, 2, 1, 0])
