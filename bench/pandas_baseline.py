"""Regional benefit facts and indicators in plain pandas, and the same steps in the pipeline's Polars transforms.

``python -m bench.pandas_baseline pandas|polars OUT.parquet`` (``WERKREGIO_HOME``: a data dir
with the generated tables landed and a warehouse published from them) times one run of one
implementation in a fresh process, writes its output to OUT.parquet and prints one JSON line
(``seconds``, ``peak_rss_mb``, ``rows``).

Both implementations, from the landed Parquet of 80794ned (WW) and 82015NED (WWB), for the
scenarios a refresh computes (the latest region composition, harmonised and as published):

1. regional facts: the total category of every other dimension, area type from the code prefix
   (GM municipality, AM region, NL country), period start from the key, series topics unpivoted;
2. per scenario and series: each year's municipal figures, moved to the reference year's
   municipalities through the crosswalk (a null contributor makes the result null) or kept on
   the year's own boundaries, summed per region and month with coverage (municipalities,
   reporting, complete, approximate);
3. monthly average per year (complete only with 12 complete months);
4. WW + WWB per region and year (complete only if both are);
5. growth in % between every pair of years (same geography in the harmonised view).

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
from transforms.indicators import benefit_averages, combined, growth
from transforms.regional import AREA_TYPES, combine_regional, regional_series
from transforms.regions import valid_codes_by_year
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
    parts = []
    for reference, view in inputs.scenarios:
        benefits = benefit_averages(
            regional, national, inputs.membership, inputs.changes, inputs.valid,
            sources=catalog.BENEFIT_SOURCES, national_sources={}, reference_year=reference, view=view,
        )  # fmt: skip
        base = pl.concat([benefits, combined(benefits, BENEFITS[:2], BENEFITS[2])])
        parts += [base, growth(base, BENEFITS)]
    return pl.concat(parts).filter(pl.col("area_type") == "region").select(list(OUTPUT)).cast(OUTPUT)


# --------------------------------------------------------------------------------------------- pandas


def pandas_indicators(inputs: Inputs) -> pd.DataFrame:
    """Steps 1-5 in straightforward pandas."""
    regional = pd.concat([_facts(pd.read_parquet(inputs.paths[entry.table_id]), entry) for entry in TABLES])
    regional = regional[(regional["area_type"] != "municipality") | regional["period_start"].dt.year.isin(list(inputs.valid))]
    membership = inputs.membership.to_pandas()
    parts = []
    for reference, view in inputs.scenarios:
        benefits = []
        for series, sources in catalog.BENEFIT_SOURCES.items():
            municipal = _pick_sources(regional, series, sources)
            monthly = _monthly_region_totals(municipal, membership, inputs, reference, view)
            benefits.append(_yearly_average(monthly).assign(indicator=f"{series}_benefits"))
        base = pd.concat([*benefits, _combined(pd.concat(benefits))])
        base = base.assign(view=view, base_year=np.nan)
        parts += [base, _growth(base)]
    return pd.concat(parts)[list(OUTPUT)]


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


def _monthly_region_totals(municipal: pd.DataFrame, membership: pd.DataFrame, inputs: Inputs, reference: int, view: str) -> pd.DataFrame:
    frames = []
    for year, rows in municipal.groupby(municipal["period_start"].dt.year):
        rows = rows[rows["value"].notna() | rows["area_code"].isin(inputs.valid.get(year, ()))]
        rows = rows[["area_code", "period_start", "value"]].assign(approximate=False)
        geography = year
        if view == "harmonised":
            if year > reference:
                continue
            walk = municipality_crosswalk(inputs.changes, year, reference, valid_codes=inputs.valid).to_pandas()
            moved = rows.drop(columns="approximate").merge(walk, left_on="area_code", right_on="from_code")
            moved = moved.assign(value=moved["value"] * moved["share"], missing=moved["value"].isna())
            summed = moved.groupby(["to_code", "period_start"], as_index=False).agg(
                value=("value", "sum"), missing=("missing", "any"), approximate=("approximate", "any")
            )
            rows = summed.assign(value=summed["value"].where(~summed["missing"])).rename(columns={"to_code": "area_code"})
            geography = reference
        members = membership.loc[membership["year"] == geography, ["gm_code", "region_code", "region_name"]]
        if members.empty:
            continue
        grid = members.merge(pd.DataFrame({"period_start": rows["period_start"].unique()}), how="cross")
        joined = grid.merge(rows, left_on=["gm_code", "period_start"], right_on=["area_code", "period_start"], how="left")
        joined["approximate"] = joined["approximate"].astype("boolean").fillna(False)
        totals = joined.groupby(["region_code", "region_name", "period_start"], as_index=False).agg(
            value=("value", "sum"), municipalities=("gm_code", "size"), reporting=("value", "count"), approximate=("approximate", "any")
        )
        frames.append(totals.assign(complete=totals["reporting"] == totals["municipalities"], year=year, geography_year=geography))
    return pd.concat(frames)


def _yearly_average(monthly: pd.DataFrame) -> pd.DataFrame:
    yearly = monthly.groupby(["region_code", "year", "geography_year"], as_index=False).agg(
        value=("value", "mean"), municipalities=("municipalities", "max"), reporting=("reporting", "min"),
        complete=("complete", "all"), months=("complete", "size"), approximate=("approximate", "any"),
    )  # fmt: skip
    yearly["complete"] &= yearly["months"] == 12
    return yearly.drop(columns="months").rename(columns={"region_code": "area_code"})


def _combined(benefits: pd.DataFrame) -> pd.DataFrame:
    summed = benefits.groupby(["area_code", "year", "geography_year"], as_index=False).agg(
        value=("value", "sum"), municipalities=("municipalities", "max"), reporting=("reporting", "min"),
        complete=("complete", "all"), parts=("complete", "size"), approximate=("approximate", "any"),
    )  # fmt: skip
    summed["complete"] &= summed["parts"] == 2
    return summed.drop(columns="parts").assign(indicator=BENEFITS[2])


def _growth(base: pd.DataFrame) -> pd.DataFrame:
    earlier = base[["indicator", "area_code", "year", "value", "geography_year", "complete", "approximate"]]
    pairs = base.drop(columns="base_year").merge(
        earlier.rename(columns={"year": "base_year", "value": "base", "geography_year": "base_geography",
                                "complete": "base_complete", "approximate": "base_approximate"}),
        on=["indicator", "area_code"],
    )  # fmt: skip
    pairs = pairs[(pairs["base_year"] < pairs["year"]) & ((pairs["view"] == "as_published") | (pairs["geography_year"] == pairs["base_geography"]))]
    return pairs.assign(
        indicator=pairs["indicator"] + "_growth",
        value=np.where(pairs["base"] != 0, (pairs["value"] / pairs["base"] - 1) * 100, np.nan),
        complete=pairs["complete"] & pairs["base_complete"],
        approximate=pairs["approximate"] | pairs["base_approximate"],
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
