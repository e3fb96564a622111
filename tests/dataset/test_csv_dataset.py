import math

import numpy as np
import pytest

from fastest.dataset import CSVDataset
from fastest.dataset.query import query_mask
from fastest.errors import FastestKeyError, FastestTypeError, FastestValueError

ROWS = "idx,mode,type\n0,train,0\n1,eval,1\n2,test,2\n3,train,2\n4,eval,0\n5,test,1\n6,train,1\n7,eval,0\n8,test,\n"


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text(ROWS)
    return str(path)


def ids(ds):
    return sorted(int(i) for i in ds["idx"])


@pytest.mark.parametrize("include_if, expected", [
    ({"mode": "train"}, [0, 3, 6]),
    ({"mode": ["train"]}, [0, 3, 6]),
    ({"mode": ("train", "eval")}, [0, 1, 3, 4, 6, 7]),
    ({"mode": "train", "type": 0}, [0]),
    ({"mode": "train", "type": {0, 1}}, [0, 6]),
    ({"mode": "test", "type": None}, [8]),  # None matches the missing cell, also without fill_na=None
    ({"type": [2, None]}, [2, 3, 8]),
])
def test_dict_filter_keeps_rows_matching_every_column(table, include_if, expected):
    assert ids(CSVDataset(table, include_if=include_if)) == expected
    assert ids(CSVDataset(table, include_if=include_if, fill_na=None)) == expected


def test_query_string_filter(table):
    assert ids(CSVDataset(table, include_if="type >= 1")) == [1, 2, 3, 5, 6]  # the missing type compares False
    assert ids(CSVDataset(table, include_if="type >= 1 & mode == 'train'")) == [3, 6]  # & looser than ==
    assert ids(CSVDataset(table, include_if="mode in ['eval', 'test'] and not idx % 2 == 0")) == [1, 5, 7]
    assert ids(CSVDataset(table, include_if="0 < type <= 1 or idx * 2 == 16")) == [1, 5, 6, 8]
    wanted = ["eval"]  # noqa: F841 (read by the query as @wanted)
    assert ids(CSVDataset(table, include_if="mode in @wanted")) == [1, 4, 7]
    assert ids(CSVDataset(table, include_if="`mode` != 'eval' and ~(type == type)")) == [8]  # NaN != NaN
    with pytest.raises(FastestKeyError, match="'modes', which is not a column.*Did you mean 'mode'"):
        CSVDataset(table, include_if="modes == 'eval'")
    with pytest.raises(FastestValueError, match="does not handle"):
        CSVDataset(table, include_if="mode.str.len() > 3")
    with pytest.raises(FastestValueError, match="True/False per row"):
        CSVDataset(table, include_if="idx + 1")


def test_function_filter_receives_the_named_columns(table):
    assert ids(CSVDataset(table, include_if=lambda mode: mode == "test")) == [2, 5, 8]
    assert ids(CSVDataset(table, include_if=lambda mode, idx: mode == "test" or idx % 2 == 1)) == [1, 2, 3, 5, 7, 8]
    assert ids(CSVDataset(table, include_if=lambda **row: row["idx"] + row["type"] == 4)) == [2, 4]
    with pytest.raises(ValueError, match="names column 'idf'.*columns are \\['idx', 'mode', 'type'\\]"):
        CSVDataset(table, include_if=lambda mode, idf: mode == "test")
    with pytest.raises(FastestTypeError, match="received int"):
        CSVDataset(table, include_if=3)


def test_fill_na(table):
    assert math.isnan(CSVDataset(table)["type"][8])
    assert CSVDataset(table, fill_na=None)["type"][7:] == [0.0, None]
    filled = CSVDataset(table, fill_na=-1)
    assert filled.data["type"].dtype == np.float64 and filled["type"][7:] == [0.0, -1.0]
    assert CSVDataset(table, fill_na="unknown")["type"][8] == "unknown"


def test_columns_are_typed_like_pandas(tmp_path):
    path = tmp_path / "types.csv"
    path.write_text("a,flag,name,x:y,,a\n1,True,NA,1.5,p,7\n2,false,b,,q,8\n")
    ds = CSVDataset(str(path))
    assert list(ds[0]) == ["a", "flag", "name", "xy", "Unnamed 4", "a.1"]  # names cleaned, mangled like pandas
    assert ds.data["a"].dtype == np.int64 and ds.data["flag"].dtype == np.bool_ and ds["flag"] == [True, False]
    assert math.isnan(ds["name"][0]) and ds["name"][1] == "b"
    assert ds["xy"][0] == 1.5 and math.isnan(ds["xy"][1])
    assert ds.parent_path == str(tmp_path)


def test_pandas_reader_options(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("a;b;c\n1;x;-\n2;y;3\n3;z;4\n")
    ds = CSVDataset(str(path), sep=";", usecols=["a", "c"], nrows=2, na_values="-", dtype={"a": np.float32})
    assert list(ds[0]) == ["a", "c"] and ds.data["a"].dtype == np.float32 and len(ds) == 2
    assert math.isnan(ds["c"][0]) and ds["c"][1] == 3.0
    with pytest.raises(FastestTypeError, match="does not support the option\\(s\\) \\['chunksize'\\]"):
        CSVDataset(str(path), chunksize=2)


def test_query_matches_pandas(table):
    pandas = pytest.importorskip("pandas")
    frame = pandas.read_csv(table)
    columns = {name: CSVDataset(table).data[name] for name in frame.columns}
    for query in ("type >= 1", "type != 1", "mode == 'eval' | idx > 6", "not (type < 2) and idx % 3 != 0",
                  "mode not in ['train', 'eval']", "type * 2 + 1 == 5", "-idx > -3"):
        expected = frame.eval(query).to_numpy(dtype=bool) if "not " not in query else frame.index.isin(
            frame.query(query).index)
        assert query_mask(query, columns).tolist() == list(expected), query
