"""The ``refresh`` flow: fetch, validate, transform, compute indicators, publish.

    check_catalogue (one request: Modified and MetaDataModified of every landed table)
      -> fetch_table (per catalog table; nothing more when unchanged, one metadata request when the catalogue lacks it)
      -> same inputs as the published build and no UWV file waiting? done, nothing rebuilt
      -> read_landings + validate_batch per table, on the task runner of the settings (flows.runners)
      -> facts: national_series, regional_series, geography (pure transforms, cross-checked),
         computed while the tasks validate; every report is in before anything else
         (critical failures stop here)
      -> indicators for every (reference year, view) already published plus the default, and the analyses
      -> nothing the published build holds left out (reference years, views, CBS tables), unless forced
      -> publish_warehouse (atomic swap), with the inputs as they are after the UWV intake
      -> write_indicator_report (the HTML report beside the published file)

Before any download, ``reach_cbs`` asks CBS once: a service that cannot be reached fails the run at
once. The run's page in the Prefect UI shows the downloads' progress and artifacts
(``flows.artifacts``); every publish emits ``werkregio.warehouse.published``. The nightly deployment
runs :data:`nightly_refresh`, which Prefect retries.
"""

from __future__ import annotations

import os
import queue
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

import polars as pl
from prefect import flow, get_run_logger
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.states import State

from expectations.report import html_report
from expectations.runner import ValidationFailed
from flows import runlog
from flows.artifacts import DownloadProgress, show_published, show_tables, show_validation
from flows.build import build_facts, check_nothing_dropped, compute_marts, default_reference_year, region_years, scenarios
from flows.failures import EXPECTED, RefreshFailed, failed, stopped_by
from flows.settings import Settings
from flows.tasks import (
    check_catalogue,
    fetch_table,
    find_landed,
    inputs_sha256,
    landing_record,
    live_source,
    publish_warehouse,
    published_with_inputs,
    reach_cbs,
    read_published_tables,
    write_indicator_report,
)
from sources.cbs import catalog
from sources.cbs.client import CbsUnreachable
from sources.cbs.landing import LandResult, current_landings
from sources.sample import is_synthetic
from transforms.metadata import build_info, load_history, reference_years, source_tables, validation_results
from warehouse.schema import SCHEMA_VERSION

NIGHTLY_RETRIES = 2
NIGHTLY_RETRY_DELAY_SECONDS = 15 * 60


@flow(name="refresh", description="Fetch CBS tables, validate, transform and publish the DuckDB warehouse.")
def refresh(tables: list[str] | None = None, force: bool = False, offline: bool = False) -> dict[str, Any] | State:
    """Refresh the warehouse.

    ``tables``: catalog table ids or family names to fetch (default: the whole catalog).
    ``force``: download even when ``Modified`` is unchanged, build even when the inputs equal
    the published build's, and publish a build that lacks what the published one holds
    (``flows.build.check_nothing_dropped``). ``offline``: fetch nothing and build from what is already
    landed (every landed table, or the named ones, which must be landed); with ``force``, build even
    when nothing changed. Without ``force``, a refresh whose inputs (``inputs_sha256``) equal the
    published build's and with no UWV file waiting publishes nothing and returns that build in
    ``record["published"]`` (``rebuilt``: False). An expected failure (``flows.failures``) ends the
    run Failed with its message.
    """
    try:
        return refresh_warehouse(tables, force, offline)
    except EXPECTED as err:
        return failed(err)


nightly_refresh = refresh.with_options(retries=NIGHTLY_RETRIES, retry_delay_seconds=NIGHTLY_RETRY_DELAY_SECONDS)
"""The flow of the nightly deployment (prefect.yaml): :func:`refresh`, which Prefect retries twice, 15 minutes
apart, when it fails (CBS down for a moment, another run holding the data dir). A retry reruns from what the
failed attempt landed and validated, so it costs little. The command and other callers run :func:`refresh`,
which is not retried."""


def refresh_warehouse(tables: list[str] | None, force: bool, offline: bool) -> dict[str, Any]:
    """The body of :func:`refresh`, in its flow run."""
    settings = Settings.from_env()
    entries = catalog.select(tables or ())
    with recorded_run(settings, "refresh", {"tables": tables, "force": force, "offline": offline}) as record:
        if offline:
            wanted = [e.table_id for e in entries] if tables else [l.table_id for l in current_landings(settings.raw_dir, catalog.ids())]
            record["tables"] = [landing_record(r) for r in find_landed(settings, wanted)]
        else:
            record["tables"] = fetch_tables(settings, [e.table_id for e in entries], force)
        show_tables(record["tables"], {e.table_id: e.title for e in catalog.TABLES})
        if failures := [t for t in record["tables"] if t["action"] == "failed"]:
            raise RefreshFailed(
                f"{len(failures)} of {len(record['tables'])} table(s) failed:\n  " + "\n  ".join(t["error"] for t in failures)
            )

        inputs = inputs_sha256(settings)
        if not force and (current := published_with_inputs(settings, inputs)) is not None:
            record["published"] = current
            return record
        published = read_published_tables(settings, ["indicators", "load_history", "source_tables"])

        def marts_of(facts: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
            return compute_marts(
                facts, scenarios(default_reference_year(facts, settings), published["indicators"], composed=region_years(facts))
            )

        built = build_facts(settings, record["run_id"], meanwhile=marts_of)  # the marts computed while the tasks validate
        record["validation"], record["uwv_files"], record["task_runner"] = built.validation, built.uwv_files, built.task_runner
        facts = built.tables
        marts = built.meanwhile if built.meanwhile is not None else marts_of(facts)
        inputs = inputs_sha256(settings)  # again: the intake may have archived UWV files, which this build holds
        landed = current_landings(settings.raw_dir, catalog.ids())
        frames = {
            **facts,
            **marts,
            **run_metadata(settings, record, published["load_history"], marts["indicators"], inputs),
            "source_tables": source_tables(
                [asdict(item) for item in landed],
                {e.table_id: {"title": e.title, "family": e.family} for e in catalog.TABLES},
                synthetic=[item.table_id for item in landed if is_synthetic(item.read_info())],
            ),
            "validation_results": validation_results(record["run_id"], record["validation"]),
        }
        check_nothing_dropped(published, frames, str(settings.warehouse_path), force)
        result = publish_warehouse(settings, frames)
        record["published"] = {"path": str(result.path), "rows": result.row_counts}
        show_published(result.path, record["run_id"], marts["indicators"])
        record["published"]["report"] = write_indicator_report(settings)
        return record


def fetch_tables(settings: Settings, table_ids: list[str], force: bool) -> list[dict[str, Any]]:
    """Fetch each table by a ``fetch_table`` task on the flow's threads, after ``reach_cbs`` and (unless ``force``)
    ``check_catalogue`` (one request for the version of every landed table); the run log
    record of each (:func:`~flows.tasks.landing_record`, or action ``failed`` with its error).

    A table that fails does not stop the others. Their progress shows in the ``werkregio-download``
    artifact. A signal (SIGTERM, Ctrl-C) while they run cancels the client's requests and this waits
    until every task has ended before passing it on: nothing is landed after the run has ended and
    released the data dir's lock.
    """
    source = live_source(settings)
    if (unreachable := reach_cbs(source, settings)) is not None:
        raise CbsUnreachable(unreachable)
    listed = {} if force else check_catalogue(source, settings, table_ids)
    progress = DownloadProgress(len(table_ids))
    futures = {
        fetch_table.submit(source, settings, table_id, force, progress, listed.get(table_id)): table_id for table_id in table_ids
    }
    try:
        for future in as_finished(futures):
            progress.done(futures[future], _action(future))
    except BaseException:
        source.cancel()
        for _ in as_finished(futures):
            pass
        raise
    return [_fetched(table_id, future) for future, table_id in futures.items()]


def as_finished(futures: Collection[PrefectFuture], poll: float = 0.5) -> Iterator[PrefectFuture]:
    """Each of ``futures`` as it finishes, waiting in steps of ``poll`` seconds.

    Python runs a signal's handler (Ctrl-C; Prefect's SIGTERM) on the main thread only once that
    thread wakes up, and a wait without a timeout (``prefect.futures.as_completed``) wakes up only
    when the next future finishes: minutes, for a large table.
    """
    ended: queue.SimpleQueue[PrefectFuture] = queue.SimpleQueue()
    for future in futures:
        future.add_done_callback(ended.put)
    remaining = len(futures)
    while remaining:
        try:
            future = ended.get(timeout=poll)
        except queue.Empty:
            continue
        remaining -= 1
        yield future


def _action(future: Any) -> str:
    try:
        return future.result().action
    except Exception:  # noqa: BLE001 - the error is taken up by _fetched
        return "failed"


def _fetched(table_id: str, future: Any) -> dict[str, Any]:
    try:
        result: LandResult = future.result()
    except Exception as err:  # noqa: BLE001 - a table's failure is recorded; the run fails after the artifact shows all
        return {"table_id": table_id, "action": "failed", "error": f"{type(err).__name__}: {err}"}
    return landing_record(result)


def run_metadata(
    settings: Settings,
    record: dict[str, Any],
    history: pl.DataFrame | None,
    indicators: pl.DataFrame,
    inputs: str | None = None,
    cbs_url: str | None = None,
) -> dict[str, pl.DataFrame]:
    """``build_info`` and ``load_history`` of this build, from the run's ``record`` (:func:`recorded_run`).

    ``history``: the published file's ``load_history`` (None: none); the run log adds the runs it lacks.
    ``indicators``: this build's indicator mart. ``inputs``: :func:`flows.tasks.inputs_sha256`, None if not a full build.
    ``cbs_url``: the CBS service the facts came from, when not the configured one (a recalculation keeps the
    published build's).
    """
    built_at = datetime.now(UTC)
    logged = [asdict(run) for run in runlog.runs(settings.run_log_path)]
    return {
        "build_info": build_info(
            record["run_id"], record["flow"], built_at, cbs_url or settings.cbs_service_url, version("werkregio"), inputs,
            schema_version=SCHEMA_VERSION,
        ),
        "load_history": load_history(history, logged, record, built_at, reference_years(indicators)),
    }


@contextmanager
def recorded_run(settings: Settings, flow_name: str, parameters: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Hold the data dir's lock and log the run's start and its outcome to the run log.

    The HTML validation report is written on the way out, and its summary shown as an artifact; if
    that fails, the run keeps its outcome (a run that published stays finished) and the failure is
    logged as a warning. A run stopped by a signal is logged as failed, naming the signal.
    """
    run_id = str(flow_run.get_id() or uuid.uuid4())
    record: dict[str, Any] = {
        "run_id": run_id,
        "flow": flow_name,
        "tables": [],
        "validation": [],
        "uwv_files": [],
        "published": None,
    }
    with runlog.exclusive(settings.home, f"{flow_name} run {run_id}"):
        runlog.append(settings.run_log_path, {"run_id": run_id, "flow": flow_name, "event": "started", "parameters": parameters})
        try:
            yield record
        except BaseException as err:
            if isinstance(err, ValidationFailed):
                record["validation"] = err.report.to_rows()
            elif hasattr(err, "validation_rows"):
                record["validation"] = err.validation_rows
            record["report"] = _report(settings, record, "failed")
            runlog.append(settings.run_log_path, {**record, "event": "failed", "error": _error(err, record)})
            raise
        record["report"] = _report(settings, record, "finished")
        runlog.append(settings.run_log_path, {**record, "event": "finished"})


def _error(err: BaseException, record: dict[str, Any]) -> str:
    """The run log's ``error`` of a run that ended with ``err``."""
    signal = stopped_by(err)
    if signal is None:
        return f"{type(err).__name__}: {err}"
    after = "after it published the warehouse" if record["published"] else "before it published anything"
    return f"Stopped by {signal} {after}: requests to CBS in flight were cancelled and nothing was landed after the signal"


def _report(settings: Settings, record: dict[str, Any], outcome: str) -> str | None:
    """:func:`write_validation_report` and its summary as an artifact; None when nothing was validated.

    A failure there is logged as a warning (the path is None if the report itself failed): the report
    must not change the run's outcome.
    """
    path = None
    try:
        path = write_validation_report(settings, record, outcome)
        if record["validation"]:
            show_validation(record["run_id"], outcome, record["validation"], path)
    except Exception as err:  # noqa: BLE001 - logged; the run's own outcome (and error) is what counts
        get_run_logger().warning("run %s: the validation report could not be written: %s: %s", record["run_id"], type(err).__name__, err)
    return path


def write_validation_report(settings: Settings, record: dict[str, Any], outcome: str) -> str | None:
    """Write the run's HTML validation report under ``$WERKREGIO_HOME/reports/``; None if nothing was validated."""
    if not record["validation"] and not record["uwv_files"]:
        return None
    folder = settings.home / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"validation-{record['run_id']}.html"
    attempt = 1
    while path.exists():  # an earlier attempt of a flow run retried in Prefect keeps its report
        attempt += 1
        path = folder / f"validation-{record['run_id']}-attempt-{attempt}.html"
    partial = path.with_suffix(".partial")
    partial.write_text(html_report(record["run_id"], outcome, record["validation"], record["uwv_files"]), encoding="utf-8")
    os.replace(partial, path)
    return str(path)
