"""Prefect tasks: the pipeline's effects (HTTP, files, Great Expectations runs, DuckDB writes).

Each task does one effect and returns plain values or frames; the shaping of data happens
in ``transforms/``. Caching is off: inputs are large frames, and the landing zone already
makes fetching idempotent.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Cancelled, State

from expectations.runner import ValidationReport
from expectations.rules import topic_keys
from sources.cbs import catalog
from sources.cbs.client import CbsCancelled, CbsSource, CbsUnreachable, LiveCbs, dimension_keys, user_agent
from sources.cbs.v4 import V4Cbs
from flows.artifacts import DownloadProgress, show_report
from flows.failures import MissingSource
from flows.inputs import inputs_sha256 as sha256_of_inputs
from flows.inputs import published_from
from sources.cbs.landing import Landing, LandResult, catalogued_versions, clear_failed, land_table, latest_landing, mark_failed
from sources.reference.tables import reference_tables
from flows.settings import Settings
from sources.uwv.archive import archived_frames
from sources.uwv.folders import UwvFolders
from sources.uwv.intake import IntakeResult, intake_inbox, settling_files, waiting_files
from flows.validation import ValidationJob, held_whole, validate_landed
from transforms.series import at_total
from transforms.uwv_checks import NationalBounds
from warehouse.schema import BY_NAME
from warehouse.store import PublishResult, WarehouseError, WarehouseLocked, publish, query_tables, table_counts


PUBLISHED_EVENT = "werkregio.warehouse.published"


@dataclass(frozen=True)
class LandedTable:
    """A landing read back: data rows, dimension tables by key, DataProperties records.

    ``whole``: ``data`` holds every landed row. False for a landing of more than
    :data:`~expectations.runner.ROWS_PER_PIECE` rows, read with only the rows the facts keep (each
    ``totals`` dimension of its catalog entry at its total category, as ``transforms.regional``
    selects them): such a table is validated from its file, piece by piece, and never held whole.
    """

    landing: Landing
    data: pl.DataFrame
    dimensions: dict[str, pl.DataFrame]
    properties: list[dict[str, Any]]
    whole: bool = True


def live_source(settings: Settings) -> CbsSource:
    """The CBS client ``WERKREGIO_CBS_API`` names: OData v3 (:class:`LiveCbs`) or v4 (:class:`V4Cbs`, which
    spells its topic keys as the catalog and the validation rules name them)."""
    options = {
        "timeout": settings.timeout,
        "table_timeout": settings.table_timeout,
        "retries": settings.retries,
        "backoff": settings.backoff,
        "concurrency": settings.concurrency,
        "agent": user_agent(settings.contact),
    }
    if settings.cbs_api == "v4":
        return V4Cbs(settings.cbs_v4_url, spellings=topic_keys(), **options)
    return LiveCbs(settings.cbs_url, **options)


@task(name="reach_cbs", cache_policy=NO_CACHE)
def reach_cbs(source: CbsSource, settings: Settings) -> str | None:
    """Whether CBS answers at all, by one request that is not retried: None if it does, else why not and
    what to do. Asked before any download, so that a wrong URL or no network fails a run at once
    instead of after every table's retries."""
    try:
        source.check_reachable()
    except CbsUnreachable as err:
        return (
            f"{err}; check {settings.cbs_url_setting} (and the network), or build from the tables already "
            "landed with `werkregio refresh --offline`"
        )
    return None


@task(name="check_catalogue", cache_policy=NO_CACHE)
def check_catalogue(source: CbsSource, settings: Settings, table_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The version of each landed table of ``table_ids`` from CBS's catalogue, in one request (``catalogued_versions``)."""
    logger = get_run_logger()
    return catalogued_versions(source, settings.raw_dir, table_ids, progress=logger.info, warn=logger.warning)


@task(name="fetch_table", cache_policy=NO_CACHE, task_run_name="fetch {table_id}")
def fetch_table(
    source: CbsSource,
    settings: Settings,
    table_id: str,
    force: bool = False,
    progress: DownloadProgress | None = None,
    listed: dict[str, Any] | None = None,
) -> LandResult | State:
    """Land ``table_id`` unless its newest landing has CBS's ``Modified`` and ``MetaDataModified``: those the catalogue
    ``listed``, else one metadata request.

    ``progress`` (the run's progress artifact) is told the rows downloaded after every page. A
    download the client cancelled (``source.cancel()``: a signal stops the run) ends the task
    Cancelled, having landed nothing.
    """
    logger = get_run_logger()
    pages = progress.rows if progress is not None else (lambda table_id, rows: None)
    try:
        result = land_table(source, table_id, settings.raw_dir, force=force, listed=listed, progress=logger.info, pages=pages)
    except CbsCancelled as err:
        return Cancelled(message=str(err))
    landing = result.landing
    logger.info("%s: %s (Modified %s, %d rows) -> %s", table_id, result.action, landing.modified, landing.rows, landing.folder)
    return result


@task(name="find_landed", cache_policy=NO_CACHE)
def find_landed(settings: Settings, table_ids: list[str]) -> list[LandResult]:
    """The newest landing of each of ``table_ids``, for ``--offline`` builds; fails naming every table without one."""
    logger = get_run_logger()
    results, missing = [], []
    for table_id in table_ids:
        landing = latest_landing(settings.raw_dir, table_id)
        if landing is None:
            missing.append(f"{table_id}: nothing landed under {settings.raw_dir / table_id}")
            continue
        logger.info("%s: using landing of %s (Modified %s)", table_id, landing.fetched_at, landing.modified)
        results.append(LandResult(landing, "offline"))
    if missing:
        raise MissingSource("; ".join(missing) + "; run `werkregio refresh` online first")
    return results


def load_landing(landing: Landing) -> LandedTable:
    """The landed data rows, every dimension table and the DataProperties of a landing.

    A landing of more than :data:`~expectations.runner.ROWS_PER_PIECE` rows is read with only the
    rows the facts keep (:attr:`LandedTable.whole`).
    """
    properties = landing.read_properties()
    whole = held_whole(landing)
    return LandedTable(
        landing=landing,
        data=landing.read_data() if whole else landing.read_data(_fact_rows(landing)),
        dimensions={name: landing.read_dimension(name) for name in dimension_keys(properties)},
        properties=properties,
        whole=whole,
    )


def _fact_rows(landing: Landing) -> pl.Expr:
    """The rows of ``landing`` whose ``totals`` dimensions (its catalog entry's) are at their total
    category: the only rows ``transforms.regional`` and ``transforms.national`` keep."""
    columns = set(landing.scan_data().collect_schema().names())
    totals = catalog.table(landing.table_id).totals
    return pl.all_horizontal(pl.lit(True), *(at_total(d, total) for d, total in totals.items() if d in columns))


@task(name="read_landings", cache_policy=NO_CACHE)
def read_landings(landings: list[Landing]) -> list[LandedTable]:
    """Every landing read back (:func:`load_landing`), in the order given."""
    tables = [load_landing(landing) for landing in landings]
    partial = [f"{t.landing.table_id} ({t.data.height:,} of {t.landing.rows:,})" for t in tables if not t.whole]
    get_run_logger().info(
        "read %d landings, %s data rows%s", len(tables), f"{sum(t.data.height for t in tables):,}",
        f"; of {', '.join(partial)} only the rows at their totals, the rest is validated from the file" if partial else "",
    )  # fmt: skip
    return tables


@task(name="read_reference", cache_policy=NO_CACHE)
def read_reference() -> dict[str, pl.DataFrame]:
    """The project's checked-in reference tables (``sources/reference/``)."""
    return reference_tables()


@task(name="validate_batch", cache_policy=NO_CACHE, task_run_name="validate {job.table_id}")
def validate_batch(job: ValidationJob, table: LandedTable | None = None) -> ValidationReport:
    """Validate a landed CBS table with its family's suite, or reuse its stored report (``flows.validation``).

    On ``table`` when the flow hands over what it read (a task in its own process), else on the
    landing read here. Critical failures are left to the caller.
    """
    logger = get_run_logger()

    def progress(done: int, total: int) -> None:  # called only for a table validated in pieces
        logger.info("%s: %s of %s rows validated (in pieces)", job.batch, f"{done:,}", f"{total:,}")

    data, properties = (table.data, table.properties) if table is not None and table.whole else (None, None)
    validated = validate_landed(job, data, properties, progress)
    report = validated.report
    if validated.reused:
        logger.info("%s (%s): validated before with this suite, reusing the stored report", report.dataset, job.batch)
    for record in report.records:
        if not record.success:
            (logger.error if record.severity == "critical" else logger.warning)("%s", record.message)
    logger.info(
        "%s (%s): %d checks, %d critical failures, %d warnings (%.2f s in process %d)",
        report.dataset,
        job.batch,
        len(report.records),
        len(report.critical_failures),
        len(report.warnings),
        validated.seconds,
        os.getpid(),
    )
    return report


@task(name="record_landing_checks", cache_policy=NO_CACHE)
def record_landing_checks(landings: dict[str, Landing], reports: list[ValidationReport], run_id: str) -> None:
    """Mark the landings (by batch) whose report has a critical failure as failed, clear the others.

    A failed landing is not taken for CBS's current version: the next refresh downloads the
    table again instead of building from it once more (``sources.cbs.landing.mark_failed``).
    """
    now = dt.datetime.now(dt.UTC)
    for report in reports:
        landing = landings.get(report.batch)
        if landing is None:
            continue
        if report.passed:
            clear_failed(landing)
        else:
            mark_failed(landing, run_id, [r.message for r in report.critical_failures], now)
            get_run_logger().warning(
                "%s: the landing %s failed its critical checks: the next refresh downloads the table again",
                landing.table_id, landing.folder,
            )


@task(name="publish_warehouse", cache_policy=NO_CACHE)
def publish_warehouse(settings: Settings, frames: dict[str, pl.DataFrame], keep: tuple[str, ...] = ()) -> PublishResult:
    """Build a new warehouse file and move it over the published one; ``keep``: tables taken over unchanged.

    Then emits the Prefect event ``werkregio.warehouse.published`` (resource
    ``werkregio.warehouse.<path>``; payload: path, run id, flow, inputs sha256, schema version, rows per
    table), for automations downstream (docs/scheduling.md).
    """
    from prefect.events import emit_event

    result = publish(settings.warehouse_path, frames, keep=keep)
    get_run_logger().info(
        "published %s (%.1f MB): %s",
        result.path,
        result.size_bytes / 1e6,
        ", ".join(f"{name} {rows}" for name, rows in result.row_counts.items()),
    )
    build = frames["build_info"].row(0, named=True)
    emit_event(
        event=PUBLISHED_EVENT,
        resource={"prefect.resource.id": f"werkregio.warehouse.{result.path}", "prefect.resource.name": result.path.name},
        payload={
            "path": str(result.path),
            "run_id": build["run_id"],
            "flow": build["flow"],
            "inputs_sha256": build["inputs_sha256"],
            "schema_version": build["schema_version"],
            "rows": result.row_counts,
        },
    )
    return result


@task(name="write_indicator_report", cache_policy=NO_CACHE)
def write_indicator_report(settings: Settings) -> str | None:
    """Write the indicator report next to the warehouse just published (``report``, docs/report.md) and return its path.

    The report is read from the published file and cannot change it: when it fails, the run keeps its
    outcome, the failure is logged as a warning and None is returned (the report left from an earlier
    build names that build). A written report is linked from the run's page (artifact
    ``werkregio-indicator-report``).
    """
    from report import report_path, write_report  # Altair and vl-convert: imported once a build has published

    logger = get_run_logger()
    try:
        path = write_report(settings.warehouse_path, report_path(settings.warehouse_path), settings.reference_year)
    except Exception as err:  # noqa: BLE001 - logged; the publish that happened is the run's outcome
        logger.warning("the indicator report could not be written from %s: %s: %s", settings.warehouse_path, type(err).__name__, err)
        return None
    logger.info("indicator report: %s", path)
    show_report(Path(path))
    return str(path)


def landing_record(result: LandResult) -> dict[str, Any]:
    return {**asdict(result.landing), "action": result.action}


@task(name="read_published_tables", cache_policy=NO_CACHE)
def read_published_tables(settings: Settings, names: list[str]) -> dict[str, pl.DataFrame | None]:
    """Tables of the published warehouse, read through one connection (one build).

    A table is None when nothing is published yet, the published file lacks it or cannot be read,
    or DuckDB cannot open the file at all (a damaged file: a refresh then builds from scratch and
    replaces it). Each such case is logged as a warning naming the file. A file that another
    process holds open read-write is not "nothing published": :class:`WarehouseLocked` is raised,
    naming that process.
    """
    unknown = [name for name in names if name not in BY_NAME]
    if unknown:
        raise ValueError(f"{unknown} are not warehouse tables (warehouse/schema.py)")
    if not settings.warehouse_path.is_file():
        return dict.fromkeys(names)
    try:
        frames = query_tables(settings.warehouse_path, names)
    except WarehouseLocked:
        raise
    except WarehouseError as err:
        get_run_logger().warning("%s; starting as if nothing were published", err)
        return dict.fromkeys(names)
    for name, frame in frames.items():
        if frame is None:
            get_run_logger().warning("the published warehouse %s has no readable %s; starting without it", settings.warehouse_path, name)
    return frames


@task(name="inputs_sha256", cache_policy=NO_CACHE)
def inputs_sha256(settings: Settings) -> str:
    """sha256 of everything a refresh builds from (:func:`flows.inputs.inputs_sha256`)."""
    return sha256_of_inputs(settings)


@task(name="published_with_inputs", cache_policy=NO_CACHE)
def published_with_inputs(settings: Settings, inputs: str) -> dict[str, Any] | None:
    """The published build if it was made from exactly ``inputs`` and no UWV file waits, else None.

    A refresh then has nothing to do: rebuilding would publish the same warehouse again.
    """
    waiting = waiting_files(settings.home, settings.uwv_quiet_seconds)
    logger = get_run_logger()
    for name, age in settling_files(settings.home, settings.uwv_quiet_seconds):
        logger.info(
            "UWV file %s changed %.0f s ago: left in the inbox until it has been unchanged for %g s (WERKREGIO_UWV_QUIET_SECONDS)",
            name, age, settings.uwv_quiet_seconds,
        )
    if waiting:
        logger.info("%d UWV file(s) wait in the inbox: building", len(waiting))
        return None
    run_id = published_from(settings, inputs)
    if run_id is None:
        return None
    logger.info(
        "nothing changed since build %s (same landed versions, UWV archive, code and reference year): "
        "the published warehouse stays as it is; --force rebuilds",
        run_id,
    )
    return {"path": str(settings.warehouse_path), "rows": table_counts(settings.warehouse_path), "rebuilt": False, "build": run_id}


@task(name="intake_uwv", cache_policy=NO_CACHE)
def intake_uwv(
    settings: Settings,
    valid_municipalities: dict[int, frozenset[str]],
    regions: dict[int, dict[str, str]],
    municipality_names: dict[int, dict[str, set[str]]],
    national_bounds: NationalBounds,
) -> list[IntakeResult]:
    """Take in the UWV register files in ``$WERKREGIO_HOME/inbox/uwv`` (archive or quarantine each)."""
    logger = get_run_logger()
    results = intake_inbox(
        settings.home,
        valid_municipalities=valid_municipalities,
        regions=regions,
        municipality_names=municipality_names,
        national_bounds=national_bounds,
        today=dt.date.today(),
        quiet_seconds=settings.uwv_quiet_seconds,
    )
    for result in results:
        (logger.warning if result.status == "rejected" else logger.info)("UWV file %s: %s", result.file, result.message)
    return results


@task(name="read_uwv_archive", cache_policy=NO_CACHE)
def read_uwv_archive(settings: Settings) -> dict[str, pl.DataFrame]:
    """The three UWV tables rebuilt from every accepted file (a later file wins per key)."""
    return archived_frames(UwvFolders.at(settings.home).archive)
