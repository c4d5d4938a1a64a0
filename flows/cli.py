"""The ``werkregio`` command line.

Prefect is imported only after the environment is prepared (telemetry off, ``PREFECT_HOME``
under the data dir unless the user set one), so nothing talks to any host but CBS.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

from flows.runlog import PipelineBusy  # the standard library only
from flows.settings import VIEWS, Settings, SettingsError, apply_quiet_environment


EVENTS_TIMEOUT = 30.0
"""Seconds the command waits for its Prefect events to be sent after its flow run."""
API_PAGE = 200
"""Task runs per request (the most Prefect's server gives, ``PREFECT_SERVER_API_DEFAULT_LIMIT``)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="werkregio",
        description="Dutch regional labour-market indicators from CBS StatLine into DuckDB.",
        epilog="Settings come from WERKREGIO_* environment variables; see README.md. Exit codes: 0 done (also when "
        "there was nothing to publish), 1 the run failed or was refused (the message says why), 2 a wrong argument "
        "or setting, 130 stopped by Ctrl-C.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('werkregio')}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    refresh = commands.add_parser(
        "refresh",
        help="fetch changed CBS tables, validate, transform and publish the warehouse",
        description="Fetch every catalog table whose Modified or MetaDataModified changed (asked of CBS's catalogue in "
        "one request), validate, transform and publish $WERKREGIO_HOME/warehouse/werkregio.duckdb atomically.",
    )
    refresh.add_argument(
        "--table",
        action="append",
        dest="tables",
        metavar="ID_OR_FAMILY",
        help="only this CBS table id or catalog family (repeatable; default: the whole catalog)",
    )
    refresh.add_argument(
        "--force", action="store_true",
        help="download even when Modified is unchanged, rebuild even when nothing changed (with --offline: rebuild from "
        "what is landed), and publish even a build that lacks what the published warehouse holds",
    )  # fmt: skip
    refresh.add_argument("--offline", action="store_true", help="download nothing; build from what is already landed")

    indicators = commands.add_parser(
        "indicators",
        help="recalculate the indicator marts for a reference year and view from loaded facts",
        description="Rebuild the indicator marts from the facts in the published warehouse (no download) for the "
        "given reference year and view, keeping the other scenarios, and publish atomically.",
    )
    indicators.add_argument("--reference-year", type=int, metavar="YEAR", help="boundaries to harmonise to (default: latest region composition)")
    indicators.add_argument("--view", choices=VIEWS, default="harmonised", help="default harmonised")

    export = commands.add_parser(
        "export",
        help="export the published warehouse's views and tables to Parquet",
        description="Write one Parquet file per warehouse view (or table with --tables) into a folder, read-only.",
    )
    export.add_argument("output", type=_path, help="folder to write the Parquet files into")
    export.add_argument("--tables", action="store_true", help="export the tables instead of the views")

    report = commands.add_parser(
        "report",
        help="write the indicator report (one self-contained HTML file) from the published warehouse",
        description="Build the indicator report from the published warehouse (read-only): charts with their numbers, "
        "coverage and the evaluation's analyses, in one HTML file that opens without network. A refresh or "
        "recalculation writes it after every publish; see docs/report.md.",
    )
    report.add_argument(
        "--reference-year", type=int, metavar="YEAR",
        help="harmonised reference year to report on (default: WERKREGIO_REFERENCE_YEAR, else the latest in the warehouse)",
    )  # fmt: skip
    report.add_argument(
        "--out", type=_path, metavar="FILE",
        help="file to write (default: werkregio-report.html next to the warehouse; werkregio-report-YEAR.html with --reference-year)",
    )  # fmt: skip

    demo = commands.add_parser(
        "demo",
        help="run the whole pipeline offline on the bundled sample, in a folder of its own; prints the report's path",
        description="Land the bundled sample (an excerpt of real CBS tables, generated municipal benefit tables and "
        "UWV files, marked synthetic) in FOLDER, refresh offline there and print the path of the report. "
        "No network; WERKREGIO_HOME is FOLDER for this command. See docs/report.md.",
    )
    demo.add_argument("folder", nargs="?", type=Path, metavar="FOLDER", help="the demo's data dir: new, empty or an earlier demo's (default ./demo)")

    status = commands.add_parser(
        "status",
        help="show recent runs, the published tables and the validation outcome",
        description="Show the last runs from the run log, the CBS tables in the published warehouse "
        "with their Modified and row counts, and the validation outcome.",
    )
    status.add_argument("--runs", type=_run_count, default=5, metavar="N", help="how many recent runs to show (default 5; 0: none)")
    status.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")

    return parser


def _path(text: str) -> Path:
    """A path argument; an empty one is refused (``Path('')`` would be the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path: name a file or folder (use . for the current folder)")
    return Path(text)


def _run_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if count < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {count}")
    return count


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":  # its own data dir and settings
        from flows.demo import main as demo

        return demo(args.folder)
    try:
        settings = Settings.from_env()
    except SettingsError as err:
        print(f"werkregio: {err}", file=sys.stderr)
        return 2
    if args.command == "status":
        from flows.status import render, status_report

        report = status_report(settings, runs=args.runs)
        print(json.dumps(report, indent=2, default=str) if args.json else render(report))
        return 0
    if args.command == "report":
        from report import ReportError, report_path, write_report
        from warehouse.store import WarehouseError

        out = args.out or report_path(settings.warehouse_path, args.reference_year)
        try:
            written = write_report(settings.warehouse_path, out, args.reference_year or settings.reference_year)
        except (ReportError, WarehouseError) as err:
            print(f"werkregio: {err}", file=sys.stderr)
            return 1
        except OSError as err:
            print(f"werkregio: cannot write the report {out}: {err}", file=sys.stderr)
            return 1
        print(f"wrote {written}")
        return 0
    if args.command == "export":
        import duckdb

        from warehouse.store import WarehouseError, export_parquet

        try:
            written = export_parquet(settings.warehouse_path, args.output, views=not args.tables)
        except (WarehouseError, duckdb.Error) as err:
            print(f"werkregio: {err}", file=sys.stderr)
            return 1
        except OSError as err:  # e.g. the disk is full, or no permission on the folder
            print(f"werkregio: cannot export into {args.output}: {err}", file=sys.stderr)
            return 1
        for path in written:
            print(f"wrote {path}")
        return 0
    if args.command == "refresh" and args.tables:
        from sources.cbs.catalog import UnknownTableError, select  # the standard library only

        try:
            select(args.tables)  # before Prefect starts: a mistyped id fails at once, with no run
        except UnknownTableError as err:
            print(f"werkregio: {err}", file=sys.stderr)
            return 2
    problem = unwritable(settings.home, "the data dir (WERKREGIO_HOME)") or unwritable(prefect_home(settings), "Prefect's home (PREFECT_HOME)")
    if problem:  # before Prefect starts: it would try for minutes to write its database there
        print(f"werkregio: {problem}", file=sys.stderr)
        return 2
    prepare_prefect_environment(settings)
    before, flow_called = None, False
    try:
        if args.command == "indicators":
            from flows.indicators import recalculate_indicators as flow

            parameters = {"reference_year": args.reference_year, "view": args.view}
        else:
            from flows.refresh import refresh as flow

            parameters = {"tables": args.tables, "force": args.force, "offline": args.offline}
        from warehouse.store import published_build

        before = published_build(settings.warehouse_path)  # a run can fail after it published
        flow_called = True
        record = run_flow(flow, parameters)
    except KeyboardInterrupt:
        outcome = published_now(settings.warehouse_path, before) if flow_called else "The published warehouse was not changed."
        print(f"\nwerkregio {args.command} stopped (Ctrl-C). {outcome} `werkregio status` shows the run.", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the CLI turns any failure into one clear line and exit 1
        print(f"\nwerkregio {args.command} failed: {err}", file=sys.stderr)
        if isinstance(err, PipelineBusy):  # refused before it started: no run was recorded
            print("Nothing was run; the published warehouse was not changed.", file=sys.stderr)
            return 1
        outcome = published_now(settings.warehouse_path, before) if flow_called else "The published warehouse was not changed."
        print(f"{outcome} `werkregio status` shows the run.", file=sys.stderr)
        return 1
    published = (record or {}).get("published") or {}
    if published.get("rebuilt") is False:
        print(
            f"\nwerkregio {args.command}: nothing changed since build {published['build']}: published nothing; "
            f"{settings.warehouse_path} is as it was (--force rebuilds)"
        )
        return 0
    print(f"\nwerkregio {args.command} done: published {settings.warehouse_path}")
    return 0


def unwritable(folder: Path, name: str) -> str | None:
    """None if a file can be made in ``folder`` (created if missing), else one line naming it and why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        return f"cannot write to {name} {folder}: {err.strerror or err}; choose a folder you can write, or make this one writable"
    return None


def published_now(path: Path, before: tuple[str, str | None] | None) -> str:
    """What a failed run left published at ``path``, against ``before``, the build published when it started
    (:func:`warehouse.store.published_build`). A run can fail after it published (e.g. writing the run log)."""
    from warehouse.store import published_build

    after = published_build(path)
    if after == before:
        return "The published warehouse was not changed."
    if after is None:
        return f"There is no readable published warehouse at {path} now."
    return f"The published warehouse {path} now holds build {after[0]} (it changed during the run)."


def prefect_home(settings: Settings) -> Path:
    """``PREFECT_HOME`` if set, else ``$WERKREGIO_HOME/prefect``."""
    return Path(os.environ.get("PREFECT_HOME") or settings.home / "prefect").expanduser()


def prepare_prefect_environment(settings: Settings) -> None:
    """Telemetry off, Prefect's state under the data dir, our loggers in Prefect's output."""
    apply_quiet_environment()
    os.environ["PREFECT_HOME"] = str(prefect_home(settings))
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "werkregio")


def run_flow(flow: Callable[..., Any], parameters: dict[str, Any]) -> Any:
    """Call ``flow`` with ``parameters`` as this command's flow run (:func:`foreground_flow_run`) and return
    its result; a failed run raises its error.

    With Prefect's temporary server (no ``PREFECT_API_URL``), the command ends only once that server has
    recorded the run's task runs (:func:`wait_until_recorded`): the server stops when the command exits,
    and stopping it while it still wrote the last task runs of a run (as after a run that failed on
    many tables at once) logged its write cancelled, with ``CancelledError`` tracebacks.
    """
    from prefect.events.worker import EventsWorker
    from prefect.settings import PREFECT_API_URL

    temporary_server = not PREFECT_API_URL.value()
    with foreground_flow_run():
        state = flow(**parameters, return_state=True)
    EventsWorker.drain_all(timeout=EVENTS_TIMEOUT, at_exit=False)  # the run's last events sent now, not at exit
    if temporary_server:
        try:
            wait_until_recorded(state.state_details.flow_run_id)
        except Exception as err:  # noqa: BLE001 - Prefect's bookkeeping must not change the run's outcome
            print(f"werkregio: could not ask Prefect's temporary server about the run: {type(err).__name__}: {err}", file=sys.stderr)
    return state.result()


def wait_until_recorded(flow_run_id: Any, *, timeout: float = 10.0, quiet: float = 0.5, poll: float = 0.1) -> bool:
    """Wait until the Prefect API lists every task run of ``flow_run_id`` in a final state, unchanged
    for ``quiet`` seconds; at most ``timeout`` seconds. Whether it got there."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + timeout
    runs_of = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    seen, since = None, time.monotonic()
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs, page = [], None
            while page is None or len(page) == API_PAGE:
                page = client.read_task_runs(flow_run_filter=runs_of, limit=API_PAGE, offset=len(runs))
                runs += page
            now = sorted((str(run.id), str(run.state_type)) for run in runs)
            if now != seen:
                seen, since = now, time.monotonic()
            elif all(run.state is not None and run.state.is_final() for run in runs) and time.monotonic() - since >= quiet:
                return True
            time.sleep(poll)
    return False


@contextmanager
def foreground_flow_run() -> Iterator[None]:
    """Prefect settings for a flow run this command starts: no flow-run heartbeats.

    The API is Prefect's choice: ``PREFECT_API_URL`` (environment or Prefect profile), else the
    temporary server Prefect starts for the command and stops at its end.

    Heartbeats: Prefect (3.9) sends a heartbeat event every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` seconds
    (default 180) from a thread that the end of the run waits for, up to a second. Heartbeats serve
    one purpose: an automation on the Prefect server that marks a run whose machine died as crashed
    (docs/scheduling.md). A run started with this command is watched by whoever started it, and the
    command's exit tells how it ended, so it sends none, unless PREFECT_FLOWS_HEARTBEAT_FREQUENCY
    is set (environment or Prefect profile), which wins. Deployment runs, which a worker starts
    without this command, keep Prefect's setting.
    """
    from prefect.settings import temporary_settings

    with temporary_settings(set_defaults={"flows.heartbeat_frequency": None}):
        yield


def run() -> None:
    """The ``werkregio`` console script: :func:`main`, then exit with its code."""
    raise SystemExit(main())


if __name__ == "__main__":
    run()
