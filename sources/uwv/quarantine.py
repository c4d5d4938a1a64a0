"""The UWV quarantine: rejected files, each with a report for programs (JSON) and one for people (text).

Layout under ``$WERKREGIO_HOME/quarantine/uwv`` (docs/uwv-files.md, 'Where files go')::

    <timestamp>_<name>                  a rejected file (or link, or folder), moved
    <timestamp>_<name>.report.json      every problem (first 1,000) and the GX results
    <timestamp>_<name>.report.txt       the same for people

The file is moved first and its reports are written after, so that a report never speaks of a
move that did not happen.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from expectations.runner import ValidationReport
from sources.uwv.folders import CannotMove, UwvFolders, fsync_dir, move, printable, safe_name, write_json, write_text
from transforms import uwv

REPORT_PROBLEMS = 1_000
TEXT_PROBLEMS = 50


@dataclass(frozen=True)
class Quarantined:
    """Where a rejected file went: ``path`` (None: it could not be moved and stays in the inbox) and ``report``."""

    path: Path | None
    report: Path | None


def quarantine(
    folders: UwvFolders,
    name: str,
    path: Path,
    *,
    message: str,
    now: dt.datetime,
    details: Mapping[str, Any],
    dataset: str | None,
    problems: pl.DataFrame,
    validation: ValidationReport | None,
) -> Quarantined:
    """Move the rejected file (or link, or folder) ``path`` to the quarantine, then write its reports beside it.

    A FIFO, socket or device that cannot be moved (the inbox on another filesystem) stays where
    it is, without a report; ``message`` says so to the caller's log.
    """
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = folders.quarantine / f"{stamp}_{safe_name(name)}"
    while os.path.lexists(target) or target.with_name(target.name + ".report.json").exists():
        target = target.with_name(f"{stamp}_{uuid.uuid4().hex[:6]}_{safe_name(name)}")
    try:
        move(path, target)
    except CannotMove:
        return Quarantined(None, None)
    fsync_dir(folders.quarantine)
    record = {
        "file": printable(name),
        "status": "rejected",
        "dataset": dataset,
        "sha256": details.get("sha256"),
        "rejected_at": now.isoformat(timespec="microseconds"),
        "message": message,
        "details": dict(details),
        "problems": problems.head(REPORT_PROBLEMS).to_dicts(),
        "problem_count": problems.height,
        "validation": [] if validation is None else validation.to_rows(),
    }
    report_json = target.with_name(target.name + ".report.json")
    write_json(report_json, record)
    write_text(target.with_name(target.name + ".report.txt"), _report_text(name, target, message, problems, validation, details, now))
    return Quarantined(target, report_json)


def _report_text(
    name: str,
    target: Path,
    message: str,
    problems: pl.DataFrame,
    validation: ValidationReport | None,
    details: Mapping[str, Any],
    now: dt.datetime,
) -> str:
    lines = [
        f"UWV file rejected: {name!r}",
        f"Received:  {now.isoformat(timespec='seconds')}",
        f"Now at:    {target}",
        f"Why:       {message}",
        "",
    ]
    facts = {k: v for k, v in details.items() if v is not None}
    if facts:
        lines.append("File: " + ", ".join(f"{k} {v}" for k, v in facts.items()))
        lines.append("")
    if problems.height:
        shown = f", first {TEXT_PROBLEMS} shown" if problems.height > TEXT_PROBLEMS else ""
        lines.append(f"Problems ({problems.height}{shown}):")
        lines += [f"  - {line}" for line in uwv.problem_lines(problems, TEXT_PROBLEMS)]
        lines.append("")
    if validation is not None:
        failed = [r for r in validation.records if not r.success]
        if failed:
            lines.append(f"Failed expectations ({len(failed)}):")
            lines += [f"  - [{r.severity}] {r.dataset}: {r.message}" for r in failed]
            lines.append("")
    lines.append("Nothing from this file was loaded. Fix it and drop it into inbox/uwv again; the "
                 "file contract is docs/uwv-files.md.")
    return "\n".join(lines) + "\n"
