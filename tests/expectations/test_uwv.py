import datetime as dt

import great_expectations as gx
import polars as pl
import pytest

from expectations.runner import Check, Suite, ValidationFailed, validate
from expectations.uwv import PLAUSIBLE_MAX_VACANCIES, uwv_suite, validate_uwv, validation_frame
from transforms.uwv import PORTAL_CONNECTIONS, SCHEMAS, VACANCIES, WWB_REGISTRATIONS

TODAY = dt.date(2020, 6, 30)
VALID = {2015: {"0014", "0018", "0363"}, 2018: {"0014", "0363", "1952"}}
REGIONS = {2015: {"AM01": "Groningen", "AM18": "Groot Amsterdam"}}
D2015 = dt.date(2015, 12, 31)
D2018 = dt.date(2018, 6, 30)


def run(frame, dataset):
    return validate_uwv(frame, dataset, "test.csv@0123456789ab", valid_municipalities=VALID, regions=REGIONS, today=TODAY)


def failed(report):
    return {(r.expectation, r.column, r.severity) for r in report.records if not r.success}


def wwb(**changes):
    data = {
        "gm_code": ["0363", "0014", "0363"],
        "reference_date": [D2015, D2015, D2018],
        "wwb_recipients": [41_000, 10_500, 39_000],
        "registered_job_seekers": [20_500, 6_000, 21_000],
    }
    data.update(changes)
    return pl.DataFrame(data, schema=SCHEMAS[WWB_REGISTRATIONS])


def vacancies(**changes):
    data = {"region_code": ["AM01", "AM18"], "reference_date": [D2015, D2015], "open_vacancies": [2_400, 14_800]}
    data.update(changes)
    return pl.DataFrame(data, schema=SCHEMAS[VACANCIES])


def portal(**changes):
    data = {
        "gm_code": ["0363", "0014", "1952"],
        "reference_date": [D2015, D2015, D2018],
        "connected": [True, False, True],
        "connected_since": [dt.date(2009, 3, 1), None, dt.date(2018, 1, 1)],
    }
    data.update(changes)
    return pl.DataFrame(data, schema=SCHEMAS[PORTAL_CONNECTIONS])


@pytest.mark.parametrize(("frame", "dataset"), [(wwb(), WWB_REGISTRATIONS), (vacancies(), VACANCIES), (portal(), PORTAL_CONNECTIONS)])
def test_clean_tables_pass_without_warnings(frame, dataset):
    report = run(frame, dataset)

    assert failed(report) == set()
    assert report.dataset == dataset
    assert len(report.records) >= 15


PAIR = "expect_column_pair_values_a_to_be_greater_than_b"
BETWEEN = "expect_column_values_to_be_between"
IN_YEAR = ("expect_column_values_to_be_in_set", "gm_code_in_year", "critical")
DEFECTS = [
    pytest.param(wwb(gm_code=["0363", "0014", "0018"]), WWB_REGISTRATIONS,
                 {IN_YEAR},
                 "'0018/2018'", id="code ended before the reference year"),
    pytest.param(wwb(reference_date=[D2015, D2015, dt.date(2021, 1, 1)]), WWB_REGISTRATIONS,
                 {(BETWEEN, "reference_date", "critical"),
                  IN_YEAR},
                 "2021-01-01", id="future date"),
    pytest.param(wwb(gm_code=["0363", "0363", "0363"], reference_date=[D2015, D2015, D2018]), WWB_REGISTRATIONS,
                 {("expect_compound_columns_to_be_unique", "gm_code, reference_date", "critical")},
                 "0363", id="duplicate key"),
    pytest.param(wwb(wwb_recipients=[41_000, -3, 39_000], registered_job_seekers=[20_500, 0, 21_000]), WWB_REGISTRATIONS,
                 {(BETWEEN, "wwb_recipients", "critical"), (PAIR, "wwb_recipients, registered_job_seekers", "critical")},
                 "-3", id="negative count"),
    pytest.param(wwb(registered_job_seekers=[41_001, 6_000, 21_000]), WWB_REGISTRATIONS,
                 {(PAIR, "wwb_recipients, registered_job_seekers", "critical"), (BETWEEN, "registered_share", "warning")},
                 "[41000, 41001]", id="registered above recipients"),
    pytest.param(wwb(registered_job_seekers=[0, 6_000, 39_000]), WWB_REGISTRATIONS,
                 {(BETWEEN, "registered_share", "warning")}, "0.0", id="none or all registered"),
    pytest.param(wwb(gm_code=["GM0363", "0014", "0363"]), WWB_REGISTRATIONS,
                 {("expect_column_values_to_match_regex", "gm_code", "critical"),
                  IN_YEAR},
                 "GM0363", id="code not normalised"),
    pytest.param(wwb(wwb_recipients=[41_000, None, 39_000]), WWB_REGISTRATIONS,
                 {("expect_column_values_to_not_be_null", "wwb_recipients", "critical")}, "null", id="missing count"),
    pytest.param(vacancies(open_vacancies=[2_400, PLAUSIBLE_MAX_VACANCIES + 1]), VACANCIES,
                 {(BETWEEN, "open_vacancies", "warning")}, str(PLAUSIBLE_MAX_VACANCIES + 1), id="implausible vacancies"),
    pytest.param(vacancies(region_code=["AM01", "AM35"]), VACANCIES,
                 {("expect_column_values_to_be_in_set", "region_code_in_year", "critical")},
                 "'AM35/2015'", id="unknown region"),
    pytest.param(portal(connected_since=[dt.date(2009, 3, 1), dt.date(2010, 1, 1), dt.date(2018, 1, 1)]), PORTAL_CONNECTIONS,
                 {("expect_column_values_to_be_null", "connected_since", "critical")}, "2010-01-01", id="date without connection"),
    pytest.param(portal(connected_since=[dt.date(2016, 3, 1), None, dt.date(2018, 1, 1)]), PORTAL_CONNECTIONS,
                 {(PAIR, "reference_date, connected_since", "critical")}, "2016-03-01", id="connected after reference date"),
    pytest.param(portal(connected_since=[dt.date(1995, 3, 1), None, None]), PORTAL_CONNECTIONS,
                 {(BETWEEN, "connected_since", "warning"), ("expect_column_values_to_not_be_null", "connected_since", "warning")},
                 "1995-03-01", id="implausible and missing connection dates"),
]


@pytest.mark.parametrize(("frame", "dataset", "expected", "example"), DEFECTS)
def test_each_defect_fails_its_check_with_dataset_column_and_example(frame, dataset, expected, example):
    report = run(frame, dataset)

    assert failed(report) == expected
    failures = [r for r in report.records if not r.success]
    assert any(example in r.message for r in failures), [r.message for r in failures]
    for record in failures:
        assert record.dataset == dataset
        assert record.expectation in record.message and f"'{record.column}'" in record.message
    critical = any(severity == "critical" for _, _, severity in expected)
    assert report.passed is not critical
    if critical:
        with pytest.raises(ValidationFailed, match=dataset):
            report.raise_for_critical()


def test_missing_column_fails_critically():
    report = run(wwb().drop("registered_job_seekers"), WWB_REGISTRATIONS)

    assert ("expect_column_to_exist", "registered_job_seekers", "critical") in failed(report)
    assert not report.passed


def test_validation_frame_adds_the_year_and_the_registered_share_without_changing_the_input():
    frame = wwb(wwb_recipients=[100, 0, 40], registered_job_seekers=[25, 0, 10])

    checked = validation_frame(frame, WWB_REGISTRATIONS)

    assert checked["reference_year"].to_list() == [2015, 2015, 2018]
    assert checked["registered_share"].to_list() == [0.25, None, 0.25]
    assert checked["gm_code_in_year"].to_list() == ["0363/2015", "0014/2015", "0363/2018"]
    assert frame.columns == list(SCHEMAS[WWB_REGISTRATIONS])


def test_suite_rejects_an_unknown_dataset():
    with pytest.raises(ValueError, match="unknown UWV dataset 'uwv_other'"):
        uwv_suite("uwv_other", valid_codes={}, today=TODAY)


def test_runner_names_both_columns_of_a_column_pair_check():
    """The runner reported pair expectations without a column; it now names column_A, column_B."""
    check = Check(gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB(column_A="a", column_B="b"))
    report = validate(pl.DataFrame({"a": [1, 2], "b": [0, 5]}), Suite("pairs", (check,)), "batch")

    (record,) = report.records
    assert check.column == "a, b"
    assert record.column == "a, b"
    assert record.message.startswith("expect_column_pair_values_a_to_be_greater_than_b failed on column 'a, b'")
