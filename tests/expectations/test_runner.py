import json
import socket

import great_expectations as gx
import polars as pl
import pytest
from great_expectations.datasource.fluent.interfaces import Batch
from great_expectations.expectations.row_conditions import Column
from polars.testing import assert_frame_equal

from expectations.common import PERIOD_KEY_PATTERN, period_keys, row_count_at_least
from expectations import runner
from expectations.runner import (
    Check,
    Pieces,
    Suite,
    ValidationFailed,
    ValidationReport,
    build_context,
    validate,
)

BATCH = "37789ksz@2025-04-23T02:00:00"
COLUMN = "TotaalBijstandsuitkeringen_11"


def non_negative(column=COLUMN, severity="critical"):
    return Check(
        gx.expectations.ExpectColumnValuesToBeBetween(column=column, min_value=0), severity
    )


def below(limit, column=COLUMN):
    return Check(
        gx.expectations.ExpectColumnValuesToBeBetween(column=column, max_value=limit), "warning"
    )


def suite(*checks):
    return Suite("cbs_national_benefits", checks)


def frame(values):
    return pl.DataFrame(
        {"Perioden": [f"2024MM{m:02d}" for m in range(1, len(values) + 1)], COLUMN: values},
        schema={"Perioden": pl.String, COLUMN: pl.Float64},
    )


def test_clean_frame_passes_every_check():
    report = validate(frame([449.0, None, 420.5]), suite(non_negative(), below(20_000)), BATCH)

    assert report.passed
    assert [r.success for r in report.records] == [True, True]
    assert report.critical_failures == () and report.warnings == ()
    report.raise_for_critical()


def test_record_carries_dataset_batch_and_counts():
    report = validate(frame([1.0, -4.0, 2.0, -1.5]), suite(non_negative()), BATCH)

    (record,) = report.records
    assert record.dataset == "cbs_national_benefits"
    assert record.batch == BATCH
    assert record.expectation == "expect_column_values_to_be_between"
    assert record.column == COLUMN
    assert record.severity == "critical"
    assert record.success is False
    assert record.element_count == 4
    assert record.unexpected_count == 2
    assert record.unexpected_sample == ("-4.0", "-1.5")


def test_critical_failure_message_names_dataset_batch_expectation_column_and_values():
    report = validate(frame([1.0, -4.0, 2.0, -1.5]), suite(non_negative()), BATCH)

    assert not report.passed
    with pytest.raises(ValidationFailed) as raised:
        report.raise_for_critical()
    assert str(raised.value) == (
        "cbs_national_benefits (37789ksz@2025-04-23T02:00:00): "
        "expect_column_values_to_be_between failed on column 'TotaalBijstandsuitkeringen_11': "
        "2 unexpected of 4, e.g. -4.0, -1.5"
    )
    assert raised.value.report is report


def test_every_failed_critical_check_gets_a_line():
    report = validate(
        frame([1.0, -4.0]),
        suite(non_negative(), period_keys()[1], below(0.5), row_count_at_least(5)),
        BATCH,
    )

    lines = str(pytest.raises(ValidationFailed, report.raise_for_critical).value).splitlines()
    assert len(lines) == 2
    assert "expect_column_values_to_be_between" in lines[0] and "-4.0" in lines[0]
    assert "expect_table_row_count_to_be_between failed: observed 2" in lines[1]
    assert all(line.startswith(f"cbs_national_benefits ({BATCH}): ") for line in lines)


def test_sample_holds_at_most_ten_distinct_values_in_order_of_occurrence():
    values = [-float(n) for n in range(1, 16) for _ in range(2)]  # 15 distinct, each twice

    (record,) = validate(frame(values), suite(non_negative()), BATCH).records

    assert record.unexpected_count == 30
    assert record.unexpected_sample == tuple(str(-float(n)) for n in range(1, 11))


def test_warning_failure_leaves_report_passed():
    report = validate(frame([449.0, 25_000.0]), suite(non_negative(), below(20_000)), BATCH)

    assert report.passed
    assert report.critical_failures == ()
    (warning,) = report.warnings
    assert warning.severity == "warning"
    assert warning.unexpected_sample == ("25000.0",)
    assert "e.g. 25000.0" in warning.message
    report.raise_for_critical()


def test_error_inside_gx_becomes_a_failed_record_with_the_error_text():
    report = validate(frame([1.0]), suite(non_negative(column="NoSuchColumn_99")), BATCH)

    (record,) = report.records
    assert record.success is False
    assert record.column == "NoSuchColumn_99"
    assert "no such column" in record.message
    assert 'The column "NoSuchColumn_99" in BatchData does not exist' in record.message
    assert not report.passed


def test_exception_raised_by_gx_becomes_a_failed_record(monkeypatch):
    real_validate = Batch.validate

    def flaky(self, expect, **kwargs):
        if expect.expectation_type == "expect_table_row_count_to_be_between":
            raise RuntimeError("metric backend exploded")
        return real_validate(self, expect, **kwargs)

    monkeypatch.setattr(Batch, "validate", flaky)
    report = validate(frame([1.0]), suite(row_count_at_least(), non_negative()), BATCH)

    crashed, fine = report.records
    assert crashed.success is False
    assert crashed.message == (
        "expect_table_row_count_to_be_between failed: error: RuntimeError: metric backend exploded"
    )
    assert fine.success is True and fine.error is None
    assert crashed.error == "RuntimeError: metric backend exploded"
    assert report.errors == (crashed,)
    assert not report.passed


def test_empty_frame_fails_the_row_count_check():
    report = validate(frame([]), suite(row_count_at_least(), non_negative()), BATCH)

    row_count, values = report.records
    assert row_count.success is False and row_count.observed_value == 0
    assert row_count.element_count == 0
    assert values.success is True  # per-row checks pass vacuously, hence the row-count check
    assert report.critical_failures == (row_count,)


def test_period_key_pattern_accepts_months_quarters_and_years_only():
    good = ["1998MM01", "1998JJ00", "2001KW02", "2024MM12"]
    bad = ["2014M01", "1998MM13", "1998MM00", "2001KW05", "1998JJ01", " 1998MM01", "1998MM01 "]
    keys = pl.DataFrame({"Perioden": good + bad})

    report = validate(keys, Suite("periods", period_keys()), BATCH)

    not_null, pattern = report.records
    assert not_null.success
    assert pattern.expectation == "expect_column_values_to_match_regex"
    assert pattern.unexpected_sample == tuple(bad)
    assert period_keys()[1].expectation.regex == PERIOD_KEY_PATTERN


def test_to_rows_gives_one_json_able_row_per_check():
    report = validate(frame([1.0, -4.0]), suite(row_count_at_least(), non_negative()), BATCH)

    rows = report.to_rows()

    assert [r["expectation"] for r in rows] == [
        "expect_table_row_count_to_be_between",
        "expect_column_values_to_be_between",
    ]
    assert rows[0]["observed_value"] == "2"
    assert rows[1]["observed_value"] is None
    assert rows[1]["unexpected_sample"] == ["-4.0"]
    assert set(rows[0]) == {
        "dataset", "batch", "expectation", "column", "severity", "success", "observed_value",
        "element_count", "unexpected_count", "unexpected_sample", "message", "description", "error",
    }  # fmt: skip
    json.dumps(rows)


def test_validation_results_keep_the_observed_value_as_json_once():
    from transforms.metadata import validation_results

    report = validate(frame([1.0, -4.0]), suite(row_count_at_least(), non_negative()), BATCH)

    stored = validation_results("run", report.to_rows())["observed_value"].to_list()

    assert stored[1] is None
    assert json.loads(stored[0]) == 2


def test_input_frame_is_not_modified():
    data = frame([1.0, None, -2.0]).with_columns(Note=pl.Series(["a", None, "c"]))
    before = data.clone()

    validate(data, suite(non_negative()), BATCH)

    assert_frame_equal(data, before)


def test_report_without_records_passes():
    assert ValidationReport("d", BATCH, ()).passed


@pytest.mark.parametrize(
    ("expectation", "severity", "error"),
    [
        ("expect_column_values_to_be_between", "critical", TypeError),
        (gx.expectations.ExpectTableRowCountToBeBetween(min_value=1), "fatal", ValueError),
    ],
)
def test_check_rejects_bad_arguments(expectation, severity, error):
    with pytest.raises(error):
        Check(expectation, severity)


def test_context_build_and_validation_open_no_network_connection(monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access attempted during GX validation")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)

    context = build_context()
    assert context.config.analytics_enabled is False
    data = context.data_sources.add_pandas("no_network").add_dataframe_asset("frame")
    batch = data.add_batch_definition_whole_dataframe("whole").get_batch(
        batch_parameters={"dataframe": frame([1.0, -4.0]).to_pandas()}
    )
    result = batch.validate(non_negative().expectation)
    report = validate(frame([1.0, -4.0]), suite(non_negative()), BATCH)

    assert result.success is False and not report.passed  # the check ran and found -4.0
    assert attempts == []


def test_a_suite_is_validated_in_one_gx_call(monkeypatch):
    calls = []
    real_validate = Batch.validate

    def counted(self, expect, **kwargs):
        calls.append(type(expect).__name__)
        return real_validate(self, expect, **kwargs)

    monkeypatch.setattr(Batch, "validate", counted)
    report = validate(frame([1.0, -2.0]), suite(row_count_at_least(), non_negative(), below(0.5)), BATCH)

    assert calls == ["ExpectationSuite"]
    assert [r.success for r in report.records] == [True, False, False]


def test_results_come_back_in_check_order_although_gx_groups_them_by_column():
    periods = Check(gx.expectations.ExpectColumnValuesToNotBeNull(column="Perioden"))
    report = validate(
        frame([1.0, -2.0]), suite(non_negative(), periods, row_count_at_least(), below(0.5)), BATCH
    )

    assert [(r.expectation, r.column, r.success) for r in report.records] == [
        ("expect_column_values_to_be_between", COLUMN, False),
        ("expect_column_values_to_not_be_null", "Perioden", True),
        ("expect_table_row_count_to_be_between", None, True),
        ("expect_column_values_to_be_between", COLUMN, False),
    ]
    assert report.records[0].severity == "critical" and report.records[3].severity == "warning"


def test_equal_checks_each_get_their_own_result():
    report = validate(frame([-1.0]), suite(non_negative(), non_negative(severity="warning")), BATCH)

    assert [(r.severity, r.success, r.unexpected_count) for r in report.records] == [
        ("critical", False, 1),
        ("warning", False, 1),
    ]


def test_a_check_that_errors_in_the_suite_run_keeps_its_own_error_and_spares_the_others():
    report = validate(
        frame([1.0, -2.0]),
        suite(non_negative(column="NoSuchColumn_99"), non_negative(), row_count_at_least()),
        BATCH,
    )

    missing, values, rows = report.records
    assert missing.success is False and "no such column" in missing.message
    assert "NoSuchColumn_99" in missing.message
    assert values.success is False and values.unexpected_count == 1 and "error" not in values.message
    assert rows.success is True


# --- batches validated in pieces -------------------------------------------------------------

def area_frame():
    """Twelve rows in four areas (the pieces: one per area), with an offender for every kind of check."""
    return pl.DataFrame(
        {
            "ID": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 1],  # 1 again in the last area
            "area": ["A", "A", "A", "B", "B", "B", "C", "C", "C", "D", "D", "D"],
            "key": ["A1", "A2", "A2", "B1", "B2", "B3", "C1", "C2", "C3", "D1", "D2", "D3"],
            "category": ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x", "x", "total"],
            "period": ["2024MM01", "2024MM13", None, "2024MM01", "2024MM02", "bad", *["2024MM01"] * 6],
            "value": [1.0, -2.0, 3.0, None, 5.0, -6.0, 7.0, 8.0, 9.0, -2.0, 11.0, 12.0],
            "text": ["1", "2", "three", "4", "5", "6", "7", "eight", "9", "10", "11", "12"],
            "part": [0.0, 1.0, 5.0, 0.0, 1.0, 2.0, 0.0, 9.0, 1.0, 0.0, 0.0, 0.0],
        }
    )


def every_kind_of_check():
    e = gx.expectations
    return Suite(
        "pieces",
        (
            Check(e.ExpectColumnToExist(column="value")),
            Check(e.ExpectColumnToExist(column="missing")),
            Check(e.ExpectTableRowCountToBeBetween(min_value=1, max_value=11)),
            Check(e.ExpectColumnValuesToNotBeNull(column="period")),
            Check(e.ExpectColumnValuesToMatchRegex(column="period", regex=PERIOD_KEY_PATTERN)),
            Check(e.ExpectColumnValuesToBeBetween(column="value", min_value=0)),
            Check(e.ExpectColumnValuesToBeInTypeList(column="text", type_list=["int"]), "warning"),
            Check(e.ExpectColumnPairValuesAToBeGreaterThanB(column_A="value", column_B="part", or_equal=True)),
            Check(e.ExpectColumnValuesToBeUnique(column="key")),  # split along: piece by piece
            Check(e.ExpectColumnValuesToBeUnique(column="ID")),  # across pieces: regrouped
            Check(e.ExpectCompoundColumnsToBeUnique(column_list=["ID", "category"])),
            Check(e.ExpectColumnDistinctValuesToContainSet(column="category", value_set=["total"])),
            Check(e.ExpectColumnDistinctValuesToContainSet(column="category", value_set=["none"])),
            Check(e.ExpectColumnMeanToBeBetween(column="part", max_value=1.0)),  # on the whole column
            Check(e.ExpectColumnValuesToBeBetween(column="value", min_value=0, mostly=0.8)),
        ),
    )


def in_pieces(data, by, *, together=("area", "key"), height=None):
    def frames():
        for value in data[by].unique(maintain_order=True):
            yield data.filter(pl.col(by) == value)

    return Pieces(height=data.height if height is None else height, columns=data.columns, frames=frames, together=together)


def comparable(record):
    """A record with its sample as a set: pieces sample offenders piece by piece."""
    fields = {k: v for k, v in record.__dict__.items() if k != "message"}
    fields["unexpected_sample"] = sorted(record.unexpected_sample)
    return fields


def test_a_batch_in_pieces_gets_the_outcome_of_the_whole_batch():
    data, checks = area_frame(), every_kind_of_check()
    whole = validate(data, checks, BATCH)

    pieced = validate(in_pieces(data, "area"), checks, BATCH)

    assert [comparable(r) for r in pieced.records] == [comparable(r) for r in whole.records]
    # the pieces are areas in row order, so the samples keep their order too
    assert [r.message for r in pieced.records] == [r.message for r in whole.records]
    assert [r.success for r in pieced.records] == [
        True,  # value present
        False,  # missing absent
        False,  # 12 rows, at most 11 allowed
        False,  # a null period
        False,  # 2024MM13, bad
        False,  # -2.0, -6.0, -2.0
        False,  # three, eight (warning)
        False,  # value 3.0 below part 5.0
        False,  # key A2 twice, within area A
        False,  # ID 1 in areas A and D
        True,  # (ID, category) is unique
        True,  # 'total' is in the last piece only
        False,  # 'none' is nowhere
        False,  # mean of part 1.5
        False,  # 3 of 11 values negative: fewer than 80 % pass
    ]
    by_check = dict(zip(checks.checks, pieced.records))
    unique_id = by_check[checks.checks[9]]
    assert (unique_id.unexpected_count, unique_id.unexpected_sample) == (2, ("1",))
    assert by_check[checks.checks[2]].observed_value == 12
    assert all(r.element_count == 12 for r in pieced.records if r.expectation != "expect_column_values_to_be_between")


def test_pieces_in_another_order_find_the_same_offenders():
    data, checks = area_frame(), every_kind_of_check()
    shuffled = in_pieces(data, "category", together=())  # 'x' rows then 'total': ID 1 twice across pieces

    pieced = validate(shuffled, checks, BATCH)

    assert [comparable(r) for r in pieced.records] == [comparable(r) for r in validate(data, checks, BATCH).records]


def test_uniqueness_on_a_column_the_batch_is_not_split_along_is_checked_across_pieces():
    data = area_frame().with_columns(pl.Series("key", [f"k{i % 6}" for i in range(12)]))  # equal keys in other areas
    checks = Suite("pieces", (Check(gx.expectations.ExpectColumnValuesToBeUnique(column="key")),))

    (wrong,) = validate(in_pieces(data, "area", together=("area", "key")), checks, BATCH).records
    (right,) = validate(in_pieces(data, "area", together=("area",)), checks, BATCH).records

    assert wrong.success  # a column declared 'together' that is not: the caller's promise
    assert not right.success and right.unexpected_count == 12


def test_pieces_that_do_not_add_up_to_the_batch_are_an_error():
    data = area_frame()

    with pytest.raises(ValueError, match=r"pieces \(.*\): the pieces hold 12 rows, the batch 13"):
        validate(in_pieces(data, "area", height=13), every_kind_of_check(), BATCH)


def test_each_piece_is_handed_to_gx_with_only_the_columns_its_checks_read(monkeypatch):
    seen = []
    real = runner._to_pandas
    monkeypatch.setattr(runner, "_to_pandas", lambda frame: seen.append(tuple(frame.columns)) or real(frame))
    checks = Suite("pieces", (Check(gx.expectations.ExpectColumnValuesToBeBetween(column="value", min_value=0)),))

    validate(in_pieces(area_frame(), "area"), checks, BATCH)

    assert seen == [("value",)] * 4


def test_progress_is_reported_after_each_piece():
    seen = []
    checks = Suite("pieces", (Check(gx.expectations.ExpectColumnValuesToNotBeNull(column="ID")),))

    validate(in_pieces(area_frame(), "area"), checks, BATCH, progress=lambda done, total: seen.append((done, total)))

    assert seen == [(3, 12), (6, 12), (9, 12), (12, 12)]


def test_a_frame_is_handed_to_gx_with_only_the_columns_its_checks_read(monkeypatch):
    seen = []
    real = runner._to_pandas
    monkeypatch.setattr(runner, "_to_pandas", lambda frame: seen.append(tuple(frame.columns)) or real(frame))
    e = gx.expectations
    checks = Suite(
        "cols",
        (
            Check(e.ExpectColumnValuesToBeBetween(column="value", min_value=0)),
            Check(e.ExpectColumnPairValuesAToBeGreaterThanB(column_A="value", column_B="part", or_equal=True)),
            Check(e.ExpectColumnToExist(column="missing")),
            Check(e.ExpectTableRowCountToBeBetween(min_value=1)),
        ),
    )

    report = validate(area_frame(), checks, BATCH)

    assert seen == [("value", "part")]
    assert [r.success for r in report.records] == [False, False, False, True]
    assert report.records[3].observed_value == 12


def test_a_check_on_the_table_as_a_whole_or_with_a_row_condition_gets_every_column(monkeypatch):
    seen = []
    real = runner._to_pandas
    monkeypatch.setattr(runner, "_to_pandas", lambda frame: seen.append(tuple(frame.columns)) or real(frame))
    data = area_frame()
    on_table = Check(gx.expectations.ExpectTableColumnCountToEqual(value=8))
    # 'value' is null only in area B: the condition reads a column the check does not name
    conditioned = Check(
        gx.expectations.ExpectColumnValuesToNotBeNull(column="value", row_condition=Column("area") == "A")
    )

    (table,) = validate(data, Suite("t", (on_table,)), BATCH).records
    (condition,) = validate(data, Suite("t", (conditioned,)), BATCH).records
    (elsewhere,) = validate(
        data,
        Suite(
            "t",
            (Check(gx.expectations.ExpectColumnValuesToNotBeNull(column="value", row_condition=Column("area") == "B")),),
        ),
        BATCH,
    ).records

    assert seen == [tuple(data.columns)] * 3
    assert table.success and table.observed_value == 8
    assert condition.success and condition.element_count == 3
    assert not elsewhere.success and elsewhere.unexpected_count == 1


def test_only_row_counts_need_no_column():
    (count,) = validate(area_frame(), Suite("t", (row_count_at_least(13),)), BATCH).records

    assert not count.success and count.observed_value == 12


def test_the_columns_handed_to_gx_do_not_change_any_outcome():
    data, checks = area_frame(), every_kind_of_check()

    selected = validate(data, checks, BATCH)
    every_column = runner._report(checks, BATCH, runner._run(runner._to_pandas(data), checks.name, checks.checks), data.height, data.columns)

    assert selected.records == every_column.records


def test_a_check_with_a_row_condition_in_pieces_gets_the_outcome_of_the_whole_batch():
    e = gx.expectations
    checks = Suite(
        "t",
        (
            Check(e.ExpectColumnValuesToNotBeNull(column="value", row_condition=Column("area") == "B")),
            Check(e.ExpectColumnValuesToBeUnique(column="ID", row_condition=Column("category") == "x")),
        ),
    )
    data = area_frame()

    pieced = validate(in_pieces(data, "area"), checks, BATCH)

    assert [comparable(r) for r in pieced.records] == [comparable(r) for r in validate(data, checks, BATCH).records]
    assert [r.success for r in pieced.records] == [False, True]  # the second ID 1 is the 'total' row


def test_a_large_frame_gets_one_gx_run_per_group_of_checks_with_common_columns(monkeypatch):
    seen = []
    real = runner._to_pandas
    monkeypatch.setattr(runner, "_to_pandas", lambda frame: seen.append(tuple(frame.columns)) or real(frame))
    monkeypatch.setattr(runner, "GROUPED_FROM_ROWS", 12)  # area_frame has 12 rows
    e = gx.expectations
    checks = Suite(
        "cols",
        (
            Check(e.ExpectColumnValuesToBeBetween(column="value", min_value=0)),
            Check(e.ExpectColumnValuesToNotBeNull(column="period")),
            Check(e.ExpectColumnPairValuesAToBeGreaterThanB(column_A="part", column_B="ID", or_equal=True)),
            Check(e.ExpectColumnValuesToBeUnique(column="ID")),
            Check(e.ExpectColumnPairValuesAToBeGreaterThanB(column_A="value", column_B="part", or_equal=True)),
            Check(e.ExpectTableRowCountToBeBetween(min_value=1)),
        ),
    )

    report = validate(area_frame(), checks, BATCH)

    # value-part-ID are linked through the pair checks; period alone; the row count on no column
    assert sorted(seen) == sorted([("value", "part", "ID"), ("period",)])
    assert [r.success for r in report.records] == [False, False, False, False, False, True]


def test_grouped_runs_give_the_outcome_of_one_run_on_every_check(monkeypatch):
    data, checks = area_frame(), every_kind_of_check()
    one_run = validate(data, checks, BATCH)
    monkeypatch.setattr(runner, "GROUPED_FROM_ROWS", 1)

    grouped = validate(data, checks, BATCH)

    assert len(runner._column_groups(checks.checks)) > 3
    assert grouped.records == one_run.records


def test_column_groups_join_checks_through_shared_columns_and_keep_every_check_once():
    e = gx.expectations
    checks = [
        Check(e.ExpectColumnValuesToNotBeNull(column="a")),
        Check(e.ExpectColumnValuesToNotBeNull(column="b")),
        Check(e.ExpectTableRowCountToBeBetween(min_value=1)),
        Check(e.ExpectColumnPairValuesToBeEqual(column_A="b", column_B="c")),
        Check(e.ExpectTableColumnCountToEqual(value=3)),  # reads every column
        Check(e.ExpectColumnPairValuesToBeEqual(column_A="c", column_B="a")),
        Check(e.ExpectColumnValuesToNotBeNull(column="d")),
        Check(e.ExpectTableRowCountToEqual(value=3)),
    ]

    assert runner._column_groups(checks) == [[0, 1, 3, 5], [2, 7], [6], [4]]
