"""``werkregio status``: the run log and the published warehouse, side by side."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

import polars as pl

from flows import runlog
from sources.cbs import catalog
from sources.cbs.client import CbsError
from sources.cbs.landing import LandingUnreadable, current_landings, failed_checks
from flows.settings import Settings
from warehouse.store import WarehouseError, query_tables

SHOWN = {
    "build_info": ("run_id", "built_at"),
    "source_tables": ("table_id", "family", "modified", "rows", "fetched_at"),
    "validation_results": ("dataset", "batch", "check_index", "severity", "success", "message"),
}


def status_report(settings: Settings, runs: int = 5) -> dict[str, Any]:
    """The ``runs`` most recent runs (newest first; 0: none) and what the published warehouse holds.

    The warehouse's tables are read through one connection, so from one build even while a
    refresh publishes; a table the file lacks (or that cannot be read) is named in
    ``published["missing"]`` and its part is None, the rest is shown.
    """
    report: dict[str, Any] = {
        "home": str(settings.home),
        "warehouse": str(settings.warehouse_path),
        "runs": [asdict(run) for run in reversed(runlog.runs(settings.run_log_path)[-runs:])] if runs > 0 else [],
        "published": None,
        "rerun": rerun_plan(settings),
    }
    try:
        read = query_tables(settings.warehouse_path, list(SHOWN))
    except WarehouseError as err:
        report["published_error"] = str(err)
        return report
    frames = {name: frame for name, frame in read.items() if frame is not None and set(SHOWN[name]) <= set(frame.columns)}
    build, tables, results = (frames.get(name) for name in SHOWN)
    report["published"] = {
        "build": build.select(SHOWN["build_info"]).row(0, named=True) if build is not None and build.height else None,
        "tables": None if tables is None else tables.select(SHOWN["source_tables"]).sort("family", "table_id").to_dicts(),
        "validation": None
        if results is None
        else results.group_by("dataset", "batch", "severity", "success")
        .agg(pl.len().alias("checks"))
        .sort("dataset", "batch", "severity", "success")
        .to_dicts(),
        "failed_checks": None
        if results is None
        else results.filter(~pl.col("success"))
        .sort("dataset", "check_index", maintain_order=True)
        .select("dataset", "batch", "severity", "message")
        .to_dicts(),
        "missing": [name for name in SHOWN if name not in frames],
    }
    return report


def rerun_plan(settings: Settings) -> dict[str, Any]:
    """What ``werkregio refresh`` would do now, table by table, from the landing zone alone.

    A landing that cannot be read (a damaged manifest) gives ``{"error": ...}`` naming it: the
    refresh would fail on it too.
    """
    try:
        landed = {landing.table_id: landing for landing in current_landings(settings.raw_dir, catalog.ids())}
        failed = {t for t, landing in landed.items() if failed_checks(landing) is not None}
    except (CbsError, LandingUnreadable, OSError, ValueError, TypeError) as err:
        return {"error": str(err)}
    return {
        "download": [t for t in catalog.ids() if t not in landed],
        "download_again": [f"{t} (its newest landing failed its critical checks)" for t in catalog.ids() if t in failed],
        "check_modified": [f"{t} (landed Modified {landed[t].modified})" for t in catalog.ids() if t in landed and t not in failed],
    }


def _rerun_text(run: dict[str, Any], plan: dict[str, Any]) -> str:
    """What rerunning a failed ``run`` does: its flow's own rerun."""
    if run["flow"] == "indicators":
        return ("a rerun (`werkregio indicators`) recomputes the indicators from the published facts, downloads nothing, "
                "and publishes only if it succeeds")  # fmt: skip
    if (run.get("parameters") or {}).get("offline"):
        return ("a rerun (`werkregio refresh --offline`) downloads nothing, rebuilds from the landed tables, reuses "
                "validation of unchanged batches, and publishes only if all succeed")  # fmt: skip
    if "error" in plan:
        return f"a rerun (`werkregio refresh`) cannot be planned: {plan['error']}"
    again = plan.get("download_again", [])
    return (
        f"a rerun (`werkregio refresh`) downloads {len(plan['download'])} table(s) never landed"
        + (f" ({', '.join(plan['download'][:8])}{', ...' if len(plan['download']) > 8 else ''})" if plan["download"] else "")
        + (f", downloads again {len(again)} whose newest landing failed its critical checks ({', '.join(t.split()[0] for t in again)})" if again else "")
        + f", asks {len(plan['check_modified'])} landed table(s) for their Modified and MetaDataModified (one request each, "
        "downloading only changed ones), reuses validation of unchanged batches, and publishes only if all succeed"
    )


def render(report: dict[str, Any]) -> str:
    lines = [f"werkregio data dir: {report['home']}", ""]
    lines.append("Recent runs (newest first):")
    if not report["runs"]:
        lines.append("  none yet")
    for run in report["runs"]:
        actions = Counter(t.get("action", "?") for t in run["tables"])
        checks = run["validation"]
        critical = sum(1 for c in checks if not c["success"] and c["severity"] == "critical")
        warnings = sum(1 for c in checks if not c["success"] and c["severity"] == "warning")
        lines.append(
            f"  {run['started_at']}  {run['flow']:<8} {run['status']:<10} run {run['run_id']}"
            + (f" (attempt {run['attempt']})" if run.get("attempt", 1) > 1 else "")
        )
        if run["tables"]:
            lines.append("      tables: " + ", ".join(f"{n} {action}" for action, n in sorted(actions.items())))
        if checks:
            lines.append(f"      validation: {len(checks)} checks, {critical} critical failures, {warnings} warnings")
        if (run.get("published") or {}).get("rebuilt") is False:
            lines.append(f"      nothing changed since build {run['published']['build']}: published nothing")
        if run.get("report"):
            lines.append(f"      report: {run['report']}")
        for item in run.get("uwv_files", []):
            lines.append(f"      UWV file {item['file']}: {item['status']}: {item['message']}")
            if item["status"] == "rejected" and item.get("report"):
                lines.append(f"        report: {item['report']}")
        if run["error"]:
            for i, part in enumerate(str(run["error"]).splitlines()[:8]):
                lines.append(("      error: " if i == 0 else "             ") + part)
        if run["status"] == "failed":
            lines.append("      " + _rerun_text(run, report["rerun"]))
    lines.append("")
    published = report["published"]
    if published is None:
        lines.append(f"Published warehouse: none ({report.get('published_error', 'not built yet')})")
        return "\n".join(lines)
    build = published["build"] or {}
    lines.append(f"Published warehouse {report['warehouse']}")
    lines.append(f"  built {build.get('built_at')} by run {build.get('run_id')}")
    if published["tables"] is not None:
        lines.append("  CBS tables:")
        for table in published["tables"]:
            lines.append(f"    {table['table_id']:<10} {table['family']:<18} Modified {table['modified']}  {table['rows']:>8} rows")
    if published["validation"] is not None:
        lines.append("  validation:")
        for row in published["validation"]:
            outcome = "passed" if row["success"] else "FAILED"
            lines.append(f"    {row['dataset']} {row['batch']}: {row['checks']} {row['severity']} checks {outcome}")
        for row in published["failed_checks"]:
            lines.append(f"    ! {row['severity']}: {row['message']}")
    if published["missing"]:
        lines.append(
            f"  missing or unreadable in this file: {', '.join(published['missing'])} "
            "(`werkregio refresh --force` builds a complete file)"
        )
    return "\n".join(lines)
