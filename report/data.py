"""What the indicator report reads from the published warehouse: one read-only connection, one build.

Only the documented views (and ``build_info``/``source_tables``) are read, by their documented
columns, so the report works on any published warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from warehouse.store import WarehouseError, queries


class ReportError(RuntimeError):
    """The report cannot be built from this warehouse; the message says why and what to run."""


@dataclass(frozen=True)
class ReportData:
    """The published warehouse as the report sees it, for one harmonised reference year."""

    path: Path
    reference_year: int
    build: dict
    """build_info's one row."""
    sources: pl.DataFrame
    """source_tables: table_id, title, modified, synthetic (false where the file predates the column)."""
    national: pl.DataFrame
    """v_national_series: WW and WWB per month from 2007 (series, period_start, period_key, value, unit, provisional, source_table)."""
    indicators: pl.DataFrame
    """v_region_indicators of the harmonised view on the reference year's boundaries."""
    analyses: pl.DataFrame
    """v_analyses of the same view and geography year."""
    harmonised_years: list[int]
    """Every harmonised reference year the file holds."""
    uwv_years: list[int]
    """Years with a UWV-based region figure in the as-published view (what another reference year could show)."""


def _with_synthetic(sources: pl.DataFrame) -> pl.DataFrame:
    """``source_tables`` with ``synthetic``: a file built before the versioned contract (1.0.0) lacks the column and has no generated tables (only the demo makes them)."""
    return sources if "synthetic" in sources.columns else sources.with_columns(pl.lit(False).alias("synthetic"))


def read_report_data(path: Path, reference_year: int | None = None) -> ReportData:
    """Read the report's inputs from the warehouse at ``path``.

    ``reference_year``: the harmonised geography year to report on; default the latest the file holds
    (a refresh's default reference year, unless WERKREGIO_REFERENCE_YEAR chose another: the caller passes it).
    """
    statements = {
        "build": "SELECT * FROM build_info",
        "sources": "SELECT * FROM source_tables ORDER BY table_id",
        "national": "SELECT series, period_start, period_key, value, unit, provisional, source_table FROM v_national_series "
        "WHERE frequency = 'month' AND series IN ('ww', 'wwb') AND period_start >= DATE '2007-01-01' ORDER BY series, period_start",
        "indicators": "SELECT * FROM v_region_indicators WHERE view = 'harmonised'",
        "analyses": "SELECT * FROM v_analyses WHERE view = 'harmonised'",
        "uwv_years": "SELECT DISTINCT year FROM v_region_indicators WHERE view = 'as_published' AND area_type = 'region' "
        "AND indicator IN ('portal_share', 'wwb_registered_share', 'uwv_vacancies') AND value IS NOT NULL ORDER BY 1",
    }
    try:
        frames = queries(path, statements)
    except WarehouseError as err:
        raise ReportError(f"{err} (published by an older version? `werkregio refresh --force` rebuilds it)") from err
    years = sorted(int(y) for y in frames["indicators"]["geography_year"].unique())
    if not years:
        raise ReportError(f"{path} holds no harmonised indicators (no region composition was loaded): nothing to report on")
    year = years[-1] if reference_year is None else reference_year
    if year not in years:
        raise ReportError(
            f"{path} has no harmonised indicators for reference year {year} (it has {', '.join(map(str, years))}); "
            f"`werkregio indicators --reference-year {year}` adds them"
        )
    builds = frames["build"].to_dicts()
    if len(builds) != 1:
        raise ReportError(f"{path}: build_info has {len(builds)} rows, not one")
    return ReportData(
        path=path,
        reference_year=year,
        build=builds[0],
        sources=_with_synthetic(frames["sources"]).select("table_id", "title", "modified", "synthetic"),
        national=frames["national"],
        indicators=frames["indicators"].filter(pl.col("geography_year") == year),
        analyses=frames["analyses"].filter(pl.col("geography_year") == year),
        harmonised_years=years,
        uwv_years=[int(y) for y in frames["uwv_years"]["year"]],
    )
