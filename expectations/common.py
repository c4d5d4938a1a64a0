"""Checks every CBS StatLine dataset suite needs: columns present, rows present, period keys
well formed, topic values numeric and non-negative.

Each helper returns :class:`~expectations.runner.Check` objects for a suite's tuple.
"""

from __future__ import annotations

from collections.abc import Sequence

import great_expectations as gx

from expectations.runner import Check, Severity

PERIOD_KEY_PATTERN = r"^\d{4}(?:MM(?:0[1-9]|1[0-2])|KW0[1-4]|JJ00)$"
"""A StatLine ``Perioden`` key: year plus month (``MM01``-``MM12``), quarter (``KW01``-``KW04``)
or whole year (``JJ00``). Groups are non-capturing because pandas warns on every
``str.contains`` with capturing groups."""

NUMERIC_DTYPES: tuple[str, ...] = (
    "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64",
    "float32", "float64",
    "Int8", "Int16", "Int32", "Int64",
    "UInt8", "UInt16", "UInt32", "UInt64",
    "Float32", "Float64",
    "int", "float",
)  # fmt: skip
"""pandas dtypes (and, for text columns checked value by value, Python types) of numbers.

A Polars integer column with nulls arrives as ``float64``; an all-null column arrives as
``object`` holding ``None`` and passes, since nulls are allowed."""


def row_count_at_least(minimum: int = 1, severity: Severity = "critical") -> Check:
    """The batch has at least ``minimum`` rows; this is what fails on an empty frame."""
    return Check(
        gx.expectations.ExpectTableRowCountToBeBetween(min_value=minimum),
        severity,
        f"at least {minimum} row(s)",
    )


def columns_present(columns: Sequence[str], severity: Severity = "critical") -> tuple[Check, ...]:
    """One check per column that must be in the frame (extra columns are fine)."""
    return tuple(
        Check(gx.expectations.ExpectColumnToExist(column=c), severity, f"column {c} present")
        for c in columns
    )


def period_keys(column: str = "Perioden", severity: Severity = "critical") -> tuple[Check, ...]:
    """Every period key is present and parses as a StatLine month, quarter or year key."""
    return (
        Check(
            gx.expectations.ExpectColumnValuesToNotBeNull(column=column),
            severity,
            "every row has a period",
        ),
        Check(
            gx.expectations.ExpectColumnValuesToMatchRegex(column=column, regex=PERIOD_KEY_PATTERN),
            severity,
            "period keys are YYYYMMnn, YYYYKWnn or YYYYJJ00",
        ),
    )


def non_negative_numbers(
    columns: Sequence[str], severity: Severity = "critical"
) -> tuple[Check, ...]:
    """Each column holds numbers that are >= 0, or nulls (CBS '.' and 'not applicable')."""
    checks: list[Check] = []
    for column in columns:
        checks.append(
            Check(
                gx.expectations.ExpectColumnValuesToBeInTypeList(
                    column=column, type_list=list(NUMERIC_DTYPES)
                ),
                severity,
                f"{column} is numeric",
            )
        )
        checks.append(
            Check(
                gx.expectations.ExpectColumnValuesToBeBetween(column=column, min_value=0),
                severity,
                f"{column} is >= 0 or null",
            )
        )
    return tuple(checks)
