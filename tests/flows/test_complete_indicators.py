"""Region indicators on complete data, through the real refresh (issue 21, deliverable 4).

The offline mirror's municipal tables are truncated, so no region is complete there. Here
``bench.generate.complete_mirror`` gives every real municipality code a WW and a WWB figure for
every month 2007-2024; a local mirror serves it with the real 37789ksz and 'Gebieden in
Nederland' tables, a refresh publishes it (reference year 2025, the latest composition) and a
recalculation adds 2014. Then one municipality-month (Scheemda, May 2008: it merged into Oldambt
in 2010) is taken out of 80794ned and the refresh runs again.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from bench.generate import complete_mirror
from flows.settings import Settings
from tests.statline_mirror import StatLineMirror
from transforms.geography import crosswalks, harmonise_counts
from transforms.regions import valid_codes_by_year
from warehouse.store import query

pytestmark = [pytest.mark.mirror]

COUNTS = ("ww_benefits", "wwb_benefits", "ww_wwb_benefits")
REMOVED = ("0039", 2008, 5)  # Scheemda, May 2008
LAST_DATA_YEAR = 2024


def refresh_from(folder: Path, home: Path) -> None:
    from flows.refresh import refresh

    with StatLineMirror(folder) as mirror, pytest.MonkeyPatch.context() as patch:
        patch.setenv("WERKREGIO_HOME", str(home))
        patch.setenv("WERKREGIO_CBS_URL", mirror.base_url)
        refresh(tables=sorted(p.name for p in folder.iterdir()))


def published(home: Path) -> dict[str, pl.DataFrame]:
    warehouse = Settings(home=home).warehouse_path
    names = ("indicators", "regional_series", "region_membership", "municipalities", "municipal_changes")
    return {name: query(warehouse, f"SELECT * FROM {name}") for name in names}


def without_one_month(folder: Path) -> None:
    """80794ned republished (a new Modified) without the row of ``REMOVED``."""
    code, year, month = REMOVED
    table = folder / "80794ned"
    data = json.loads((table / "TypedDataSet.json").read_text())
    key = ("GM" + code, f"{year}MM{month:02d}")
    data["value"] = [row for row in data["value"] if (row["RegioS"].strip(), row["Perioden"]) != key]
    (table / "TypedDataSet.json").write_text(json.dumps(data))
    (table / "TypedDataSet.parquet").unlink()  # the twin for landing without HTTP; the mirror serves the JSON
    info = json.loads((table / "TableInfos.json").read_text())
    info["value"][0]["Modified"] = "2026-01-01T02:00:00"
    (table / "TableInfos.json").write_text(json.dumps(info))


@pytest.fixture(scope="module")
def builds(tmp_path_factory, statline_root, prefect_server) -> dict[str, dict[str, pl.DataFrame]]:
    """The published tables of the complete build (with 2014 added) and of the build without one municipality-month."""
    from flows.indicators import recalculate_indicators

    folder, home = tmp_path_factory.mktemp("complete") / "mirror", tmp_path_factory.mktemp("complete-home")
    rows = complete_mirror(folder)
    assert rows == {"80794ned": 103_896, "80724ned": 34_632, "82015NED": 80_808}  # 481 areas x 216, 72, 168 months
    refresh_from(folder, home)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WERKREGIO_HOME", str(home))
        recalculate_indicators(reference_year=2014)
    before = published(home)
    without_one_month(folder)
    refresh_from(folder, home)  # keeps the published 2014 scenario
    shutil.rmtree(folder)
    return {"complete": before, "gap": published(home)}


def regions(indicators: pl.DataFrame) -> pl.DataFrame:
    return indicators.filter((pl.col("area_type") == "region") & pl.col("indicator").is_in([*COUNTS, *(f"{c}_growth" for c in COUNTS)]))


def municipal_means(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Yearly average per municipality and series (ww, wwb) on the year's own boundaries, from the published facts."""
    rows = tables["regional_series"].filter((pl.col("area_type") == "municipality") & pl.col("series").is_in(["ww", "wwb"]))
    return (
        rows.filter(pl.col("value").is_not_null())
        .unique(["series", "area_code", "period_start"])  # WWB: 82015NED and 80724ned overlap in 2011-2012 with the same figures
        .group_by("series", "area_code", pl.col("period_start").dt.year().cast(pl.Int32).alias("year"))
        .agg(pl.col("value").mean(), pl.len().alias("months"))
    )


def walks(tables: dict[str, pl.DataFrame]):
    municipalities = tables["municipalities"]
    return crosswalks(tables["municipal_changes"], valid_codes_by_year(municipalities, range(2007, 2026)))


def expected_levels(tables: dict[str, pl.DataFrame], series: str, geography: int, years) -> dict[tuple[str, int], float]:
    """(region, year) -> the region's share of every municipality's yearly average, each moved by its crosswalk share."""
    means = municipal_means(tables).filter(pl.col("series") == series)
    members = tables["region_membership"].filter(pl.col("year") == geography).select("gm_code", "region_code")
    walk = walks(tables)
    out = {}
    for year in years:
        moved = (
            means.filter(pl.col("year") == year)
            .join(walk(year, geography), left_on="area_code", right_on="from_code")
            .join(members, left_on="to_code", right_on="gm_code")
            .group_by("region_code")
            .agg((pl.col("value") * pl.col("share")).sum())
        )
        out |= {(region, year): value for region, value in moved.iter_rows()}
    return out


def test_every_region_figure_of_2007_2024_is_complete_and_2025_is_null_with_a_reason(builds):
    rows = regions(builds["complete"]["indicators"])
    data_years = rows.filter((pl.col("year") <= LAST_DATA_YEAR))
    # 35 regions x 3 counts x (levels + pairs of years): harmonised 2014 (8 years), 2025 (18 with data), as published (11)
    assert data_years.height == 35 * 3 * (8 + 28 + 18 + 153 + 11 + 55)
    incomplete = data_years.filter(~pl.col("complete") | pl.col("value").is_null())
    assert incomplete.height == 0, incomplete.head(5).to_dicts()
    assert data_years["note"].null_count() == data_years.height
    later = rows.filter(pl.col("year") > LAST_DATA_YEAR)
    assert later.height and later["value"].null_count() == later.height and later["note"].null_count() == 0
    per_year = data_years.filter(pl.col("indicator") == "ww_benefits").group_by("view", "geography_year", "year").agg(pl.len())
    assert set(per_year["len"]) == {35}  # AM99 (2019-2020) is no region
    harmonised = data_years.filter(pl.col("view") == "harmonised").group_by("geography_year").agg(pl.col("year").min().alias("first"), pl.col("year").max().alias("last"))
    assert sorted(harmonised.rows()) == [(2014, 2007, 2014), (2025, 2007, 2024)]


@pytest.mark.parametrize("series, indicator", [("ww", "ww_benefits"), ("wwb", "wwb_benefits")])
def test_region_totals_equal_the_sums_of_their_municipalities(builds, series, indicator):
    tables = builds["complete"]
    levels = regions(tables["indicators"]).filter((pl.col("indicator") == indicator) & (pl.col("year") <= LAST_DATA_YEAR))
    checked = 0
    for view, geography in (("harmonised", 2014), ("harmonised", 2025), ("as_published", None)):
        rows = levels.filter((pl.col("view") == view) & ((pl.col("geography_year") == geography) if geography else pl.lit(True)))
        for (year,), group in rows.partition_by("year", as_dict=True).items():
            expected = expected_levels(tables, series, geography or year, [year])
            for code, value in group.select("area_code", "value").iter_rows():
                assert value == pytest.approx(expected[(code, year)], rel=1e-12), (view, geography, code, year)
                checked += 1
    assert checked == 35 * (8 + 18 + 11)


def test_the_harmonised_national_total_is_the_sum_of_all_municipalities_in_every_month(builds):
    """Conservation through every merger, split and transfer 2007-2024: per year in the mart, per month through the crosswalks."""
    tables = builds["complete"]
    country = tables["regional_series"].filter(
        (pl.col("area_type") == "country") & (pl.col("series") == "ww") & (pl.col("source_table") == "80794ned")
    )
    yearly = dict(country.group_by(pl.col("period_start").dt.year().cast(pl.Int32)).agg(pl.col("value").mean()).iter_rows())
    levels = regions(tables["indicators"]).filter((pl.col("indicator") == "ww_benefits") & (pl.col("view") == "harmonised"))
    summed = levels.filter(pl.col("year") <= LAST_DATA_YEAR).group_by("geography_year", "year").agg(pl.col("value").sum())
    assert summed.height == 8 + 18
    for _, year, total in summed.iter_rows():
        assert total == pytest.approx(yearly[year], rel=1e-12)  # NL01 of the table is the sum of its municipalities
    monthly = tables["regional_series"].filter(
        (pl.col("area_type") == "municipality") & (pl.col("series") == "ww") & pl.col("value").is_not_null()
    )
    by_month = dict(country.select("period_start", "value").iter_rows())
    walk = walks(tables)
    for year in range(2007, 2015):
        moved = harmonise_counts(
            monthly.filter(pl.col("period_start").dt.year() == year).select(pl.col("area_code").alias("gm_code"), "period_start", "value"),
            walk(year, 2014),
            by=["period_start"],
        )
        per_month = moved.group_by("period_start").agg(pl.col("value").sum(), pl.len())
        assert per_month.height == 12 and set(per_month["len"]) == {403}  # the municipalities of 2014
        for month, total, _ in per_month.iter_rows():
            assert total == pytest.approx(by_month[month], rel=1e-12), month


def test_ww_growth_2008_2009_for_all_35_regions_on_2014_boundaries(builds):
    rows = regions(builds["complete"]["indicators"]).filter((pl.col("view") == "harmonised") & (pl.col("geography_year") == 2014))
    grown = rows.filter((pl.col("indicator") == "ww_benefits_growth") & (pl.col("year") == 2009) & (pl.col("base_year") == 2008))
    assert grown.height == 35 and grown["complete"].all() and grown["reporting"].to_list() == grown["municipalities"].to_list()
    levels = {(c, y): v for c, y, v in rows.filter(pl.col("indicator") == "ww_benefits").select("area_code", "year", "value").iter_rows()}
    for code, value in grown.select("area_code", "value").iter_rows():
        assert value == pytest.approx((levels[(code, 2009)] / levels[(code, 2008)] - 1) * 100, rel=1e-12)


def test_one_municipality_month_less_turns_exactly_the_affected_rows_incomplete_with_like_for_like_values(builds):
    before, after = (regions(builds[name]["indicators"]) for name in ("complete", "gap"))
    key = ["indicator", "area_code", "year", "base_year", "view", "geography_year"]
    joined = before.join(after, on=key, how="full", coalesce=True, nulls_equal=True, suffix="_after")
    assert joined.height == before.height == after.height
    flipped = joined.filter(pl.col("complete") != pl.col("complete_after"))

    tables = builds["complete"]
    code, year, _ = REMOVED
    walk = walks(tables)
    means = municipal_means(tables)
    expected_rows, expected_values = set(), {}
    for geography in (2014, 2025):
        members = tables["region_membership"].filter(pl.col("year") == geography)
        (unit,) = walk(year, geography).filter(pl.col("from_code") == code)["to_code"].to_list()  # Oldambt 1895
        region = members.filter(pl.col("gm_code") == unit)["region_code"].item()

        def unit_mean(series: str, in_year: int) -> float:
            parts = walk(in_year, geography).filter(pl.col("to_code") == unit)
            moved = parts.join(means.filter((pl.col("series") == series) & (pl.col("year") == in_year)), left_on="from_code", right_on="area_code")
            return (moved["share"] * moved["value"]).sum()

        def level(indicator: str, in_year: int) -> float:
            return before.filter((pl.col("indicator") == indicator) & (pl.col("area_code") == region) & (pl.col("year") == in_year)
                                 & (pl.col("geography_year") == geography) & (pl.col("view") == "harmonised") & pl.col("base_year").is_null())["value"].item()

        def without_unit(indicator: str, in_year: int) -> float:
            series = ["ww"] if indicator == "ww_benefits" else ["ww", "wwb"]
            return level(indicator, in_year) - sum(unit_mean(s, in_year) for s in series)

        for indicator in ("ww_benefits", "ww_wwb_benefits"):  # WWB is untouched
            expected_rows.add((indicator, region, year, None, "harmonised", geography))
            expected_values[(indicator, region, year, None, "harmonised", geography)] = without_unit(indicator, year)
            for other in range(2007, min(geography, LAST_DATA_YEAR) + 1):
                if other == year:
                    continue
                base, later = min(other, year), max(other, year)
                growth = (without_unit(indicator, later) / without_unit(indicator, base) - 1) * 100
                expected_rows.add((f"{indicator}_growth", region, later, base, "harmonised", geography))
                expected_values[(f"{indicator}_growth", region, later, base, "harmonised", geography)] = growth

    assert set(flipped.select(key).iter_rows()) == expected_rows
    for row in flipped.to_dicts():
        where = tuple(row[k] for k in key)
        assert row["complete"] and not row["complete_after"]
        assert row["reporting_after"] == row["municipalities"] - 1 and row["note_after"]
        assert row["value_after"] == pytest.approx(expected_values[where], rel=1e-9), where
    unchanged = joined.filter(pl.col("complete") == pl.col("complete_after"))
    assert unchanged.filter(
        (pl.col("value") - pl.col("value_after")).abs() > 1e-9 * pl.col("value").abs() + 1e-9
    ).height == 0  # every other figure is as it was
