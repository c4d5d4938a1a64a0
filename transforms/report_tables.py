"""The indicator report's tables: what each chart of ``werkregio report`` draws, shaped from the warehouse's views.

Pure: frames from ``v_region_indicators`` (one view and geography year), ``v_national_series`` and
``v_analyses`` in, small frames out. A region's value is shown only where its figure is
``complete``; every other region keeps its row with a ``status`` that says why it has no value
(incomplete, with how many municipalities reported, or no figure at all), so no chart can draw a
partial sum as if it were the region's figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from transforms.regions import UNASSIGNED_REGION

#: The evaluation's periods, as (base year, year) of a growth.
PERIODS = ((2008, 2009), (2010, 2011), (2012, 2014), (2009, 2014))

COMPLETE, INCOMPLETE, NO_FIGURE = "complete", "incomplete", "no figure"

REGION_FIGURE_SCHEMA = {
    "area_code": pl.String,
    "area_name": pl.String,
    "label": pl.String,
    "value": pl.Float64,
    "category": pl.String,
    "status": pl.String,
    "detail": pl.String,
    "sources": pl.String,
}


def region_list(indicators: pl.DataFrame, year: int) -> pl.DataFrame:
    """The regions of the geography: area_code, area_name, label ('AM01 Groningen'), sorted by code.

    Read from the ``municipalities`` indicator of ``year`` (every region of the composition has
    one); AM99 'Niet in te delen' is no region and left out.
    """
    regions = (
        indicators.filter(
            (pl.col("indicator") == "municipalities")
            & (pl.col("area_type") == "region")
            & (pl.col("year") == year)
            & (pl.col("area_code") != UNASSIGNED_REGION)
        )
        .select("area_code", "area_name")
        .unique("area_code")
        .sort("area_code")
    )
    return regions.with_columns((pl.col("area_code") + " " + pl.col("area_name").fill_null("")).str.strip_chars().alias("label"))


def _selected(indicators: pl.DataFrame, indicator: str, area_type: str, year: int, base_year: int | None) -> pl.DataFrame:
    base = pl.col("base_year").is_null() if base_year is None else pl.col("base_year") == base_year
    return indicators.filter(
        (pl.col("indicator") == indicator) & (pl.col("area_type") == area_type) & (pl.col("year") == year) & base
    )


def region_figure(
    indicators: pl.DataFrame, regions: pl.DataFrame, indicator: str, year: int, base_year: int | None = None
) -> pl.DataFrame:
    """One row per region of ``regions`` (``region_list``): its figure of ``indicator`` in ``year``
    (from ``base_year``, for a growth) where complete, else a null value.

    ``status``: complete | incomplete (a value over part of the region's municipalities, not shown)
    | no figure. ``detail`` says how many municipalities reported and the mart's ``note`` where it has
    one. Sorted for a bar chart: complete regions by value (highest first), then the others by code.
    """
    rows = _selected(indicators, indicator, "region", year, base_year)
    note = pl.col("note") if "note" in rows.columns else pl.lit(None, pl.String)
    picked = rows.select(
        "area_code",
        pl.when(pl.col("complete")).then(pl.col("value")).alias("value"),
        "category",
        pl.when(pl.col("complete") & pl.col("value").is_not_null())
        .then(pl.lit(COMPLETE))
        .when(pl.col("value").is_not_null())
        .then(pl.lit(INCOMPLETE))
        .otherwise(pl.lit(NO_FIGURE))
        .alias("status"),
        pl.concat_str(
            pl.when(~pl.col("complete") & pl.col("municipalities").is_not_null()).then(
                pl.format("{} of {} municipalities reported", pl.col("reporting").fill_null(0), pl.col("municipalities"))
            ),
            note,
            separator="; ",
            ignore_nulls=True,
        ).alias("detail"),
        "sources",
    )
    joined = regions.join(picked, on="area_code", how="left").with_columns(
        pl.col("status").fill_null(NO_FIGURE),
        pl.when(pl.col("status").is_null()).then(pl.lit("no row in the warehouse")).otherwise(pl.col("detail")).alias("detail"),
    )
    joined = joined.with_columns(pl.when(pl.col("detail") == "").then(None).otherwise(pl.col("detail")).alias("detail"))
    ordered = joined.sort(pl.col("value").is_null(), pl.col("value"), pl.col("area_code"), descending=[False, True, False])
    return ordered.select(list(REGION_FIGURE_SCHEMA)).cast(REGION_FIGURE_SCHEMA)


def national_figure(indicators: pl.DataFrame, indicator: str, year: int, base_year: int | None = None) -> float | None:
    """The country's complete figure of ``indicator`` in ``year`` (from ``base_year``); None without one."""
    rows = _selected(indicators, indicator, "country", year, base_year).filter(pl.col("complete") & pl.col("value").is_not_null())
    return float(rows["value"][0]) if rows.height else None


def registered_share_range(indicators: pl.DataFrame, regions: pl.DataFrame, year: int) -> pl.DataFrame:
    """Per region: its WWB-registered share with the lowest and highest municipal share (and where),
    complete regions only carrying values; sorted as :func:`region_figure`."""
    share = region_figure(indicators, regions, "wwb_registered_share", year)
    low = region_figure(indicators, regions, "wwb_registered_share_min", year).select(
        "area_code", pl.col("value").alias("low"), pl.col("category").alias("low_at")
    )
    high = region_figure(indicators, regions, "wwb_registered_share_max", year).select(
        "area_code", pl.col("value").alias("high"), pl.col("category").alias("high_at")
    )
    return share.join(low, on="area_code", how="left").join(high, on="area_code", how="left", maintain_order="left")


def portal_bands(indicators: pl.DataFrame, year: int, bands: Sequence[str]) -> pl.DataFrame:
    """The evaluation's table 1: regions per band of portal share in ``year`` (band, regions, complete), in band order."""
    rows = _selected(indicators, "regions_by_portal_share", "country", year, None).select(
        pl.col("category").alias("band"), pl.col("value").alias("regions"), "complete"
    )
    order = pl.DataFrame({"band": list(bands), "_order": range(len(bands))})
    return order.join(rows, on="band", how="inner").sort("_order").drop("_order")


def latest_year(indicators: pl.DataFrame, indicator: str, up_to: int) -> int | None:
    """The latest year up to ``up_to`` in which a region has a complete figure of ``indicator``; else the latest with any row."""
    rows = indicators.filter(
        (pl.col("indicator") == indicator) & (pl.col("area_type") == "region") & (pl.col("year") <= up_to)
    )
    if rows.height == 0:
        return None
    complete = rows.filter(pl.col("complete") & pl.col("value").is_not_null())
    return int((complete if complete.height else rows)["year"].max())


def coverage(indicators: pl.DataFrame, regions: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame:
    """Region x year status of each level indicator in ``names``: indicator, area_code, label, year, status, detail.

    Every region gets a row for every year in which any region has a row of the indicator.
    """
    out = []
    for name in names:
        years = sorted(
            indicators.filter((pl.col("indicator") == name) & (pl.col("area_type") == "region") & pl.col("base_year").is_null())[
                "year"
            ].unique()
        )
        for year in years:
            figure = region_figure(indicators, regions, name, year)
            out.append(figure.select(pl.lit(name).alias("indicator"), "area_code", "label", pl.lit(year, pl.Int32).alias("year"), "status", "detail"))
    schema = {"indicator": pl.String, "area_code": pl.String, "label": pl.String, "year": pl.Int32, "status": pl.String, "detail": pl.String}
    return pl.concat(out).sort("indicator", "year", "area_code") if out else pl.DataFrame(schema=schema)


def coverage_summary(grid: pl.DataFrame) -> pl.DataFrame:
    """Per indicator and year: regions, complete regions, and the others with why ('AM01 (3 of 23 ...)')."""
    return (
        grid.group_by("indicator", "year")
        .agg(
            pl.len().cast(pl.Int32).alias("regions"),
            (pl.col("status") == COMPLETE).sum().cast(pl.Int32).alias("complete"),
            pl.concat_str(
                pl.col("area_code"), pl.lit(" ("), pl.col("status"), pl.lit(": "), pl.col("detail").fill_null("-"), pl.lit(")")
            )
            .filter(pl.col("status") != COMPLETE)
            .sort()
            .str.join("; ")
            .alias("not_complete"),
        )
        .sort("indicator", "year")
    )


def correlation_matrix(analyses: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame:
    """The ``correlation`` rows of one (view, geography_year, year) as a full matrix: x, y, value, n, p_value, reason,
    both triangles (the table holds x before y), in the order of ``names``."""
    rows = analyses.filter(pl.col("analysis") == "correlation").select("x", "y", "value", "n", "p_value", "reason")
    mirrored = rows.select(pl.col("y").alias("x"), pl.col("x").alias("y"), "value", "n", "p_value", "reason")
    order = {name: i for i, name in enumerate(names)}
    full = pl.concat([rows, mirrored])
    return full.sort(
        pl.col("x").replace_strict(order, default=len(names)), pl.col("y").replace_strict(order, default=len(names))
    )
