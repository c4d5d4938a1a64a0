"""Expectations for the normalised UWV register tables (``transforms/uwv.py``).

Validated on the table ``uwv_table`` returns, with helper columns that ``validation_frame``
adds: ``reference_year`` (the year whose list of valid codes applies), ``<code>_in_year``
(``'0363/2015'``, checked against the codes valid on 1 January of that year) and, for WWB
registrations, ``registered_share`` (registered_job_seekers / wwb_recipients, null when there are
no recipients).

- ``uwv_vacancies``: one row per labour-market region per reference date; key
  (region_code, reference_date); open_vacancies = number of open vacancies registered at UWV.
- ``uwv_wwb_registrations``: one row per municipality per reference date; key
  (gm_code, reference_date); wwb_recipients and registered_job_seekers = numbers of people.
- ``uwv_portal_connections``: one row per municipality per reference date; key
  (gm_code, reference_date); connected (boolean), connected_since (date, null if not connected).

Critical (stops the intake): columns, types, keys unique, codes valid for the reference year,
counts >= 0, registered job seekers not above recipients, dates not after ``today``, a
connection date only for connected municipalities and not after the reference date.
Warning (recorded): shares of 0 or 100 % registered, very large vacancy counts, connection
dates that are missing or older than the portal can be.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping

import great_expectations as gx
import polars as pl
from great_expectations.expectations.row_conditions import Column

from expectations.common import columns_present, non_negative_numbers, row_count_at_least
from expectations.runner import Check, Suite, ValidationReport, validate
from transforms.geography import normalise_gm_code
from transforms.uwv import (
    KEYS,
    PORTAL_CONNECTIONS,
    SCHEMAS,
    VACANCIES,
    WWB_REGISTRATIONS,
)
from transforms.uwv_checks import normalise_region_code

PLAUSIBLE_MAX_VACANCIES = 100_000
"""Open vacancies registered at UWV in one labour-market region on one date. The largest region
(Groot Amsterdam) has tens of thousands at most, so more points to a wrong unit or column."""

EARLIEST_PLAUSIBLE_CONNECTION = dt.date(2000, 1, 1)
"""The UWV portals for municipalities (Suwinet, later Sonar and WBS) date from the SUWI act of
2002; a connection date before 2000 is more likely a typing error than history."""

DATE_TYPES = ["datetime64[ms]", "datetime64[us]", "datetime64[ns]", "datetime64[s]", "datetime64", "date"]
BOOLEAN_TYPES = ["bool", "boolean"]
CODE_PATTERNS = {"gm_code": r"^\d{4}$", "region_code": r"^AM\d{2}$"}


def uwv_suite(dataset: str, *, valid_codes: Mapping[int, Collection[str]], today: dt.date) -> Suite:
    """The suite for one UWV dataset.

    ``valid_codes``: year -> codes valid on 1 January of that year, in the table's form
    (``'0363'`` for municipalities, ``'AM01'`` for regions); pass only the years of the batch
    (``validate_uwv`` does), since the size of the set slows GX down. ``today``: no date may lie
    after it. Run it on ``validation_frame(frame, dataset)``.
    """
    if dataset not in SCHEMAS:
        raise ValueError(f"unknown UWV dataset {dataset!r}; expected one of {sorted(SCHEMAS)}")
    code = KEYS[dataset][0]
    valid_keys = sorted({_code_in_year(str(c), int(year)) for year, codes in valid_codes.items() for c in codes})
    checks: list[Check] = [
        *columns_present([*SCHEMAS[dataset], "reference_year", f"{code}_in_year"]),
        row_count_at_least(1),
        Check(gx.expectations.ExpectColumnValuesToNotBeNull(column=code), "critical", f"every row has a {code}"),
        Check(
            gx.expectations.ExpectColumnValuesToMatchRegex(column=code, regex=CODE_PATTERNS[code]),
            "critical",
            f"{code} is written as {CODE_PATTERNS[code]}",
        ),
        Check(
            gx.expectations.ExpectColumnValuesToNotBeNull(column="reference_date"),
            "critical",
            "every row has a reference date that parses",
        ),
        Check(
            gx.expectations.ExpectColumnValuesToBeInTypeList(column="reference_date", type_list=DATE_TYPES),
            "critical",
            "reference_date is a date",
        ),
        Check(
            gx.expectations.ExpectColumnValuesToBeBetween(column="reference_date", max_value=_datetime(today)),
            "critical",
            f"reference_date not after today ({today.isoformat()})",
        ),
        Check(
            gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=list(KEYS[dataset])),
            "critical",
            f"one row per {' and '.join(KEYS[dataset])}",
        ),
        Check(
            # a set of 'code/year' texts rather than expect_column_pair_values_to_be_in_set: GX
            # re-serialises its configuration hundreds of times, and pairs cost six times more
            gx.expectations.ExpectColumnValuesToBeInSet(column=f"{code}_in_year", value_set=valid_keys),
            "critical",
            f"{code} valid on 1 January of the reference year ({code}/year)",
        ),
    ]
    counts = [c for c, dtype in SCHEMAS[dataset].items() if dtype == pl.Int64()]
    checks += non_negative_numbers(counts)
    checks += [
        Check(gx.expectations.ExpectColumnValuesToNotBeNull(column=c), "critical", f"every row has {c}")
        for c in counts
    ]
    if dataset == VACANCIES:
        checks.append(
            Check(
                gx.expectations.ExpectColumnValuesToBeBetween(
                    column="open_vacancies", max_value=PLAUSIBLE_MAX_VACANCIES
                ),
                "warning",
                f"at most {PLAUSIBLE_MAX_VACANCIES} open vacancies in one region",
            )
        )
    elif dataset == WWB_REGISTRATIONS:
        checks += [
            Check(
                gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="wwb_recipients",
                    column_B="registered_job_seekers",
                    or_equal=True,
                    ignore_row_if="either_value_is_missing",
                ),
                "critical",
                "registered job seekers are a part of the WWB recipients",
            ),
            Check(
                gx.expectations.ExpectColumnValuesToBeBetween(
                    column="registered_share", min_value=0, max_value=1, strict_min=True, strict_max=True
                ),
                "warning",
                "some but not all WWB recipients are registered at UWV",
            ),
        ]
    elif dataset == PORTAL_CONNECTIONS:
        checks += [
            Check(gx.expectations.ExpectColumnValuesToNotBeNull(column="connected"), "critical",
                  "every row says whether the municipality is connected"),
            Check(
                gx.expectations.ExpectColumnValuesToBeInTypeList(column="connected", type_list=BOOLEAN_TYPES),
                "critical",
                "connected is a boolean",
            ),
            Check(
                gx.expectations.ExpectColumnValuesToBeInTypeList(column="connected_since", type_list=DATE_TYPES),
                "critical",
                "connected_since is a date",
            ),
            Check(
                gx.expectations.ExpectColumnValuesToBeNull(
                    column="connected_since", row_condition=Column("connected") == False  # noqa: E712 - a GX condition
                ),
                "critical",
                "no connection date for a municipality that is not connected",
            ),
            Check(
                gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="reference_date",
                    column_B="connected_since",
                    or_equal=True,
                    ignore_row_if="either_value_is_missing",
                ),
                "critical",
                "connected on or before the reference date",
            ),
            Check(
                gx.expectations.ExpectColumnValuesToNotBeNull(
                    column="connected_since", row_condition=Column("connected") == True  # noqa: E712 - a GX condition
                ),
                "warning",
                "a connected municipality has a connection date",
            ),
            Check(
                gx.expectations.ExpectColumnValuesToBeBetween(
                    column="connected_since", min_value=_datetime(EARLIEST_PLAUSIBLE_CONNECTION)
                ),
                "warning",
                f"connected since {EARLIEST_PLAUSIBLE_CONNECTION.isoformat()} or later",
            ),
        ]
    return Suite(dataset, tuple(checks))


def validation_frame(frame: pl.DataFrame, dataset: str) -> pl.DataFrame:
    """``frame`` with the helper columns the suite of ``dataset`` checks (``frame`` is unchanged).

    A helper whose source column is missing is left out; the suite then reports the column.
    """
    extra = []
    code = KEYS[dataset][0]
    if "reference_date" in frame.columns:
        year = pl.col("reference_date").dt.year().cast(pl.Int64)
        extra.append(year.alias("reference_year"))
        if code in frame.columns:
            extra.append(pl.concat_str(pl.col(code), pl.lit("/"), year.cast(pl.String)).alias(f"{code}_in_year"))
    if dataset == WWB_REGISTRATIONS and {"wwb_recipients", "registered_job_seekers"} <= set(frame.columns):
        extra.append(
            pl.when(pl.col("wwb_recipients") > 0)
            .then(pl.col("registered_job_seekers") / pl.col("wwb_recipients"))
            .alias("registered_share")
        )
    return frame.with_columns(extra)


def validate_uwv(
    frame: pl.DataFrame,
    dataset: str,
    batch: str,
    *,
    valid_municipalities: Mapping[int, Collection[str]],
    regions: Mapping[int, Mapping[str, str]],
    today: dt.date,
) -> ValidationReport:
    """Run the suite of ``dataset`` on a normalised UWV table.

    Takes the same code lists as ``transforms.uwv.uwv_table``; ``batch`` names the file in the
    report, e.g. ``"vacatures_2015.csv@<sha256[:12]>"``.
    """
    years = set()
    if "reference_date" in frame.columns:
        years = set(frame["reference_date"].dt.year().drop_nulls().to_list())
    if dataset == VACANCIES:
        valid_codes = {y: [normalise_region_code(c) for c in names] for y, names in regions.items() if y in years}
    else:
        valid_codes = {
            y: [normalise_gm_code(code) for code in codes] for y, codes in valid_municipalities.items() if y in years
        }
    suite = uwv_suite(dataset, valid_codes=valid_codes, today=today)
    return validate(validation_frame(frame, dataset), suite, batch)


def _code_in_year(code: str, year: int) -> str:
    return f"{code}/{year}"


def _datetime(day: dt.date) -> dt.datetime:
    # dates reach GX as pandas datetime64, which compares with datetime but not with date
    return dt.datetime(day.year, day.month, day.day)
