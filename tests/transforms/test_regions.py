"""Municipalities per year, region membership from 'Gebieden in Nederland', region totals."""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from sources.cbs import catalog
from transforms.geography import MUNICIPAL_CHANGES_SCHEMA, UnmappedMunicipalityError
from transforms.regions import (
    MEMBERSHIP_SCHEMA,
    MUNICIPALITIES_SCHEMA,
    GebiedenLayoutError,
    MunicipalListMismatch,
    check_municipal_lists,
    geography_tables,
    municipalities_in_year,
    region_membership,
    region_memberships,
    region_totals,
    topic_group_columns,
)
from sources.reference.tables import REFERENCE_DIR

PROPERTIES = [
    {"ID": 0, "Type": "GeoDimension", "Key": "RegioS", "Title": "Regio's"},
    {"ID": 1, "Type": "TopicGroup", "Key": "", "Title": "Gemeente"},
    {"ID": 2, "Type": "Topic", "Key": "Code_1", "Title": "Code", "ParentID": 1},
    {"ID": 3, "Type": "Topic", "Key": "Naam_2", "Title": "Naam", "ParentID": 1},
    {"ID": 4, "Type": "TopicGroup", "Key": "", "Title": "Gemeentegrootte"},
    {"ID": 5, "Type": "Topic", "Key": "Code_3", "Title": "Code", "ParentID": 4},
    {"ID": 6, "Type": "TopicGroup", "Key": "", "Title": "Arbeidsmarktregio's"},
    {"ID": 7, "Type": "Topic", "Key": "Code_4", "Title": "Code", "ParentID": 6},
    {"ID": 8, "Type": "Topic", "Key": "Naam_5", "Title": "Naam", "ParentID": 6},
]


def gebieden(rows: list[tuple[str, str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"RegioS": code, "Code_1": f"{code}    ", "Naam_2": f"{name}   ", "Code_4": f"{region}      ", "Naam_5": rname}
            for code, name, region, rname in rows
        ]
    )


def reference(rows: list[tuple[str, int, int | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"gm_code": c, "name": f"gemeente {c}", "valid_from_year": f, "valid_to_year": t, "source": "test"} for c, f, t in rows],
        schema=MUNICIPALITIES_SCHEMA,
    )


def membership(rows: list[tuple[int, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"year": y, "gm_code": g, "gm_name": g, "region_code": r, "region_name": f"regio {r}", "source_table": "T"} for y, g, r in rows],
        schema=MEMBERSHIP_SCHEMA,
    )


def test_topic_group_columns_find_the_pair_by_group_title():
    assert topic_group_columns(PROPERTIES, "Gemeente", table_id="T") == ("Code_1", "Naam_2")
    assert topic_group_columns(PROPERTIES, "Arbeidsmarktregio's", table_id="T") == ("Code_4", "Naam_5")


def test_topic_group_columns_fail_clearly_on_another_layout():
    with pytest.raises(GebiedenLayoutError, match="T: expected one topic group titled 'COROP'"):
        topic_group_columns(PROPERTIES, "COROP", table_id="T")
    with pytest.raises(GebiedenLayoutError, match="no single Code/Naam pair"):
        topic_group_columns(PROPERTIES, "Gemeentegrootte", table_id="T")


def test_region_membership_strips_padding_and_normalises_codes():
    out = region_membership(
        gebieden([("GM0363", "Amsterdam", "AM22", "Groot Amsterdam"), ("GM0003", "Appingedam", "AM01", "Groningen")]),
        year=2016,
        table_id="83287NED",
        municipality_columns=("Code_1", "Naam_2"),
        region_columns=("Code_4", "Naam_5"),
    )
    expected = pl.DataFrame(
        {
            "year": [2016, 2016],
            "gm_code": ["0003", "0363"],
            "gm_name": ["Appingedam", "Amsterdam"],
            "region_code": ["AM01", "AM22"],
            "region_name": ["Groningen", "Groot Amsterdam"],
            "source_table": ["83287NED", "83287NED"],
        },
        schema=MEMBERSHIP_SCHEMA,
    )
    assert_frame_equal(out, expected)


def test_region_membership_rejects_a_municipality_without_region():
    with pytest.raises(ValueError, match=r"1 municipalities without a labour-market region code in 2019: 0363 Amsterdam \('.'\)"):
        region_membership(
            gebieden([("GM0363", "Amsterdam", ".", ".")]),
            year=2019,
            table_id="T",
            municipality_columns=("Code_1", "Naam_2"),
            region_columns=("Code_4", "Naam_5"),
        )


def test_municipalities_in_year_uses_open_ended_validity():
    ref = reference([("0001", 2009, 2012), ("0002", 2009, None), ("0003", 2013, None)])
    assert municipalities_in_year(ref, 2012)["gm_code"].to_list() == ["0001", "0002"]
    assert municipalities_in_year(ref, 2030)["gm_code"].to_list() == ["0002", "0003"]
    with pytest.raises(ValueError, match="starts in 2009; no list for 2008"):
        municipalities_in_year(ref, 2008)


def test_check_municipal_lists_names_year_codes_and_files():
    ref = reference([("0001", 2014, 2014), ("0002", 2014, None), ("0003", 2015, None)])
    cbs = membership([(2014, "0001", "AM01"), (2014, "0002", "AM01"), (2015, "0002", "AM01"), (2015, "0009", "AM02")])
    with pytest.raises(MunicipalListMismatch) as caught:
        check_municipal_lists(ref, cbs)
    message = str(caught.value)
    assert "2015: only in CBS's list ['0009'], only in the reference ['0003']" in message
    assert "2014" not in message.split("\n", 1)[1]
    assert "sources/reference/municipalities.csv" in message and "sources/reference/municipal_changes.csv" in message


def test_region_totals_flag_incomplete_regions_and_keep_every_region_with_no_value_where_none_reported():
    members = membership([(2015, "0001", "AM01"), (2015, "0002", "AM01"), (2015, "0003", "AM02"), (2015, "0004", "AM03")])
    series = pl.DataFrame({"gm_code": ["0001", "0002", "0003"], "value": [10.0, 5.0, None]})
    out = region_totals(series, members, view="harmonised", geography_year=2015)
    expected = pl.DataFrame(
        {
            "region_code": ["AM01", "AM02", "AM03"],
            "region_name": ["regio AM01", "regio AM02", "regio AM03"],
            "value": [15.0, None, None],  # AM02: its one municipality's null; AM03: no row at all
            "municipalities": [2, 1, 1],
            "reporting": [2, 0, 0],
            "approximate": [False, False, False],
            "complete": [True, False, False],
            "view": ["harmonised"] * 3,
            "geography_year": [2015] * 3,
        },
        schema_overrides={"municipalities": pl.Int32, "reporting": pl.Int32, "geography_year": pl.Int32},
    )
    assert_frame_equal(out, expected)


def test_region_totals_use_the_composition_of_the_geography_year_per_key():
    members = membership([(2015, "0001", "AM01"), (2015, "0002", "AM02"), (2016, "0001", "AM02"), (2016, "0002", "AM02")])
    series = pl.DataFrame({"gm_code": ["0001", "0002"] * 2, "month": [1, 1, 2, 2], "value": [1.0, 2.0, 3.0, 4.0]})
    out = region_totals(series, members, view="as_published", geography_year=2016, by=["month"])
    assert out.select("region_code", "month", "value", "complete").to_dicts() == [
        {"region_code": "AM02", "month": 1, "value": 3.0, "complete": True},
        {"region_code": "AM02", "month": 2, "value": 7.0, "complete": True},
    ]


def test_region_totals_refuse_codes_of_another_year_and_unknown_views():
    members = membership([(2015, "0001", "AM01")])
    with pytest.raises(UnmappedMunicipalityError, match="not municipalities of 2015.*0999"):
        region_totals(pl.DataFrame({"gm_code": ["0999"], "value": [1.0]}), members, view="harmonised", geography_year=2015)
    with pytest.raises(ValueError, match="view must be one of"):
        region_totals(pl.DataFrame({"gm_code": ["0001"], "value": [1.0]}), members, view="mixed", geography_year=2015)
    with pytest.raises(ValueError, match="no region membership for 2020"):
        region_totals(pl.DataFrame({"gm_code": ["0001"], "value": [1.0]}), members, view="harmonised", geography_year=2020)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.one_of(st.none(), st.integers(0, 10_000))), min_size=1, max_size=30, unique_by=lambda t: t))
def test_region_totals_preserve_the_national_total(assignment):
    codes = {f"{i:04d}": region for i, (region, _) in enumerate(assignment)}
    members = membership([(2020, code, f"AM{region:02d}") for code, region in codes.items()])
    series = pl.DataFrame(
        {"gm_code": list(codes), "value": [None if v is None else float(v) for _, v in assignment]}, schema={"gm_code": pl.String, "value": pl.Float64}
    )
    out = region_totals(series, members, view="harmonised", geography_year=2020)
    assert out["value"].sum() == pytest.approx(series["value"].sum())
    assert out["municipalities"].sum() == len(codes)
    assert out["reporting"].sum() == series["value"].is_not_null().sum()


def test_the_project_reference_tables_agree_with_each_other():
    changes = pl.read_csv(REFERENCE_DIR / "municipal_changes.csv", schema=MUNICIPAL_CHANGES_SCHEMA)
    municipalities = pl.read_csv(REFERENCE_DIR / "municipalities.csv", schema=MUNICIPALITIES_SCHEMA)
    tables = geography_tables(changes, municipalities, pl.DataFrame(schema=MEMBERSHIP_SCHEMA))
    counts = {year: municipalities_in_year(tables["municipalities"], year).height for year in (2007, 2008, 2009, 2014, 2019, 2023, 2026)}
    assert counts == {2007: 443, 2008: 443, 2009: 441, 2014: 403, 2019: 355, 2023: 342, 2026: 342}


def test_the_reference_before_2009_is_the_2009_list_before_the_changes_of_1_january_2009():
    """2007 and 2008 (443 municipalities, no reorganisation in 2008): every row says where it comes from."""
    changes = pl.read_csv(REFERENCE_DIR / "municipal_changes.csv", schema=MUNICIPAL_CHANGES_SCHEMA)
    municipalities = pl.read_csv(REFERENCE_DIR / "municipalities.csv", schema=MUNICIPALITIES_SCHEMA)
    in_2009 = changes.filter(pl.col("boundary_year") == 2009)
    ended = set(in_2009.filter(pl.col("old_code") != pl.col("new_code"))["old_code"])
    valid = {year: set(municipalities_in_year(municipalities, year)["gm_code"]) for year in (2007, 2008, 2009)}
    assert ended == {"0065", "0372", "0483", "0645"}
    assert valid[2007] == valid[2008] == (valid[2009] - {"1884", "1891"}) | ended
    assert not changes.filter(pl.col("boundary_year") == 2008).height
    early = municipalities.filter(pl.col("valid_from_year") < 2009)
    assert early.height == 443 and early["source"].str.contains("1 January 2007").all()


def test_a_change_missing_from_the_change_table_is_caught():
    changes = pl.read_csv(REFERENCE_DIR / "municipal_changes.csv", schema=MUNICIPAL_CHANGES_SCHEMA)
    municipalities = pl.read_csv(REFERENCE_DIR / "municipalities.csv", schema=MUNICIPALITIES_SCHEMA)
    without_weesp = changes.filter(pl.col("old_code") != "0457")
    with pytest.raises(UnmappedMunicipalityError, match="0457"):
        geography_tables(without_weesp, municipalities, pl.DataFrame(schema=MEMBERSHIP_SCHEMA))


CBS_MUNICIPALITIES = {2014: 403, 2015: 393, 2016: 390, 2017: 388, 2018: 380, 2019: 355, 2020: 355, 2021: 352, 2022: 345, 2023: 342, 2024: 342, 2025: 342}


@pytest.mark.mirror
def test_real_gebieden_tables_give_cbs_counts_and_agree_with_the_reference(statline_root):
    editions = []
    for entry in catalog.family(catalog.REGIONS):
        folder = statline_root / entry.table_id
        data = json.loads((folder / "TypedDataSet.json").read_text())["value"]
        properties = json.loads((folder / "DataProperties.json").read_text())["value"]
        editions.append({"year": entry.geography_year, "table_id": entry.table_id, "data": pl.DataFrame(data, infer_schema_length=None), "properties": properties})
    members = region_memberships(editions)
    counts = dict(members.group_by("year").len().sort("year").iter_rows())
    assert counts == CBS_MUNICIPALITIES
    regions = dict(members.group_by("year").agg(pl.col("region_code").n_unique()).sort("year").iter_rows())
    assert regions == {year: 36 if year in (2019, 2020) else 35 for year in CBS_MUNICIPALITIES}
    municipalities = pl.read_csv(REFERENCE_DIR / "municipalities.csv", schema=MUNICIPALITIES_SCHEMA)
    check_municipal_lists(municipalities, members)

    def region_of(year: int, code: str) -> str:
        return members.filter((pl.col("year") == year) & (pl.col("gm_code") == code))["region_code"].item()

    assert region_of(2022, "0457") == region_of(2022, "0363")  # Weesp still listed in 2022, with Amsterdam
    assert not members.filter((pl.col("year") == 2023) & (pl.col("gm_code") == "0457")).height
    assert set(members.filter(pl.col("region_code") == "AM36")["year"]) >= {2016, 2025}
    assert set(members.filter(pl.col("region_code") == "AM99")["year"]) == {2019, 2020}
    for year in CBS_MUNICIPALITIES:
        raw = next(e for e in editions if e["year"] == year)["data"]
        pairs = {(r["RegioS"].strip()[2:], r["Code_4"].strip()) for r in raw.select("RegioS", "Code_4").to_dicts()}
        assert pairs == set(members.filter(pl.col("year") == year).select("gm_code", "region_code").iter_rows())
