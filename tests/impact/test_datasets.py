import numpy as np
import pytest

from changeflow.impact import datasets
from changeflow.impact.datasets import (
    DatasetError,
    EmptyDataset,
    MalformedArff,
    MalformedCsv,
    UnknownColumn,
    UnreadableFile,
    load,
)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


ARFF = """% a comment
@relation 'tiny'
@attribute size numeric   % inline comment after the type
@attribute 'lang' {cobol, 'c plus'}
@attribute note string
@attribute effort REAL
@data
10, cobol, 'a, b', 100
?,'c plus', x, 200 % trailing comment
30, ?, y, ?
"""


def test_arff_types_quotes_comments_and_missing(tmp_path):
    ds = load(write(tmp_path, "t.arff", ARFF))
    assert ds.format == "arff" and ds.rows == 3
    assert ds.names == ["size", "lang", "note", "effort"]
    assert [c.kind for c in ds.columns] == ["numeric", "nominal", "nominal", "numeric"]
    assert np.array_equal(ds.column("size").values, [10, np.nan, 30], equal_nan=True)
    assert list(ds.column("lang").values) == ["cobol", "c plus", None]
    assert ds.column("note").values[0] == "a, b"
    assert list(ds.column("effort").missing) == [False, False, True]


def test_extra_missing_tokens(tmp_path):
    ds = load(write(tmp_path, "t.csv", "a,b\n-1,2\n3,4\n"), missing=["-1"])
    assert np.isnan(ds.column("a").values[0])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("@relation x\n@attribute a numeric\n", "no @data"),
        ("@relation x\n@data\n1\n", "before any @attribute"),
        ("@relation x\n@attribute a numeric\n@attribute b numeric\n@data\n1\n", "1 values"),
        ("@relation x\n@attribute a numeric\n@data\nabc\n", "'abc'"),
        ("@relation x\n@attribute a widget\n@data\n1\n", "unknown attribute type"),
        ("@relation x\n@attribute a\n@data\n1\n", "name and a type"),
        ("@relation x\n@attribute a numeric\n@data\n{0 1}\n", "sparse"),
        ("@relation x\n@attribute a string\n@data\n'open\n", "quote"),
        ("@relation x\n@attribute a numeric\nnonsense here\n@data\n1\n", "nonsense"),
    ],
)
def test_malformed_arff_is_a_typed_error_naming_the_problem(tmp_path, text, message):
    with pytest.raises(MalformedArff, match=message):
        load(write(tmp_path, "bad.arff", text))


def test_arff_without_rows_is_empty(tmp_path):
    with pytest.raises(EmptyDataset):
        load(write(tmp_path, "e.arff", "@relation x\n@attribute a numeric\n@data\n% none\n"))


def test_csv_semicolons_and_decimal_commas(tmp_path):
    ds = load(write(tmp_path, "m.csv", "id;size;lang;prod\r\n1;562;Cobol;0,52\r\n2;647;;1,5\r\n"))
    assert ds.names == ["id", "size", "lang", "prod"]
    assert list(ds.column("prod").values) == [0.52, 1.5]
    assert ds.column("lang").kind == "nominal"
    assert list(ds.column("lang").values) == ["Cobol", None]


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("", EmptyDataset, "empty"),
        ("  \n\n", EmptyDataset, "empty"),
        ("a,b\n", EmptyDataset, "no data rows"),
        ("1,2\n3,4\n", MalformedCsv, "header row"),
        ("a,b\n1,2,3\n", MalformedCsv, "line 2"),
        ("a,\n1,2\n", MalformedCsv, "no name"),
        ("a,a\n1,2\n", DatasetError, "twice"),
    ],
)
def test_bad_csv_is_a_typed_error(tmp_path, text, error, message):
    with pytest.raises(error, match=message):
        load(write(tmp_path, "bad.csv", text))


def test_unreadable_files(tmp_path):
    with pytest.raises(UnreadableFile, match="no such file"):
        load(tmp_path / "missing.csv")
    with pytest.raises(UnreadableFile, match="folder"):
        load(tmp_path)
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\x00\x01\x02")
    with pytest.raises(UnreadableFile, match="not a text file"):
        load(binary)


def test_unknown_column_lists_the_columns(tmp_path):
    ds = load(write(tmp_path, "t.csv", "size,effort\n1,2\n"))
    with pytest.raises(UnknownColumn, match="size, effort"):
        ds.column("Effort")


@pytest.mark.parametrize(
    ("name", "rows", "columns"),
    [
        ("dase_desharnais_1_1.arff", 81, 12),
        ("dase_chinaOriginal.arff", 499, 19),
        ("dase_china.arff", 499, 14),
        ("dase_coc81_1_1.arff", 63, 19),
        ("dase_nasa93.arff", 93, 24),
        ("dase_maxwell.arff", 63, 25),
        ("baldeep_maxwell.arff", 62, 27),
        ("dase_MaxwellDataset_DataSetMaxwellDevelopment.csv", 63, 33),
        ("dase_kitchenham.arff", 145, 4),
        ("dase_kemerer.csv", 15, 2),
        ("dase_albretch.arff", 24, 2),
        ("mandriv_albrecht.arff", 24, 8),
    ],
)
def test_every_public_effort_file_loads_with_its_documented_shape(effort_data, name, rows, columns):
    ds = load(effort_data / name)
    assert (ds.rows, len(ds.columns)) == (rows, columns)


def test_public_file_quirks(effort_data):
    coc = load(effort_data / "dase_coc81_1_1.arff")
    assert any("first @data section" in n for n in coc.notes)
    assert any("repeats the attribute names" in n for n in coc.notes)
    assert coc.column("actual").values[0] == 2040
    maxwell = load(effort_data / "dase_MaxwellDataset_DataSetMaxwellDevelopment.csv")
    assert maxwell.column("prod").values[0] == pytest.approx(0.52919)
    assert maxwell.column("dba").values[2] == "Relatni"  # spelled so in the source
    deshar = load(effort_data / "dase_desharnais_1_1.arff", missing=["-1"])
    assert int(deshar.column("TeamExp").missing.sum() + deshar.column("ManagerExp").missing.sum())
    with pytest.raises(MalformedCsv, match="header row"):
        load(effort_data / "hemant0308_kemerer.csv")  # headerless, as PROVENANCE.md says


def test_module_names_its_missing_tokens():
    assert {"", "?"} <= datasets.MISSING_TOKENS
