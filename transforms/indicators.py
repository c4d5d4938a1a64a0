"""Region indicators of the 2015 SUWI evaluation, recomputed on consistent boundaries.

Grain of the mart (``INDICATOR_SCHEMA``): one row per indicator per area per year (and base
year for growth, and category for banded counts), for one geography year and one view:

* ``view = 'harmonised'``: municipal figures of every year Y <= R moved to the boundaries of the
  reference year R and summed with R's region composition (``geography_year = R``);
* ``view = 'as_published'``: each year on its own boundaries and region composition
  (``geography_year = Y``); only years with a CBS region composition (2014 on). A growth lies on
  the later year's boundaries and composition, the base year's figures moved onto them.

Every region figure follows one coverage rule (``transforms.coverage``, ``docs/indicators.md``):
it is the figure of a fixed set of municipalities, those with a figure for every period of the
year (of both years, for a growth). ``reporting`` counts them, ``complete`` says they are the
whole region, ``note`` says why a value is null or not the region's. A combination of indicators
has a value only where every part has one over the same municipalities. ``area_type`` is
``region``, ``country``, ``municipality`` or ``unassigned`` (AM99 'Niet in te delen', no region).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from transforms.coverage import (
    covered,
    growth_note,
    level_note,
    municipal_years,
    on_boundaries,
    periods_per_year,
    region_growth,
    sum_units,
)
from transforms.geography import crosswalks as crosswalks_of, harmonise_counts
from transforms.regions import UNASSIGNED_REGION, region_totals

INDICATOR_SCHEMA = {
    "indicator": pl.String,
    "area_type": pl.String,
    "area_code": pl.String,
    "area_name": pl.String,
    "year": pl.Int32,
    "base_year": pl.Int32,
    "category": pl.String,
    "value": pl.Float64,
    "unit": pl.String,
    "view": pl.String,
    "geography_year": pl.Int32,
    "municipalities": pl.Int32,
    "reporting": pl.Int32,
    "complete": pl.Boolean,
    "approximate": pl.Boolean,
    "method": pl.String,
    "sources": pl.String,
    "note": pl.String,
}
INDICATOR_KEY = ("indicator", "area_type", "area_code", "year", "base_year", "category", "view", "geography_year")

SPREAD_SCHEMA = {
    "indicator": pl.String,
    "year": pl.Int32,
    "base_year": pl.Int32,
    "category": pl.String,
    "view": pl.String,
    "geography_year": pl.Int32,
    "regions": pl.Int32,
    "complete_regions": pl.Int32,
    "min": pl.Float64,
    "mean": pl.Float64,
    "max": pl.Float64,
    "min_regions": pl.String,
    "max_regions": pl.String,
}

#: Indicators whose ``category`` labels a region's own value (its band, the municipality at its
#: extreme) rather than dividing the indicator: their spread across regions ignores it.
LABEL_CATEGORIES = frozenset({"tension_ratio", "portal_share", "wwb_registered_share_min", "wwb_registered_share_max"})

#: UWV's spanningsindicator typology: vacancies per WW recipient, upper bounds of each band.
TENSION_BANDS = ((0.25, "zeer ruim"), (0.67, "ruim"), (1.5, "gemiddeld"), (4.0, "krap"), (float("inf"), "zeer krap"))
#: The 2015 evaluation's table 1: share of municipalities connected to the UWV portal.
PORTAL_BANDS = ("0%", "1-25%", "26-50%", "51-75%", "76-99%", "100%")

THOUSANDS = {"x 1 000": 1000.0, "aantal": 1.0}
UWV_SOURCE = "UWV register file"

Crosswalks = Callable[[int, int], pl.DataFrame]
"""(from_year, to_year) -> the ``municipality_crosswalk`` between those boundaries (change table and valid codes bound)."""


@dataclass(frozen=True)
class MunicipalCount:
    """A count CBS publishes per municipality that adds up to regions: an indicator with levels and growth.

    ``series``: its name in the regional facts (``regional_series``) and, for the country rows,
    in the national series; ``frequency`` of the municipal figures (``month``, ``quarter`` or
    ``year``); ``what`` it counts, for the method text. The tables it comes from are the
    caller's (``sources/cbs/catalog.py``: ``BENEFIT_SOURCES``, by series).
    """

    indicator: str
    series: str
    frequency: str
    what: str
    unit: str = "aantal"

    def __post_init__(self) -> None:
        periods_per_year(self.frequency)


#: The municipal counts of the mart. Another one (an annual count of recipients, say) is one line
#: here and its tables in the catalog's ``BENEFIT_SOURCES``.
MUNICIPAL_COUNTS: tuple[MunicipalCount, ...] = (
    MunicipalCount("ww_benefits", "ww", "month", "persons with a WW benefit"),
    MunicipalCount("wwb_benefits", "wwb", "month", "WWB (bijstand) benefits"),
)

#: Sums of municipal counts, added per municipality so that every part covers the same municipalities.
COUNT_SUMS: Mapping[str, tuple[str, ...]] = {"ww_wwb_benefits": ("ww_benefits", "wwb_benefits")}


def _scale(unit: str) -> float:
    if unit not in THOUSANDS:
        raise ValueError(f"no conversion to counts for unit {unit!r}")
    return THOUSANDS[unit]


def _finish(frame: pl.DataFrame) -> pl.DataFrame:
    for column, dtype in INDICATOR_SCHEMA.items():
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype).alias(column))
    return frame.select(list(INDICATOR_SCHEMA)).cast(INDICATOR_SCHEMA)


def region_area_type(code: pl.Expr) -> pl.Expr:
    """``region``, or ``unassigned`` for AM99 'Niet in te delen' (2019-2020): municipalities CBS assigned to no region."""
    return pl.when(code == UNASSIGNED_REGION).then(pl.lit("unassigned")).otherwise(pl.lit("region"))


def _region_rows(frame: pl.DataFrame, indicator: str, *, unit: str, method: str, sources: str | pl.Expr, **columns: pl.Expr) -> pl.DataFrame:
    """Label rows keyed by ``region_code``/``region_name`` as region rows of ``indicator``."""
    return _finish(
        frame.with_columns(
            pl.lit(indicator).alias("indicator"),
            region_area_type(pl.col("region_code")).alias("area_type"),
            pl.col("region_code").alias("area_code"),
            pl.col("region_name").alias("area_name"),
            pl.lit(unit).alias("unit"),
            pl.lit(method).alias("method"),
            (sources if isinstance(sources, pl.Expr) else pl.lit(sources)).alias("sources"),
            **columns,
        )
    )


def pick_sources(regional: pl.DataFrame, series: str, precedence: Sequence[str], frequency: str = "month") -> pl.DataFrame:
    """Municipal figures of one series, one source per municipality and period.

    Where several CBS tables publish the same municipality and period, the first table in
    ``precedence`` wins (newer tables first: they carry CBS's revisions); a table's null does not
    win over another table's figure.
    """
    rank = {table: i for i, table in enumerate(precedence)}
    rows = regional.filter(
        (pl.col("series") == series)
        & (pl.col("area_type") == "municipality")
        & (pl.col("frequency") == frequency)
        & pl.col("source_table").is_in(list(precedence))
    )
    return (
        rows.with_columns(pl.col("source_table").replace_strict(rank, return_dtype=pl.Int32).alias("_rank"))
        .sort(pl.col("value").is_null(), "_rank")
        .unique(["area_code", "period_start"], keep="first", maintain_order=True)
        .drop("_rank")
        .sort("area_code", "period_start")
    )


@dataclass(frozen=True)
class _Count:
    """One municipal count or sum of counts, ready for every scenario."""

    indicator: str
    frequency: str
    unit: str
    summed: str
    """What is summed, for the method text ('persons with a WW benefit', 'ww_benefits + wwb_benefits per municipality')."""
    what: str
    """What a municipality needs to be counted, for notes ('a figure', 'ww_benefits and wwb_benefits figures')."""
    sources: str
    series: str | None
    """Its series in the regional and national facts; None for a sum."""
    yearly: pl.DataFrame | None
    """``municipal_years`` of a count; None for a sum (formed from its parts' units)."""
    parts: tuple[str, ...] = ()


def _counts(
    regional: pl.DataFrame,
    sources: Mapping[str, Sequence[str]],
    valid_codes: Mapping[int, frozenset[str]],
    counts: Sequence[MunicipalCount],
) -> dict[str, _Count]:
    """Indicator -> its municipal yearly figures (every year of ``valid_codes``), for the counts whose series has sources."""
    out: dict[str, _Count] = {}
    for count in counts:
        if count.series not in sources:
            continue
        picked = pick_sources(regional, count.series, sources[count.series], count.frequency)
        used = sorted(picked.filter(pl.col("value").is_not_null())["source_table"].unique()) or list(sources[count.series])
        panel = picked.select(pl.col("area_code").alias("gm_code"), "period_start", "value")
        out[count.indicator] = _Count(
            indicator=count.indicator,
            frequency=count.frequency,
            unit=count.unit,
            summed=count.what,
            what="a figure",
            sources=",".join(used),
            series=count.series,
            yearly=municipal_years(panel, valid_codes, frequency=count.frequency, years=valid_codes),
        )
    for name, parts in COUNT_SUMS.items():
        if all(part in out for part in parts):
            frequencies = {out[part].frequency for part in parts}
            if len(frequencies) != 1:
                raise ValueError(f"{name}: its parts {parts} have different frequencies {sorted(frequencies)}")
            sources_of = sorted({table for part in parts for table in out[part].sources.split(",") if table})
            out[name] = _Count(
                indicator=name,
                frequency=frequencies.pop(),
                unit=out[parts[0]].unit,
                summed=f"{' + '.join(parts)} per municipality",
                what=f"{' and '.join(parts)} figures",
                sources=",".join(sources_of),
                series=None,
                yearly=None,
                parts=parts,
            )
    return out


def _national_years(national: pl.DataFrame, series: str, frequency: str) -> pl.DataFrame:
    """The country's yearly average of a national series: year, value (null unless every period of the year has a figure), complete, note."""
    expected = periods_per_year(frequency)
    rows = national.filter((pl.col("series") == series) & (pl.col("frequency") == frequency))
    if rows.height == 0:
        return pl.DataFrame(schema={"year": pl.Int32, "value": pl.Float64, "complete": pl.Boolean, "note": pl.String})
    scale = _scale(rows["unit"][0])
    return (
        rows.group_by(pl.col("period_start").dt.year().cast(pl.Int32).alias("year"))
        .agg(pl.col("value").is_not_null().sum().alias("_periods"), pl.col("value").mean())
        .with_columns(
            pl.when(pl.col("_periods") == expected).then(pl.col("value") * scale).alias("value"),
            (pl.col("_periods") == expected).alias("complete"),
            pl.when(pl.col("_periods") != expected)
            .then(pl.format("the national series has a figure for {} of the {} periods of the year", "_periods", pl.lit(expected)))
            .alias("note"),
        )
        .drop("_periods")
        .sort("year")
    )


def count_indicators(
    regional: pl.DataFrame,
    national: pl.DataFrame,
    membership: pl.DataFrame,
    changes: pl.DataFrame,
    valid_codes: Mapping[int, frozenset[str]],
    *,
    sources: Mapping[str, Sequence[str]],
    national_sources: Mapping[str, str],
    reference_year: int,
    view: str,
    counts: Sequence[MunicipalCount] = MUNICIPAL_COUNTS,
) -> pl.DataFrame:
    """Levels and growth of the municipal counts (and their sums) per region and for the country, for one scenario.

    ``sources`` maps a count's series to its municipal tables in precedence order; the country
    rows come from the national series (``national_sources`` maps series to its table).
    ``valid_codes`` (year -> municipalities on 1 January) sets the years: harmonised, those up
    to the reference year; as published, those with a region composition.
    """
    return _count_indicators(
        _counts(regional, sources, valid_codes, counts),
        national,
        membership,
        crosswalks_of(changes, valid_codes),
        years=sorted(valid_codes),
        national_sources=national_sources,
        reference_year=reference_year,
        view=view,
    )


def _count_indicators(
    counts: Mapping[str, _Count],
    national: pl.DataFrame,
    membership: pl.DataFrame,
    crosswalks: Crosswalks,
    *,
    years: Sequence[int],
    national_sources: Mapping[str, str],
    reference_year: int,
    view: str,
) -> pl.DataFrame:
    """``count_indicators`` from the prepared counts (``_counts``), for every year of ``years`` in scope.

    Harmonised: one geography, the reference year: every year up to it is moved onto it. As
    published: for each year with a region composition, that year's level on its own geography,
    and its growth from every earlier such year with the earlier figures moved onto it.
    """
    composed = sorted(int(year) for year in membership["year"].unique())
    if view == "harmonised":
        scope = [year for year in years if year <= reference_year]
        geographies = {reference_year: (scope, scope)} if reference_year in composed else {}
    else:
        scope = [year for year in years if year in composed]
        geographies = {year: ([year], [y for y in scope if y <= year]) for year in scope}
    rows = []
    for geography, (level_years, compared) in geographies.items():
        members = membership.filter(pl.col("year") == geography).select("gm_code", "region_code", "region_name")
        units: dict[str, pl.DataFrame] = {}
        for name, count in counts.items():
            units[name] = (
                sum_units(units[part] for part in count.parts)
                if count.parts
                else on_boundaries(count.yearly, crosswalks, geography, compared)
            )
        pairs = [(base, year) for year in level_years for base in compared if base < year]
        for name, count in counts.items():
            levels = region_totals(
                units[name].filter(pl.col("year").is_in(level_years)), membership, view=view, geography_year=geography, by=["year"]
            )
            rows.append(
                levels.with_columns(
                    pl.lit(name).alias("indicator"),
                    pl.lit(count.unit).alias("unit"),
                    pl.lit(_level_method(count, view)).alias("method"),
                    level_note(count.frequency, count.what).alias("note"),
                    pl.lit(count.sources).alias("sources"),
                )
            )
            if pairs:
                rows.append(
                    region_growth(units[name], members, pairs).with_columns(
                        pl.lit(f"{name}_growth").alias("indicator"),
                        pl.lit("%").alias("unit"),
                        pl.lit(_growth_method(count, view)).alias("method"),
                        growth_note(count.frequency, count.what).alias("note"),
                        pl.lit(count.sources).alias("sources"),
                        pl.lit(view).alias("view"),
                        pl.lit(geography, pl.Int32).alias("geography_year"),
                    )
                )
    out = _country_rows(counts, national, national_sources, reference_year=reference_year, view=view)
    if rows:
        regions = pl.concat(rows, how="diagonal_relaxed")
        out.append(
            _finish(
                regions.with_columns(
                    region_area_type(pl.col("region_code")).alias("area_type"),
                    pl.col("region_code").alias("area_code"),
                    pl.col("region_name").alias("area_name"),
                )
            )
        )
    return pl.concat(out) if out else _finish(pl.DataFrame())


def _level_method(count: _Count, view: str) -> str:
    average = {"month": "monthly average per year of ", "quarter": "quarterly average per year of ", "year": ""}[count.frequency]
    where = (
        "every year moved onto the municipalities and region composition of geography_year"
        if view == "harmonised"
        else "on the municipalities and region composition of the year itself"
    )
    return f"{average}the sum of {count.summed} over the region's municipalities with {covered(count.frequency)}; {where}"


def _growth_method(count: _Count, view: str) -> str:
    where = (
        "both years on the municipalities and region composition of geography_year"
        if view == "harmonised"
        else "both years on the municipalities and region composition of the later year (geography_year), the base year's figures moved onto them"
    )
    return (
        f"growth in % from base_year to year of the total of {count.summed} over the region's municipalities with "
        f"{covered(count.frequency, 'both years')} (the same municipalities in both years); {where}"
    )


def _country_rows(
    counts: Mapping[str, _Count], national: pl.DataFrame, national_sources: Mapping[str, str], *, reference_year: int, view: str
) -> list[pl.DataFrame]:
    """Country levels and growth of each count from the national series (a sum: of its parts' national figures)."""
    yearly: dict[str, pl.DataFrame] = {}
    tables: dict[str, str] = {}
    for name, count in counts.items():
        if not count.parts:
            rows = _national_years(national, count.series, count.frequency)
            if rows.height:
                yearly[name], tables[name] = rows, national_sources.get(count.series, "")
        elif all(part in yearly for part in count.parts):
            joined = pl.concat([yearly[part].select("year", pl.col("value").alias(part)) for part in count.parts], how="align")
            known = pl.all_horizontal(pl.col(part).is_not_null() for part in count.parts)
            yearly[name] = joined.select(
                "year",
                pl.when(known).then(pl.sum_horizontal(count.parts)).alias("value"),
                known.alias("complete"),
                pl.when(~known).then(pl.lit(f"no national figure of {' and '.join(count.parts)} for every period of the year")).alias("note"),
            )
            tables[name] = ",".join(sorted({table for part in count.parts for table in tables[part].split(",") if table}))
    out = []
    for name, rows in yearly.items():
        if view == "harmonised":
            rows = rows.filter(pl.col("year") <= reference_year)
        common = {
            "area_type": pl.lit("country"),
            "area_code": pl.lit("NL01"),
            "area_name": pl.lit("Nederland"),
            "view": pl.lit(view),
            "geography_year": (pl.lit(reference_year) if view == "harmonised" else pl.col("year")).cast(pl.Int32),
            "approximate": pl.lit(False),
            "sources": pl.lit(tables[name]),
        }
        what = "the national series" if not counts[name].parts else " + ".join(counts[name].parts)
        out.append(
            _finish(
                rows.with_columns(
                    pl.lit(name).alias("indicator"),
                    pl.lit(counts[name].unit).alias("unit"),
                    pl.lit(f"yearly average of {what} of the country").alias("method"),
                    **common,
                )
            )
        )
        base = rows.select(pl.col("year").alias("base_year"), pl.col("value").alias("_base"), pl.col("complete").alias("_base_complete"))
        pairs = rows.join(base, how="cross").filter(pl.col("base_year") < pl.col("year"))
        out.append(
            _finish(
                pairs.with_columns(
                    pl.lit(f"{name}_growth").alias("indicator"),
                    pl.when(pl.col("_base") != 0).then((pl.col("value") / pl.col("_base") - 1) * 100).alias("value"),
                    pl.lit("%").alias("unit"),
                    (pl.col("complete") & pl.col("_base_complete")).alias("complete"),
                    pl.lit(f"growth in % from base_year to year of the yearly averages of {what} of the country").alias("method"),
                    pl.when(pl.col("value").is_null() | pl.col("_base").is_null())
                    .then(pl.lit("no national figure for every period of both years"))
                    .when(pl.col("_base") == 0)
                    .then(pl.lit("the base year's figure is 0"))
                    .alias("note"),
                    **common,
                )
            )
        )
    return out


def labour_force(
    regional: pl.DataFrame,
    membership: pl.DataFrame,
    *,
    reference_year: int,
    view: str,
    crosswalks: Crosswalks | None = None,
) -> pl.DataFrame:
    """Labour force per region and for the country per year, from CBS's regional editions.

    Each edition ('Arbeidsdeelname; regionale indeling G') gives every year up to G on the
    boundaries of G. As published: for year Y the edition of Y. Harmonised to R: the edition of
    R; without one, the latest earlier edition E, its municipal figures moved from E to R with
    ``crosswalks``. A region figure is CBS's own region row where the edition of R has one,
    otherwise the sum of the municipal figures with the composition of R.
    """
    rows = regional.filter((pl.col("series") == "labour_force") & (pl.col("frequency") == "year"))
    editions = sorted(rows["geography_year"].unique().to_list())
    if view == "harmonised":
        earlier = [e for e in editions if e <= reference_year]
        editions = earlier[-1:]
    out = []
    for source_geography in editions:
        geography = reference_year if view == "harmonised" else source_geography
        edition = rows.filter(pl.col("geography_year") == source_geography).with_columns(
            pl.col("period_start").dt.year().cast(pl.Int32).alias("year"),
            (pl.col("value") * pl.col("unit").replace_strict(THOUSANDS, return_dtype=pl.Float64)).alias("value"),
        )
        if view == "as_published":
            edition = edition.filter(pl.col("year") == geography)
        if edition.height == 0:
            continue
        if source_geography != geography:
            if crosswalks is None:
                raise ValueError(f"labour force: moving edition {source_geography} to {geography} needs the crosswalks")
            moved = harmonise_counts(
                edition.filter(pl.col("area_type") == "municipality").select(pl.col("area_code").alias("gm_code"), "year", "value"),
                crosswalks(source_geography, geography),
                by=["year"],
            )
            edition = pl.concat(
                [
                    edition.filter(pl.col("area_type") == "country"),
                    moved.select(
                        pl.lit("municipality").alias("area_type"), pl.col("gm_code").alias("area_code"), "year", "value", "approximate"
                    ).with_columns(pl.lit(edition["source_table"][0]).alias("source_table")),
                ],
                how="diagonal",
            )
        table = edition["source_table"][0]
        members = membership.filter(pl.col("year") == geography)
        names = members.select("region_code", "region_name").unique()
        regions = edition.filter(pl.col("area_type") == "region")
        if regions.height and source_geography == geography:
            counts = members.group_by("region_code").agg(pl.len().cast(pl.Int32).alias("municipalities"))
            # a CBS region row of a region that is not in that year's composition (AM99 in the 2021 edition) is left out
            region_rows = regions.join(names, left_on="area_code", right_on="region_code", how="inner").join(
                counts, left_on="area_code", right_on="region_code", how="left"
            ).with_columns(
                pl.col("region_name").alias("area_name"),
                pl.when(pl.col("value").is_not_null()).then(pl.col("municipalities")).otherwise(0).alias("reporting"),
                pl.col("value").is_not_null().alias("complete"),
                pl.lit("CBS region figure of the edition").alias("method"),
                pl.when(pl.col("value").is_null()).then(pl.lit("the edition has no figure for the region")).alias("note"),
            )
        elif members.height:
            municipal = edition.filter(pl.col("area_type") == "municipality").select(
                pl.col("area_code").alias("gm_code"), "year", "value", *(["approximate"] if "approximate" in edition.columns else [])
            )
            moved_note = "" if source_geography == geography else f", edition {source_geography} moved to {geography}"
            region_rows = region_totals(municipal, members, view=view, geography_year=geography, by=["year"]).with_columns(
                pl.col("region_code").alias("area_code"),
                pl.col("region_name").alias("area_name"),
                pl.lit(f"sum of the edition's municipal figures (each rounded to thousands){moved_note}").alias("method"),
                level_note("year"),
            )
        else:
            region_rows = pl.DataFrame()
        country = edition.filter(pl.col("area_type") == "country").with_columns(
            pl.lit("Nederland").alias("area_name"),
            pl.col("value").is_not_null().alias("complete"),
            pl.lit("CBS national figure of the edition").alias("method"),
            pl.when(pl.col("value").is_null()).then(pl.lit("the edition has no national figure")).alias("note"),
        )
        parts = [country] + ([region_rows.with_columns(region_area_type(pl.col("area_code")).alias("area_type"))] if region_rows.height else [])
        out += [
            part.with_columns(
                pl.lit("labour_force").alias("indicator"),
                pl.lit("aantal").alias("unit"),
                pl.lit(view).alias("view"),
                pl.lit(geography, pl.Int32).alias("geography_year"),
                pl.lit(table).alias("sources"),
                (pl.col("approximate").fill_null(False) if "approximate" in part.columns else pl.lit(False)).alias("approximate"),
            )
            for part in parts
        ]
    return pl.concat([_finish(f) for f in out]) if out else _finish(pl.DataFrame())


def municipalities_per_region(membership: pl.DataFrame, *, reference_year: int, view: str, source: Mapping[int, str]) -> pl.DataFrame:
    """Number of municipalities per region: per year as published, or in the reference year."""
    members = membership if view == "as_published" else membership.filter(pl.col("year") == reference_year)
    counted = members.group_by("year", "region_code", "region_name").agg(pl.len().cast(pl.Float64).alias("value"))
    return _region_rows(
        counted,
        "municipalities",
        unit="aantal",
        method="count of municipalities CBS assigns to the region on 1 January",
        sources=pl.col("year").replace_strict(source, default="", return_dtype=pl.String),
        view=pl.lit(view),
        geography_year=pl.col("year"),
        municipalities=pl.col("value").cast(pl.Int32),
        reporting=pl.col("value").cast(pl.Int32),
        complete=pl.lit(True),
        approximate=pl.lit(False),
    )


def spread(indicators: pl.DataFrame) -> pl.DataFrame:
    """Minimum, mean and maximum across regions of every indicator, with the regions at the extremes.

    One row per (indicator, year, base_year, category, view, geography_year); ``category`` only
    where it divides the indicator (null for ``LABEL_CATEGORIES``). ``regions`` counts the regions
    with a figure, ``complete_regions`` those whose figure is complete; the minimum, mean and
    maximum are over the complete ones only (null when there is none), since an incomplete
    figure is no region total. Only ``area_type = 'region'``: AM99 'Niet in te delen' (``unassigned``) is left out.
    """
    keys = ["indicator", "year", "base_year", "category", "view", "geography_year"]
    regions = indicators.filter((pl.col("area_type") == "region") & pl.col("value").is_not_null()).with_columns(
        pl.when(pl.col("indicator").is_in(list(LABEL_CATEGORIES))).then(None).otherwise(pl.col("category")).alias("category")
    )
    if regions.height == 0:
        return pl.DataFrame(schema=SPREAD_SCHEMA)
    totals = pl.col("value").filter(pl.col("complete"))

    def at(extreme: pl.Expr) -> pl.Expr:
        return pl.col("area_code").filter(pl.col("complete") & (pl.col("value") == extreme)).sort().str.join(",")

    stats = regions.group_by(keys).agg(
        pl.len().cast(pl.Int32).alias("regions"),
        pl.col("complete").sum().cast(pl.Int32).alias("complete_regions"),
        totals.min().alias("min"),
        totals.mean().alias("mean"),
        totals.max().alias("max"),
        at(totals.min()).alias("min_regions"),
        at(totals.max()).alias("max_regions"),
    ).with_columns(
        pl.when(pl.col("complete_regions") > 0).then(pl.col(name)).alias(name) for name in ("min_regions", "max_regions")
    )
    return stats.select(list(SPREAD_SCHEMA)).cast(SPREAD_SCHEMA).sort(keys, nulls_last=True)


def benefits_per_cbs_vacancy(indicators: pl.DataFrame, national: pl.DataFrame, *, source: str) -> pl.DataFrame:
    """Nationally: (WW + WWB benefits, monthly average) per CBS open vacancy (annual figure)."""
    vacancies = national.filter((pl.col("series") == "open_vacancies") & (pl.col("frequency") == "year"))
    if vacancies.height == 0:
        return _finish(pl.DataFrame())
    per_year = vacancies.select(
        pl.col("period_start").dt.year().cast(pl.Int32).alias("year"),
        (pl.col("value") * pl.col("unit").replace_strict(THOUSANDS, return_dtype=pl.Float64)).alias("_vacancies"),
    )
    benefits = indicators.filter((pl.col("indicator") == "ww_wwb_benefits") & (pl.col("area_type") == "country"))
    joined = benefits.join(per_year, on="year")
    return _finish(
        joined.with_columns(
            pl.lit("benefits_per_cbs_vacancy").alias("indicator"),
            (pl.col("value") / pl.col("_vacancies")).alias("value"),
            pl.lit("ratio").alias("unit"),
            (pl.col("complete") & pl.col("_vacancies").is_not_null()).alias("complete"),
            pl.lit("(WW + WWB benefits, monthly average) / CBS open vacancies (annual average)").alias("method"),
            (pl.col("sources") + "," + pl.lit(source)).alias("sources"),
            pl.when(pl.col("value").is_null())
            .then(pl.lit("no value: ww_wwb_benefits of the country is unknown"))
            .when(pl.col("_vacancies").is_null())
            .then(pl.lit("no value: CBS publishes no open vacancies for the year"))
            .alias("note"),
        )
    )


def indicator_tables(
    *,
    national: pl.DataFrame,
    regional: pl.DataFrame,
    membership: pl.DataFrame,
    changes: pl.DataFrame,
    valid_codes: Mapping[int, frozenset[str]],
    scenarios: Iterable[tuple[int, str]],
    benefit_sources: Mapping[str, Sequence[str]],
    national_sources: Mapping[str, str],
    uwv: Mapping[str, pl.DataFrame] | None = None,
) -> dict[str, pl.DataFrame]:
    """The indicator mart and its spread across regions, for every (reference year, view).

    ``valid_codes`` (year -> municipality codes valid on 1 January) bounds the years used:
    municipal figures of years outside it are left out. ``scenarios`` lists (reference_year,
    view) pairs; for ``as_published`` the reference year only names the scenario.
    """
    membership_sources = dict(membership.select("year", "source_table").unique().iter_rows())
    in_reference = regional.filter(
        (pl.col("area_type") != "municipality") | pl.col("period_start").dt.year().is_in(list(valid_codes))
    )
    counts = _counts(in_reference, benefit_sources, valid_codes, MUNICIPAL_COUNTS)
    # Each (year, geography year) crosswalk is built once, for every count and scenario that needs it.
    crosswalks = crosswalks_of(changes, valid_codes)
    parts = []
    for reference_year, view in sorted(set(scenarios)):
        base = _count_indicators(
            counts,
            national,
            membership,
            crosswalks,
            years=sorted(valid_codes),
            national_sources=national_sources,
            reference_year=reference_year,
            view=view,
        )
        parts += [
            base,
            benefits_per_cbs_vacancy(base, national, source=national_sources.get("open_vacancies", "")),
            labour_force(in_reference, membership, reference_year=reference_year, view=view, crosswalks=crosswalks),
            municipalities_per_region(membership, reference_year=reference_year, view=view, source=membership_sources),
        ]
        if uwv:
            parts.append(uwv_indicators(uwv, base, membership, reference_year=reference_year, view=view))
    indicators = (
        pl.concat(parts).unique(list(INDICATOR_KEY), keep="first", maintain_order=True).sort(list(INDICATOR_KEY), nulls_last=True)
        if parts
        else _finish(pl.DataFrame())
    )
    return {"indicators": indicators, "indicator_spread": spread(indicators)}


def uwv_indicators(
    uwv: Mapping[str, pl.DataFrame], benefits: pl.DataFrame, membership: pl.DataFrame, *, reference_year: int, view: str
) -> pl.DataFrame:
    """Indicators from UWV register files (``docs/uwv-files.md``); nothing where no file was delivered.

    UWV files name the codes valid on their reference date, so their figures are on the
    boundaries and region composition of that year: they appear in the as-published view, and
    in the harmonised view only for the reference year itself.
    """
    years = None if view == "as_published" else {reference_year}
    parts = [
        _uwv_vacancy_indicators(uwv.get("uwv_vacancies"), benefits, membership, years, view),
        _portal_indicators(uwv.get("uwv_portal_connections"), membership, years, view),
        _registration_indicators(uwv.get("uwv_wwb_registrations"), membership, years, view),
    ]
    return pl.concat([p for p in parts if p.height]) if any(p.height for p in parts) else _finish(pl.DataFrame())


def _in_years(frame: pl.DataFrame, years: set[int] | None) -> pl.DataFrame:
    frame = frame.with_columns(pl.col("reference_date").dt.year().cast(pl.Int32).alias("year"))
    return frame if years is None else frame.filter(pl.col("year").is_in(list(years)))


def _region_names(membership: pl.DataFrame) -> pl.DataFrame:
    return membership.group_by("year", "region_code").agg(
        pl.col("region_name").first(), pl.len().cast(pl.Int32).alias("municipalities")
    )


def _uwv_vacancy_indicators(
    vacancies: pl.DataFrame | None, benefits: pl.DataFrame, membership: pl.DataFrame, years: set[int] | None, view: str
) -> pl.DataFrame:
    if vacancies is None or vacancies.height == 0:
        return _finish(pl.DataFrame())
    rows = _in_years(vacancies, years).with_columns(pl.col("reference_date").dt.month().alias("_month"))
    average = (
        rows.filter(pl.col("_month").is_in([1, 12]))
        .sort("reference_date")
        .group_by("region_code", "year")
        .agg(
            pl.col("open_vacancies").cast(pl.Float64).mean().alias("value"),
            (pl.col("_month").n_unique() == 2).alias("complete"),
        )
        .join(_region_names(membership), on=["year", "region_code"], how="left")
    )
    regions = _region_rows(
        average,
        "uwv_vacancies",
        unit="aantal",
        method="open vacancies registered at UWV: average of the January and December reference dates",
        sources=UWV_SOURCE,
        view=pl.lit(view),
        geography_year=pl.col("year"),
        reporting=pl.col("municipalities"),
        approximate=pl.lit(False),
        note=pl.when(~pl.col("complete")).then(pl.lit("one of the January and December reference dates only")),
    )
    region_benefits = benefits.filter(pl.col("area_type").is_in(["region", "unassigned"])).select(
        "area_code",
        "year",
        "indicator",
        pl.col("value").alias("_benefits"),
        pl.col("complete").alias("_complete"),
        pl.col("reporting").alias("_reporting"),
    )

    def ratio(numerator: str, name: str, method: str, value: pl.Expr) -> pl.DataFrame:
        """A ratio of the region's UWV vacancies and a benefit count: only where the count covers the whole region too."""
        joined = regions.join(
            region_benefits.filter(pl.col("indicator") == numerator).drop("indicator"), on=["area_code", "year"], how="left"
        )
        same = pl.col("_complete").fill_null(False)
        return joined.with_columns(
            pl.lit(name).alias("indicator"),
            pl.lit("ratio").alias("unit"),
            pl.lit(method).alias("method"),
            pl.when(same & pl.col("value").is_not_null()).then(value).alias("value"),
            (pl.col("complete") & same).alias("complete"),
            pl.min_horizontal("reporting", pl.col("_reporting").fill_null(0)).alias("reporting"),
            (pl.col("sources") + ",benefits").alias("sources"),
            pl.when(pl.col("_benefits").is_null())
            .then(pl.lit(f"no value: {numerator} of the region is unknown"))
            .when(~same)
            .then(
                pl.format(
                    "no value: {} covers {} of {} municipalities, the UWV vacancies the whole region",
                    pl.lit(numerator),
                    "_reporting",
                    "municipalities",
                )
            )
            .otherwise(pl.col("note"))
            .alias("note"),
        )

    per_vacancy = ratio(
        "ww_wwb_benefits", "benefits_per_vacancy", "(WW + WWB benefits, monthly average) / UWV vacancies", pl.col("_benefits") / pl.col("value")
    )
    tension = ratio(
        "ww_benefits",
        "tension_ratio",
        "UWV vacancies / WW recipients (all durations; UWV's spanningsindicator counts WW shorter than 6 months, "
        "so the band is indicative)",
        pl.col("value") / pl.col("_benefits"),
    ).with_columns(_band(pl.col("value")).alias("category"))
    return pl.concat([regions, _finish(per_vacancy), _finish(tension)])


def _band(value: pl.Expr) -> pl.Expr:
    expression = pl.when(value.is_null()).then(None)
    for upper, label in TENSION_BANDS:
        expression = expression.when(value < upper).then(pl.lit(label))
    return expression.otherwise(pl.lit(TENSION_BANDS[-1][1]))


def _latest_per_year(frame: pl.DataFrame, years: set[int] | None) -> pl.DataFrame:
    rows = _in_years(frame, years)
    latest = rows.group_by("year").agg(pl.col("reference_date").max())
    return rows.join(latest, on=["year", "reference_date"])


def _portal_indicators(portal: pl.DataFrame | None, membership: pl.DataFrame, years: set[int] | None, view: str) -> pl.DataFrame:
    if portal is None or portal.height == 0:
        return _finish(pl.DataFrame())
    rows = _latest_per_year(portal, years)
    members = membership.select("year", "gm_code", "region_code", "region_name")
    joined = members.join(rows.select("year", "gm_code", "connected"), on=["year", "gm_code"], how="left").filter(
        pl.col("year").is_in(rows["year"].unique().to_list())
    )
    regions = joined.group_by("year", "region_code", "region_name").agg(
        (pl.col("connected").sum() / pl.col("connected").is_not_null().sum() * 100).alias("value"),
        pl.len().cast(pl.Int32).alias("municipalities"),
        pl.col("connected").is_not_null().sum().cast(pl.Int32).alias("reporting"),
    )
    regions = _region_rows(
        regions.with_columns(pl.when(pl.col("reporting") > 0).then(pl.col("value")).alias("value")),
        "portal_share",
        unit="%",
        method="share of the region's municipalities in the file connected to the UWV portal (latest reference date of the year)",
        sources=UWV_SOURCE,
        view=pl.lit(view),
        geography_year=pl.col("year"),
        complete=pl.col("reporting") == pl.col("municipalities"),
        approximate=pl.lit(False),
        category=_portal_band(pl.col("value")),
        note=pl.when(pl.col("reporting") == 0)
        .then(pl.lit("no municipality of the region is in the file"))
        .when(pl.col("reporting") < pl.col("municipalities"))
        .then(pl.format("share among the {} of {} municipalities in the file, not the region's", "reporting", "municipalities")),
    )
    counted_regions = regions.filter(pl.col("area_type") == "region")
    bands = pl.DataFrame({"category": list(PORTAL_BANDS)}).join(counted_regions.select("year").unique(), how="cross")
    counted = bands.join(
        counted_regions.group_by("year", "category").agg(pl.len().cast(pl.Float64).alias("value"), pl.col("complete").all()),
        on=["year", "category"],
        how="left",
    ).join(
        counted_regions.group_by("year").agg(pl.col("complete").all().alias("_every_region_complete")), on="year"  # per year
    ).with_columns(
        pl.col("value").fill_null(0.0),
        pl.col("complete").fill_null(True) & pl.col("_every_region_complete"),
        pl.lit("regions_by_portal_share").alias("indicator"),
        pl.lit("country").alias("area_type"),
        pl.lit("NL01").alias("area_code"),
        pl.lit("Nederland").alias("area_name"),
        pl.lit("regions").alias("unit"),
        pl.lit(view).alias("view"),
        pl.col("year").alias("geography_year"),
        pl.lit(False).alias("approximate"),
        pl.lit("number of regions per band of portal_share (the 2015 evaluation's table 1); AM99 is no region").alias("method"),
        pl.lit(UWV_SOURCE).alias("sources"),
        pl.when(~pl.col("_every_region_complete")).then(pl.lit("some region's portal_share is not over all its municipalities")).alias("note"),
    )
    return pl.concat([regions, _finish(counted)])


def _portal_band(share: pl.Expr) -> pl.Expr:
    return (
        pl.when(share.is_null())
        .then(None)
        .when(share <= 0)
        .then(pl.lit("0%"))
        .when(share <= 25)
        .then(pl.lit("1-25%"))
        .when(share <= 50)
        .then(pl.lit("26-50%"))
        .when(share <= 75)
        .then(pl.lit("51-75%"))
        .when(share < 100)
        .then(pl.lit("76-99%"))
        .otherwise(pl.lit("100%"))
    )


def _registration_indicators(
    registrations: pl.DataFrame | None, membership: pl.DataFrame, years: set[int] | None, view: str
) -> pl.DataFrame:
    if registrations is None or registrations.height == 0:
        return _finish(pl.DataFrame())
    rows = _latest_per_year(registrations, years).join(
        membership.select("year", "gm_code", "gm_name", "region_code", "region_name"), on=["year", "gm_code"], how="left"
    )
    common = {
        "unit": pl.lit("%"),
        "view": pl.lit(view),
        "geography_year": pl.col("year"),
        "approximate": pl.lit(False),
        "sources": pl.lit(UWV_SOURCE),
    }
    municipal = rows.with_columns(
        pl.lit("wwb_registered_share").alias("indicator"),
        pl.lit("municipality").alias("area_type"),
        pl.col("gm_code").alias("area_code"),
        pl.col("gm_name").alias("area_name"),
        (pl.col("registered_job_seekers") / pl.col("wwb_recipients") * 100).alias("value"),
        pl.lit(1, pl.Int32).alias("municipalities"),
        pl.lit(1, pl.Int32).alias("reporting"),
        pl.lit(True).alias("complete"),
        pl.lit("WWB recipients registered as job seeker at UWV / WWB recipients").alias("method"),
        **common,
    )
    counts = membership.group_by("year", "region_code").agg(pl.len().cast(pl.Int32).alias("municipalities"))
    regions = (
        municipal.filter(pl.col("region_code").is_not_null())
        .group_by("year", "region_code", "region_name")
        .agg(
            (pl.col("registered_job_seekers").sum() / pl.col("wwb_recipients").sum() * 100).alias("wwb_registered_share"),
            pl.col("value").min().alias("wwb_registered_share_min"),
            pl.col("value").max().alias("wwb_registered_share_max"),
            pl.col("area_code").filter(pl.col("value") == pl.col("value").min()).sort().str.join(",").alias("_min_at"),
            pl.col("area_code").filter(pl.col("value") == pl.col("value").max()).sort().str.join(",").alias("_max_at"),
            pl.len().cast(pl.Int32).alias("reporting"),
        )
        .join(counts, on=["year", "region_code"], how="left")
    )
    region_parts = []
    for name, category, method in (
        ("wwb_registered_share", None, "sum of registered job seekers / sum of WWB recipients over the region's municipalities"),
        ("wwb_registered_share_min", "_min_at", "lowest municipal share in the region; category = the municipality code(s)"),
        ("wwb_registered_share_max", "_max_at", "highest municipal share in the region; category = the municipality code(s)"),
    ):
        region_parts.append(
            _region_rows(
                regions,
                name,
                unit="%",
                method=method,
                sources=UWV_SOURCE,
                value=pl.col(name),
                category=pl.col(category) if category else pl.lit(None, pl.String),
                complete=pl.col("reporting") == pl.col("municipalities"),
                view=pl.lit(view),
                geography_year=pl.col("year"),
                approximate=pl.lit(False),
                note=pl.when(pl.col("reporting") != pl.col("municipalities")).then(
                    pl.format("over the {} of {} municipalities in the file, not the whole region", "reporting", "municipalities")
                ),
            )
        )
    return pl.concat([_finish(municipal), *region_parts])
