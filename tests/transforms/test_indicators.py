"""Region indicators: harmonised and as-published views, growth, labour force, UWV-based indicators, spread."""

from __future__ import annotations

import datetime as dt
import json
from functools import partial

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import transforms.geography
import transforms.indicators
from transforms.geography import MUNICIPAL_CHANGES_SCHEMA, municipality_crosswalk
from transforms.indicators import (
    INDICATOR_KEY,
    INDICATOR_SCHEMA,
    benefit_averages,
    combined,
    growth,
    indicator_tables,
    labour_force,
    pick_sources,
    spread,
    uwv_indicators,
)
from transforms.regional import REGIONAL_SCHEMA, regional_series
from transforms.regions import MEMBERSHIP_SCHEMA

# Two municipalities 0001 and 0002 merge into 0003 on 1 January 2021; 0004 stays.
CHANGES = pl.DataFrame(
    [
        {"date": dt.date(2021, 1, 1), "boundary_year": 2021, "old_code": old, "old_name": old, "new_code": "0003",
         "new_name": "Nieuw", "kind": "merger", "share": 1.0, "share_basis": "whole", "share_status": "exact", "source": "test"}
        for old in ("0001", "0002")
    ],
    schema=MUNICIPAL_CHANGES_SCHEMA,
)
VALID = {2020: frozenset({"0001", "0002", "0004"}), 2021: frozenset({"0003", "0004"})}
MEMBERSHIP = pl.DataFrame(
    [
        {"year": 2020, "gm_code": "0001", "gm_name": "Een", "region_code": "AM01", "region_name": "Noord", "source_table": "G20"},
        {"year": 2020, "gm_code": "0002", "gm_name": "Twee", "region_code": "AM02", "region_name": "Zuid", "source_table": "G20"},
        {"year": 2020, "gm_code": "0004", "gm_name": "Vier", "region_code": "AM02", "region_name": "Zuid", "source_table": "G20"},
        {"year": 2021, "gm_code": "0003", "gm_name": "Nieuw", "region_code": "AM01", "region_name": "Noord", "source_table": "G21"},
        {"year": 2021, "gm_code": "0004", "gm_name": "Vier", "region_code": "AM02", "region_name": "Zuid", "source_table": "G21"},
    ],
    schema=MEMBERSHIP_SCHEMA,
)


def monthly(code: str, year: int, value: float | None, table: str = "T1", series: str = "wwb") -> list[dict]:
    return [
        {"series": series, "area_type": "municipality", "area_code": code, "frequency": "month",
         "period_start": dt.date(year, m, 1), "period_key": f"{year}MM{m:02d}", "value": value, "unit": "aantal",
         "provisional": False, "geography_year": year, "source_table": table}
        for m in range(1, 13)
    ]


REGIONAL = pl.DataFrame(
    monthly("0001", 2020, 10.0) + monthly("0002", 2020, 20.0) + monthly("0004", 2020, 5.0)
    + monthly("0003", 2021, 33.0) + monthly("0004", 2021, 6.0),
    schema=REGIONAL_SCHEMA,
)
NATIONAL = pl.DataFrame(
    [{"series": "wwb", "frequency": "month", "period_start": dt.date(y, m, 1), "period_key": f"{y}MM{m:02d}",
      "value": v, "unit": "x 1 000", "provisional": False, "source_table": "N1"}
     for y, v in ((2020, 1.0), (2021, 1.2)) for m in range(1, 13)]
)


def rows(frame: pl.DataFrame, **where) -> list[dict]:
    for column, value in where.items():
        frame = frame.filter(pl.col(column) == value)
    return frame.sort("area_code", "year").select("area_code", "year", "value", "geography_year", "complete").to_dicts()


def averages(view: str, reference_year: int = 2021) -> pl.DataFrame:
    return benefit_averages(
        REGIONAL, NATIONAL, MEMBERSHIP, CHANGES, VALID, sources={"wwb": ["T1"]}, national_sources={"wwb": "N1"},
        reference_year=reference_year, view=view,
    )


def test_harmonised_view_puts_every_year_on_the_reference_boundaries():
    out = averages("harmonised")
    assert rows(out, indicator="wwb_benefits", area_type="region") == [
        {"area_code": "AM01", "year": 2020, "value": 30.0, "geography_year": 2021, "complete": True},
        {"area_code": "AM01", "year": 2021, "value": 33.0, "geography_year": 2021, "complete": True},
        {"area_code": "AM02", "year": 2020, "value": 5.0, "geography_year": 2021, "complete": True},
        {"area_code": "AM02", "year": 2021, "value": 6.0, "geography_year": 2021, "complete": True},
    ]


def test_as_published_view_uses_each_years_own_composition():
    out = averages("as_published")
    assert rows(out, indicator="wwb_benefits", area_type="region") == [
        {"area_code": "AM01", "year": 2020, "value": 10.0, "geography_year": 2020, "complete": True},
        {"area_code": "AM01", "year": 2021, "value": 33.0, "geography_year": 2021, "complete": True},
        {"area_code": "AM02", "year": 2020, "value": 25.0, "geography_year": 2020, "complete": True},
        {"area_code": "AM02", "year": 2021, "value": 6.0, "geography_year": 2021, "complete": True},
    ]


def test_country_rows_come_from_the_national_series_in_counts():
    out = averages("harmonised")
    assert rows(out, indicator="wwb_benefits", area_type="country") == [
        {"area_code": "NL01", "year": 2020, "value": 1000.0, "geography_year": 2021, "complete": True},
        {"area_code": "NL01", "year": 2021, "value": 1200.0, "geography_year": 2021, "complete": True},
    ]


def test_harmonised_view_leaves_out_years_after_the_reference_year():
    out = averages("harmonised", reference_year=2020)
    assert set(out.filter(pl.col("area_type") == "region")["year"]) == {2020}
    assert set(out["geography_year"]) == {2020}


def test_a_missing_month_makes_the_region_incomplete_and_says_so():
    gap = REGIONAL.filter(~((pl.col("area_code") == "0004") & (pl.col("period_start") == dt.date(2021, 5, 1))))
    out = benefit_averages(gap, NATIONAL, MEMBERSHIP, CHANGES, VALID, sources={"wwb": ["T1"]}, national_sources={},
                           reference_year=2021, view="harmonised")
    am02 = out.filter((pl.col("area_code") == "AM02") & (pl.col("year") == 2021)).to_dicts()[0]
    assert am02["complete"] is False
    assert am02["reporting"] == 0 and am02["municipalities"] == 1


@pytest.mark.parametrize("view", ["harmonised", "as_published"])
def test_a_municipality_without_any_row_is_a_gap_also_when_it_merges_into_another(view):
    """0002 existed in 2020 but has no row at all that year (a table cut short, a page never delivered).

    Harmonised to 2021 it merges with 0001 into 0003: 0003 is unknown, not 0001's 10, and AM01 has no
    figure for 2020. As published, 0002 lies in AM02: AM02 sums 0004 alone and is incomplete.
    """
    gap = REGIONAL.filter(~((pl.col("area_code") == "0002") & (pl.col("period_start").dt.year() == 2020)))
    out = benefit_averages(gap, NATIONAL, MEMBERSHIP, CHANGES, VALID, sources={"wwb": ["T1"]}, national_sources={},
                           reference_year=2021, view=view)
    regions = out.filter((pl.col("area_type") == "region") & (pl.col("year") == 2020)).sort("area_code")
    got = regions.select("area_code", "value", "municipalities", "reporting", "complete").to_dicts()
    if view == "harmonised":
        assert got == [
            {"area_code": "AM01", "value": None, "municipalities": 1, "reporting": 0, "complete": False},
            {"area_code": "AM02", "value": 5.0, "municipalities": 1, "reporting": 1, "complete": True},
        ]
    else:
        assert got == [
            {"area_code": "AM01", "value": 10.0, "municipalities": 1, "reporting": 1, "complete": True},
            {"area_code": "AM02", "value": 5.0, "municipalities": 2, "reporting": 1, "complete": False},
        ]


def test_null_for_a_municipality_outside_its_lifetime_is_not_a_gap():
    extinct = pl.DataFrame(monthly("0001", 2021, None), schema=REGIONAL_SCHEMA)
    out = benefit_averages(pl.concat([REGIONAL, extinct]), NATIONAL, MEMBERSHIP, CHANGES, VALID, sources={"wwb": ["T1"]},
                           national_sources={}, reference_year=2021, view="harmonised")
    assert out.filter((pl.col("area_type") == "region") & (pl.col("year") == 2021))["complete"].all()


def test_pick_sources_prefers_the_first_table_per_municipality_and_month():
    newer = pl.DataFrame(monthly("0004", 2020, 7.0, table="T2"), schema=REGIONAL_SCHEMA)
    picked = pick_sources(pl.concat([REGIONAL, newer]), "wwb", ["T2", "T1"])
    chosen = picked.filter(pl.col("area_code") == "0004").group_by(pl.col("period_start").dt.year().alias("year")).agg(
        pl.col("source_table").unique()
    )
    assert sorted(chosen.iter_rows()) == [(2020, ["T2"]), (2021, ["T1"])]
    assert picked.filter((pl.col("area_code") == "0004") & (pl.col("period_start") == dt.date(2020, 1, 1)))["value"].item() == 7.0
    assert not picked.select("area_code", "period_start").is_duplicated().any()


def test_pick_sources_takes_an_older_tables_figure_where_the_newer_one_has_a_null():
    newer = pl.DataFrame(monthly("0004", 2020, None, table="T2") + monthly("0001", 2020, 11.0, table="T2"), schema=REGIONAL_SCHEMA)
    picked = pick_sources(pl.concat([REGIONAL, newer]), "wwb", ["T2", "T1"]).filter(pl.col("period_start") == dt.date(2020, 3, 1))
    assert picked.select("area_code", "source_table", "value").rows() == [
        ("0001", "T2", 11.0), ("0002", "T1", 20.0), ("0004", "T1", 5.0)
    ]
    both_null = pl.DataFrame(monthly("0002", 2020, None, table="T1") + monthly("0002", 2020, None, table="T2"), schema=REGIONAL_SCHEMA)
    assert pick_sources(both_null, "wwb", ["T2", "T1"])["source_table"].unique().to_list() == ["T2"]


def test_growth_between_every_pair_of_years_and_combined_totals():
    base = averages("harmonised")
    grown = growth(base, ["wwb_benefits"])
    am01 = grown.filter(pl.col("area_code") == "AM01").to_dicts()
    assert len(am01) == 1
    assert am01[0]["year"] == 2021 and am01[0]["base_year"] == 2020 and am01[0]["value"] == pytest.approx(10.0)
    assert am01[0]["unit"] == "%"
    both = pl.concat([base, base.with_columns(pl.lit("ww_benefits").alias("indicator"))])
    total = combined(both, ["ww_benefits", "wwb_benefits"], "ww_wwb_benefits")
    assert total.filter((pl.col("area_code") == "AM01") & (pl.col("year") == 2020))["value"].item() == 60.0
    nothing = combined(both.with_columns(value=pl.when(pl.col("area_code") == "AM02").then(None).otherwise(pl.col("value"))),
                       ["ww_benefits", "wwb_benefits"], "ww_wwb_benefits")
    assert nothing.filter(pl.col("area_code") == "AM02")["value"].to_list() == [None, None]  # no figure, not 0


def test_as_published_growth_crosses_geographies_and_says_so():
    grown = growth(averages("as_published"), ["wwb_benefits"]).filter(pl.col("area_code") == "AM02").to_dicts()
    assert grown[0]["value"] == pytest.approx((6.0 / 25.0 - 1) * 100)
    assert "each year on its own boundaries" in grown[0]["method"]


def edition(geography: int, rows_: list[tuple[str, str, int, float]], table: str) -> pl.DataFrame:
    return pl.DataFrame(
        [{"series": "labour_force", "area_type": t, "area_code": c, "frequency": "year", "period_start": dt.date(y, 1, 1),
          "period_key": f"{y}JJ00", "value": v, "unit": "x 1 000", "provisional": False, "geography_year": geography,
          "source_table": table} for t, c, y, v in rows_],
        schema=REGIONAL_SCHEMA,
    )


def test_labour_force_uses_cbs_region_rows_or_sums_municipalities():
    with_regions = edition(2021, [("region", "AM01", 2020, 40.0), ("region", "AM02", 2020, 12.0), ("country", "NL01", 2020, 52.0)], "E21")
    without = edition(2020, [("municipality", "0001", 2020, 15.0), ("municipality", "0002", 2020, 25.0),
                             ("municipality", "0004", 2020, 11.0), ("country", "NL01", 2020, 51.0)], "E20")
    facts = pl.concat([with_regions, without])
    harmonised = labour_force(facts, MEMBERSHIP, reference_year=2021, view="harmonised")
    assert rows(harmonised, area_type="region") == [
        {"area_code": "AM01", "year": 2020, "value": 40000.0, "geography_year": 2021, "complete": True},
        {"area_code": "AM02", "year": 2020, "value": 12000.0, "geography_year": 2021, "complete": True},
    ]
    published = labour_force(facts, MEMBERSHIP, reference_year=2021, view="as_published")
    assert rows(published, area_type="region", year=2020) == [
        {"area_code": "AM01", "year": 2020, "value": 15000.0, "geography_year": 2020, "complete": True},
        {"area_code": "AM02", "year": 2020, "value": 36000.0, "geography_year": 2020, "complete": True},
    ]
    assert "sum of the edition's municipal figures" in published.filter(pl.col("area_type") == "region")["method"][0]


def uwv_frames() -> dict[str, pl.DataFrame]:
    return {
        "uwv_vacancies": pl.DataFrame(
            {"region_code": ["AM01", "AM01", "AM02"], "reference_date": [dt.date(2021, 1, 1), dt.date(2021, 12, 1), dt.date(2021, 1, 1)],
             "open_vacancies": [10, 30, 4]}
        ),
        "uwv_portal_connections": pl.DataFrame(
            {"gm_code": ["0003", "0004"], "reference_date": [dt.date(2021, 6, 1)] * 2, "connected": [True, False],
             "connected_since": [dt.date(2019, 1, 1), None]}
        ),
        "uwv_wwb_registrations": pl.DataFrame(
            {"gm_code": ["0003", "0004"], "reference_date": [dt.date(2021, 6, 1)] * 2, "wwb_recipients": [100, 50],
             "registered_job_seekers": [40, 10]}
        ),
    }


def test_uwv_indicators_vacancies_ratios_portal_bands_and_registration_shares():
    base = averages("as_published")
    benefits = pl.concat([base, base.with_columns(pl.lit("ww_benefits").alias("indicator"))])
    benefits = pl.concat([benefits, combined(benefits, ["ww_benefits", "wwb_benefits"], "ww_wwb_benefits")])
    out = uwv_indicators(uwv_frames(), benefits, MEMBERSHIP, reference_year=2021, view="as_published")

    def one(indicator: str, area: str) -> dict:
        return out.filter((pl.col("indicator") == indicator) & (pl.col("area_code") == area)).to_dicts()

    assert [(r["value"], r["complete"]) for r in one("uwv_vacancies", "AM01")] == [(20.0, True)]
    assert [(r["value"], r["complete"]) for r in one("uwv_vacancies", "AM02")] == [(4.0, False)]
    assert one("benefits_per_vacancy", "AM01")[0]["value"] == pytest.approx(66.0 / 20.0)
    tension = one("tension_ratio", "AM01")[0]
    assert tension["value"] == pytest.approx(20.0 / 33.0) and tension["category"] == "ruim"
    assert one("portal_share", "AM01")[0]["value"] == 100.0 and one("portal_share", "AM01")[0]["category"] == "100%"
    assert one("portal_share", "AM02")[0]["value"] == 0.0
    bands = {r["category"]: r["value"] for r in one("regions_by_portal_share", "NL01")}
    assert bands == {"0%": 1.0, "1-25%": 0.0, "26-50%": 0.0, "51-75%": 0.0, "76-99%": 0.0, "100%": 1.0}
    assert one("wwb_registered_share", "0003")[0]["value"] == 40.0
    assert one("wwb_registered_share", "AM02")[0]["value"] == 20.0
    assert one("wwb_registered_share_max", "AM01")[0]["category"] == "0003"


def test_indicator_tables_and_spread_name_the_extreme_regions():
    tables = indicator_tables(
        national=NATIONAL, regional=REGIONAL, membership=MEMBERSHIP, changes=CHANGES, valid_codes=VALID,
        scenarios=[(2021, "harmonised"), (2021, "as_published")], benefit_sources={"wwb": ["T1"]},
        national_sources={"wwb": "N1"}, uwv=uwv_frames(),
    )
    indicators = tables["indicators"]
    assert indicators.schema == pl.Schema(INDICATOR_SCHEMA)
    assert not indicators.select(["indicator", "area_type", "area_code", "year", "base_year", "category", "view", "geography_year"]).is_duplicated().any()
    row = tables["indicator_spread"].filter(
        (pl.col("indicator") == "wwb_benefits") & (pl.col("year") == 2020) & (pl.col("view") == "harmonised")
    ).to_dicts()[0]
    assert (row["min"], row["max"], row["min_regions"], row["max_regions"], row["regions"]) == (5.0, 30.0, "AM02", "AM01", 2)
    assert spread(indicators.head(0)).height == 0


def test_spread_compares_complete_region_totals_only_without_am99_or_per_region_labels():
    def region(indicator, code, value, complete, category=None):
        return {"indicator": indicator, "area_type": "region", "area_code": code, "area_name": code, "year": 2021,
                "value": value, "complete": complete, "category": category, "view": "harmonised", "geography_year": 2021}

    indicators = transforms.indicators._finish(pl.DataFrame([
        region("wwb_benefits", "AM01", 30.0, True),
        region("wwb_benefits", "AM02", 12.0, True),
        region("wwb_benefits", "AM03", 3.0, False),  # a partial sum: no region total
        region("wwb_benefits", "AM04", None, False),  # nobody reported
        region("wwb_benefits", "AM99", 1.0, True),  # 'Niet in te delen': no region
        region("ww_benefits", "AM01", 7.0, False),
        region("tension_ratio", "AM01", 0.5, True, "ruim"),
        region("tension_ratio", "AM02", 5.0, True, "zeer krap"),
        region("wwb_registered_share_max", "AM01", 40.0, True, "0003"),
        region("wwb_registered_share_max", "AM02", 20.0, True, "0004"),
    ]))
    out = {row["indicator"]: row for row in spread(indicators).to_dicts()}

    def summary(name):
        row = out[name]
        return (row["category"], row["regions"], row["complete_regions"], row["min"], row["mean"], row["max"],
                row["min_regions"], row["max_regions"])

    assert len(out) == spread(indicators).height  # one row per indicator: the labels do not split them
    assert summary("wwb_benefits") == (None, 3, 2, 12.0, 21.0, 30.0, "AM02", "AM01")
    assert summary("ww_benefits") == (None, 1, 0, None, None, None, None, None)
    assert summary("tension_ratio") == (None, 2, 2, 0.5, 2.75, 5.0, "AM01", "AM02")
    assert summary("wwb_registered_share_max") == (None, 2, 2, 20.0, 30.0, 40.0, "AM02", "AM01")


def test_labour_force_leaves_out_a_cbs_region_row_of_a_region_not_in_that_years_composition():
    facts = edition(2021, [("region", "AM01", 2021, 40.0), ("region", "AM99", 2021, None), ("country", "NL01", 2021, 52.0)], "E21")
    published = labour_force(facts, MEMBERSHIP, reference_year=2021, view="as_published")
    assert sorted(published.filter(pl.col("area_type") == "region")["area_code"]) == ["AM01"]


def test_regions_by_portal_share_is_complete_per_year():
    frames = uwv_frames()
    frames["uwv_portal_connections"] = pl.DataFrame(
        {"gm_code": ["0001", "0002", "0004", "0003"], "reference_date": [dt.date(2020, 6, 1)] * 3 + [dt.date(2021, 6, 1)],
         "connected": [True, True, False, True], "connected_since": [None] * 4}
    )  # 2020: every municipality; 2021: 0004 missing, so AM02 is incomplete
    base = averages("as_published")
    benefits = pl.concat([base, base.with_columns(pl.lit("ww_benefits").alias("indicator"))])
    benefits = pl.concat([benefits, combined(benefits, ["ww_benefits", "wwb_benefits"], "ww_wwb_benefits")])
    out = uwv_indicators(frames, benefits, MEMBERSHIP, reference_year=2021, view="as_published")
    counted = out.filter(pl.col("indicator") == "regions_by_portal_share").group_by("year").agg(pl.col("complete").all())
    assert sorted(counted.rows()) == [(2020, True), (2021, False)]


def test_indicator_tables_build_each_crosswalk_once_and_agree_with_benefit_averages(monkeypatch):
    built, checked = [], []
    build, check = transforms.geography._crosswalk, transforms.geography.check_municipal_changes

    def counting_crosswalk(changes, from_year, to_year, valid):
        built.append((from_year, to_year))
        return build(changes, from_year, to_year, valid)

    monkeypatch.setattr(transforms.geography, "_crosswalk", counting_crosswalk)
    monkeypatch.setattr(transforms.geography, "check_municipal_changes", lambda changes: checked.append(1) or check(changes))
    # ww, wwb and the 2020 labour force edition all need the 2020 -> 2021 crosswalk
    regional = pl.concat([REGIONAL, REGIONAL.with_columns(series=pl.lit("ww")),
                          edition(2020, [("municipality", "0001", 2020, 15.0), ("municipality", "0002", 2020, 25.0),
                                         ("municipality", "0004", 2020, 11.0)], "E20")])
    sources = {"ww": ["T1"], "wwb": ["T1"]}
    scenarios = [(2020, "harmonised"), (2021, "harmonised"), (2021, "as_published")]
    indicators = indicator_tables(
        national=NATIONAL, regional=regional, membership=MEMBERSHIP, changes=CHANGES, valid_codes=VALID,
        scenarios=scenarios, benefit_sources=sources, national_sources={"wwb": "N1"},
    )["indicators"]
    assert sorted(built) == [(2020, 2020), (2020, 2021), (2021, 2021)]
    assert checked == [1]  # the change table is checked once for all crosswalks
    for from_year, to_year in list(built):
        assert_frame_equal(transforms.geography.crosswalks(CHANGES, VALID)(from_year, to_year), municipality_crosswalk(CHANGES, from_year, to_year, VALID))

    for reference_year, view in scenarios:
        alone = benefit_averages(regional, NATIONAL, MEMBERSHIP, CHANGES, VALID, sources=sources,
                                 national_sources={"wwb": "N1"}, reference_year=reference_year, view=view)
        in_mart = indicators.filter(
            pl.col("indicator").is_in(["ww_benefits", "wwb_benefits"]) & (pl.col("view") == view)
            & ((pl.col("geography_year") == reference_year) if view == "harmonised" else pl.lit(True))
        )
        assert_frame_equal(in_mart, alone.sort(list(INDICATOR_KEY), nulls_last=True))


@pytest.mark.mirror
def test_real_national_growth_matches_the_published_figures(statline_root):
    data = pl.DataFrame(json.loads((statline_root / "37789ksz" / "TypedDataSet.json").read_text())["value"], infer_schema_length=None)
    periods = pl.DataFrame(json.loads((statline_root / "37789ksz" / "Perioden.json").read_text())["value"])
    from transforms.series import national_series

    national = national_series(data, periods, series={"ww": "NietSeizoengecorrigeerd_8", "wwb": "TotaalBijstandsuitkeringen_11"},
                               unit="x 1 000", table_id="37789ksz")
    out = benefit_averages(REGIONAL.head(0), national, MEMBERSHIP, CHANGES, VALID, sources={"ww": [], "wwb": []},
                           national_sources={"ww": "37789ksz", "wwb": "37789ksz"}, reference_year=2021, view="harmonised")
    grown = growth(out, ["ww_benefits", "wwb_benefits"])

    def pct(indicator: str, year: int, base: int) -> float:
        return grown.filter((pl.col("indicator") == indicator) & (pl.col("year") == year) & (pl.col("base_year") == base))["value"].item()

    assert round(pct("ww_benefits_growth", 2009, 2008)) == 29
    assert round(pct("wwb_benefits_growth", 2014, 2009)) == 35


@pytest.mark.mirror
@pytest.mark.parametrize("table_id, year", [("83524NED", 2016), ("83933NED", 2017), ("84469NED", 2018), ("84703NED", 2019), ("84961NED", 2020), ("85230NED", 2021)])
def test_real_region_labour_force_equals_the_sum_of_its_municipalities(statline_root, table_id, year):
    from sources.cbs import catalog
    from transforms.regions import region_memberships

    entry = catalog.table(table_id)
    data = pl.DataFrame(json.loads((statline_root / table_id / "TypedDataSet.json").read_text())["value"], infer_schema_length=None)
    periods = pl.DataFrame(json.loads((statline_root / table_id / "Perioden.json").read_text())["value"])
    facts = regional_series(data, series=entry.series, unit=entry.unit, table_id=table_id, region_dimension="RegioS",
                            totals=entry.totals, periods=periods, time_dimension="Perioden", geography_year=year)
    gebieden = next(e for e in catalog.family(catalog.REGIONS) if e.geography_year == year)
    members = region_memberships([{
        "year": year, "table_id": gebieden.table_id,
        "data": pl.DataFrame(json.loads((statline_root / gebieden.table_id / "TypedDataSet.json").read_text())["value"], infer_schema_length=None),
        "properties": json.loads((statline_root / gebieden.table_id / "DataProperties.json").read_text())["value"],
    }])
    municipal = facts.filter((pl.col("area_type") == "municipality") & (pl.col("period_start") == dt.date(year, 1, 1)))
    summed = municipal.join(members, left_on="area_code", right_on="gm_code").group_by("region_code").agg(
        pl.col("value").sum().alias("summed"), pl.len().alias("n")
    )
    cbs = facts.filter((pl.col("area_type") == "region") & (pl.col("period_start") == dt.date(year, 1, 1)))
    joined = cbs.join(summed, left_on="area_code", right_on="region_code")
    assert joined.height >= 35
    # each municipal figure is rounded to thousands: the sum may differ by half a thousand per municipality
    off = joined.filter((pl.col("value") - pl.col("summed")).abs() > pl.col("n") * 0.5 + 0.5)
    assert off.height == 0, off.select("area_code", "value", "summed", "n").to_dicts()


def test_harmonised_labour_force_moves_the_latest_earlier_edition_to_the_reference_year():
    old_edition = edition(2020, [("municipality", "0001", 2020, 15.0), ("municipality", "0002", 2020, 25.0),
                                 ("municipality", "0004", 2020, 11.0), ("country", "NL01", 2020, 51.0)], "E20")
    out = labour_force(old_edition, MEMBERSHIP, reference_year=2021, view="harmonised",
                       crosswalks=partial(municipality_crosswalk, CHANGES, valid_codes=VALID))
    assert rows(out, area_type="region") == [
        {"area_code": "AM01", "year": 2020, "value": 40000.0, "geography_year": 2021, "complete": True},
        {"area_code": "AM02", "year": 2020, "value": 11000.0, "geography_year": 2021, "complete": True},
    ]
    assert "edition 2020 moved to 2021" in out.filter(pl.col("area_type") == "region")["method"][0]


def test_indicator_tables_fill_every_column_the_warehouse_declares_not_null():
    from warehouse.schema import INDICATORS

    tables = indicator_tables(
        national=NATIONAL, regional=REGIONAL, membership=MEMBERSHIP, changes=CHANGES, valid_codes=VALID,
        scenarios=[(2021, "harmonised"), (2021, "as_published")], benefit_sources={"wwb": ["T1"]},
        national_sources={"wwb": "N1"}, uwv=uwv_frames(),
    )
    required = [c.name for c in INDICATORS.columns if not c.nullable]
    nulls = tables["indicators"].select(pl.col(required).null_count())
    assert nulls.row(0) == (0,) * len(required), dict(zip(required, nulls.row(0)))
