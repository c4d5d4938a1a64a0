"""Expectations for the landed national benefits table (StatLine "Sociale zekerheid;
kerncijfers, uitkeringen naar uitkeringssoort").

Validated on the raw TypedDataSet frame: one row per period; key ``Perioden`` (months
``YYYYMMnn`` and annual averages ``YYYYJJ00``); topic columns are numbers of benefits in
thousands (``x 1 000``), null where CBS has no figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import great_expectations as gx

from expectations.common import (
    columns_present,
    non_negative_numbers,
    period_keys,
    row_count_at_least,
)
from expectations.runner import Check, Suite

DATASET = "cbs_national_benefits"
PERIOD_COLUMN = "Perioden"

PLAUSIBLE_MAX_THOUSANDS = 20_000
"""20 million benefits: more than the Dutch population, so any value above it is an error of
unit or scale rather than a real count. The largest series (AOW) is below 4 million."""


def national_benefits_suite(value_columns: Sequence[str]) -> Suite:
    """The suite for the national benefits table, checking the topic columns the caller uses.

    ``value_columns`` are DataProperties keys from the table catalog, e.g.
    ``["NietSeizoengecorrigeerd_8", "TotaalBijstandsuitkeringen_11"]``.
    """
    columns = list(dict.fromkeys(value_columns))
    plausible = tuple(
        Check(
            gx.expectations.ExpectColumnValuesToBeBetween(
                column=column, max_value=PLAUSIBLE_MAX_THOUSANDS
            ),
            "warning",
            f"{column} below {PLAUSIBLE_MAX_THOUSANDS} thousand benefits",
        )
        for column in columns
    )
    return Suite(
        DATASET,
        (
            *columns_present([PERIOD_COLUMN, *columns]),
            row_count_at_least(1),
            *period_keys(PERIOD_COLUMN),
            Check(
                gx.expectations.ExpectColumnValuesToBeUnique(column=PERIOD_COLUMN),
                "critical",
                "one row per period",
            ),
            *non_negative_numbers(columns),
            *plausible,
        ),
    )
