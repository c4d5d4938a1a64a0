"""The coverage rule: every region figure is the figure of one fixed set of municipalities.

One mechanism for every count published per municipality (monthly WW and WWB benefits, an
annual count of recipients, ...), in three steps (``docs/indicators.md`` has the rule with a
worked example per kind of gap):

1. ``municipal_years``: per municipality and year, on the boundaries of that year, the yearly
   average of the count, or null unless the municipality has a figure for *every* period of the
   year (a month missing makes the whole year unknown for that municipality);
2. ``on_boundaries``: those yearly figures moved onto the municipalities of one geography year
   (``harmonise_counts``: a municipality that merged with, or received part of, an unknown one
   is unknown too);
3. on those municipalities (the *units*), a region's level sums the units with a figure
   (``transforms.regions.region_totals``; null when none has one) and a growth compares the
   units with a figure in both years (``region_growth``: the same municipalities on both sides,
   null when there are none).

Because the set is fixed per year before anything is summed, a level never adds different
municipalities in different months, and a growth is always the growth of one set. ``reporting``
counts that set and ``complete`` says it is the whole region. ``sum_units`` adds two counts per
unit (WW + WWB) so that both parts cover the same municipalities.

Pure: frames and plain values in, frames out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import polars as pl

from transforms.geography import UnmappedMunicipalityError, harmonise_counts

PERIODS_PER_YEAR = {"month": 12, "quarter": 4, "year": 1}

#: What a municipality needs to count for a year, by the series' frequency (used in notes and methods).
EVERY_PERIOD = {"month": "every month of ", "quarter": "every quarter of ", "year": ""}

UNIT_SCHEMA = {"gm_code": pl.String, "year": pl.Int32, "value": pl.Float64, "approximate": pl.Boolean}
"""Yearly figures of municipalities on one geography's boundaries: key (gm_code, year)."""


def periods_per_year(frequency: str) -> int:
    if frequency not in PERIODS_PER_YEAR:
        raise ValueError(f"frequency must be one of {sorted(PERIODS_PER_YEAR)}, not {frequency!r}")
    return PERIODS_PER_YEAR[frequency]


def covered(frequency: str, years: str = "the year", what: str = "a figure") -> str:
    """'a figure for every month of the year', 'a figure for the year', 'a figure for every month of both years', ..."""
    periods_per_year(frequency)
    return f"{what} for {EVERY_PERIOD[frequency]}{years}"


def municipal_years(
    panel: pl.DataFrame, valid_codes: Mapping[int, Iterable[str]], *, frequency: str, years: Iterable[int]
) -> pl.DataFrame:
    """Yearly figures of one count series per municipality, each year on its own boundaries.

    ``panel``: one row per municipality per period (``gm_code``, ``period_start``, ``value``), as
    CBS publishes it: on the boundaries of 1 January of the period's year, ``frequency`` periods
    (``month``, ``quarter`` or ``year``). ``valid_codes``: year -> municipalities on 1 January.

    One row per municipality valid on 1 January of each of ``years`` per year; key (gm_code,
    year). ``value`` is the mean over the year's periods (for an annual series, the figure
    itself) when every period of the year has a figure, else null: a month without a figure, or
    without a row at all, makes the year unknown for that municipality rather than an average of
    fewer months. ``periods``: how many periods had a figure. A null for a code that was no
    municipality that year is no gap (CBS tables list every code for every period); a figure for
    one raises UnmappedMunicipalityError.
    """
    expected = periods_per_year(frequency)
    years = sorted(set(years))
    grid = pl.DataFrame(
        [(code, year) for year in years for code in sorted(valid_codes.get(year, ()))],
        schema={"gm_code": pl.String, "year": pl.Int32},
        orient="row",
    )
    figures = (
        panel.filter(pl.col("value").is_not_null())
        .with_columns(pl.col("period_start").dt.year().cast(pl.Int32).alias("year"))
        .filter(pl.col("year").is_in(years))
    )
    stray = figures.join(grid, on=["gm_code", "year"], how="anti").select("gm_code", "year").unique().sort("gm_code", "year")
    if stray.height:
        where = ", ".join(f"{code} in {year}" for code, year in stray.head(20).iter_rows())
        raise UnmappedMunicipalityError(
            stray["gm_code"].to_list(),
            f"have figures for a year in which they are no municipality on 1 January ({where}; "
            "sources/reference/municipalities.csv lists the municipalities of each year)",
        )
    per_year = figures.group_by("gm_code", "year").agg(
        pl.col("period_start").n_unique().cast(pl.Int32).alias("periods"), pl.col("value").cast(pl.Float64).mean()
    )
    return (
        grid.join(per_year, on=["gm_code", "year"], how="left")
        .with_columns(
            pl.col("periods").fill_null(0),
            pl.when(pl.col("periods") == expected).then(pl.col("value")).alias("value"),
        )
        .select("gm_code", "year", "value", "periods")
        .sort("year", "gm_code")
    )


def on_boundaries(
    yearly: pl.DataFrame, crosswalks: Callable[[int, int], pl.DataFrame], geography_year: int, years: Iterable[int]
) -> pl.DataFrame:
    """``municipal_years`` of ``years`` (each <= ``geography_year``) moved onto the municipalities of ``geography_year``.

    ``crosswalks``: (from_year, to_year) -> ``municipality_crosswalk``. Output ``UNIT_SCHEMA``:
    one row per municipality of ``geography_year`` per year; ``value`` null where any part of its
    territory is unknown that year (``harmonise_counts``); ``approximate`` where an estimated split
    share contributed.
    """
    years = sorted(set(years))
    if not years:
        return pl.DataFrame(schema=UNIT_SCHEMA)
    stacked = pl.concat([crosswalks(year, geography_year).with_columns(pl.lit(year, pl.Int32).alias("year")) for year in years])
    figures = yearly.filter(pl.col("year").is_in(years)).select("gm_code", pl.col("year").cast(pl.Int32), "value")
    moved = harmonise_counts(figures, stacked, crosswalk_by=["year"])
    return moved.select(list(UNIT_SCHEMA)).cast(UNIT_SCHEMA)


def sum_units(parts: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """The sum of several counts per unit and year (``UNIT_SCHEMA``): null unless every part has a figure there.

    Adding per municipality first makes a sum such as WW + WWB cover the same municipalities in
    both parts; its region level then counts the municipalities with every part.
    """
    frames = list(parts)
    total = frames[0].select("gm_code", "year", pl.col("value").alias("_sum"), pl.col("approximate").alias("_approx"))
    for frame in frames[1:]:
        total = total.join(frame, on=["gm_code", "year"], how="full", coalesce=True).select(
            "gm_code",
            "year",
            (pl.col("_sum") + pl.col("value")).alias("_sum"),
            (pl.col("_approx").fill_null(False) | pl.col("approximate").fill_null(False)).alias("_approx"),
        )
    return total.select("gm_code", "year", pl.col("_sum").alias("value"), pl.col("_approx").alias("approximate")).cast(UNIT_SCHEMA)


def region_growth(units: pl.DataFrame, members: pl.DataFrame, pairs: Iterable[tuple[int, int]]) -> pl.DataFrame:
    """Growth in % of each region from ``base_year`` to ``year``, over the municipalities with a figure in both.

    ``units``: ``UNIT_SCHEMA`` on the boundaries of ``members`` (gm_code, region_code,
    region_name: one geography year's composition). ``pairs``: (base_year, year).

    One row per region per pair: ``value`` = the growth of the total of the units with a figure in
    both years (the common set, the same municipalities on both sides), null when there is no
    common unit or their base total is 0; ``reporting`` = the common units; ``municipalities`` =
    the region's; ``complete`` when the common set is the whole region; ``approximate`` when an
    estimated split share contributed to a common unit.
    """
    pairs_frame = pl.DataFrame(sorted(set(pairs)), schema={"base_year": pl.Int32, "year": pl.Int32}, orient="row")
    now = units.select("gm_code", "year", "value", "approximate")
    then = units.select(
        "gm_code", pl.col("year").alias("base_year"), pl.col("value").alias("_base"), pl.col("approximate").alias("_base_approx")
    )
    grid = members.select("gm_code", "region_code", "region_name").join(pairs_frame, how="cross")
    joined = grid.join(now, on=["gm_code", "year"], how="left").join(then, on=["gm_code", "base_year"], how="left")
    common = pl.col("value").is_not_null() & pl.col("_base").is_not_null()
    return (
        joined.group_by("region_code", "region_name", "base_year", "year")
        .agg(
            pl.col("value").filter(common).sum().alias("_now"),
            pl.col("_base").filter(common).sum().alias("_then"),
            pl.len().cast(pl.Int32).alias("municipalities"),
            common.sum().cast(pl.Int32).alias("reporting"),
            (pl.col("approximate") | pl.col("_base_approx")).filter(common).any().alias("approximate"),
        )
        .with_columns(
            pl.when((pl.col("reporting") > 0) & (pl.col("_then") != 0))
            .then((pl.col("_now") / pl.col("_then") - 1) * 100)
            .alias("value"),
            (pl.col("reporting") == pl.col("municipalities")).alias("complete"),
            pl.col("approximate").fill_null(False),
        )
        .drop("_now", "_then")
        .sort("region_code", "base_year", "year")
    )


def level_note(frequency: str, what: str = "a figure") -> pl.Expr:
    """Why a level is null or not the region total (null when complete), from value, reporting and municipalities."""
    every = covered(frequency, what=what)
    return (
        pl.when(pl.col("complete"))
        .then(None)
        .when(pl.col("value").is_null())
        .then(pl.lit(f"no municipality has {every}"))
        .otherwise(
            pl.format(
                "{} of {} municipalities have {}: the value is their total, not the region's",
                "reporting",
                "municipalities",
                pl.lit(every),
            )
        )
    )


def growth_note(frequency: str, what: str = "a figure") -> pl.Expr:
    """Why a growth is null or not the region's (null when complete)."""
    every = covered(frequency, "both years", what)
    return (
        pl.when(pl.col("complete") & pl.col("value").is_not_null())
        .then(None)
        .when(pl.col("reporting") == 0)
        .then(pl.lit(f"no municipality has {every}"))
        .when(pl.col("value").is_null())
        .then(pl.lit("the base year's total of the municipalities compared is 0"))
        .otherwise(
            pl.format(
                "growth of the {} of {} municipalities with {} (the same municipalities in both years), not of the region",
                "reporting",
                "municipalities",
                pl.lit(every),
            )
        )
    )
