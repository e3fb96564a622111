"""Summary and ValWithError: FastEstimator's merge, truthiness and middle-value arithmetic."""

import pickle

from fastest.summary import Summary, ValWithError


def test_val_with_error_compares_and_computes_as_its_middle_value():
    values = [ValWithError(0.1, 0.5, 0.9), ValWithError(0.6, 0.7, 0.8), ValWithError(0.0, 0.3, 0.4)]
    assert max(values).as_tuple() == (0.6, 0.7, 0.8) and min(values).y == 0.3  # what a saver's comparison sees
    assert values[0] == 0.5 and values[0] != 0.7 and values[0] == ValWithError(0.0, 0.5, 1.0)
    assert 1 - values[0] == 0.5 and 2 * values[1] == 1.4 and abs(ValWithError(-2, -1, 0)) == 1
    assert float(values[1]) == 0.7 and {values[0]: "a"}[ValWithError(0.2, 0.5, 0.8)] == "a"
    copy = pickle.loads(pickle.dumps(values[0]))
    assert isinstance(copy, ValWithError) and copy.as_tuple() == (0.1, 0.5, 0.9)
    lo, y, hi = values[2]  # still a triple for plots
    assert (lo, y, hi) == (0.0, 0.3, 0.4)


def test_merge_and_truthiness():
    fit, test = Summary("run"), Summary("run")
    fit.history["train"]["ce"].update({1: 2.0, 2: 1.0})
    test.history["test"]["accuracy"][2] = 0.9
    test.history["train"]["ce"][2] = 0.5
    fit.merge(test)
    assert fit.history["train"]["ce"] == {1: 2.0, 2: 0.5} and fit.history["test"]["accuracy"] == {2: 0.9}
    assert Summary("run") and not Summary(None) and not Summary("")
