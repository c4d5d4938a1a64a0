"""The evaluation's analyses on small marts: correlations, the portal t-test, and every reason not to compute."""

from __future__ import annotations

import datetime as dt
import math
import random

import polars as pl
import pytest
from scipy import stats

from transforms.analyses import ANALYSIS_SCHEMA, CORRELATED, MIN_MUNICIPALITIES, MIN_REGIONS, analyses
from transforms.indicators import INDICATOR_SCHEMA

YEAR = 2014


def row(indicator, code, value, *, year=YEAR, base_year=None, area_type="region", complete=True, view="harmonised", geography=YEAR):
    return {
        "indicator": indicator, "area_type": area_type, "area_code": code, "area_name": f"name {code}", "year": year,
        "base_year": base_year, "category": None, "value": value, "unit": "%", "view": view, "geography_year": geography,
        "municipalities": 3, "reporting": 3 if complete else 2, "complete": complete, "approximate": False,
        "method": "test", "sources": "UWV register file" if indicator in ("portal_share", "wwb_registered_share") else "80794ned",
    }  # fmt: skip


def mart(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame([{k: r.get(k) for k in INDICATOR_SCHEMA} for r in rows], schema=INDICATOR_SCHEMA, orient="row")


def region_values(regions: int, seed: int = 1) -> dict[str, dict[str, float]]:
    rng = random.Random(seed)
    return {f"AM{i:02d}": {name: rng.uniform(-20, 80) for name in CORRELATED} for i in range(1, regions + 1)}


def region_rows(values: dict[str, dict[str, float]], *, incomplete: set[tuple[str, str]] = frozenset(), **kwargs) -> list[dict]:
    rows = []
    for code, figures in values.items():
        rows.append(row("municipalities", code, 3.0, **kwargs))
        for name, value in figures.items():
            growth = name.endswith("_growth")
            rows.append(row(name, code, value, base_year=YEAR - 5 if growth else None, complete=(code, name) not in incomplete, **kwargs))
    return rows


def correlation(result: pl.DataFrame, x: str, y: str, view: str = "harmonised", year: int = YEAR) -> dict:
    return result.filter(
        (pl.col("analysis") == "correlation") & (pl.col("x") == x) & (pl.col("y") == y) & (pl.col("view") == view) & (pl.col("year") == year)
    ).row(0, named=True)


def test_correlations_over_complete_regions_equal_pearsons_r_by_hand():
    values = region_values(14)
    incomplete = {("AM03", "portal_share"), ("AM07", "benefits_per_vacancy")}
    result = analyses(mart(region_rows(values, incomplete=incomplete)), None)

    assert result.schema == pl.Schema(ANALYSIS_SCHEMA)
    assert result.filter(pl.col("analysis") == "correlation").height == len(CORRELATED) * (len(CORRELATED) - 1) // 2
    got = correlation(result, "benefits_per_vacancy", "portal_share")
    used = [code for code in values if code not in ("AM03", "AM07")]
    xs = [values[c]["benefits_per_vacancy"] for c in used]
    ys = [values[c]["portal_share"] for c in used]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    r = sum((a - mx) * (b - my) for a, b in zip(xs, ys)) / math.sqrt(sum((a - mx) ** 2 for a in xs) * sum((b - my) ** 2 for b in ys))
    assert got["value"] == pytest.approx(r)
    assert (got["n"], got["population"], got["df"], got["units"], got["reason"]) == (12, 14, 10.0, "regions", None)
    assert 0 < got["p_value"] < 1
    growth = correlation(result, "ww_benefits_growth", "wwb_benefits_growth")
    assert (growth["n"], growth["base_year"]) == (14, YEAR - 5)
    assert correlation(result, "portal_share", "wwb_registered_share")["base_year"] is None


def test_too_few_complete_regions_give_a_null_with_the_counts_not_a_figure_on_a_handful():
    values = region_values(MIN_REGIONS + 2)
    incomplete = {(code, "wwb_registered_share") for code in list(values)[:3]}  # MIN_REGIONS - 1 complete
    result = analyses(mart(region_rows(values, incomplete=incomplete)), None)

    got = correlation(result, "portal_share", "wwb_registered_share")
    assert got["value"] is None and got["p_value"] is None
    assert got["n"] == MIN_REGIONS - 1
    assert f"{MIN_REGIONS - 1} regions with complete figures of both (at least {MIN_REGIONS} needed)" in got["reason"]
    assert f"portal_share complete in {MIN_REGIONS + 2} of {MIN_REGIONS + 2} regions, wwb_registered_share in {MIN_REGIONS - 1}" in got["reason"]
    assert correlation(result, "benefits_per_vacancy", "portal_share")["value"] is not None  # the other pairs still computed


def test_without_uwv_files_only_the_growths_are_correlated_and_every_other_row_says_why():
    values = {code: {"ww_benefits_growth": v["ww_benefits_growth"], "wwb_benefits_growth": v["wwb_benefits_growth"]}
              for code, v in region_values(12).items()}  # fmt: skip
    unknown = [row("portal_share", code, None, complete=False) for code in values]  # a row per region, null where unknown
    result = analyses(
        mart(region_rows(values) + unknown), pl.DataFrame(schema={"gm_code": pl.String, "reference_date": pl.Date, "connected": pl.Boolean})
    )

    assert result.filter(pl.col("view") == "harmonised")["year"].unique().to_list() == [YEAR]
    assert correlation(result, "ww_benefits_growth", "wwb_benefits_growth")["value"] is not None
    portal = correlation(result, "wwb_benefits_growth", "portal_share")
    assert portal["value"] is None
    assert portal["reason"] == f"no portal_share figures for {YEAR}: it needs a UWV register file with a reference date in {YEAR}"
    test = result.filter(pl.col("analysis") == "registered_share_by_portal").row(0, named=True)
    assert test["value"] is None and test["n"] == 0
    assert "needs a UWV register file" in test["reason"]


def test_the_unassigned_area_am99_is_no_region_in_a_correlation():
    values = region_values(MIN_REGIONS)
    values["AM99"] = {name: 1000.0 for name in CORRELATED}
    result = analyses(mart(region_rows(values)), None)
    got = correlation(result, "benefits_per_vacancy", "portal_share")
    assert (got["n"], got["population"]) == (MIN_REGIONS, MIN_REGIONS)


def test_a_constant_indicator_is_not_correlated():
    values = region_values(12)
    for figures in values.values():
        figures["portal_share"] = 100.0
    got = correlation(analyses(mart(region_rows(values)), None), "benefits_per_vacancy", "portal_share")
    assert got["value"] is None and "portal_share is the same in every region" in got["reason"]


def portal_mart(shares: dict[str, float]) -> pl.DataFrame:
    rows = [row("municipalities", "AM01", 3.0)]
    rows += [row("wwb_registered_share", code, share, area_type="municipality") for code, share in shares.items()]
    rows.append(row("wwb_registered_share", "AM01", 60.0))
    return mart(rows)


def portal_table(connected: dict[str, bool], dates: tuple[dt.date, ...] = (dt.date(YEAR, 6, 1),)) -> pl.DataFrame:
    return pl.DataFrame(
        [{"gm_code": code, "reference_date": day, "connected": flag} for day in dates for code, flag in connected.items()],
        schema={"gm_code": pl.String, "reference_date": pl.Date, "connected": pl.Boolean},
    )


def test_registered_share_by_portal_is_welchs_t_test_on_the_municipal_shares():
    rng = random.Random(3)
    shares = {f"{i:04d}": rng.uniform(40, 90) for i in range(1, 41)}
    connected = {code: i % 4 != 0 for i, code in enumerate(shares)}
    connected["9999"] = True  # a municipality with a status but no share is not counted
    # an earlier reference date in the year says the opposite: only the year's latest date counts
    earlier = portal_table({code: not flag for code, flag in connected.items()}, (dt.date(YEAR, 1, 1),))
    result = analyses(portal_mart(shares), pl.concat([earlier, portal_table(connected)]))

    got = result.filter(pl.col("analysis") == "registered_share_by_portal").row(0, named=True)
    a = [s for code, s in shares.items() if connected[code]]
    b = [s for code, s in shares.items() if not connected[code]]
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    va = sum((x - ma) ** 2 for x in a) / (len(a) - 1)
    vb = sum((x - mb) ** 2 for x in b) / (len(b) - 1)
    t = (ma - mb) / math.sqrt(va / len(a) + vb / len(b))
    df = (va / len(a) + vb / len(b)) ** 2 / ((va / len(a)) ** 2 / (len(a) - 1) + (vb / len(b)) ** 2 / (len(b) - 1))
    assert (got["n"], got["n_x"], got["n_y"], got["population"], got["units"]) == (40, 30, 10, 40, "municipalities")
    assert (got["x"], got["y"]) == ("connected", "not_connected")
    assert got["mean_x"] == pytest.approx(ma) and got["mean_y"] == pytest.approx(mb)
    assert got["value"] == pytest.approx(ma - mb)
    assert got["statistic"] == pytest.approx(t) and got["df"] == pytest.approx(df)
    assert got["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), df))
    assert got["reason"] is None


def test_registered_share_by_portal_needs_enough_municipalities_in_each_group():
    shares = {f"{i:04d}": 50.0 + i for i in range(1, 31)}
    connected = {code: i >= MIN_MUNICIPALITIES - 1 for i, code in enumerate(shares)}  # MIN - 1 not connected
    got = analyses(portal_mart(shares), portal_table(connected)).filter(pl.col("analysis") == "registered_share_by_portal").row(0, named=True)
    assert got["value"] is None and got["p_value"] is None
    assert (got["n_x"], got["n_y"]) == (30 - MIN_MUNICIPALITIES + 1, MIN_MUNICIPALITIES - 1)
    assert f"at least {MIN_MUNICIPALITIES} in each group needed" in got["reason"]


def test_as_published_years_are_those_with_uwv_figures():
    values = region_values(12)
    rows = region_rows(values, view="as_published", geography=2016, year=2016)
    growth_only = {code: {"ww_benefits_growth": 1.0} for code in values}
    rows += region_rows(growth_only, view="as_published", geography=2015, year=2015)
    result = analyses(mart([{**r, "base_year": 2011 if r["base_year"] else None} for r in rows]), None)
    assert result.select("view", "geography_year", "year").unique().rows() == [("as_published", 2016, 2016)]
