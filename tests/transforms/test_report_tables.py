"""The report's tables: a region's value only where complete, every other region kept with why."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from transforms.indicators import INDICATOR_SCHEMA
from transforms.report_tables import (
    correlation_matrix,
    coverage,
    coverage_summary,
    latest_year,
    national_figure,
    portal_bands,
    region_figure,
    region_list,
)


def row(indicator, code, value, *, year=2016, base_year=None, complete=True, reporting=3, area_type="region", category=None, **extra):
    return {
        "indicator": indicator, "area_type": area_type, "area_code": code, "area_name": f"Regio {code}", "year": year,
        "base_year": base_year, "category": category, "value": value, "unit": "%", "view": "harmonised",
        "geography_year": 2016, "municipalities": 3, "reporting": reporting, "complete": complete, "approximate": False,
        "method": "test", "sources": "82015NED", **extra,
    }  # fmt: skip


def mart(rows, note: bool = False):
    schema = {**INDICATOR_SCHEMA, **({"note": pl.String} if note else {})}
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema, orient="row")


REGIONS = [row("municipalities", code, 3.0) for code in ("AM01", "AM02", "AM03", "AM04", "AM05")] + [
    row("municipalities", "AM99", 1.0)
]


def test_region_list_leaves_out_am99_and_labels_each_region():
    regions = region_list(mart(REGIONS), 2016)
    assert regions["area_code"].to_list() == ["AM01", "AM02", "AM03", "AM04", "AM05"]
    assert regions["label"][0] == "AM01 Regio AM01"


def test_region_figure_shows_complete_values_only_and_says_why_for_the_others():
    rows = REGIONS + [
        row("wwb_benefits_growth", "AM01", 5.0, base_year=2009),
        row("wwb_benefits_growth", "AM02", 12.0, base_year=2009),
        row("wwb_benefits_growth", "AM03", -90.0, base_year=2009, complete=False, reporting=1),  # a partial sum: not shown
        row("wwb_benefits_growth", "AM04", None, base_year=2009, complete=False, reporting=0),
        row("wwb_benefits_growth", "AM01", 99.0, base_year=2010),  # another period
    ]
    figure = region_figure(mart(rows), region_list(mart(rows), 2016), "wwb_benefits_growth", 2016, 2009)

    assert figure.select("area_code", "value", "status", "detail").rows() == [
        ("AM02", 12.0, "complete", None),
        ("AM01", 5.0, "complete", None),
        ("AM03", None, "incomplete", "1 of 3 municipalities reported"),
        ("AM04", None, "no figure", "0 of 3 municipalities reported"),
        ("AM05", None, "no figure", "no row in the warehouse"),
    ]


def test_region_figure_adds_the_marts_note_where_it_has_one():
    rows = REGIONS + [row("wwb_benefits", "AM01", None, complete=False, reporting=2, note="Weesp has no figure for March")]
    figure = region_figure(mart(rows, note=True), region_list(mart(rows, note=True), 2016), "wwb_benefits", 2016)
    assert figure.filter(pl.col("area_code") == "AM01")["detail"].to_list() == [
        "2 of 3 municipalities reported; Weesp has no figure for March"
    ]


def test_national_figure_is_none_unless_complete():
    rows = [row("ww_benefits_growth", "NL01", 29.0, area_type="country", base_year=2008, year=2009),
            row("ww_benefits_growth", "NL01", 3.0, area_type="country", base_year=2010, year=2011, complete=False)]  # fmt: skip
    assert national_figure(mart(rows), "ww_benefits_growth", 2009, 2008) == 29.0
    assert national_figure(mart(rows), "ww_benefits_growth", 2011, 2010) is None
    assert national_figure(mart(rows), "ww_benefits_growth", 2014, 2009) is None


def test_latest_year_prefers_a_year_with_a_complete_region():
    rows = [row("labour_force", "AM01", 1.0, year=2014), row("labour_force", "AM01", 1.0, year=2015, complete=False)]
    assert latest_year(mart(rows), "labour_force", 2016) == 2014
    assert latest_year(mart(rows), "labour_force", 2013) is None


def test_coverage_gives_every_region_every_year_and_the_summary_names_the_gaps():
    rows = REGIONS + [
        row("wwb_benefits", "AM01", 10.0, year=2015),
        row("wwb_benefits", "AM02", 10.0, year=2015, complete=False, reporting=2),
        row("wwb_benefits", "AM01", 10.0, year=2016),
    ]
    grid = coverage(mart(rows), region_list(mart(rows), 2016), ["wwb_benefits", "ww_benefits"])
    assert grid.height == 10 and set(grid["year"]) == {2015, 2016}
    summary = coverage_summary(grid)
    first = summary.row(0, named=True)
    assert (first["year"], first["regions"], first["complete"]) == (2015, 5, 1)
    assert first["not_complete"].startswith("AM02 (incomplete: 2 of 3 municipalities reported); AM03 (no figure: no row")


def test_portal_bands_in_the_evaluations_order():
    rows = [row("regions_by_portal_share", "NL01", n, area_type="country", category=band)
            for band, n in (("100%", 3.0), ("0%", 0.0), ("51-75%", 20.0))]  # fmt: skip
    bands = portal_bands(mart(rows), 2016, ("0%", "1-25%", "51-75%", "100%"))
    assert bands.select("band", "regions").rows() == [("0%", 0.0), ("51-75%", 20.0), ("100%", 3.0)]


def test_correlation_matrix_holds_both_triangles():
    analyses = pl.DataFrame(
        {"analysis": ["correlation"], "x": ["a"], "y": ["b"], "value": [0.5], "n": [12], "p_value": [0.1], "reason": [None]},
        schema_overrides={"reason": pl.String},
    )
    matrix = correlation_matrix(analyses, ["a", "b"])
    expected = pl.DataFrame(
        {"x": ["a", "b"], "y": ["b", "a"], "value": [0.5, 0.5], "n": [12, 12], "p_value": [0.1, 0.1], "reason": [None, None]},
        schema_overrides={"reason": pl.String},
    )
    assert_frame_equal(matrix, expected)
