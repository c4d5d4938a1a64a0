"""Steps shared by the flows: landed tables -> validated facts, facts -> indicator marts.

These functions run inside a flow and call tasks for every effect; the shaping of data is done
by the pure transforms they call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl
from prefect import get_run_logger

from expectations.national_benefits import national_benefits_suite
from flows import catalog
from flows.cbs import time_dimension
from flows.landing import current_landings
from flows.settings import Settings
from flows.tasks import LandedTable, intake_uwv, read_landing, read_reference, read_uwv_archive, validate_batch
from transforms import uwv
from transforms.indicators import indicator_tables
from transforms.regional import combine_regional, regional_series
from transforms.regions import geography_tables, region_memberships, valid_codes_by_year
from transforms.series import national_series

FACT_TABLES = (
    "national_series",
    "regional_series",
    "municipalities",
    "municipal_changes",
    "region_membership",
    *uwv.DATASETS,
)
VIEWS = ("harmonised", "as_published")


class MissingSource(RuntimeError):
    """A table the build needs has never been landed."""


@dataclass
class Facts:
    """The fact tables of a build, the validation records behind them and the UWV files taken in."""

    tables: dict[str, pl.DataFrame]
    validation: list[dict[str, Any]]
    uwv_files: list[dict[str, Any]]


def build_facts(settings: Settings) -> Facts:
    """Every fact table from the current landings and the UWV archive, with the validation records.

    Critical validation failures of CBS batches raise before anything is built further; a UWV
    file that fails is quarantined and left out (its outcome is in ``uwv_files``).
    """
    landed = {t.landing.table_id: t for t in _read_all(settings)}
    national_entry = catalog.national_benefits()
    if national_entry.table_id not in landed:
        raise MissingSource(f"{national_entry.table_id} ({national_entry.title}) has never been landed: refresh it first")
    benefits = landed[national_entry.table_id]
    report = validate_batch(
        benefits.data,
        national_benefits_suite(list(national_entry.series.values())),
        f"{benefits.landing.table_id}@{benefits.landing.modified}",
        settings=settings,
        fingerprint=benefits.landing.sha256,
    )
    validation = report.to_rows()
    report.raise_for_critical()

    reference = read_reference()
    membership = region_memberships(
        {"year": catalog.table(t).geography_year, "table_id": t, "data": landed[t].data, "properties": landed[t].properties}
        for t in catalog.ids(catalog.REGIONS)
        if t in landed
    )
    geography = geography_tables(reference["municipal_changes"], reference["municipalities"], membership)
    municipalities = geography["municipalities"]
    years = range(int(municipalities["valid_from_year"].min()), date.today().year + 1)
    intake = intake_uwv(
        settings,
        valid_codes_by_year(municipalities, years),
        {y: dict(membership.filter(pl.col("year") == y).select("region_code", "region_name").unique().iter_rows()) for y in membership["year"].unique()},
    )
    for result in intake:
        if result.status == "accepted" and result.validation is not None:
            validation += result.validation.to_rows()
    facts = {
        "national_series": pl.concat(
            [_national(entry, landed[entry.table_id]) for entry in catalog.national_tables() if entry.table_id in landed]
        ),
        "regional_series": combine_regional(
            [_regional(entry, landed[entry.table_id]) for entry in catalog.regional_tables() if entry.table_id in landed]
        ),
        **geography,
        **read_uwv_archive(settings),
    }
    uwv_files = [
        {"file": r.file, "status": r.status, "dataset": r.dataset, "message": r.message, "report": str(r.report) if r.report else None}
        for r in intake
    ]
    return Facts(facts, validation, uwv_files)


def _read_all(settings: Settings) -> list[LandedTable]:
    return [read_landing(landing) for landing in current_landings(settings.raw_dir, catalog.ids())]


def _national(entry: catalog.SourceTable, table: LandedTable) -> pl.DataFrame:
    dimension = time_dimension(table.properties)
    return national_series(
        table.data,
        table.dimensions[dimension],
        series=entry.series,
        unit=entry.unit,
        table_id=entry.table_id,
        time_dimension=dimension,
        totals=entry.totals,
    )


def _regional(entry: catalog.SourceTable, table: LandedTable) -> pl.DataFrame:
    times = [p["Key"] for p in table.properties if p.get("Type") == "TimeDimension"]
    dimension = times[0] if times else None
    return regional_series(
        table.data,
        series=entry.series,
        unit=entry.unit,
        table_id=entry.table_id,
        region_dimension=entry.region_dimension,
        totals=entry.totals,
        periods=table.dimensions[dimension] if dimension else None,
        time_dimension=dimension,
        period_year=None if dimension else entry.first_year,
        geography_year=entry.geography_year,
    )


def default_reference_year(facts: Mapping[str, pl.DataFrame], settings: Settings) -> int | None:
    """``WERKREGIO_REFERENCE_YEAR``, else the latest year with a CBS region composition (None: none landed)."""
    if settings.reference_year is not None:
        return settings.reference_year
    years = facts["region_membership"]["year"]
    return int(years.max()) if years.len() else None


def scenarios(
    default_year: int | None, previous: pl.DataFrame | None, extra: Iterable[tuple[int, str]] = ()
) -> list[tuple[int, str]]:
    """The (reference year, view) pairs to compute: the default, those already published, and ``extra``.

    Without any region composition landed (``default_year`` None) there is nothing to compute.
    """
    if default_year is None:
        return []
    chosen = {(default_year, "harmonised"), (default_year, "as_published")}
    if previous is not None and previous.height:
        harmonised = previous.filter(previous["view"] == "harmonised")
        chosen |= {(int(y), "harmonised") for y in harmonised["geography_year"].unique()}
    chosen |= set(extra)
    return sorted(chosen)


def compute_marts(facts: Mapping[str, pl.DataFrame], chosen: Iterable[tuple[int, str]]) -> dict[str, pl.DataFrame]:
    """Indicator mart and spread from the fact tables, for every (reference year, view)."""
    municipalities = facts["municipalities"]
    first = int(municipalities["valid_from_year"].min())
    last = max(int(municipalities["valid_from_year"].max()), int(facts["municipal_changes"]["boundary_year"].max()))
    chosen = list(chosen)
    if not chosen:
        get_run_logger().warning("no 'Gebieden in Nederland' table is landed: indicators need the 'regions' family")
    last = max([last, *(year for year, _ in chosen)])
    return indicator_tables(
        national=facts["national_series"],
        regional=facts["regional_series"],
        membership=facts["region_membership"],
        changes=facts["municipal_changes"],
        valid_codes=valid_codes_by_year(municipalities, range(first, last + 1)),
        scenarios=chosen,
        benefit_sources=catalog.BENEFIT_SOURCES,
        national_sources={series: entry.table_id for entry in catalog.national_tables() for series in entry.series},
        uwv={name: facts[name] for name in uwv.DATASETS},
    )
