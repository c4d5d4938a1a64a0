"""CBS period keys as dates: ``YYYYMMnn`` months, ``YYYYKWnn`` quarters, ``YYYYJJ00`` years."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

PERIOD_KEY_PATTERN = r"^\d{4}(MM(0[1-9]|1[0-2])|KW0[1-4]|JJ00)$"

_FREQUENCY = {"MM": "month", "KW": "quarter", "JJ": "year"}
PROVISIONAL_STATUSES = ("Voorlopig", "NaderVoorlopig")


class UnparseablePeriodError(ValueError):
    """Period keys that are not CBS month, quarter or year keys; the message lists them."""


def cbs_periods(periods: pl.DataFrame, *, table_id: str) -> pl.DataFrame:
    """One row per CBS period category.

    Input: the landed time dimension (``Key``, ``Title`` and, where CBS sends it, ``Status``).
    Output columns: ``period_key`` (stripped), ``period_start`` (Date: first day of the month,
    quarter or year), ``frequency`` (``month`` | ``quarter`` | ``year``) and ``provisional``
    (CBS status Voorlopig / NaderVoorlopig, or a ``*`` in the title).
    """
    key = pl.col("Key").str.strip_chars()
    status = pl.col("Status") if "Status" in periods.columns else pl.lit(None, pl.String)
    parsed = periods.select(
        key.alias("period_key"),
        key.str.slice(0, 4).cast(pl.Int32, strict=False).alias("_year"),
        key.str.slice(4, 2).alias("_kind"),
        key.str.slice(6, 2).cast(pl.Int8, strict=False).alias("_n"),
        (
            status.is_in(PROVISIONAL_STATUSES).fill_null(False)
            | pl.col("Title").str.strip_chars().str.ends_with("*").fill_null(False)
        ).alias("provisional"),
    )
    month = (
        pl.when(pl.col("_kind") == "MM")
        .then(pl.col("_n"))
        .when(pl.col("_kind") == "KW")
        .then((pl.col("_n") - 1) * 3 + 1)
        .when((pl.col("_kind") == "JJ") & (pl.col("_n") == 0))
        .then(1)
    )
    result = parsed.with_columns(
        pl.when(key_matches := pl.col("period_key").str.contains(PERIOD_KEY_PATTERN))
        .then(pl.date(pl.col("_year"), month, 1))
        .alias("period_start"),
        pl.when(key_matches).then(pl.col("_kind").replace_strict(_FREQUENCY, default=None)).alias("frequency"),
    )
    bad = result.filter(pl.col("period_start").is_null())["period_key"].to_list()
    if bad:
        raise UnparseablePeriodError(
            f"{table_id}: {len(bad)} period key(s) are not CBS month/quarter/year keys: {', '.join(map(str, bad[:10]))}"
        )
    return result.select("period_key", "period_start", "frequency", "provisional")


def years_text(years: Iterable[int]) -> str:
    """Years for a message, sorted, runs joined: ``'2014, 2016-2025'``; ``'none'`` for none."""
    runs: list[list[int]] = []
    for year in sorted(set(years)):
        if runs and year == runs[-1][1] + 1:
            runs[-1][1] = year
        else:
            runs.append([year, year])
    return ", ".join(str(first) if first == last else f"{first}-{last}" for first, last in runs) or "none"
