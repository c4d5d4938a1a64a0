"""Regional benefit facts and indicators in plain pandas, and the same steps in the pipeline's Polars transforms.

``python -m bench.pandas_baseline pandas|polars OUT.parquet`` (``WERKREGIO_HOME``: a data dir
with the generated tables landed and a warehouse published from them) times one run of one
implementation in a fresh process, writes its output to OUT.parquet and prints one JSON line
(``seconds``, ``peak_rss_mb``, ``rows``).

Both implementations, from the landed Parquet of 80794ned (WW) and 82015NED (WWB), for the
scenarios a refresh computes (the latest region composition, harmonised and as published):

1. regional facts: the total category of every other dimension, area type from the code prefix
   (GM municipality, AM region, NL country), period start from the key, series topics unpivoted;
2. per series: each municipality's yearly average, on its year's boundaries, null unless it has a
   figure for every month of the year (the coverage rule, ``docs/indicators.md``);
3. per scenario: those yearly figures moved to the municipalities of each geography (the
   reference year; as published, each year with a composition, with the earlier years moved onto
   it) through the crosswalks (a null contributor makes the result null), WW + WWB added per
   municipality;
4. per region and year the sum over the municipalities with a figure, with coverage
   (municipalities, reporting, complete, approximate);
5. growth in % between every pair of years over the municipalities with a figure in both.

Timed: reading the landed data and steps 1-5, including building the crosswalks with the
pipeline's ``municipality_crosswalk`` (change-table logic, the same in both). Not timed: reading
the region membership, municipalities and change table from the warehouse.
:func:`check_equal` compares an output with the indicators the pipeline published.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl

from sources.cbs import catalog
from sources.cbs.landing import current_landings
from flows.settings import Settings
from transforms.geography import municipality_crosswalk
from transforms.indicators import count_indicators
from transforms.regional import AREA_TYPES, combine_regional, regional_series
from transforms.regions import UNASSIGNED_REGION, valid_codes_by_year
from warehouse.store import query

TABLES = (catalog.table("80794ned"), catalog.table("82015NED"))
BENEFITS = ["ww_benefits", "wwb_benefits", "ww_wwb_benefits"]
OUTPUT = {
    "indicator": pl.String, "area_code": pl.String, "year": pl.Int32, "base_year": pl.Int32, "view": pl.String,
    "geography_year": pl.Int32, "value": pl.Float64, "municipalities": pl.Int32, "reporting": pl.Int32,
    "complete": pl.Boolean, "approximate": pl.Boolean,
}  # fmt: skip
KEY = ["indicator", "area_code", "year", "base_year", "view", "geography_year"]


@dataclass(frozen=True)
class Inputs:
    paths: dict[str, str]  # table id -> landed TypedDataSet.parquet
    periods: dict[str, pl.DataFrame]  # table id -> landed Perioden dimension
    membership: pl.DataFrame
    changes: pl.DataFrame
    valid: dict[int, frozenset[str]]
    scenarios: list[tuple[int, str]]


def load_inputs(settings: Settings) -> Inputs:
    warehouse = settings.warehouse_path
    municipalities = query(warehouse, "SELECT * FROM municipalities")
    changes = query(warehouse, "SELECT * FROM municipal_changes")
    membership = query(warehouse, "SELECT * FROM region_membership")
    last = max(int(municipalities["valid_from_year"].max()), int(changes["boundary_year"].max()), int(membership["year"].max()))
    reference = int(membership["year"].max())
    landed = {landing.table_id: landing for landing in current_landings(settings.raw_dir, [t.table_id for t in TABLES])}
    return Inputs(
        paths={t: str(landing.folder / "TypedDataSet.parquet") for t, landing in landed.items()},
        periods={t: landing.read_dimension("Perioden") for t, landing in landed.items()},
        membership=membership,
        changes=changes,
        valid=valid_codes_by_year(municipalities, range(int(municipalities["valid_from_year"].min()), last + 1)),
        scenarios=[(reference, "as_published"), (reference, "harmonised")],
    )


# --------------------------------------------------------------------------------------------- Polars (the pipeline)


def polars_indicators(inputs: Inputs) -> pl.DataFrame:
    """Steps 1-5 with the pipeline's own transforms, as ``flows.build`` and ``indicator_tables`` call them."""
    regional = combine_regional(
        [
            regional_series(
                pl.read_parquet(inputs.paths[entry.table_id]),
                series=entry.series,
                unit=entry.unit,
                table_id=entry.table_id,
                region_dimension=entry.region_dimension,
                totals=entry.totals,
                periods=inputs.periods[entry.table_id],
                time_dimension="Perioden",
            )
            for entry in TABLES
        ]
    )
    regional = regional.filter((pl.col("area_type") != "municipality") | pl.col("period_start").dt.year().is_in(list(inputs.valid)))
    national = pl.DataFrame(schema={"series": pl.String, "frequency": pl.String, "period_start": pl.Date, "value": pl.Float64, "unit": pl.String})
    parts = [
        count_indicators(
            regional, national, inputs.membership, inputs.changes, inputs.valid,
            sources=catalog.BENEFIT_SOURCES, national_sources={}, reference_year=reference, view=view,
        )  # fmt: skip
        for reference, view in inputs.scenarios
    ]
    benefits = [*BENEFITS, *(f"{b}_growth" for b in BENEFITS)]  # count_indicators also makes wwb_recipients, which the baseline leaves out
    return pl.concat(parts).filter((pl.col("area_type") == "region") & pl.col("indicator").is_in(benefits)).select(list(OUTPUT)).cast(OUTPUT)


# --------------------------------------------------------------------------------------------- pandas


def pandas_indicators(inputs: Inputs) -> pd.DataFrame:
    """Steps 1-5 in straightforward pandas."""
    regional = pd.concat([_facts(pd.read_parquet(inputs.paths[entry.table_id]), entry) for entry in TABLES])
    regional = regional[(regional["area_type"] != "municipality") | regional["period_start"].dt.year.isin(list(inputs.valid))]
    membership = inputs.membership.to_pandas()
    composed = sorted(membership["year"].unique())
    yearly = {  # WW and WWB: the baseline leaves out wwb_recipients, as it reads neither of its tables
        f"{series}_benefits": _yearly(_pick_sources(regional, series, catalog.BENEFIT_SOURCES[series]), inputs) for series in ("ww", "wwb")
    }
    walks: dict[tuple[int, int], pd.DataFrame] = {}

    def walk(year: int, geography: int) -> pd.DataFrame:
        if (year, geography) not in walks:
            walks[year, geography] = municipality_crosswalk(inputs.changes, year, geography, valid_codes=inputs.valid).to_pandas()
        return walks[year, geography]

    parts = []
    for reference, view in inputs.scenarios:
        years = sorted(inputs.valid)
        if view == "harmonised":
            geographies = {reference: ([y for y in years if y <= reference],) * 2}
        else:
            scope = [y for y in years if y in composed]
            geographies = {g: ([g], [y for y in scope if y <= g]) for g in scope}
        for geography, (level_years, compared) in geographies.items():
            members = membership.loc[membership["year"] == geography, ["gm_code", "region_code"]]
            units = {name: _moved(frame, compared, geography, walk) for name, frame in yearly.items()}
            both = units[BENEFITS[0]].merge(units[BENEFITS[1]], on=["gm_code", "year"], suffixes=("_ww", "_wwb"))
            units[BENEFITS[2]] = both.assign(
                value=both["value_ww"] + both["value_wwb"], approximate=both["approximate_ww"] | both["approximate_wwb"]
            )[["gm_code", "year", "value", "approximate"]]
            pairs = pd.DataFrame([(b, y) for y in level_years for b in compared if b < y], columns=["base_year", "year"])
            for name, frame in units.items():
                levels = _levels(frame[frame["year"].isin(level_years)], members)
                parts.append(levels.assign(indicator=name, base_year=np.nan, view=view, geography_year=geography))
                if len(pairs):
                    parts.append(_growth(frame, members, pairs).assign(indicator=f"{name}_growth", view=view, geography_year=geography))
    out = pd.concat(parts).rename(columns={"region_code": "area_code"})
    return out[out["area_code"] != UNASSIGNED_REGION][list(OUTPUT)]  # AM99 is no region


def _facts(data: pd.DataFrame, entry: catalog.SourceTable) -> pd.DataFrame:
    for dimension, total in entry.totals.items():
        data = data[data[dimension].str.strip() == total]
    region = data[entry.region_dimension].str.strip()
    prefix = region.str[:2]
    area_type = prefix.map(AREA_TYPES)
    period = data["Perioden"].str.strip()
    facts = pd.DataFrame(
        {
            "area_type": area_type,
            "area_code": region.where(prefix != "GM", region.str[2:]),
            "period_start": pd.to_datetime(period.str[:4] + "-" + period.str[6:8] + "-01", format="%Y-%m-%d"),
            **{topic: data[topic] for topic in entry.series.values()},
        }
    )[area_type.notna()]
    long = facts.melt(id_vars=["area_type", "area_code", "period_start"], var_name="topic", value_name="value")
    names = {topic: name for name, topic in entry.series.items()}
    return long.assign(series=long["topic"].map(names), source_table=entry.table_id, value=long["value"].astype("float64"))


def _pick_sources(regional: pd.DataFrame, series: str, sources: tuple[str, ...]) -> pd.DataFrame:
    rows = regional[(regional["series"] == series) & (regional["area_type"] == "municipality") & regional["source_table"].isin(sources)]
    rank = rows["source_table"].map({table: i for i, table in enumerate(sources)})
    return rows.assign(rank=rank).sort_values("rank", kind="stable").drop_duplicates(["area_code", "period_start"])


def _yearly(municipal: pd.DataFrame, inputs: Inputs) -> pd.DataFrame:
    """One row per municipality valid in each year: its yearly average, NaN unless every month has a figure."""
    known = municipal[municipal["value"].notna()]
    per_year = known.groupby([known["area_code"], known["period_start"].dt.year.rename("year")]).agg(
        value=("value", "mean"), months=("value", "size")
    ).reset_index()
    per_year["value"] = per_year["value"].where(per_year["months"] == 12)
    grid = pd.DataFrame([(code, year) for year, codes in inputs.valid.items() for code in codes], columns=["area_code", "year"])
    return grid.merge(per_year[["area_code", "year", "value"]], on=["area_code", "year"], how="left")


def _moved(yearly: pd.DataFrame, years: list[int], geography: int, walk) -> pd.DataFrame:
    """The yearly figures of ``years`` on the municipalities of ``geography``: NaN where a part of the territory is unknown."""
    frames = []
    for year in years:
        moved = yearly[yearly["year"] == year].merge(walk(year, geography), left_on="area_code", right_on="from_code")
        moved = moved.assign(value=moved["value"] * moved["share"], missing=moved["value"].isna())
        summed = moved.groupby("to_code", as_index=False).agg(value=("value", "sum"), missing=("missing", "any"), approximate=("approximate", "any"))
        summed["value"] = summed["value"].where(~summed["missing"])
        frames.append(summed.assign(year=year).rename(columns={"to_code": "gm_code"})[["gm_code", "year", "value", "approximate"]])
    return pd.concat(frames)


def _levels(units: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    grid = members.merge(pd.DataFrame({"year": units["year"].unique()}), how="cross")
    joined = grid.merge(units, on=["gm_code", "year"], how="left")
    joined["approximate"] = joined["approximate"].astype("boolean").fillna(False) & joined["value"].notna()
    totals = joined.groupby(["region_code", "year"], as_index=False).agg(
        value=("value", "sum"), municipalities=("gm_code", "size"), reporting=("value", "count"), approximate=("approximate", "any")
    )
    totals["value"] = totals["value"].where(totals["reporting"] > 0)
    return totals.assign(complete=totals["reporting"] == totals["municipalities"])


def _growth(units: pd.DataFrame, members: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    grid = members.merge(pairs, how="cross")
    joined = grid.merge(units, on=["gm_code", "year"], how="left").merge(
        units.rename(columns={"year": "base_year", "value": "base", "approximate": "base_approximate"}), on=["gm_code", "base_year"], how="left"
    )
    common = joined["value"].notna() & joined["base"].notna()
    joined = joined.assign(
        now=joined["value"].where(common),
        then=joined["base"].where(common),
        common=common,
        approximate=(joined["approximate"].astype("boolean").fillna(False) | joined["base_approximate"].astype("boolean").fillna(False)) & common,
    )
    totals = joined.groupby(["region_code", "base_year", "year"], as_index=False).agg(
        now=("now", "sum"), then=("then", "sum"), municipalities=("gm_code", "size"), reporting=("common", "sum"), approximate=("approximate", "any")
    )
    valid = (totals["reporting"] > 0) & (totals["then"] != 0)
    return totals.assign(
        value=((totals["now"] / totals["then"] - 1) * 100).where(valid), complete=totals["reporting"] == totals["municipalities"]
    )


# --------------------------------------------------------------------------------------------- comparison


def check_equal(output: pl.DataFrame, settings: Settings, scenarios: list[tuple[int, str]]) -> int:
    """Assert that ``output`` holds exactly the published region rows of the benefit indicators; return their number."""
    names = ", ".join(f"'{name}'" for name in (*BENEFITS, *(f"{b}_growth" for b in BENEFITS)))
    published = query(
        settings.warehouse_path, f"SELECT * FROM indicators WHERE area_type = 'region' AND indicator IN ({names})"
    ).filter(
        pl.any_horizontal(
            (pl.col("view") == view) & (pl.lit(view == "as_published") | (pl.col("geography_year") == year)) for year, view in scenarios
        )
    )
    expected = published.select(list(OUTPUT)).cast(OUTPUT).sort(KEY, nulls_last=True)
    actual = output.cast(OUTPUT).sort(KEY, nulls_last=True)
    assert actual.height == expected.height, f"{actual.height} rows, the pipeline published {expected.height}"
    exact = [c for c in OUTPUT if c != "value"]
    assert actual.select(exact).equals(expected.select(exact)), "keys or coverage differ from the published indicators"
    a, b = actual["value"].to_numpy(), expected["value"].to_numpy()
    assert np.allclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True), "values differ from the published indicators"
    return actual.height


def main(implementation: str, output: str) -> dict:
    settings = Settings.from_env()
    inputs = load_inputs(settings)
    start = time.perf_counter()
    if implementation == "pandas":
        result = pl.from_pandas(pandas_indicators(inputs))
    else:
        result = polars_indicators(inputs)
    seconds = time.perf_counter() - start
    result.cast(OUTPUT).write_parquet(output)
    return {"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rows": result.height}


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:3])))
