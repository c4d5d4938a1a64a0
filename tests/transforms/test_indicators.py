"""Region indicators: harmonised and as-published views, the coverage rule, growth, labour force, UWV-based indicators, spread."""

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
from transforms.geography import UnmappedMunicipalityError
from transforms.indicators import (
    INDICATOR_KEY,
    INDICATOR_SCHEMA,
    MunicipalCount,
    count_indicators,
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


def averages(view: str, reference_year: int = 2021, regional: pl.DataFrame = REGIONAL, **sources) -> pl.DataFrame:
    return count_indicators(
        regional, NATIONAL, MEMBERSHIP, CHANGES, VALID, sources=sources or {"wwb": ["T1"]}, national_sources={"wwb": "N1"},
        reference_year=reference_year, view=view,
    )


def both(regional: pl.DataFrame = REGIONAL) -> pl.DataFrame:
    """``regional`` with a WW series equal to its WWB series."""
    return pl.concat([regional, regional.with_columns(series=pl.lit("ww"))])


def the_row(frame: pl.DataFrame, indicator: str, area: str, year: int, base_year: int | None = None) -> dict:
    picked = frame.filter(
        (pl.col("indicator") == indicator) & (pl.col("area_code") == area) & (pl.col("year") == year)
        & (pl.col("base_year").is_null() if base_year is None else pl.col("base_year") == base_year)
    ).to_dicts()
    assert len(picked) == 1, picked
    return picked[0]


def coverage(row: dict) -> tuple:
    return row["value"], row["municipalities"], row["reporting"], row["complete"]


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


def test_a_missing_month_makes_the_municipality_unknown_for_the_year_and_nobody_reporting_gives_no_value():
    gap = REGIONAL.filter(~((pl.col("area_code") == "0004") & (pl.col("period_start") == dt.date(2021, 5, 1))))
    out = averages("harmonised", regional=gap)
    am02 = the_row(out, "wwb_benefits", "AM02", 2021)
    assert coverage(am02) == (None, 1, 0, False)  # not the average of 11 months
    assert am02["note"] == "no municipality has a figure for every month of the year"
    grown = the_row(out, "wwb_benefits_growth", "AM02", 2021, 2020)
    assert coverage(grown) == (None, 1, 0, False)
    assert grown["note"] == "no municipality has a figure for every month of both years"


@pytest.mark.parametrize("view", ["harmonised", "as_published"])
def test_a_municipality_without_any_row_is_a_gap_also_when_it_merges_into_another(view):
    """0002 existed in 2020 but has no row at all that year (a table cut short, a page never delivered).

    Harmonised to 2021 it merges with 0001 into 0003: 0003 is unknown, not 0001's 10, and AM01 has no
    figure for 2020. As published, 0002 lies in AM02: AM02 sums 0004 alone and is incomplete.
    """
    gap = REGIONAL.filter(~((pl.col("area_code") == "0002") & (pl.col("period_start").dt.year() == 2020)))
    out = averages(view, regional=gap)
    regions = out.filter((pl.col("indicator") == "wwb_benefits") & (pl.col("area_type") == "region") & (pl.col("year") == 2020)).sort("area_code")
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
    out = averages("harmonised", regional=pl.concat([REGIONAL, extinct]))
    assert out.filter((pl.col("area_type") == "region") & (pl.col("year") == 2021))["complete"].all()


def test_a_figure_for_a_code_that_is_no_municipality_that_year_fails_naming_it():
    stray = pl.DataFrame(monthly("0003", 2020, 4.0), schema=REGIONAL_SCHEMA)  # 0003 begins in 2021
    with pytest.raises(UnmappedMunicipalityError, match=r"no municipality on 1 January \(0003 in 2020;"):
        averages("harmonised", regional=pl.concat([REGIONAL, stray]))


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


def test_a_level_sums_only_the_municipalities_with_every_month_and_a_growth_compares_the_same_ones():
    """The AM18 case: a municipality with January-May only is no part of the year's total, nor of a growth to it."""
    regional = pl.DataFrame(
        monthly("0002", 2020, 20.0) + monthly("0004", 2020, 5.0) + monthly("0001", 2020, 10.0)
        + monthly("0004", 2021, 6.0) + [r for r in monthly("0003", 2021, 33.0) if r["period_start"].month <= 5],
        schema=REGIONAL_SCHEMA,
    )
    members = pl.DataFrame(
        [{"year": 2021, "gm_code": code, "gm_name": code, "region_code": "AM01", "region_name": "Een", "source_table": "G21"}
         for code in ("0003", "0004")], schema=MEMBERSHIP_SCHEMA,
    )
    out = count_indicators(regional, NATIONAL.head(0), members, CHANGES, VALID, sources={"wwb": ["T1"]}, national_sources={},
                           reference_year=2021, view="harmonised")
    level = the_row(out, "wwb_benefits", "AM01", 2021)
    assert coverage(level) == (6.0, 2, 1, False)  # 0004 alone: not 6 + 33 * 5 / 12
    assert level["note"] == "1 of 2 municipalities have a figure for every month of the year: the value is their total, not the region's"
    assert coverage(the_row(out, "wwb_benefits", "AM01", 2020)) == (35.0, 2, 2, True)
    grown = the_row(out, "wwb_benefits_growth", "AM01", 2021, 2020)
    assert coverage(grown) == (pytest.approx(20.0), 2, 1, False)  # 0004: 5 -> 6, not 35 -> 6
    assert grown["note"].startswith("growth of the 1 of 2 municipalities with a figure for every month of both years")


def test_growth_on_the_reference_boundaries_between_every_pair_of_years():
    out = averages("harmonised")
    am01 = out.filter((pl.col("indicator") == "wwb_benefits_growth") & (pl.col("area_code") == "AM01")).to_dicts()
    assert len(am01) == 1
    assert am01[0]["year"] == 2021 and am01[0]["base_year"] == 2020 and am01[0]["value"] == pytest.approx(10.0)
    assert am01[0]["unit"] == "%" and am01[0]["complete"] and am01[0]["note"] is None


def test_as_published_growth_lies_on_the_later_years_geography_with_the_base_year_moved_onto_it():
    """AM02 held 0002 and 0004 in 2020; in 2021 only 0004 (0002 merged into 0003, in AM01): 5 -> 6, not 25 -> 6."""
    out = averages("as_published")
    grown = the_row(out, "wwb_benefits_growth", "AM02", 2021, 2020)
    assert grown["value"] == pytest.approx(20.0) and grown["geography_year"] == 2021 and grown["complete"]
    assert "the base year's figures moved onto them" in grown["method"]
    assert the_row(out, "wwb_benefits_growth", "AM01", 2021, 2020)["value"] == pytest.approx(10.0)  # 0001 + 0002 -> 0003: 30 -> 33


def test_ww_plus_wwb_is_added_per_municipality_and_has_a_value_only_where_both_are_known():
    ww_gap = both().filter(~((pl.col("series") == "ww") & (pl.col("area_code") == "0004") & (pl.col("period_start").dt.year() == 2021)))
    out = averages("as_published", regional=ww_gap, ww=["T1"], wwb=["T1"])
    assert coverage(the_row(out, "ww_wwb_benefits", "AM01", 2021)) == (66.0, 1, 1, True)
    am02 = the_row(out, "ww_wwb_benefits", "AM02", 2021)
    assert coverage(am02) == (None, 1, 0, False)  # WW unknown: not WWB alone
    assert am02["note"] == "no municipality has ww_benefits and wwb_benefits figures for every month of the year"
    assert "ww_benefits + wwb_benefits per municipality" in am02["method"]
    assert coverage(the_row(out, "ww_wwb_benefits_growth", "AM02", 2021, 2020)) == (None, 1, 0, False)
    # AM02 in 2020: WW known for 0002 only, WWB for 0004 only: each has a value, their sum over the same municipalities none
    crossed = both().filter(
        ~(((pl.col("series") == "ww") & (pl.col("area_code") == "0004")) | ((pl.col("series") == "wwb") & (pl.col("area_code") == "0002")))
    )
    out = averages("as_published", regional=crossed, ww=["T1"], wwb=["T1"])
    assert coverage(the_row(out, "ww_benefits", "AM02", 2020)) == (20.0, 2, 1, False)
    assert coverage(the_row(out, "wwb_benefits", "AM02", 2020)) == (5.0, 2, 1, False)
    assert coverage(the_row(out, "ww_wwb_benefits", "AM02", 2020)) == (None, 2, 0, False)  # not 20 + 5


def test_every_region_and_year_in_scope_has_a_row_with_a_null_value_where_nothing_is_known():
    out = averages("harmonised", regional=REGIONAL.filter(pl.col("period_start").dt.year() == 2021), ww=["T1"], wwb=["T1"])
    regions = out.filter(pl.col("area_type") == "region")
    for indicator in ("ww_benefits", "wwb_benefits", "ww_wwb_benefits"):
        got = regions.filter((pl.col("indicator") == indicator) & pl.col("base_year").is_null())
        assert sorted(got.select("area_code", "year").rows()) == [("AM01", 2020), ("AM01", 2021), ("AM02", 2020), ("AM02", 2021)]
    assert regions.filter((pl.col("indicator") == "ww_benefits"))["value"].null_count() == regions.filter(pl.col("indicator") == "ww_benefits").height
    assert regions.filter(pl.col("value").is_null() & pl.col("note").is_null()).height == 0
    assert regions.filter(pl.col("value").is_not_null() & (pl.col("reporting") == 0)).height == 0


def test_a_country_year_without_every_month_has_no_value():
    national = NATIONAL.filter(pl.col("period_start") != dt.date(2021, 12, 1))
    out = count_indicators(REGIONAL, national, MEMBERSHIP, CHANGES, VALID, sources={"wwb": ["T1"]}, national_sources={"wwb": "N1"},
                           reference_year=2021, view="harmonised")
    country = the_row(out, "wwb_benefits", "NL01", 2021)
    assert (country["value"], country["complete"]) == (None, False)
    assert country["note"] == "the national series has a figure for 11 of the 12 periods of the year"
    assert the_row(out, "wwb_benefits_growth", "NL01", 2021, 2020)["value"] is None


def test_an_annual_municipal_count_is_one_declaration_through_the_same_rule():
    """E.g. WWB recipients per municipality from CBS's annual tables: levels and growth with the same coverage."""
    def annual(code: str, year: int, value: float | None) -> dict:
        return {"series": "wwb_recipients", "area_type": "municipality", "area_code": code, "frequency": "year",
                "period_start": dt.date(year, 1, 1), "period_key": f"{year}JJ00", "value": value, "unit": "aantal",
                "provisional": False, "geography_year": year, "source_table": "A1"}

    regional = pl.DataFrame([annual("0001", 2020, 100.0), annual("0002", 2020, 50.0), annual("0004", 2020, 10.0),
                             annual("0003", 2021, 160.0), annual("0004", 2021, None)], schema=REGIONAL_SCHEMA)
    recipients = MunicipalCount("wwb_recipients", "wwb_recipients", "year", "persons with a WWB benefit")
    out = count_indicators(regional, NATIONAL.head(0), MEMBERSHIP, CHANGES, VALID, sources={"wwb_recipients": ["A1"]},
                           national_sources={}, reference_year=2021, view="harmonised", counts=[recipients])
    assert coverage(the_row(out, "wwb_recipients", "AM01", 2020)) == (150.0, 1, 1, True)
    assert the_row(out, "wwb_recipients_growth", "AM01", 2021, 2020)["value"] == pytest.approx(160 / 150 * 100 - 100)
    am02 = the_row(out, "wwb_recipients", "AM02", 2021)
    assert coverage(am02) == (None, 1, 0, False) and am02["note"] == "no municipality has a figure for the year"
    assert "over the region's municipalities with a figure for the year" in am02["method"]


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
    benefits = averages("as_published", regional=both(), ww=["T1"], wwb=["T1"])
    out = uwv_indicators(uwv_frames(), benefits, MEMBERSHIP, reference_year=2021, view="as_published")

    def one(indicator: str, area: str) -> dict:
        return out.filter((pl.col("indicator") == indicator) & (pl.col("area_code") == area)).to_dicts()

    assert [(r["value"], r["complete"]) for r in one("uwv_vacancies", "AM01")] == [(20.0, True)]
    assert [(r["value"], r["complete"], r["note"]) for r in one("uwv_vacancies", "AM02")] == [
        (4.0, False, "one of the January and December reference dates only")
    ]
    assert one("benefits_per_vacancy", "AM01")[0]["value"] == pytest.approx(66.0 / 20.0)
    assert [(r["value"], r["complete"]) for r in one("benefits_per_vacancy", "AM02")] == [(pytest.approx(12.0 / 4.0), False)]
    tension = one("tension_ratio", "AM01")[0]
    assert tension["value"] == pytest.approx(20.0 / 33.0) and tension["category"] == "ruim"
    assert one("portal_share", "AM01")[0]["value"] == 100.0 and one("portal_share", "AM01")[0]["category"] == "100%"
    assert one("portal_share", "AM02")[0]["value"] == 0.0
    bands = {r["category"]: r["value"] for r in one("regions_by_portal_share", "NL01")}
    assert bands == {"0%": 1.0, "1-25%": 0.0, "26-50%": 0.0, "51-75%": 0.0, "76-99%": 0.0, "100%": 1.0}
    assert one("wwb_registered_share", "0003")[0]["value"] == 40.0
    assert one("wwb_registered_share", "AM02")[0]["value"] == 20.0
    assert one("wwb_registered_share_max", "AM01")[0]["category"] == "0003"


def test_a_ratio_to_region_vacancies_has_no_value_while_the_benefits_cover_part_of_the_region():
    """WW of some of a region's municipalities over the whole region's vacancies would mix two territories."""
    regional = both().filter(~((pl.col("series") == "ww") & (pl.col("area_code") == "0004") & (pl.col("period_start").dt.year() == 2021)))
    members = pl.concat([MEMBERSHIP, MEMBERSHIP.filter((pl.col("year") == 2021) & (pl.col("gm_code") == "0004")).with_columns(
        gm_code=pl.lit("0003"), region_code=pl.lit("AM02"))]).filter(~((pl.col("year") == 2021) & (pl.col("region_code") == "AM01")))
    benefits = count_indicators(regional, NATIONAL, members, CHANGES, VALID, sources={"ww": ["T1"], "wwb": ["T1"]},
                                national_sources={}, reference_year=2021, view="as_published")
    assert coverage(the_row(benefits, "ww_benefits", "AM02", 2021)) == (33.0, 2, 1, False)
    frames = {"uwv_vacancies": pl.DataFrame({"region_code": ["AM02", "AM02"], "reference_date": [dt.date(2021, 1, 1), dt.date(2021, 12, 1)],
                                             "open_vacancies": [10, 30]})}
    out = uwv_indicators(frames, benefits, members, reference_year=2021, view="as_published")
    tension = the_row(out, "tension_ratio", "AM02", 2021)
    assert (tension["value"], tension["category"], tension["complete"], tension["reporting"]) == (None, None, False, 1)
    assert tension["note"] == "no value: ww_benefits covers 1 of 2 municipalities, the UWV vacancies the whole region"
    per_vacancy = the_row(out, "benefits_per_vacancy", "AM02", 2021)
    assert per_vacancy["value"] is None and per_vacancy["note"].startswith("no value: ww_wwb_benefits covers 1 of 2")


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
        return {"indicator": indicator, "area_type": "unassigned" if code == "AM99" else "region", "area_code": code, "area_name": code, "year": 2021,
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
    out = uwv_indicators(frames, averages("as_published"), MEMBERSHIP, reference_year=2021, view="as_published")
    counted = out.filter(pl.col("indicator") == "regions_by_portal_share").group_by("year").agg(pl.col("complete").all())
    assert sorted(counted.rows()) == [(2020, True), (2021, False)]
    am02 = out.filter((pl.col("indicator") == "portal_share") & (pl.col("area_code") == "AM02") & (pl.col("year") == 2021)).to_dicts()
    assert [(r["value"], r["category"], r["reporting"], r["note"]) for r in am02] == [
        (None, None, 0, "no municipality of the region is in the file")
    ]  # not 0% connected: 0004 is not in the 2021 file


def test_am99_is_no_region_in_any_count_or_tally():
    """AM99 'Niet in te delen' (2019-2020) gets area_type 'unassigned': no region row, spread or band tally counts it."""
    members = MEMBERSHIP.with_columns(
        pl.when(pl.col("gm_code") == "0004").then(pl.lit("AM99")).otherwise(pl.col("region_code")).alias("region_code")
    )
    frames = uwv_frames()
    tables = indicator_tables(
        national=NATIONAL, regional=REGIONAL, membership=members, changes=CHANGES, valid_codes=VALID,
        scenarios=[(2021, "harmonised"), (2021, "as_published")], benefit_sources={"wwb": ["T1"]},
        national_sources={"wwb": "N1"}, uwv=frames,
    )
    indicators = tables["indicators"]
    am99 = indicators.filter(pl.col("area_code") == "AM99")
    assert am99.height and set(am99["area_type"]) == {"unassigned"}
    assert indicators.filter((pl.col("area_type") == "region") & (pl.col("area_code") == "AM99")).height == 0
    assert (tables["indicator_spread"]["max_regions"].fill_null("") + tables["indicator_spread"]["min_regions"].fill_null("")).str.contains("AM99").sum() == 0
    bands = indicators.filter((pl.col("indicator") == "regions_by_portal_share") & (pl.col("year") == 2021) & (pl.col("view") == "as_published"))
    assert bands["value"].sum() == 1.0  # AM01 only, though 0004 in AM99 is in the portal file


def test_indicator_tables_build_each_crosswalk_once_and_agree_with_count_indicators(monkeypatch):
    started, advanced, checked = [], [], []
    start, advance, check = transforms.geography._start, transforms.geography._advance, transforms.geography.check_municipal_changes

    def counting_start(changes, from_year, valid):
        started.append(from_year)
        return start(changes, from_year, valid)

    def counting_advance(crosswalk, year, steps, valid):
        advanced.append(year)
        return advance(crosswalk, year, steps, valid)

    monkeypatch.setattr(transforms.geography, "_start", counting_start)
    monkeypatch.setattr(transforms.geography, "_advance", counting_advance)
    monkeypatch.setattr(transforms.geography, "check_municipal_changes", lambda changes: checked.append(1) or check(changes))
    # ww, wwb and the 2020 labour force edition all need the 2020 -> 2021 crosswalk
    regional = pl.concat([both(), edition(2020, [("municipality", "0001", 2020, 15.0), ("municipality", "0002", 2020, 25.0),
                                                  ("municipality", "0004", 2020, 11.0)], "E20")])
    sources = {"ww": ["T1"], "wwb": ["T1"]}
    scenarios = [(2020, "harmonised"), (2021, "harmonised"), (2021, "as_published")]
    indicators = indicator_tables(
        national=NATIONAL, regional=regional, membership=MEMBERSHIP, changes=CHANGES, valid_codes=VALID,
        scenarios=scenarios, benefit_sources=sources, national_sources={"wwb": "N1"},
    )["indicators"]
    assert sorted(started) == [2020, 2021] and advanced == [2021]  # (2020, 2020), (2021, 2021) and (2020, 2021), once each
    assert checked == [1]  # the change table is checked once for all crosswalks
    walks = transforms.geography.crosswalks(CHANGES, VALID)
    for from_year, to_year in [(2020, 2020), (2020, 2021), (2021, 2021)]:
        assert_frame_equal(walks(from_year, to_year), municipality_crosswalk(CHANGES, from_year, to_year, VALID))

    counts = ["ww_benefits", "wwb_benefits", "ww_wwb_benefits"]
    for reference_year, view in scenarios:
        alone = count_indicators(regional, NATIONAL, MEMBERSHIP, CHANGES, VALID, sources=sources,
                                 national_sources={"wwb": "N1"}, reference_year=reference_year, view=view)
        in_mart = indicators.filter(
            pl.col("indicator").is_in([*counts, *(f"{c}_growth" for c in counts)]) & (pl.col("view") == view)
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
    grown = count_indicators(REGIONAL.head(0), national, MEMBERSHIP, CHANGES, VALID, sources={"ww": [], "wwb": []},
                             national_sources={"ww": "37789ksz", "wwb": "37789ksz"}, reference_year=2021, view="harmonised")

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
