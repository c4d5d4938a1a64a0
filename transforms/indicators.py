"""Region indicators of the 2015 SUWI evaluation, recomputed on consistent boundaries.

Grain of the mart (``INDICATOR_SCHEMA``): one row per indicator per area per year (and base
year for growth, and category for banded counts), for one geography year and one view:

* ``view = 'harmonised'``: municipal figures of every year Y <= R moved to the boundaries of the
  reference year R and summed with R's region composition (``geography_year = R``);
* ``view = 'as_published'``: each year on its own boundaries and region composition
  (``geography_year = Y``); only years with a CBS region composition (2014 on).

Every row says how many municipalities the region has and how many reported (``reporting``),
whether the figure is ``complete``, whether an ``approximate`` split share contributed, the
``method`` and the ``sources`` (CBS table ids). A region figure that is not complete is never
presented as the region total: ``complete`` is false.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

import polars as pl

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


def _scale(unit: str) -> float:
    if unit not in THOUSANDS:
        raise ValueError(f"no conversion to counts for unit {unit!r}")
    return THOUSANDS[unit]


def _finish(frame: pl.DataFrame) -> pl.DataFrame:
    for column, dtype in INDICATOR_SCHEMA.items():
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype).alias(column))
    return frame.select(list(INDICATOR_SCHEMA)).cast(INDICATOR_SCHEMA)


def _region_rows(frame: pl.DataFrame, indicator: str, *, unit: str, method: str, sources: str | pl.Expr, **columns: pl.Expr) -> pl.DataFrame:
    """Label rows keyed by ``region_code``/``region_name`` as region rows of ``indicator``."""
    return _finish(
        frame.with_columns(
            pl.lit(indicator).alias("indicator"),
            pl.lit("region").alias("area_type"),
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


class _MunicipalFigures(NamedTuple):
    """The municipal figures of one benefit series, as ``_municipal_figures`` picks them."""

    sources: str
    """The CBS tables used, comma-separated."""
    by_year: dict[int, pl.DataFrame]
    """Year -> one row per municipality per month of that year: gm_code, period_start, value."""


def _municipal_figures(
    regional: pl.DataFrame, sources: Mapping[str, Sequence[str]], valid_codes: Mapping[int, frozenset[str]]
) -> dict[str, _MunicipalFigures]:
    """Series -> its municipal figures (``pick_sources``), picked and split by year once for all scenarios."""
    figures = {}
    for series, tables in sources.items():
        picked = pick_sources(regional, series, tables)
        by_year = picked.with_columns(pl.col("period_start").dt.year().alias("_year")).partition_by(
            "_year", maintain_order=True, as_dict=True
        )
        figures[series] = _MunicipalFigures(
            sources=",".join(sorted(picked["source_table"].unique())),
            by_year={
                # CBS tables list every municipality for every period, with nulls outside its lifetime:
                # a null for a code that did not exist that year is no missing figure.
                year: _every_valid_code(
                    rows.filter(
                        pl.col("value").is_not_null() | pl.col("area_code").is_in(list(valid_codes.get(year, ())))
                    ).select(pl.col("area_code").alias("gm_code"), "period_start", "value"),
                    valid_codes.get(year, frozenset()),
                )
                for (year,), rows in sorted(by_year.items())
            },
        )
    return figures


def _every_valid_code(rows: pl.DataFrame, codes: frozenset[str]) -> pl.DataFrame:
    """``rows`` (gm_code, period_start, value) with a null row for each of ``codes`` a period lacks.

    A municipality that existed but has no row at all (a table cut short, a page never delivered) is
    a missing figure like a null: it makes the municipality it merges into null when harmonised,
    and its region incomplete, instead of silently counting as zero.
    """
    if not codes or rows.height == 0:
        return rows
    grid = pl.DataFrame({"gm_code": sorted(codes)}).join(rows.select("period_start").unique(), how="cross")
    return grid.join(rows, on=["gm_code", "period_start"], how="full", coalesce=True).sort("gm_code", "period_start")


def _monthly_region_totals(
    by_year: Mapping[int, pl.DataFrame],
    membership: pl.DataFrame,
    crosswalks: Crosswalks,
    *,
    view: str,
    reference_year: int,
) -> pl.DataFrame:
    """Region totals per month; columns of ``region_totals`` plus ``period_start`` and ``year``.

    ``by_year`` as in ``_MunicipalFigures``. Harmonised, every year up to the reference year is
    moved to the reference year's boundaries, and all those years are summed with its region
    composition in one go; as published, each year is summed with its own composition.
    """
    if view == "harmonised":
        moved = [
            harmonise_counts(rows, crosswalks(year, reference_year), by=["period_start"])
            for year, rows in by_year.items()
            if year <= reference_year
        ]
        batches = [(reference_year, pl.concat(moved))] if moved else []
    else:
        batches = list(by_year.items())
    frames = [
        region_totals(rows, membership, view=view, geography_year=geography, by=["period_start"]).with_columns(
            pl.col("period_start").dt.year().cast(pl.Int32).alias("year")
        )
        for geography, rows in batches
        if membership.filter(pl.col("year") == geography).height
    ]
    return pl.concat(frames) if frames else pl.DataFrame()


def yearly_average(monthly: pl.DataFrame) -> pl.DataFrame:
    """Monthly region totals -> their average per year; complete only with 12 complete months."""
    return monthly.group_by("region_code", "region_name", "year", "view", "geography_year").agg(
        pl.col("value").mean().alias("value"),
        pl.col("municipalities").max().alias("municipalities"),
        pl.col("reporting").min().alias("reporting"),
        (pl.col("complete").all() & (pl.len() == 12)).alias("complete"),
        pl.col("approximate").any().alias("approximate"),
    )


def benefit_averages(
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
) -> pl.DataFrame:
    """Monthly average per year of WW and WWB benefits per region and for the country.

    ``sources`` maps ``ww``/``wwb`` to the municipal tables in precedence order; the country rows
    come from the national series (``national_sources`` maps series to its table).
    """
    return _benefit_averages(
        _municipal_figures(regional, sources, valid_codes),
        national,
        membership,
        crosswalks_of(changes, valid_codes),
        national_sources=national_sources,
        reference_year=reference_year,
        view=view,
    )


def _benefit_averages(
    municipal: Mapping[str, _MunicipalFigures],
    national: pl.DataFrame,
    membership: pl.DataFrame,
    crosswalks: Crosswalks,
    *,
    national_sources: Mapping[str, str],
    reference_year: int,
    view: str,
) -> pl.DataFrame:
    """``benefit_averages`` from the municipal figures of each series (``_municipal_figures``)."""
    out = []
    for series, figures in municipal.items():
        monthly = _monthly_region_totals(figures.by_year, membership, crosswalks, view=view, reference_year=reference_year)
        if monthly.height:
            out.append(
                _region_rows(
                    yearly_average(monthly),
                    f"{series}_benefits",
                    unit="aantal",
                    method=f"monthly average per year of the sum of municipal figures ({view}, composition of the geography year)",
                    sources=figures.sources,
                )
            )
        country = national.filter((pl.col("series") == series) & (pl.col("frequency") == "month"))
        if country.height:
            years = country.with_columns(pl.col("period_start").dt.year().cast(pl.Int32).alias("year"))
            yearly = years.group_by("year").agg(
                (pl.col("value").mean() * _scale(country["unit"][0])).alias("value"),
                ((pl.col("value").is_not_null().sum() == 12)).alias("complete"),
            )
            if view == "harmonised":
                yearly = yearly.filter(pl.col("year") <= reference_year)
            out.append(
                yearly.with_columns(
                    pl.lit(f"{series}_benefits").alias("indicator"),
                    pl.lit("country").alias("area_type"),
                    pl.lit("NL01").alias("area_code"),
                    pl.lit("Nederland").alias("area_name"),
                    pl.lit("aantal").alias("unit"),
                    pl.lit(view).alias("view"),
                    (pl.lit(reference_year) if view == "harmonised" else pl.col("year")).cast(pl.Int32).alias("geography_year"),
                    pl.lit(False).alias("approximate"),
                    pl.lit("monthly average per year of the national series").alias("method"),
                    pl.lit(national_sources.get(series, "")).alias("sources"),
                )
            )
    return pl.concat([_finish(f) for f in out]) if out else _finish(pl.DataFrame())


def combined(indicators: pl.DataFrame, parts: Sequence[str], name: str) -> pl.DataFrame:
    """Sum of indicators per area and year (e.g. WW + WWB); complete only when every part is, null when no part has a value."""
    keys = ["area_type", "area_code", "area_name", "year", "view", "geography_year"]
    rows = indicators.filter(pl.col("indicator").is_in(list(parts)) & pl.col("base_year").is_null())
    summed = (
        rows.group_by(keys)
        .agg(
            pl.when(pl.col("value").is_not_null().any()).then(pl.col("value").sum()).alias("value"),
            pl.col("municipalities").max().alias("municipalities"),
            pl.col("reporting").min().alias("reporting"),
            (pl.col("complete").all() & (pl.len() == len(parts))).alias("complete"),
            pl.col("approximate").any().alias("approximate"),
            pl.col("sources").unique().sort().str.join(",").alias("sources"),
            pl.col("unit").first().alias("unit"),
        )
        .with_columns(pl.lit(name).alias("indicator"), pl.lit(" + ".join(parts)).alias("method"))
    )
    return _finish(summed)


def growth(indicators: pl.DataFrame, names: Iterable[str]) -> pl.DataFrame:
    """Growth in % between every pair of years (base_year < year) of each area and view.

    Harmonised: both years on the same geography. As published: each year on its own, so a
    region whose composition changed in between compares different territories (the method
    says so); the row carries the later year's geography.
    """
    keys = ["indicator", "area_type", "area_code", "view"]
    rows = indicators.filter(pl.col("indicator").is_in(list(names)) & pl.col("base_year").is_null())
    base = rows.select(*keys, pl.col("year").alias("base_year"), pl.col("value").alias("_base"),
                       pl.col("geography_year").alias("_base_geography"),
                       pl.col("complete").alias("_base_complete"), pl.col("approximate").alias("_base_approx"))
    pairs = rows.drop("base_year").join(base, on=keys).filter(
        (pl.col("base_year") < pl.col("year"))
        & ((pl.col("view") == "as_published") | (pl.col("geography_year") == pl.col("_base_geography")))
    )
    return _finish(
        pairs.with_columns(
            (pl.col("indicator") + "_growth").alias("indicator"),
            (pl.when(pl.col("_base") != 0).then((pl.col("value") / pl.col("_base") - 1) * 100)).alias("value"),
            pl.lit("%").alias("unit"),
            (pl.col("complete") & pl.col("_base_complete")).alias("complete"),
            (pl.col("approximate") | pl.col("_base_approx")).alias("approximate"),
            (
                pl.lit("growth of ")
                + pl.col("indicator")
                + pl.lit(" from base_year to year")
                + pl.when(pl.col("view") == "as_published").then(pl.lit(", each year on its own boundaries")).otherwise(pl.lit(""))
            ).alias("method"),
        )
    )


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
                pl.col("municipalities").alias("reporting"),
                pl.col("value").is_not_null().alias("complete"),
                pl.lit("CBS region figure of the edition").alias("method"),
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
            )
        else:
            region_rows = pl.DataFrame()
        country = edition.filter(pl.col("area_type") == "country").with_columns(
            pl.lit("Nederland").alias("area_name"),
            pl.col("value").is_not_null().alias("complete"),
            pl.lit("CBS national figure of the edition").alias("method"),
        )
        parts = [country] + ([region_rows.with_columns(pl.lit("region").alias("area_type"))] if region_rows.height else [])
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
    figure is no region total. ``UNASSIGNED_REGION`` is no region and is left out.
    """
    keys = ["indicator", "year", "base_year", "category", "view", "geography_year"]
    regions = indicators.filter(
        (pl.col("area_type") == "region") & pl.col("value").is_not_null() & (pl.col("area_code") != UNASSIGNED_REGION)
    ).with_columns(
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
    municipal = _municipal_figures(in_reference, benefit_sources, valid_codes)
    # Each (year, reference year) crosswalk is built once, for every series and scenario that needs it.
    crosswalks = crosswalks_of(changes, valid_codes)
    parts = []
    for reference_year, view in sorted(set(scenarios)):
        benefits = _benefit_averages(
            municipal,
            national,
            membership,
            crosswalks,
            national_sources=national_sources,
            reference_year=reference_year,
            view=view,
        )
        total = combined(benefits, ["ww_benefits", "wwb_benefits"], "ww_wwb_benefits")
        base = pl.concat([benefits, total])
        parts += [
            base,
            growth(base, ["ww_benefits", "wwb_benefits", "ww_wwb_benefits"]),
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
    )
    region_benefits = benefits.filter(pl.col("area_type") == "region").select(
        "area_code", "year", "indicator", pl.col("value").alias("_benefits"), pl.col("complete").alias("_complete")
    )

    def ratio(numerator: str, name: str, method: str, unit: str) -> pl.DataFrame:
        joined = regions.join(region_benefits.filter(pl.col("indicator") == numerator).drop("indicator"), on=["area_code", "year"])
        return joined.with_columns(
            pl.lit(name).alias("indicator"),
            pl.lit(unit).alias("unit"),
            pl.lit(method).alias("method"),
            (pl.col("complete") & pl.col("_complete")).alias("complete"),
            (pl.col("sources") + ",benefits").alias("sources"),
        )

    per_vacancy = ratio("ww_wwb_benefits", "benefits_per_vacancy", "(WW + WWB benefits, monthly average) / UWV vacancies", "ratio")
    per_vacancy = per_vacancy.with_columns((pl.col("_benefits") / pl.col("value")).alias("value"))
    tension = ratio(
        "ww_benefits",
        "tension_ratio",
        "UWV vacancies / WW recipients (all durations; UWV's spanningsindicator counts WW shorter than 6 months, "
        "so the band is indicative)",
        "ratio",
    )
    tension = tension.with_columns((pl.col("value") / pl.col("_benefits")).alias("value")).with_columns(
        _band(pl.col("value")).alias("category")
    )
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
        (pl.col("connected").fill_null(False).sum() / pl.len() * 100).alias("value"),
        pl.len().cast(pl.Int32).alias("municipalities"),
        pl.col("connected").is_not_null().sum().cast(pl.Int32).alias("reporting"),
    )
    regions = _region_rows(
        regions,
        "portal_share",
        unit="%",
        method="share of the region's municipalities connected to the UWV portal (latest reference date of the year)",
        sources=UWV_SOURCE,
        view=pl.lit(view),
        geography_year=pl.col("year"),
        complete=pl.col("reporting") == pl.col("municipalities"),
        approximate=pl.lit(False),
        category=_portal_band(pl.col("value")),
    )
    bands = pl.DataFrame({"category": list(PORTAL_BANDS)}).join(regions.select("year").unique(), how="cross")
    counted = bands.join(
        regions.group_by("year", "category").agg(pl.len().cast(pl.Float64).alias("value"), pl.col("complete").all()),
        on=["year", "category"],
        how="left",
    ).join(
        regions.group_by("year").agg(pl.col("complete").all().alias("_every_region_complete")), on="year"  # per year
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
        pl.lit("number of regions per band of portal_share (the 2015 evaluation's table 1)").alias("method"),
        pl.lit(UWV_SOURCE).alias("sources"),
    )
    return pl.concat([regions, _finish(counted)])


def _portal_band(share: pl.Expr) -> pl.Expr:
    return (
        pl.when(share <= 0)
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
            )
        )
    return pl.concat([_finish(municipal), *region_parts])
