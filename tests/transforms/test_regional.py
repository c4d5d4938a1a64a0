"""transforms.regional: area names of the regional facts, and CBS's WWB recipients per municipality and region."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from sources.cbs import catalog
from transforms.regional import REGIONAL_SCHEMA, REGIONAL_SERIES_SCHEMA, combine_regional, name_areas, regional_series
from transforms.regions import MEMBERSHIP_SCHEMA, region_memberships

MEMBERSHIP = pl.DataFrame(
    [
        {"year": 2022, "gm_code": "0363", "gm_name": "Amsterdam", "region_code": "AM22", "region_name": "Groot Amsterdam", "source_table": "G22"},
        {"year": 2022, "gm_code": "0457", "gm_name": "Weesp", "region_code": "AM22", "region_name": "Groot Amsterdam", "source_table": "G22"},
        {"year": 2023, "gm_code": "0363", "gm_name": "Amsterdam", "region_code": "AM22", "region_name": "Groot Amsterdam", "source_table": "G23"},
    ],
    schema=MEMBERSHIP_SCHEMA,
)


def fact(area_type: str, code: str, year: int) -> dict:
    return {"series": "wwb_recipients", "area_type": area_type, "area_code": code, "frequency": "year",
            "period_start": dt.date(year, 1, 1), "period_key": f"{year}JJ00", "value": 1.0, "unit": "aantal",
            "provisional": False, "geography_year": year, "source_table": "T"}


def test_each_area_is_named_as_cbs_names_it_in_its_geography_year():
    facts = pl.DataFrame(
        [fact("municipality", "0457", 2022), fact("municipality", "0457", 2023), fact("region", "AM22", 2023),
         fact("country", "NL01", 2010), fact("municipality", "0363", 2010), fact("region", "AM99", 2022)],
        schema=REGIONAL_SCHEMA,
    )

    named = name_areas(facts, MEMBERSHIP)

    assert named.schema == pl.Schema(REGIONAL_SERIES_SCHEMA)
    assert named.select("area_code", "geography_year", "area_name").rows() == [
        ("0457", 2022, "Weesp"),
        ("0457", 2023, None),  # merged into Amsterdam: not in 2023's list, no name from another year
        ("AM22", 2023, "Groot Amsterdam"),
        ("NL01", 2010, "Nederland"),
        ("0363", 2010, None),  # no 'Gebieden in Nederland' of 2010 loaded
        ("AM99", 2022, None),
    ]
    assert named.drop("area_name").equals(facts)


def test_two_names_for_one_area_in_one_year_fail_naming_them():
    renamed = pl.concat([MEMBERSHIP, MEMBERSHIP.head(1).with_columns(pl.lit("9999").alias("gm_code"), pl.lit("Amsterdam-Noord").alias("region_name"))])

    with pytest.raises(ValueError, match="more than one name for an area in a year: .*Amsterdam-Noord"):
        name_areas(pl.DataFrame([fact("region", "AM22", 2022)], schema=REGIONAL_SCHEMA), renamed)


def mirror_frame(root, table_id: str, endpoint: str) -> pl.DataFrame:
    return pl.DataFrame(json.loads((root / table_id / f"{endpoint}.json").read_text())["value"], infer_schema_length=None)


@pytest.mark.mirror
def test_real_wwb_recipients_of_the_municipalities_add_up_to_cbs_region_rows(statline_root):
    """83450NED, 83747NED, 84066NED ('bijstand, re-integratie en WSW, gemeenten') are complete per municipality:
    summed per labour-market region they equal CBS's own region rows, within CBS's rounding to tens."""
    entries = [catalog.table(t) for t in ("83450NED", "83747NED", "84066NED")]
    facts = combine_regional([
        regional_series(mirror_frame(statline_root, e.table_id, "TypedDataSet"), series=e.series, unit=e.unit, table_id=e.table_id,
                        region_dimension=e.region_dimension, totals=e.totals, period_year=e.first_year, geography_year=e.geography_year)
        for e in entries
    ])
    years = [e.geography_year for e in entries]
    gebieden = [e for e in catalog.family(catalog.REGIONS) if e.geography_year in years]
    members = region_memberships(
        {"year": e.geography_year, "table_id": e.table_id, "data": mirror_frame(statline_root, e.table_id, "TypedDataSet"),
         "properties": json.loads((statline_root / e.table_id / "DataProperties.json").read_text())["value"]}
        for e in gebieden
    )
    facts = name_areas(facts, members)

    assert set(facts["series"]) == {"wwb_recipients"} and set(facts["unit"]) == {"aantal"} and set(facts["frequency"]) == {"year"}
    municipal = facts.filter(pl.col("area_type") == "municipality")
    assert municipal.join(members, left_on=["area_code", "geography_year"], right_on=["gm_code", "year"], how="anti").height == 0
    assert municipal.group_by("geography_year").agg(pl.len(), pl.col("value").is_null().sum().alias("nulls")).sort("geography_year").rows() == [
        (2015, 393, 0), (2016, 390, 0), (2017, 388, 0)  # every municipality of the year, each with a figure
    ]
    summed = municipal.join(members, left_on=["area_code", "geography_year"], right_on=["gm_code", "year"]).group_by(
        "geography_year", "region_code"
    ).agg(pl.col("value").sum().alias("summed"), pl.len().alias("municipalities"))
    regions = facts.filter(pl.col("area_type") == "region").join(
        summed, left_on=["geography_year", "area_code"], right_on=["geography_year", "region_code"], how="full"
    )
    assert regions.height == 105 and regions["value"].null_count() == regions["summed"].null_count() == 0
    assert regions["area_name"].null_count() == 0
    # every figure is rounded to tens: the region row by up to 5, and the sum by up to 5 per municipality
    off = regions.filter((pl.col("value") - pl.col("summed")).abs() > 5 * (pl.col("municipalities") + 1))
    assert off.height == 0, off.select("geography_year", "area_code", "value", "summed", "municipalities").to_dicts()
    assert regions.filter(pl.col("value") != pl.col("summed")).height > 0  # the tolerance is needed: CBS rounds each figure
