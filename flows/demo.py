"""``werkregio demo [FOLDER]``: the whole pipeline, offline, on the bundled sample, in a folder of its own.

1. FOLDER (default ``./demo``; new, empty or made by an earlier demo, never a real data dir: the
   sample's synthetic tables must not mix with real ones) is the data dir of the run
   (``WERKREGIO_HOME``), with the sample's reference year (``WERKREGIO_REFERENCE_YEAR``),
   validation on threads of this process, so that nothing but Prefect's API is contacted, and the
   UWV intake's quiet time 0 (``WERKREGIO_UWV_QUIET_SECONDS``: the demo wrote the files whole a
   moment before), whatever the environment says;
2. the sample's CBS tables are landed in ``FOLDER/raw`` by the pipeline's ``land_table`` from
   :class:`sources.sample.cbs.SampleCbs` (no network): an excerpt of seven real CBS tables and three
   generated, synthetic municipal benefit tables. A table the newest landing already holds is
   left as it is;
3. the three sample UWV files (:mod:`sources.sample.uwv`) are put in ``FOLDER/inbox/uwv``, unless
   the archive holds them already;
4. the ``refresh`` flow runs offline: validation, UWV intake, transforms, indicators, publish and
   report, as for any data dir. A second demo in the same folder finds nothing changed and
   publishes nothing;
5. it says what it did, and its last line is the path of the report.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

from flows.runlog import PipelineBusy, exclusive
from flows.settings import Settings, SettingsError

DEFAULT_FOLDER = Path("demo")
MARKER = ".werkregio-demo"
"""Written into a demo folder on its first run: only such a folder (or an empty one) is used again."""


def main(folder: Path | None = None) -> int:
    """Run the demo into ``folder``; the command's exit code (0 done, 1 failed, 2 could not start)."""
    from flows.cli import foreground_flow_run, prefect_home, prepare_prefect_environment, published_now, unwritable
    from sources.sample.excerpt import SAMPLE_YEAR

    home = (folder or DEFAULT_FOLDER).expanduser().absolute()
    os.environ.update(
        {
            "WERKREGIO_HOME": str(home),
            "WERKREGIO_REFERENCE_YEAR": str(SAMPLE_YEAR),
            "WERKREGIO_TASK_RUNNER": "threads",
            "WERKREGIO_UWV_QUIET_SECONDS": "0",  # the demo writes its UWV files whole, just before the intake
        }
    )
    for name in ("WERKREGIO_DASK_ADDRESS", "WERKREGIO_VALIDATION_WORKERS"):
        os.environ.pop(name, None)
    try:
        settings = Settings.from_env()
    except SettingsError as err:
        print(f"werkregio: {err}", file=sys.stderr)
        return 2
    problem = (
        foreign_folder(settings.home)
        or unwritable(settings.home, "the demo folder")
        or unwritable(prefect_home(settings), "Prefect's home (PREFECT_HOME)")
    )
    if problem:
        print(f"werkregio: {problem}", file=sys.stderr)
        return 2
    prepare_prefect_environment(settings)
    (settings.home / MARKER).write_text(
        "made by `werkregio demo`: a data dir of the bundled sample, partly synthetic (sources/sample/README.md)\n", encoding="utf-8"
    )
    print(f"werkregio demo: the pipeline offline on the bundled sample, in {settings.home}")
    before, flow_called = None, False
    try:
        with exclusive(settings.home, "werkregio demo, landing the sample"):
            landed = land_sample(settings)
            dropped = drop_uwv_files(settings)
        print(describe_landing(landed, settings))
        print(
            f"sample UWV files put in {settings.home / 'inbox' / 'uwv'}: {', '.join(dropped)}"
            if dropped
            else "the sample UWV files are in the UWV archive already"
        )
        from flows.refresh import refresh
        from warehouse.store import published_build

        before = published_build(settings.warehouse_path)
        flow_called = True
        with foreground_flow_run():
            record = refresh(offline=True)
    except Exception as err:  # noqa: BLE001 - the CLI turns any failure into one clear line and exit 1
        print(f"\nwerkregio demo failed: {err}", file=sys.stderr)
        if isinstance(err, PipelineBusy):
            print("Nothing was run; the demo folder was not changed.", file=sys.stderr)
            return 1
        outcome = published_now(settings.warehouse_path, before) if flow_called else "The published warehouse was not changed."
        print(f"{outcome} `WERKREGIO_HOME={settings.home} werkregio status` shows the run.", file=sys.stderr)
        return 1
    try:
        report = ensure_report(settings)
    except Exception as err:  # noqa: BLE001 - the warehouse is published; say why the report is missing
        print(f"\nwerkregio demo: published {settings.warehouse_path}, but the report could not be written: {err}", file=sys.stderr)
        return 1
    print(describe_run(record, settings))
    print(f"report: {report}")
    return 0


def foreign_folder(home: Path) -> str | None:
    """One line if ``home`` holds anything but an earlier demo: the sample's synthetic tables must not mix with real data."""
    if not home.is_dir() or (home / MARKER).is_file() or not any(home.iterdir()):
        return None
    return (
        f"{home} is not empty and no earlier `werkregio demo` made it: the demo lands synthetic tables, which must not "
        "mix with a real data dir; choose a new or empty folder"
    )


def land_sample(settings: Settings) -> list[dict[str, Any]]:
    """Land every table of the sample in the data dir; one record per table (table_id, action, rows, synthetic)."""
    from sources.cbs.landing import land_table
    from sources.sample import is_synthetic
    from sources.sample.cbs import SampleCbs

    source = SampleCbs()
    out = []
    for table_id in source.table_ids():
        result = land_table(source, table_id, settings.raw_dir, force=True)  # the same content keeps its landing
        synthetic = is_synthetic(result.landing.read_info())
        out.append({"table_id": table_id, "action": result.action, "rows": result.landing.rows, "synthetic": synthetic})
    return out


def drop_uwv_files(settings: Settings) -> list[str]:
    """Write the sample UWV files into the inbox, except those whose content the UWV archive holds; the names written."""
    from sources.sample import uwv
    from sources.uwv.archive import archive_state
    from sources.uwv.folders import UwvFolders

    archived = {line.rsplit(" ", 1)[-1] for line in archive_state(settings.home)}
    inbox = UwvFolders.at(settings.home).inbox
    written = []
    for name, text in uwv.files().items():
        data = text.encode("utf-8")
        if hashlib.sha256(data).hexdigest() in archived:
            continue
        inbox.mkdir(parents=True, exist_ok=True)
        (inbox / name).write_bytes(data)
        written.append(name)
    return written


def ensure_report(settings: Settings) -> Path:
    """The report beside the published warehouse; written now if it is missing (a run that found nothing changed writes none)."""
    from report import report_path, write_report

    path = report_path(settings.warehouse_path)
    return path if path.is_file() else write_report(settings.warehouse_path, path, settings.reference_year)


def describe_landing(landed: list[dict[str, Any]], settings: Settings) -> str:
    new = [t["table_id"] for t in landed if t["action"] != "identical"]
    synthetic = [t["table_id"] for t in landed if t["synthetic"]]
    state = f"{len(new)} landed now ({', '.join(new)})" if new else "all already landed, unchanged"
    return (
        f"sample CBS tables in {settings.raw_dir}: {len(landed)}, {state}; "
        f"synthetic (generated on the real municipality codes, not CBS figures): {', '.join(synthetic)}"
    )


def describe_run(record: dict[str, Any], settings: Settings) -> str:
    published = record.get("published") or {}
    taken = [f"{f['file']} {f['status']}" for f in record.get("uwv_files") or []]
    uwv = f"; UWV files: {', '.join(taken)}" if taken else ""
    if published.get("rebuilt") is False:
        return f"nothing changed since build {published.get('build')}: {settings.warehouse_path} stays as it is{uwv}"
    return f"published build {record.get('run_id')}: {settings.warehouse_path}{uwv}"
