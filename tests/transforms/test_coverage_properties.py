"""The coverage rule on random municipal panels with gaps, mergers, splits and transfers (docs/indicators.md).

Each case: a random change history (``change_histories``: mergers, splits, renames, partial
transfers over 1-5 years), a random region composition every year, and a monthly count per
municipality with random gaps (a month null, a month without a row, a whole year absent). The
mart's region rows are checked against a plain-Python reading of the rule:

1. a level never sums different municipalities across months: it is the monthly average of the
   sum over one set, the municipalities (on the geography's boundaries) whose every part has a
   figure in every month of the year;
2. a growth is the growth of one fixed set: the municipalities in that set in both years;
3. no row has a value with ``reporting = 0``;
4. a complete region total equals the sum of its municipalities' figures as published (each
   moved by its crosswalk share), and the complete regions of a year add up to the country.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.transforms.test_geography_properties import change_histories
from transforms.geography import municipality_crosswalk
from transforms.indicators import count_indicators
from transforms.regional import REGIONAL_SCHEMA
from transforms.regions import MEMBERSHIP_SCHEMA

GAPS = ("none", "none", "none", "null month", "missing month", "absent year")
NATIONAL = pl.DataFrame(schema={"series": pl.String, "frequency": pl.String, "period_start": pl.Date, "value": pl.Float64, "unit": pl.String})


@st.composite
def panels(draw: st.DrawFn) -> dict:
    changes, valid = draw(change_histories())
    regions = draw(st.integers(1, 3))
    membership, figures = [], {}
    for year, codes in sorted(valid.items()):
        for code in sorted(codes):
            region = f"AM{draw(st.integers(1, regions)):02d}"
            membership.append({"year": year, "gm_code": code, "gm_name": code, "region_code": region, "region_name": region,
                               "source_table": "G"})
            gap, month, base = draw(st.sampled_from(GAPS)), draw(st.integers(1, 12)), draw(st.integers(0, 500))
            for m in range(1, 13):
                if gap == "absent year" or (gap == "missing month" and m == month):
                    continue
                figures[(code, year, m)] = None if gap == "null month" and m == month else float(base + 7 * m)
    return {"changes": changes, "valid": {y: frozenset(c) for y, c in valid.items()},
            "membership": pl.DataFrame(membership, schema=MEMBERSHIP_SCHEMA), "figures": figures,
            "view": draw(st.sampled_from(["harmonised", "as_published"]))}


def regional(figures: dict) -> pl.DataFrame:
    return pl.DataFrame(
        [{"series": "wwb", "area_type": "municipality", "area_code": code, "frequency": "month", "period_start": dt.date(year, m, 1),
          "period_key": f"{year}MM{m:02d}", "value": value, "unit": "aantal", "provisional": False, "geography_year": year,
          "source_table": "T"} for (code, year, m), value in figures.items()],
        schema=REGIONAL_SCHEMA,
    )


class Rule:
    """The coverage rule in plain Python, on one geography year's municipalities."""

    def __init__(self, case: dict, geography: int) -> None:
        self.case, self.geography = case, geography
        members = case["membership"].filter(pl.col("year") == geography)
        self.regions = {r: set(g["gm_code"]) for (r,), g in members.partition_by("region_code", as_dict=True).items()}
        self._parts: dict[int, dict[str, list[tuple[str, float]]]] = {}

    def parts(self, year: int) -> dict[str, list[tuple[str, float]]]:
        """Unit on the geography -> [(municipality of ``year``, share)]."""
        if year not in self._parts:
            walk = municipality_crosswalk(self.case["changes"], year, self.geography, self.case["valid"])
            self._parts[year] = {}
            for from_code, to_code, share, _ in walk.iter_rows():
                self._parts[year].setdefault(to_code, []).append((from_code, share))
        return self._parts[year]

    def month(self, code: str, year: int, m: int) -> float | None:
        return self.case["figures"].get((code, year, m))

    def full(self, unit: str, year: int) -> bool:
        return all(self.month(c, year, m) is not None for c, _ in self.parts(year)[unit] for m in range(1, 13))

    def monthly_total(self, units: set[str], year: int, m: int) -> float:
        parts = self.parts(year)
        return sum(share * self.month(c, year, m) for u in units for c, share in parts[u])

    def counted(self, region: str, year: int) -> set[str]:
        return {u for u in self.regions[region] if self.full(u, year)}

    def level(self, region: str, year: int) -> tuple[float | None, int]:
        units = self.counted(region, year)  # one set for all twelve months
        if not units:
            return None, 0
        return sum(self.monthly_total(units, year, m) for m in range(1, 13)) / 12, len(units)

    def growth(self, region: str, base: int, year: int) -> tuple[float | None, int]:
        units = self.counted(region, base) & self.counted(region, year)
        if not units:
            return None, 0
        now, then = (sum(self.monthly_total(units, y, m) for m in range(1, 13)) / 12 for y in (year, base))
        return ((now / then - 1) * 100 if then else None), len(units)

    def published_total(self, region: str, year: int) -> float:
        """The region's share of every municipality's figure as CBS published it (on the year's own boundaries)."""
        parts = self.parts(year)
        share_in: dict[str, float] = {}
        for u in self.regions[region]:
            for c, s in parts[u]:
                share_in[c] = share_in.get(c, 0.0) + s
        return sum(share_in.get(c, 0.0) * self.month(c, year, m) for c in self.case["valid"][year] for m in range(1, 13)
                   if self.month(c, year, m) is not None and c in share_in) / 12


def region_rows(case: dict) -> tuple[list[dict], int]:
    years = sorted(case["valid"])
    out = count_indicators(regional(case["figures"]), NATIONAL, case["membership"], case["changes"], case["valid"],
                           sources={"wwb": ["T"]}, national_sources={}, reference_year=years[-1], view=case["view"])
    return out.filter(pl.col("area_type") == "region").to_dicts(), years[-1]


def close(actual: float | None, expected: float | None) -> bool:
    return (actual is None and expected is None) or (
        actual is not None and expected is not None and actual == pytest.approx(expected, rel=1e-9, abs=1e-6)
    )


PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY_SETTINGS
@given(panels())
def test_a_level_is_the_monthly_average_over_one_set_of_municipalities(case):
    rows, _ = region_rows(case)
    levels = [r for r in rows if r["indicator"] == "wwb_benefits"]
    assert levels
    rules = {g: Rule(case, g) for g in {r["geography_year"] for r in rows}}
    for row in levels:
        value, reporting = rules[row["geography_year"]].level(row["area_code"], row["year"])
        assert row["reporting"] == reporting, row
        assert close(row["value"], value), (row, value)
        assert row["complete"] == (reporting == row["municipalities"])


@PROPERTY_SETTINGS
@given(panels())
def test_a_growth_is_the_growth_of_one_fixed_set(case):
    rows, _ = region_rows(case)
    rules = {g: Rule(case, g) for g in {r["geography_year"] for r in rows}}
    for row in (r for r in rows if r["indicator"] == "wwb_benefits_growth"):
        value, reporting = rules[row["geography_year"]].growth(row["area_code"], row["base_year"], row["year"])
        assert row["reporting"] == reporting, row
        assert close(row["value"], value), (row, value)
        assert row["complete"] == (reporting == row["municipalities"])


@PROPERTY_SETTINGS
@given(panels())
def test_no_value_without_a_reporting_municipality_and_a_reason_for_every_null(case):
    rows, _ = region_rows(case)
    assert not [r for r in rows if r["value"] is not None and r["reporting"] == 0]
    assert not [r for r in rows if r["value"] is None and not r["note"]]
    assert not [r for r in rows if not r["complete"] and not r["note"]]


@PROPERTY_SETTINGS
@given(panels())
def test_a_complete_region_total_equals_the_sum_of_its_municipalities(case):
    rows, _ = region_rows(case)
    complete = [r for r in rows if r["indicator"] == "wwb_benefits" and r["complete"]]
    rules = {g: Rule(case, g) for g in {r["geography_year"] for r in rows}}
    for row in complete:
        assert row["value"] == pytest.approx(rules[row["geography_year"]].published_total(row["area_code"], row["year"]), rel=1e-9, abs=1e-6)
    by_year: dict[tuple[int, int], list[dict]] = {}
    for row in (r for r in rows if r["indicator"] == "wwb_benefits"):
        by_year.setdefault((row["geography_year"], row["year"]), []).append(row)
    for (_, year), regions in by_year.items():
        if all(r["complete"] for r in regions):  # then the country's figures are all there, and conserved
            country = sum(v for (c, y, _), v in case["figures"].items() if y == year) / 12
            assert sum(r["value"] for r in regions) == pytest.approx(country, rel=1e-9, abs=1e-6)
