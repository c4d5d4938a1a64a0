import json
import socket

import great_expectations as gx
import polars as pl
import pytest
from great_expectations.datasource.fluent.interfaces import Batch
from polars.testing import assert_frame_equal

from expectations.common import PERIOD_KEY_PATTERN, period_keys, row_count_at_least
from expectations.runner import (
    Check,
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
    assert fine.success is True
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
        "element_count", "unexpected_count", "unexpected_sample", "message", "description",
    }  # fmt: skip
    json.dumps(rows)


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
