"""What a run shows in the Prefect UI: artifacts on its flow run's page (and, by key, on the Artifacts page).

| key | kind | what |
|---|---|---|
| ``werkregio-download`` | progress | a refresh's downloads: tables done of those asked for, rows so far |
| ``werkregio-tables`` | table | one row per table: fetched, unchanged or failed, rows, ``Modified`` |
| ``werkregio-validation`` | markdown | checks per dataset and batch, the failed ones, the HTML report's path |
| ``werkregio-published`` | table | what the published file holds per view and reference year |
| ``werkregio-indicator-report`` | link | the indicator report written beside the published file |

The functions named after a table or text build it from plain values (tested without Prefect);
the ``show_*`` functions and :class:`DownloadProgress` send it to the Prefect API of the run.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import polars as pl

from transforms.metadata import indicator_scenarios

FETCHED = ("downloaded", "identical")
"""Actions of a table that was downloaded (``identical``: to its newest landing, which stays)."""
SHOWN_FAILURES = 20


def table_rows(tables: Sequence[Mapping[str, Any]], titles: Mapping[str, str]) -> list[dict[str, Any]]:
    """One row per table of a refresh (its run log ``tables``): outcome, rows, ``Modified``, error."""
    outcome = {"downloaded": "fetched", "identical": "fetched (same as landed)", "offline": "landed (offline)"}
    return [
        {
            "table": t["table_id"],
            "title": titles.get(t["table_id"], ""),
            "outcome": outcome.get(t["action"], t["action"]),
            "rows": t.get("rows"),
            "Modified": t.get("modified"),
            "error": t.get("error", ""),
        }
        for t in tables
    ]


def tables_text(tables: Sequence[Mapping[str, Any]]) -> str:
    """'31 tables: 2 fetched, 28 unchanged, 1 failed'."""
    actions = Counter(t["action"] for t in tables)
    parts = [
        f"{sum(actions[a] for a in FETCHED)} fetched",
        f"{actions['unchanged']} unchanged",
        *([f"{actions['offline']} landed before (offline)"] if actions["offline"] else []),
        f"{actions['failed']} failed",
    ]
    return f"{len(tables)} tables: " + ", ".join(parts)


def validation_markdown(run_id: str, outcome: str, checks: Sequence[Mapping[str, Any]], report: str | None) -> str:
    """The validation summary of a run: checks per dataset and batch, the failed ones, the report's path."""
    frame = pl.DataFrame(
        [{k: c.get(k) for k in ("dataset", "batch", "severity", "success", "message")} for c in checks],
        schema={"dataset": pl.String, "batch": pl.String, "severity": pl.String, "success": pl.Boolean, "message": pl.String},
    )
    summary = (
        frame.group_by("dataset", "batch", maintain_order=True)
        .agg(
            pl.len().alias("checks"),
            ((~pl.col("success")) & (pl.col("severity") == "critical")).sum().alias("critical"),
            ((~pl.col("success")) & (pl.col("severity") != "critical")).sum().alias("warnings"),
        )
        .sort("dataset", "batch")
    )
    critical = int(summary["critical"].sum()) if summary.height else 0
    lines = [
        f"# Validation of run {run_id}: {outcome}",
        "",
        f"{frame.height} checks on {summary.height} batches: {critical} critical failures, "
        f"{int(summary['warnings'].sum()) if summary.height else 0} warnings.",
        "",
        "| dataset | batch | checks | critical failures | warnings |",
        "|---|---|---:|---:|---:|",
        *(f"| {r['dataset']} | {r['batch']} | {r['checks']} | {r['critical']} | {r['warnings']} |" for r in summary.iter_rows(named=True)),
    ]
    failures = frame.filter(~pl.col("success")).sort("severity", maintain_order=True)
    if failures.height:
        lines += ["", "## Failed checks", ""]
        lines += [f"- {r['severity']}: {r['dataset']} ({r['batch']}): {r['message']}" for r in failures.head(SHOWN_FAILURES).iter_rows(named=True)]
        if failures.height > SHOWN_FAILURES:
            lines.append(f"- ... and {failures.height - SHOWN_FAILURES} more (in the report)")
    if report:
        lines += ["", f"Report: [{Path(report).name}]({Path(report).as_uri()}) (on the machine that ran the flow: `{report}`)"]
    return "\n".join(lines)


def show_tables(tables: Sequence[Mapping[str, Any]], titles: Mapping[str, str]) -> None:
    from prefect.artifacts import create_table_artifact

    create_table_artifact(table_rows(tables, titles), key="werkregio-tables", description=tables_text(tables))


def show_validation(run_id: str, outcome: str, checks: Sequence[Mapping[str, Any]], report: str | None) -> None:
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(
        validation_markdown(run_id, outcome, checks, report), key="werkregio-validation", description=f"validation: {outcome}"
    )


def show_published(path: Path, build: str, indicators: pl.DataFrame) -> None:
    from prefect.artifacts import create_table_artifact

    create_table_artifact(
        indicator_scenarios(indicators).to_dicts(), key="werkregio-published",
        description=f"published {path} (build {build}): the indicators per view and reference year (as_published: each "
        "year on its own boundaries)",
    )  # fmt: skip


def show_report(path: Path) -> None:
    from prefect.artifacts import create_link_artifact

    create_link_artifact(
        path.as_uri(), link_text=path.name, key="werkregio-indicator-report",
        description=f"the indicator report (one HTML file, on the machine that ran the flow: {path})",
    )  # fmt: skip


class DownloadProgress:
    """A refresh's downloads as a Prefect progress artifact: the share of its tables done, the rows so far.

    :meth:`rows` is called by the download tasks after each page (from their threads), :meth:`done`
    by the flow as each table ends. The artifact is updated at every table's end, and for pages at
    most every ``every`` seconds.
    """

    def __init__(self, total: int, *, every: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        from prefect.artifacts import create_progress_artifact

        self.total = total
        self.outcomes: Counter[str] = Counter()
        self.downloaded: dict[str, int] = {}
        self._every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._shown = clock()
        self.artifact: UUID = create_progress_artifact(0.0, key="werkregio-download", description=self.text())

    def text(self) -> str:
        done = sum(self.outcomes.values())
        outcomes = ", ".join(f"{n} {action}" for action, n in sorted(self.outcomes.items()))
        return (
            f"{done} of {self.total} tables done" + (f" ({outcomes})" if outcomes else "")
            + f"; {sum(self.downloaded.values()):,} rows downloaded"
        )  # fmt: skip

    @property
    def percent(self) -> float:
        return 100.0 * sum(self.outcomes.values()) / self.total if self.total else 100.0

    def rows(self, table_id: str, rows: int) -> None:
        with self._lock:
            self.downloaded[table_id] = rows
            if self._clock() - self._shown >= self._every:
                self._show()

    def done(self, table_id: str, action: str) -> None:
        with self._lock:
            self.outcomes[action] += 1
            self._show()

    def _show(self) -> None:
        from prefect.artifacts import update_progress_artifact

        self._shown = self._clock()
        update_progress_artifact(self.artifact, self.percent, description=self.text())
