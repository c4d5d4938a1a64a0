"""The 2015 SUWI evaluation's analyses on the indicator mart, as data (table ``analyses``).

Grain (``ANALYSIS_SCHEMA``): one row per analysis per pair per view, geography year and year.
Key (analysis, view, geography_year, year, x, y).

* ``correlation``: Pearson's r between two region indicators (``CORRELATED``) over the regions
  whose figures of both are complete, with its two-sided p (``scipy.stats.pearsonr``). One row
  per pair (x before y in ``CORRELATED``: the upper triangle of the matrix).
* ``registered_share_by_portal``: the municipal WWB-registered share of municipalities connected
  to the UWV portal (x) against those not connected (y): unweighted means, their difference in
  percentage points and Welch's t-test (unequal variances, two-sided; ``scipy.stats.ttest_ind``
  with ``equal_var=False``). The evaluation found 63% against 59%.

The years analysed: in the harmonised view the reference year (the only year with UWV figures
there), in the as-published view every year with a UWV figure. Below ``MIN_REGIONS`` regions (or
``MIN_MUNICIPALITIES`` municipalities per group) nothing is computed: ``value`` is null and
``reason`` says why, as it does when a figure is missing (no UWV file) or does not vary.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import polars as pl

from transforms.regions import UNASSIGNED_REGION

ANALYSIS_SCHEMA = {
    "analysis": pl.String,
    "view": pl.String,
    "geography_year": pl.Int32,
    "year": pl.Int32,
    "x": pl.String,
    "y": pl.String,
    "base_year": pl.Int32,
    "units": pl.String,
    "population": pl.Int32,
    "n": pl.Int32,
    "n_x": pl.Int32,
    "n_y": pl.Int32,
    "mean_x": pl.Float64,
    "mean_y": pl.Float64,
    "value": pl.Float64,
    "statistic": pl.Float64,
    "df": pl.Float64,
    "p_value": pl.Float64,
    "method": pl.String,
    "sources": pl.String,
    "reason": pl.String,
}
ANALYSIS_KEY = ("analysis", "view", "geography_year", "year", "x", "y")

GROWTH_YEARS = 5
"""Benefit growth is taken over the five years up to the analysed year (2009-2014 for 2014, as the evaluation did)."""

CORRELATED = ("ww_benefits_growth", "wwb_benefits_growth", "benefits_per_vacancy", "portal_share", "wwb_registered_share")
"""The region indicators correlated with each other, in the order of the matrix."""

UWV_BASED = frozenset({"benefits_per_vacancy", "portal_share", "wwb_registered_share"})

MIN_REGIONS = 10
"""Fewest regions with complete figures of both indicators for a correlation. Below ten, one region
can turn the sign of r and the p-value leans wholly on normality; the evaluation had all 35."""

MIN_MUNICIPALITIES = 10
"""Fewest municipalities in each group (connected, not connected) for the t-test."""

PEARSON = "Pearson's r over the regions with complete figures of both, two-sided p (scipy.stats.pearsonr)"
WELCH = (
    "unweighted means of the municipal shares; value = mean_x - mean_y in percentage points; Welch's t-test "
    "(unequal variances), two-sided (scipy.stats.ttest_ind, equal_var=False)"
)
CONNECTED, NOT_CONNECTED = "connected", "not_connected"


def analysis_years(indicators: pl.DataFrame) -> pl.DataFrame:
    """(view, geography_year, year) to analyse: the reference year of each harmonised geography, and
    every year with a UWV-based region value (as published, one geography per year)."""
    harmonised = indicators.filter(pl.col("view") == "harmonised").select(
        "view", "geography_year", pl.col("geography_year").alias("year")
    )
    uwv = indicators.filter(
        pl.col("indicator").is_in(list(UWV_BASED)) & (pl.col("area_type") == "region") & pl.col("value").is_not_null()
    ).select(
        "view", "geography_year", "year"
    )
    return pl.concat([harmonised, uwv]).unique().sort("view", "geography_year", "year")


def analyses(indicators: pl.DataFrame, portal: pl.DataFrame | None) -> pl.DataFrame:
    """Every analysis for every (view, geography_year, year) of :func:`analysis_years`.

    ``indicators``: the mart (``transforms.indicators``); ``portal``: the ``uwv_portal_connections``
    table (gm_code, reference_date, connected; None or empty without a UWV file), read on the
    latest reference date of each year, as ``portal_share`` is.
    """
    rows = []
    for view, geography, year in analysis_years(indicators).iter_rows():
        scenario = indicators.filter((pl.col("view") == view) & (pl.col("geography_year") == geography))
        rows += correlations(scenario, year)
        rows.append(registered_share_by_portal(scenario, portal, year))
    frame = pl.DataFrame(rows, schema=ANALYSIS_SCHEMA, orient="row") if rows else pl.DataFrame(schema=ANALYSIS_SCHEMA)
    return frame.sort(list(ANALYSIS_KEY))


def region_figures(scenario: pl.DataFrame, year: int) -> pl.DataFrame:
    """One row per region (not AM99) of the scenario in ``year``: its complete figure of each of
    ``CORRELATED`` (null where it has none or an incomplete one). Growths from ``year - GROWTH_YEARS``."""
    regions = scenario.filter((pl.col("area_type") == "region") & (pl.col("area_code") != UNASSIGNED_REGION))
    base = year - GROWTH_YEARS
    picked = regions.filter(
        (pl.col("year") == year)
        & pl.col("indicator").is_in(list(CORRELATED))
        & pl.when(pl.col("indicator").str.ends_with("_growth")).then(pl.col("base_year") == base).otherwise(pl.col("base_year").is_null())
    ).with_columns(pl.when(pl.col("complete")).then(pl.col("value")).alias("value"))
    codes = regions.filter(pl.col("year") == year).select("area_code").unique()
    wide = codes.join(
        picked.pivot(on="indicator", index="area_code", values="value", aggregate_function="first")
        if picked.height
        else pl.DataFrame(schema={"area_code": pl.String}),
        on="area_code",
        how="left",
    )
    return wide.with_columns(pl.lit(None, pl.Float64).alias(name) for name in CORRELATED if name not in wide.columns).sort(
        "area_code"
    )


def correlations(scenario: pl.DataFrame, year: int) -> list[dict]:
    """One ``correlation`` row per pair of ``CORRELATED`` for ``year`` of one (view, geography_year) scenario."""
    figures = region_figures(scenario, year)
    present = set(
        scenario.filter((pl.col("year") == year) & (pl.col("area_type") == "region") & pl.col("value").is_not_null())["indicator"]
    )
    out = []
    for i, x in enumerate(CORRELATED):
        for y in CORRELATED[i + 1 :]:
            both = figures.filter(pl.col(x).is_not_null() & pl.col(y).is_not_null())
            row = _row("correlation", scenario, year, x, y, units="regions", population=figures.height, n=both.height)
            row |= {
                "base_year": year - GROWTH_YEARS if x.endswith("_growth") or y.endswith("_growth") else None,
                "method": PEARSON,
                "sources": _sources(scenario, year, (x, y)),
            }
            missing = [name for name in (x, y) if name not in present]
            if missing:
                row["reason"] = "; ".join(_absent(name, year) for name in missing)
            elif both.height < MIN_REGIONS:
                row["reason"] = (
                    f"{both.height} regions with complete figures of both (at least {MIN_REGIONS} needed): "
                    f"{x} complete in {figures[x].count()} of {figures.height} regions, {y} in {figures[y].count()}"
                )
            else:
                row |= _pearson(both[x].to_list(), both[y].to_list(), x, y)
            out.append(row)
    return out


def _pearson(xs: Sequence[float], ys: Sequence[float], x: str, y: str) -> dict:
    constant = [name for name, values in ((x, xs), (y, ys)) if min(values) == max(values)]
    if constant:
        return {"reason": f"{' and '.join(constant)} is the same in every region: no correlation to measure"}
    from scipy import stats  # here, not at import: the flows import this module, and scipy.stats takes about a second

    result = stats.pearsonr(xs, ys)
    return {"value": float(result.statistic), "p_value": float(result.pvalue), "df": float(len(xs) - 2)}


def registered_share_by_portal(scenario: pl.DataFrame, portal: pl.DataFrame | None, year: int) -> dict:
    """The ``registered_share_by_portal`` row for ``year`` of one (view, geography_year) scenario."""
    shares = scenario.filter(
        (pl.col("indicator") == "wwb_registered_share") & (pl.col("area_type") == "municipality") & (pl.col("year") == year)
    ).filter(pl.col("value").is_not_null())
    status = _connected_on_latest_date(portal, year)
    joined = shares.select("area_code", "value").join(status, left_on="area_code", right_on="gm_code", how="inner")
    groups = {name: joined.filter(pl.col("connected") == flag)["value"].to_list() for name, flag in ((CONNECTED, True), (NOT_CONNECTED, False))}
    row = _row(
        "registered_share_by_portal", scenario, year, CONNECTED, NOT_CONNECTED,
        units="municipalities", population=shares.height, n=joined.height,
    )  # fmt: skip
    row |= {
        "n_x": len(groups[CONNECTED]),
        "n_y": len(groups[NOT_CONNECTED]),
        "mean_x": _mean(groups[CONNECTED]),
        "mean_y": _mean(groups[NOT_CONNECTED]),
        "method": WELCH,
        "sources": "wwb_registered_share (v_municipality_indicators), uwv_portal_connections",
    }
    if shares.height == 0:
        row["reason"] = _absent("wwb_registered_share", year, municipal=True)
    elif status.height == 0:
        row["reason"] = f"no UWV portal connections file with a reference date in {year}"
    elif min(row["n_x"], row["n_y"]) < MIN_MUNICIPALITIES:
        row["reason"] = (
            f"{row['n_x']} connected and {row['n_y']} not connected municipalities with a registered share "
            f"(at least {MIN_MUNICIPALITIES} in each group needed)"
        )
    else:
        row |= _welch(groups[CONNECTED], groups[NOT_CONNECTED])
    return row


def _welch(a: Sequence[float], b: Sequence[float]) -> dict:
    from scipy import stats  # as in _pearson

    with warnings.catch_warnings():  # equal constant groups: scipy warns and returns nan, said in reason below
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(a, b, equal_var=False)
    difference = _mean(a) - _mean(b)
    if math.isnan(result.statistic):
        return {"value": difference, "reason": "the shares do not vary within either group: no t-test possible"}
    return {"value": difference, "statistic": float(result.statistic), "df": float(result.df), "p_value": float(result.pvalue)}


def _connected_on_latest_date(portal: pl.DataFrame | None, year: int) -> pl.DataFrame:
    """gm_code, connected: each municipality's status on the latest reference date in ``year``."""
    if portal is None or portal.height == 0:
        return pl.DataFrame(schema={"gm_code": pl.String, "connected": pl.Boolean})
    rows = portal.filter(pl.col("reference_date").dt.year() == year)
    return rows.filter(pl.col("reference_date") == pl.col("reference_date").max()).select("gm_code", "connected")


def _row(analysis: str, scenario: pl.DataFrame, year: int, x: str, y: str, **values: object) -> dict:
    view, geography = scenario.select(pl.col("view").first(), pl.col("geography_year").first()).row(0)
    return dict.fromkeys(ANALYSIS_SCHEMA) | {"analysis": analysis, "view": view, "geography_year": geography, "year": year, "x": x, "y": y} | values


def _sources(scenario: pl.DataFrame, year: int, names: Sequence[str]) -> str:
    used = scenario.filter((pl.col("year") == year) & pl.col("indicator").is_in(list(names)) & (pl.col("area_type") == "region"))
    tables = sorted({part for text in used["sources"].drop_nulls() for part in text.split(",") if part})
    return ", ".join(names) + (f" ({', '.join(tables)})" if tables else "")


def _absent(name: str, year: int, *, municipal: bool = False) -> str:
    where = "municipal " if municipal else ""
    if name in UWV_BASED:
        return f"no {where}{name} figures for {year}: it needs a UWV register file with a reference date in {year}"
    return f"no {name} figures for {year} from {year - GROWTH_YEARS}"


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None
