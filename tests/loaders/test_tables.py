"""read_table: CSV/TSV files as a user writes them; the real Haxby BIDS-like events TSV checked against pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurodecode.errors import BadInputError
from neurodecode.loaders import read_table
from tests.conftest import require_data


def test_csv_tsv_and_index(tmp_path):
    (tmp_path / "stimuli.csv").write_text("stimulus,category,animate\nfaces/f1,face,1\nobjects/o1,object,0\n")
    df = read_table(tmp_path / "stimuli.csv", index="stimulus")
    assert list(df.index) == ["faces/f1", "objects/o1"] and list(df.columns) == ["category", "animate"]
    assert df.loc["objects/o1", "animate"] == 0
    (tmp_path / "meta.tsv").write_text("subject\tregion\tsession\n1\tIT\tn/a\n2\tIT\t2\n")
    tsv = read_table(tmp_path / "meta.tsv")
    assert list(tsv.columns) == ["subject", "region", "session"]
    assert np.isnan(tsv.loc[0, "session"]) and tsv.loc[1, "session"] == 2  # BIDS n/a -> NaN
    # a trailing comma on every line is tolerated (empty unnamed column dropped)
    (tmp_path / "trailing.csv").write_text("a,b,\n1,2,\n3,4,\n")
    assert list(read_table(tmp_path / "trailing.csv").columns) == ["a", "b"]


def test_several_files(tmp_path):
    for i in (1, 2):
        (tmp_path / f"run{i}.tsv").write_text(f"onset\tduration\n{i}.0\t1.0\n")
    df = read_table(str(tmp_path / "run*.tsv"))
    assert list(df["onset"]) == [1.0, 2.0]
    (tmp_path / "run3.tsv").write_text("onset\tother\n3.0\t1\n")
    with pytest.raises(BadInputError, match="same columns"):
        read_table(str(tmp_path / "run*.tsv"))


def test_real_events_tsv(data_home):
    path = require_data(data_home / "haxby2001" / "sub001" / "BOLD" / "task001_run001" / "bold_events.tsv",
                        "haxby2001")
    df = read_table(path)
    ref = pd.read_csv(path, sep="\t")
    pd.testing.assert_frame_equal(df, ref)


def test_bad_input(tmp_path):
    with pytest.raises(BadInputError, match="does not exist"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(BadInputError, match=r"empty\.csv.*is empty"):
        read_table(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("subject,region\n")
    with pytest.raises(BadInputError, match=r"header\.csv.*no rows"):
        read_table(tmp_path / "header.csv")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3,4,5,6\n")
    with pytest.raises(BadInputError, match=r"ragged\.csv"):
        read_table(tmp_path / "ragged.csv")
    (tmp_path / "table.xlsx").write_bytes(b"PK")
    with pytest.raises(BadInputError, match=r"\.csv \(comma-separated\) or \.tsv"):
        read_table(tmp_path / "table.xlsx")
    (tmp_path / "t.csv").write_text("id,x\na,1\na,2\n")
    with pytest.raises(BadInputError, match=r"repeats values \['a'\]"):
        read_table(tmp_path / "t.csv", index="id")
    with pytest.raises(BadInputError, match=r"index='nope' is not a column"):
        read_table(tmp_path / "t.csv", index="nope")
    (tmp_path / "noname.csv").write_text("a,,c\n1,2,3\n")
    with pytest.raises(BadInputError, match="no name"):
        read_table(tmp_path / "noname.csv")
