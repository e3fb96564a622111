"""FastEstimator 1.7 names in fastest.summary: history ``delete`` / ``update_settings`` / schema, ``_MetricGroup``,
string values in ``average_summaries``."""

from __future__ import annotations

import numpy as np

from fastest.summary import Summary, average_summaries
from fastest.summary.history import connect, delete, update_settings
from fastest.summary.logs import _MetricGroup, parse_log_iter


def test_connect_makes_fastestimators_tables_with_named_rows():
    db = connect(":memory:")
    tables = {row["name"] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"history", "datasets", "pipeline", "network", "postprocess", "traces", "features", "errors",
                      "logs", "settings"}
    settings = db.execute("SELECT * FROM settings").fetchall()
    assert [dict(row) for row in settings] == [{"pk": 0, "schema_version": 1, "n_keep": 500, "n_keep_logs": 500}]
    db.execute("INSERT INTO history (pk) VALUES (3)")
    db.execute("INSERT INTO traces (fk, trace) VALUES (3, 'Accuracy')")
    db.execute("UPDATE history SET pk = 8 WHERE pk = 3")
    assert db.execute("SELECT fk FROM traces").fetchone()["fk"] == 8  # ON UPDATE CASCADE
    db.execute("DELETE FROM history WHERE pk = 8")
    assert db.execute("SELECT count(*) FROM traces").fetchone()[0] == 0


def test_delete_keeps_the_newest_runs(tmp_path):
    path = str(tmp_path / "h.db")
    db = connect(path)
    db.executemany("INSERT INTO history (pk, train_start) VALUES (?, ?)", [(i, f"2024-01-0{i + 1}") for i in range(6)])
    delete(n_keep=6, db_path=path)
    assert db.execute("SELECT count(*) FROM history").fetchone()[0] == 6
    delete(n_keep=4, db_path=path)
    assert [row["pk"] for row in db.execute("SELECT pk FROM history ORDER BY pk")] == [2, 3, 4, 5]


def test_update_settings_caps_the_logs_at_the_runs(tmp_path):
    path = str(tmp_path / "h.db")
    assert update_settings(n_keep=42, db_path=path) == {"keep": 42, "keep_logs": 42}
    assert update_settings(n_keep=2000, db_path=path) == {"keep": 2000, "keep_logs": 42}
    assert update_settings(n_keep_logs=3000, db_path=path) == {"keep": 2000, "keep_logs": 2000}
    assert update_settings(n_keep=300, n_keep_logs=400, db_path=path) == {"keep": 300, "keep_logs": 300}
    assert update_settings(n_keep=400, n_keep_logs=300, db_path=path) == {"keep": 400, "keep_logs": 300}


def test_metric_group_arrays_dimensions_modes_and_ids():
    group = _MetricGroup()
    group.add(exp_id=0, mode="train", ds_id="a", values={10: 17, 0: 5})
    group.add(exp_id=0, mode="eval", ds_id="b", values={3: "2.5 wombats"})
    group.add(exp_id=1, mode="eval", ds_id="b", values={3: 2.6})
    np.testing.assert_array_equal(group[0]["train"]["a"], [[0, 5], [10, 17]])
    assert group.ndim() == 2 and group.modes(0) == ["train", "eval"] and group.ds_ids(0) == ["a", "b"]
    assert group.ds_ids(0, mode="eval") == ["b"] and group.ds_ids(0, mode="test") == []
    assert group.get_val(1, "eval", "b") == "2.60000" and group.get_val(0, "eval", "b") == "2.5 wombats"
    assert group.add(exp_id=2, mode="train", ds_id="", values={1: "1 or 2", 2: 3.0}) is False  # ambiguous text
    single = _MetricGroup()
    single.add(exp_id=0, mode="test", ds_id="", values={5: 0.9})
    assert single.ndim() == 1


def test_average_summaries_reads_numbers_in_text():
    first, second = Summary("a"), Summary("b")
    first.history["eval"]["count"] = {5: 4, 10: "n/a"}
    second.history["eval"]["count"] = {5: "3 wombats", 10: "1 or 2"}
    averaged = average_summaries("avg", [first, second]).history["eval"]["count"]
    assert averaged[5].y == 3.5 and round(averaged[5].y_min, 5) == 2.79289 and 10 not in averaged


def test_parse_log_iter_is_fastestimators_line_parser():
    summary = parse_log_iter(["FastEstimator-Train: step: 3; ce: 0.5;", "other"], Summary("s"))
    assert summary.history["train"]["ce"] == {3: 0.5}
