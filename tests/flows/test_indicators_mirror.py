"""Region indicators a user can trust, on the offline mirror of real CBS data (issue 21, 'Done means').

The mirror's municipal WW and WWB tables are truncated (``../shared/data/statline/MANIFEST.md``):
most regions have part of their municipalities, and 80794ned none at all. What is published
must say so: no value without a reporting municipality, no growth between two different sets,
no WW + WWB where WW is unknown, no AM99 among the regions, a row for every region where nothing
is known, and the provenance of the facts after a recalculation.
"""

from __future__ import annotations

import polars as pl
import pytest

from flows.settings import Settings
from sources.cbs import catalog
from tests.statline_mirror import StatLineMirror
from warehouse.store import query

pytestmark = [pytest.mark.mirror]

TABLES = [catalog.national_benefits().table_id, catalog.REGIONS, catalog.WW_MUNICIPAL, catalog.WWB_MUNICIPAL]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, statline_root, prefect_server):
    """The warehouse after a refresh (reference year 2025) and `werkregio indicators --reference-year 2014` / 2015, and the mirror's URL."""
    from flows.indicators import recalculate_indicators
    from flows.refresh import refresh

    home = tmp_path_factory.mktemp("mirror-home")
    with StatLineMirror(statline_root, page_size=2_000) as mirror, pytest.MonkeyPatch.context() as patch:
        patch.setenv("WERKREGIO_HOME", str(home))
        patch.setenv("WERKREGIO_CBS_URL", mirror.base_url)
        refresh(tables=TABLES)
        url = mirror.base_url
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WERKREGIO_HOME", str(home))
        patch.setenv("WERKREGIO_CBS_URL", "https://cbs.elsewhere.invalid")  # today's setting: not where the facts came from
        recalculate_indicators(reference_year=2014)
        recalculate_indicators(reference_year=2015)
    return Settings(home=home).warehouse_path, url


def regions(path, where: str = "true") -> pl.DataFrame:
    return query(path, f"SELECT * FROM v_region_indicators WHERE area_type = 'region' AND {where}")


def test_no_region_value_without_a_reporting_municipality_and_a_reason_for_every_gap(warehouse):
    path, _ = warehouse
    rows = regions(path)
    assert rows.height > 10_000
    assert rows.filter(pl.col("value").is_not_null() & (pl.col("reporting") == 0)).height == 0
    gaps = rows.filter(pl.col("value").is_null() | ~pl.col("complete"))
    assert gaps.height and gaps["note"].null_count() == 0


def test_no_growth_between_two_different_sets_of_municipalities(warehouse):
    """A growth counts the municipalities with every month of both years: never more than either year's level has.

    Harmonised, both levels lie on the growth's geography (as published, the base year's level lies
    on its own, so there only the notes are checked). Where the growth covers as many as both levels, the sets are the same and it equals the growth of
    the levels; otherwise its note says whose growth it is. AM18 2012 -> 2013 on 2015 boundaries was
    -99.6%, a year of eight municipalities against Aalsmeer's January-May.
    """
    path, _ = warehouse
    counts = ("ww_benefits", "wwb_benefits", "ww_wwb_benefits")
    names = ", ".join(f"'{c}'" for c in counts)
    levels = regions(path, f"indicator IN ({names})").select(
        "indicator", "area_code", "year", "view", "geography_year", pl.col("value").alias("level"), pl.col("reporting").alias("level_reporting")
    )
    growth = regions(path, "indicator LIKE '%_growth' AND view = 'harmonised'").with_columns(
        pl.col("indicator").str.strip_suffix("_growth").alias("count")
    )
    assert growth.height > 1_000 and set(growth["count"]) == set(counts)
    keys = ["area_code", "view", "geography_year"]
    joined = growth.join(
        levels.rename({"indicator": "count", "level": "now", "level_reporting": "now_reporting"}), on=["count", "year", *keys]
    ).join(
        levels.rename({"indicator": "count", "year": "base_year", "level": "then", "level_reporting": "then_reporting"}),
        on=["count", "base_year", *keys],
    )
    assert joined.height == growth.height  # every growth has both levels on its geography
    assert joined.filter(pl.col("reporting") > pl.min_horizontal("now_reporting", "then_reporting")).height == 0
    same_sets = joined.filter(
        pl.col("value").is_not_null() & (pl.col("reporting") == pl.col("now_reporting")) & (pl.col("reporting") == pl.col("then_reporting"))
    )
    assert same_sets.height > 0
    off = same_sets.filter(((pl.col("now") / pl.col("then") - 1) * 100 - pl.col("value")).abs() > 1e-9)
    assert off.height == 0, off.head(3).to_dicts()
    partial = regions(path, "indicator LIKE '%_growth' AND value IS NOT NULL AND NOT complete")
    assert partial.height > 0 and partial["note"].str.starts_with("growth of the ").all()

    am18 = growth.filter(
        (pl.col("indicator") == "wwb_benefits_growth") & (pl.col("area_code") == "AM18") & (pl.col("view") == "harmonised")
        & (pl.col("geography_year") == 2015) & (pl.col("year") == 2013) & (pl.col("base_year") == 2012)
    ).to_dicts()
    assert len(am18) == 1 and am18[0]["value"] is None and am18[0]["reporting"] == 0  # not -99.6%
    assert am18[0]["note"] == "no municipality has a figure for every month of both years"


def test_ww_plus_wwb_has_no_value_wherever_ww_is_unknown(warehouse):
    path, _ = warehouse
    key = ["area_type", "area_code", "year", "base_year", "view", "geography_year"]
    rows = query(path, "SELECT * FROM v_region_indicators")
    both = rows.filter(pl.col("indicator") == "ww_wwb_benefits").join(
        rows.filter(pl.col("indicator") == "ww_benefits").select(*key, pl.col("value").alias("ww")), on=key, how="left", nulls_equal=True
    )
    assert both.height > 500
    unknown = both.filter(pl.col("ww").is_null())
    assert unknown.height > 500 and unknown["value"].null_count() == unknown.height
    assert unknown.filter(pl.col("area_type") == "region")["note"].null_count() == 0


def test_am99_is_no_region(warehouse):
    path, _ = warehouse
    assert query(path, "SELECT count(*) AS n FROM v_region_indicators WHERE area_code = 'AM99'")["n"].item() == 0
    assert query(path, "SELECT DISTINCT area_type FROM indicators WHERE area_code = 'AM99'")["area_type"].to_list() == ["unassigned"]
    per_year = query(
        path,
        "SELECT year, count(*) AS n FROM v_region_indicators WHERE indicator = 'municipalities' AND view = 'as_published' GROUP BY year",
    )
    assert set(per_year["n"]) == {35}  # 2019 and 2020 too
    spread = query(path, "SELECT * FROM v_indicator_spread")
    assert spread["regions"].max() <= 35
    assert not (spread["min_regions"].fill_null("") + spread["max_regions"].fill_null("")).str.contains("AM99").any()


def test_ww_growth_2008_2009_has_a_row_for_each_of_the_35_regions_on_2014_boundaries(warehouse):
    """80794ned in the mirror has no municipality at all: every row is there, with no value and the reason."""
    path, _ = warehouse
    rows = regions(path, "indicator = 'ww_benefits_growth' AND year = 2009 AND base_year = 2008 AND view = 'harmonised' AND geography_year = 2014")
    assert rows.height == 35 and rows["area_code"].n_unique() == 35
    assert rows["value"].null_count() == 35 and set(rows["note"]) == {"no municipality has a figure for every month of both years"}
    levels = regions(path, "indicator IN ('ww_benefits', 'wwb_benefits') AND view = 'harmonised' AND geography_year = 2014")
    assert sorted(levels["year"].unique()) == list(range(2007, 2015))  # the harmonised view starts in 2007
    country = query(
        path,
        "SELECT value FROM v_region_indicators WHERE area_code = 'NL01' AND indicator = 'ww_benefits_growth' AND year = 2009 "
        "AND base_year = 2008 AND view = 'harmonised' AND geography_year = 2014",
    )
    assert round(country["value"].item()) == 29


def test_build_info_after_a_recalculation_names_the_service_the_facts_came_from(warehouse):
    path, url = warehouse
    info = query(path, "SELECT flow, cbs_url FROM build_info").to_dicts()
    assert info == [{"flow": "indicators", "cbs_url": url}]
