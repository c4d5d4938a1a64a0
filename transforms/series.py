"""Tidy national series from CBS tables."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from transforms.periods import cbs_periods

SERIES_SCHEMA = {
    "series": pl.String,
    "frequency": pl.String,
    "period_start": pl.Date,
    "period_key": pl.String,
    "value": pl.Float64,
    "unit": pl.String,
    "provisional": pl.Boolean,
    "source_table": pl.String,
}


def at_total(dimension: str, total: str) -> pl.Expr:
    """The rows whose ``dimension`` is its total category ``total`` (CBS pads keys with spaces):
    the only rows the facts keep of a dimension that is neither area nor time."""
    return pl.col(dimension).str.strip_chars() == total


def national_series(
    data: pl.DataFrame,
    periods: pl.DataFrame,
    *,
    series: Mapping[str, str],
    unit: str,
    table_id: str,
    time_dimension: str = "Perioden",
    totals: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """One row per series per period, from a national CBS table.

    Other dimensions are restricted to their total category ``totals[dimension]`` (for 80472ned
    Bedrijfskenmerken T001081, all economic activities).

    Grain: (series, frequency, period_start). ``series`` maps a series name (``ww``) to the
    topic column holding it; ``value`` is the figure as CBS publishes it, in ``unit`` (for
    37789ksz 'x 1 000' benefits); null where CBS has no figure. Monthly, quarterly and
    annual rows (CBS's own annual averages) are all kept and told apart by ``frequency``.
    """
    missing = [column for column in series.values() if column not in data.columns]
    if missing:
        raise KeyError(f"{table_id}: topic column(s) {missing} not in the table (columns: {data.columns})")
    calendar = cbs_periods(periods, table_id=table_id)
    for dimension, keep in (totals or {}).items():
        data = data.filter(at_total(dimension, keep))
    long = (
        data.select(pl.col(time_dimension).str.strip_chars().alias("period_key"), *series.values())
        .unpivot(index="period_key", on=list(series.values()), variable_name="_topic", value_name="value")
        .with_columns(
            pl.col("_topic").replace_strict({topic: name for name, topic in series.items()}).alias("series"),
            pl.col("value").cast(pl.Float64),
        )
    )
    joined = long.join(calendar, on="period_key", how="left", validate="m:1")
    unknown = joined.filter(pl.col("period_start").is_null())["period_key"].unique().sort().to_list()
    if unknown:
        raise KeyError(f"{table_id}: period keys in the data but not in the {time_dimension} dimension: {unknown[:10]}")
    return (
        joined.with_columns(pl.lit(unit).alias("unit"), pl.lit(table_id).alias("source_table"))
        .select(list(SERIES_SCHEMA))
        .cast(SERIES_SCHEMA)
        .sort("series", "frequency", "period_start")
    )
