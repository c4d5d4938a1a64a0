"""The run log: one JSON line per event of a pipeline run, kept outside the warehouse.

It lives in ``$WERKREGIO_HOME/runs.jsonl`` because a failed run must leave the published
warehouse untouched, yet ``werkregio status`` has to say what failed. Each run writes a
``started`` line and then exactly one ``finished`` or ``failed`` line; a run with only a
``started`` line was killed (or is still running). A flow run retried in Prefect (the UI's
"Retry", ``prefect flow-run retry``) keeps its id: each ``started`` line of that id after the
first begins another attempt, listed as a run of its own, so an earlier failure stays in view.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def append(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"at": _now(), **record}, ensure_ascii=False, default=str)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


@dataclass
class Run:
    """What the log knows of one run, merged from its lines."""

    run_id: str
    flow: str
    started_at: str
    parameters: dict[str, Any] = field(default_factory=dict)
    status: str = "running or killed"
    finished_at: str | None = None
    tables: list[dict[str, Any]] = field(default_factory=list)
    validation: list[dict[str, Any]] = field(default_factory=list)
    uwv_files: list[dict[str, Any]] = field(default_factory=list)
    published: dict[str, Any] | None = None
    report: str | None = None
    error: str | None = None
    attempt: int = 1
    """1, or the attempt of a flow run retried under the same id."""


def runs(path: Path) -> list[Run]:
    """Every run (every attempt of a retried one) in the log, oldest first. Unreadable lines (a torn last write) are skipped."""
    merged: list[Run] = []
    latest: dict[str, Run] = {}  # run id -> its latest attempt
    if not path.is_file():
        return []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        run_id = record.get("run_id")
        if not run_id:
            continue
        if record.get("event") == "started":
            before = latest.get(run_id)
            run = Run(run_id, record.get("flow", "?"), record["at"], record.get("parameters", {}),
                      attempt=before.attempt + 1 if before else 1)  # fmt: skip
            latest[run_id] = run
            merged.append(run)
            continue
        run = latest.get(run_id)
        if run is None:
            run = latest[run_id] = Run(run_id, record.get("flow", "?"), record["at"])
            merged.append(run)
        run.finished_at = record["at"]
        run.status = record.get("event", "?")
        run.tables = record.get("tables", run.tables)
        run.validation = record.get("validation", run.validation)
        run.uwv_files = record.get("uwv_files", run.uwv_files)
        run.report = record.get("report", run.report)
        run.published = record.get("published", run.published)
        run.error = record.get("error", run.error)
    return merged


class PipelineBusy(RuntimeError):
    """Another run (refresh or recalculation) holds the lock on this data dir."""


LOCK_NAME = ".pipeline.lock"


@contextmanager
def exclusive(home: Path, owner: str) -> Iterator[None]:
    """Hold ``$WERKREGIO_HOME/.pipeline.lock`` for the duration; refuse at once if it is taken.

    ``owner`` (e.g. ``refresh run <id>``) is written into the lock file so that a refused run
    can say who holds it. The lock is an ``flock``: the operating system drops it when the
    process dies, so a killed run never leaves a stale lock behind.
    """
    home.mkdir(parents=True, exist_ok=True)
    lock_path = home / LOCK_NAME
    handle = lock_path.open("a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise PipelineBusy(
                f"another pipeline run is busy on {home} ({holder}); wait for it to finish, then run again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{owner}, pid {os.getpid()}, since {_now()}")
        handle.flush()
        yield
    finally:
        handle.close()
