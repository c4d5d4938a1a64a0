"""Tidy regional series from CBS tables with a region dimension: the facts behind the indicators."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from transforms.periods import cbs_periods
from transforms.series import at_total

REGIONAL_SCHEMA = {
    "series": pl.String,
    "area_type": pl.String,
    "area_code": pl.String,
    "frequency": pl.String,
    "period_start": pl.Date,
    "period_key": pl.String,
    "value": pl.Float64,
    "unit": pl.String,
    "provisional": pl.Boolean,
    "geography_year": pl.Int32,
    "source_table": pl.String,
}

#: The published ``regional_series``: the series of every table, with each area's name (:func:`name_areas`).
REGIONAL_SERIES_SCHEMA = {
    **{k: v for k, v in REGIONAL_SCHEMA.items() if k in ("series", "area_type", "area_code")},
    "area_name": pl.String,
    **{k: v for k, v in REGIONAL_SCHEMA.items() if k not in ("series", "area_type", "area_code")},
}

AREA_TYPES = {"GM": "municipality", "AM": "region", "NL": "country"}
KEY = ("series", "area_type", "area_code", "frequency", "period_start", "source_table")


class DimensionTotalError(ValueError):
    """A table lacks the total category the catalog says to keep."""


def regional_series(
    data: pl.DataFrame,
    *,
    series: Mapping[str, str],
    unit: str,
    table_id: str,
    region_dimension: str,
    totals: Mapping[str, str],
    periods: pl.DataFrame | None = None,
    time_dimension: str | None = None,
    period_year: int | None = None,
    geography_year: int | None = None,
) -> pl.DataFrame:
    """One row per series per municipality, region or country per period. Key: ``KEY``.

    ``data`` is a landed TypedDataSet. Rows of other dimensions are restricted to the total
    category ``totals[dimension]`` (e.g. Geslacht T001038, Leeftijd 10000), so each figure is
    the all-persons figure. Areas other than municipalities (GM, code as 4 digits), labour-market
    regions (AM) and the country (NL01) are dropped.

    ``geography_year`` is the year whose boundaries the figures are on: given for tables that
    CBS publishes on one classification (the regional labour-force editions), otherwise the year
    of each period (CBS publishes each period on the municipalities of 1 January of its year).
    A table without a time dimension is one year, ``period_year``.
    """
    other = [c for c in data.columns if c not in (region_dimension, time_dimension, "ID", *series.values())]
    dimensions = [c for c in other if data.schema[c] == pl.String and c in totals]
    unknown = [c for c in other if data.schema[c] == pl.String and c not in totals and c not in series.values()]
    if unknown:
        raise DimensionTotalError(f"{table_id}: no total category declared for dimension(s) {unknown} (sources/cbs/catalog.py)")
    frame = data
    for dimension in dimensions:
        keep = totals[dimension]
        if keep not in set(frame[dimension].str.strip_chars().unique()):
            raise DimensionTotalError(f"{table_id}: dimension {dimension} has no category {keep!r} to keep")
        frame = frame.filter(at_total(dimension, keep))
    region = pl.col(region_dimension).str.strip_chars()
    prefix = region.str.slice(0, 2)
    frame = frame.with_columns(
        prefix.replace_strict(AREA_TYPES, default=None).alias("area_type"),
        pl.when(prefix == "GM").then(region.str.slice(2)).otherwise(region).alias("area_code"),
    ).filter(pl.col("area_type").is_not_null())

    if time_dimension is not None:
        if periods is None:
            raise ValueError(f"{table_id}: periods are needed with a time dimension")
        calendar = cbs_periods(periods, table_id=table_id)
        frame = frame.with_columns(pl.col(time_dimension).str.strip_chars().alias("period_key")).join(
            calendar, on="period_key", how="left", validate="m:1"
        )
        missing = frame.filter(pl.col("period_start").is_null())["period_key"].unique().sort().to_list()
        if missing:
            raise KeyError(f"{table_id}: period keys not in the {time_dimension} dimension: {missing[:10]}")
    else:
        if period_year is None:
            raise ValueError(f"{table_id}: a table without a time dimension needs period_year")
        frame = frame.with_columns(
            pl.lit(f"{period_year}JJ00").alias("period_key"),
            pl.date(period_year, 1, 1).alias("period_start"),
            pl.lit("year").alias("frequency"),
            pl.lit(False).alias("provisional"),
        )
    geography = pl.lit(geography_year) if geography_year is not None else pl.col("period_start").dt.year()
    long = frame.unpivot(
        index=["area_type", "area_code", "period_key", "period_start", "frequency", "provisional"],
        on=list(series.values()),
        variable_name="_topic",
        value_name="value",
    )
    out = long.with_columns(
        pl.col("_topic").replace_strict({topic: name for name, topic in series.items()}).alias("series"),
        pl.col("value").cast(pl.Float64),
        pl.lit(unit).alias("unit"),
        geography.cast(pl.Int32).alias("geography_year"),
        pl.lit(table_id).alias("source_table"),
    ).select(list(REGIONAL_SCHEMA))
    duplicated = out.filter(pl.struct(list(KEY)).is_duplicated())
    if duplicated.height:
        example = duplicated.head(3).select(list(KEY)).to_dicts()
        raise ValueError(f"{table_id}: more than one figure per series, area and period after keeping totals: {example}")
    return out.cast(REGIONAL_SCHEMA).sort(list(KEY))


def combine_regional(frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """All regional series of a build in one frame (sources kept apart by ``source_table``)."""
    return pl.concat(frames).sort(list(KEY)) if frames else pl.DataFrame(schema=REGIONAL_SCHEMA)


def name_areas(regional: pl.DataFrame, membership: pl.DataFrame) -> pl.DataFrame:
    """``regional`` with ``area_name``: each area's name in its figure's geography year. Schema: ``REGIONAL_SERIES_SCHEMA``.

    Names come from ``membership`` (``region_memberships``: CBS 'Gebieden in Nederland' per year), so they
    are the names the indicators give the same code and year: a municipality's ``gm_name``, a region's
    ``region_name``; the country is Nederland. Where no edition of the geography year is loaded, or it does
    not list the code, the name is null: another year's name (or another source's spelling) could be wrong.
    """
    municipalities = membership.select(
        pl.lit("municipality").alias("area_type"), pl.col("gm_code").alias("area_code"), pl.col("year").alias("geography_year"),
        pl.col("gm_name").alias("area_name"),
    )
    regions = membership.select(
        pl.lit("region").alias("area_type"), pl.col("region_code").alias("area_code"), pl.col("year").alias("geography_year"),
        pl.col("region_name").alias("area_name"),
    ).unique()
    names = pl.concat([municipalities, regions]).cast({"geography_year": pl.Int32})
    duplicated = names.filter(names.select("area_type", "area_code", "geography_year").is_duplicated())
    if duplicated.height:
        raise ValueError(f"more than one name for an area in a year: {duplicated.sort('area_code').head(4).to_dicts()}")
    named = regional.join(names, on=["area_type", "area_code", "geography_year"], how="left", validate="m:1")
    country = pl.when(pl.col("area_type") == "country").then(pl.lit("Nederland")).otherwise(pl.col("area_name"))
    return named.with_columns(country.alias("area_name")).select(list(REGIONAL_SERIES_SCHEMA)).cast(REGIONAL_SERIES_SCHEMA)
