import json
from pathlib import Path

import polars as pl
import pytest

from expectations.national_benefits import (
    DATASET,
    PLAUSIBLE_MAX_THOUSANDS,
    national_benefits_suite,
)
from expectations.runner import ValidationFailed, validate

STATLINE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "statline"
TABLE_DIR = STATLINE / "37789ksz"
BATCH = "37789ksz@2025-04-23T02:00:00"
WW = "NietSeizoengecorrigeerd_8"
WWB = "TotaalBijstandsuitkeringen_11"
SUITE = national_benefits_suite([WW, WWB])


def clean():
    """Five rows of the raw TypedDataSet: months, an annual average and a quarter."""
    return pl.DataFrame(
        {
            "ID": [0, 1, 2, 3, 4],
            "Perioden": ["1998MM01", "1998MM02", "1998JJ00", "2001KW02", "2024MM12"],
            WW: [350.8, 355.0, 340.1, 300.0, 180.2],
            WWB: [449.0, 446.1, None, 420.0, 430.5],
        },
        schema={"ID": pl.Int64, "Perioden": pl.String, WW: pl.Float64, WWB: pl.Float64},
    )


def set_value(data, column, row, value):
    return data.with_columns(
        pl.when(pl.int_range(pl.len()) == row).then(pl.lit(value)).otherwise(pl.col(column))
        .alias(column)
    )


def failed(report):
    return {(r.expectation, r.column, r.severity) for r in report.records if not r.success}


def test_clean_frame_passes():
    report = validate(clean(), SUITE, BATCH)

    assert report.passed
    assert failed(report) == set()
    assert {r.dataset for r in report.records} == {DATASET}


DEFECTS = [
    pytest.param(
        lambda d: d.drop(WWB),
        {
            ("expect_column_to_exist", WWB, "critical"),
            ("expect_column_values_to_be_in_type_list", WWB, "critical"),
            ("expect_column_values_to_be_between", WWB, "critical"),
            ("expect_column_values_to_be_between", WWB, "warning"),
        },
        "no such column",
        id="missing column",
    ),
    pytest.param(
        lambda d: set_value(d, "Perioden", 1, "2014M01"),
        {("expect_column_values_to_match_regex", "Perioden", "critical")},
        "2014M01",
        id="bad period key",
    ),
    pytest.param(
        lambda d: set_value(d, WWB, 3, -4.0),
        {("expect_column_values_to_be_between", WWB, "critical")},
        "-4.0",
        id="negative value",
    ),
    pytest.param(
        lambda d: set_value(d, "Perioden", 2, "1998MM02"),
        {("expect_column_values_to_be_unique", "Perioden", "critical")},
        "1998MM02",
        id="duplicate period",
    ),
    pytest.param(
        lambda d: set_value(d, "Perioden", 4, None),
        {("expect_column_values_to_not_be_null", "Perioden", "critical")},
        "null",
        id="null period",
    ),
    pytest.param(
        lambda d: d.with_columns(pl.col(WW).cast(pl.String)).pipe(set_value, WW, 2, "n.v.t."),
        {
            ("expect_column_values_to_be_in_type_list", WW, "critical"),
            ("expect_column_values_to_be_between", WW, "critical"),
            ("expect_column_values_to_be_between", WW, "warning"),
        },
        "n.v.t.",
        id="string in numeric column",
    ),
    pytest.param(
        lambda d: d.clear(),
        {("expect_table_row_count_to_be_between", None, "critical")},
        "observed 0",
        id="empty frame",
    ),
]


@pytest.mark.parametrize(("defect", "expected_failures", "example"), DEFECTS)
def test_defect_fails_the_right_check_and_names_it(defect, expected_failures, example):
    report = validate(defect(clean()), SUITE, BATCH)

    assert not report.passed
    assert failed(report) == expected_failures
    with pytest.raises(ValidationFailed) as raised:
        report.raise_for_critical()
    message = str(raised.value)
    for expectation, column, severity in expected_failures:
        if severity == "critical":
            assert f"{DATASET} ({BATCH}): {expectation} failed" in message
            if column is not None:
                assert f"on column {column!r}" in message
    assert example in message


@pytest.mark.parametrize(
    ("defect", "expectation", "column", "sample"),
    [
        (lambda d: set_value(d, "Perioden", 1, "2014M01"), "match_regex", "Perioden", "2014M01"),
        (lambda d: set_value(d, WWB, 3, -4.0), "be_between", WWB, "-4.0"),
        (lambda d: set_value(d, "Perioden", 2, "1998MM02"), "be_unique", "Perioden", "1998MM02"),
        (
            lambda d: d.with_columns(pl.col(WW).cast(pl.String)).pipe(set_value, WW, 2, "n.v.t."),
            "be_in_type_list",
            WW,
            "n.v.t.",
        ),
    ],
    ids=["bad period key", "negative value", "duplicate period", "string in numeric column"],
)
def test_offending_value_is_in_the_record(defect, expectation, column, sample):
    report = validate(defect(clean()), SUITE, BATCH)

    (record,) = [
        r
        for r in report.critical_failures
        if r.expectation == f"expect_column_values_to_{expectation}" and r.column == column
    ]
    assert sample in record.unexpected_sample
    assert record.unexpected_count >= 1
    assert record.element_count == 5


def test_implausibly_large_value_is_only_a_warning():
    report = validate(set_value(clean(), WW, 0, 25_000.0), SUITE, BATCH)

    assert report.passed
    (warning,) = report.warnings
    assert (warning.expectation, warning.column) == ("expect_column_values_to_be_between", WW)
    assert warning.unexpected_sample == ("25000.0",)
    report.raise_for_critical()


def test_suite_covers_the_columns_it_is_given_once():
    suite = national_benefits_suite([WW, WWB, WW])

    assert suite.name == DATASET
    columns = {c.column for c in suite.checks}
    assert columns == {None, "Perioden", WW, WWB}
    per_column = [c for c in suite.checks if c.column == WW]
    assert sorted(c.severity for c in per_column) == ["critical", "critical", "critical", "warning"]
    (plausible,) = [c for c in suite.checks if c.severity == "warning" and c.column == WW]
    assert plausible.expectation.max_value == PLAUSIBLE_MAX_THOUSANDS


def test_all_null_topic_column_passes():
    data = clean().with_columns(pl.lit(None).alias(WWB))  # dtype Null, as JSON gives it

    assert validate(data, SUITE, BATCH).passed


@pytest.mark.mirror
@pytest.mark.skipif(
    not (TABLE_DIR / "TypedDataSet.json").exists(),
    reason=f"StatLine mirror not found at {TABLE_DIR}",
)
def test_real_table_passes_for_every_topic_column():
    rows = json.loads((TABLE_DIR / "TypedDataSet.json").read_text(encoding="utf-8"))["value"]
    properties = json.loads((TABLE_DIR / "DataProperties.json").read_text(encoding="utf-8"))
    topics = [p["Key"] for p in properties["value"] if p["Type"] == "Topic"]
    data = pl.DataFrame(rows, infer_schema_length=None)

    report = validate(data, national_benefits_suite(topics), BATCH)

    assert report.passed, [r.message for r in report.critical_failures]
    assert report.warnings == ()
    assert len(topics) == 18 and data.height == 352
    assert all(r.element_count == 352 for r in report.records)
