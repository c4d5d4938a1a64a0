"""``werkregio status``: the run log and the published warehouse, side by side."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

import polars as pl

from flows import runlog
from flows.settings import Settings
from sources.cbs import catalog
from sources.cbs.client import CbsError
from sources.cbs.landing import LandingUnreadable, current_landings, failed_checks
from transforms.metadata import indicator_scenarios
from warehouse.store import WarehouseError, query_tables

SHOWN = {
    "build_info": ("run_id", "built_at"),
    "source_tables": ("table_id", "family", "modified", "rows", "fetched_at"),
    "validation_results": ("dataset", "batch", "check_index", "severity", "success", "message"),
    "indicators": ("view", "geography_year", "indicator", "year"),
}
LISTED = 8
"""Items a line of the text lists before '... and N more'."""


def status_report(settings: Settings, runs: int = 5) -> dict[str, Any]:
    """The ``runs`` most recent runs (newest first; 0: none) and what the published warehouse holds.

    Each failed run has a ``rerun``: what rerunning it does (:func:`rerun_of`). The warehouse's
    tables are read through one connection, so from one build even while a refresh publishes; a
    table the file lacks (or that cannot be read) is named in ``published["missing"]`` and its part
    is None, the rest is shown.
    """
    plan = rerun_plan(settings)
    logged = [asdict(run) for run in reversed(runlog.runs(settings.run_log_path)[-runs:])] if runs > 0 else []
    for run in logged:
        if run["status"] == "failed":
            run["rerun"] = rerun_of(run, plan)
    report: dict[str, Any] = {
        "home": str(settings.home),
        "warehouse": str(settings.warehouse_path),
        "runs": logged,
        "published": None,
        "rerun": plan,
    }
    try:
        read = query_tables(settings.warehouse_path, list(SHOWN))
    except WarehouseError as err:
        report["published_error"] = str(err)
        return report
    frames = {name: frame for name, frame in read.items() if frame is not None and set(SHOWN[name]) <= set(frame.columns)}
    build, tables, results, indicators = (frames.get(name) for name in SHOWN)
    report["published"] = {
        "build": build.select(SHOWN["build_info"]).row(0, named=True) if build is not None and build.height else None,
        "tables": None if tables is None else tables.select(SHOWN["source_tables"]).sort("family", "table_id").to_dicts(),
        "indicators": None if indicators is None else indicator_scenarios(indicators).to_dicts(),
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

    ``download``: the ids of catalog tables never landed; ``download_again``: those whose newest
    landing failed its critical checks; ``check_modified``: the other landed ones, each with the
    ``modified`` of its newest landing (one metadata request each; downloaded again only when CBS
    changed it). A landing that cannot be read (a damaged manifest) gives ``{"error": ...}`` naming
    it: the refresh would fail on it too.
    """
    try:
        landed = {landing.table_id: landing for landing in current_landings(settings.raw_dir, catalog.ids())}
        failed = {t for t, landing in landed.items() if failed_checks(landing) is not None}
    except (CbsError, LandingUnreadable, OSError, ValueError, TypeError) as err:
        return {"error": str(err)}
    return {
        "download": [t for t in catalog.ids() if t not in landed],
        "download_again": [t for t in catalog.ids() if t in failed],
        "check_modified": [{"table_id": t, "modified": landed[t].modified} for t in catalog.ids() if t in landed and t not in failed],
    }


def rerun_of(run: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    """What rerunning the failed ``run`` does: its own command again.

    ``command``; ``download``, ``download_again`` and ``check_modified`` as in :func:`rerun_plan`, for the tables the run
    asked for (none for a recalculation or ``--offline``); ``error`` when the landing zone cannot
    be read.
    """
    parameters = run.get("parameters") or {}
    if run["flow"] == "indicators":
        view = parameters.get("view") or "harmonised"
        year = parameters.get("reference_year")
        command = "werkregio indicators" + (f" --reference-year {year}" if year else "") + (f" --view {view}" if view != "harmonised" else "")
        return {"command": command, "download": [], "download_again": [], "check_modified": []}
    tables = parameters.get("tables") or []
    flags = [f"--table {t}" for t in tables] + [f"--{name}" for name in ("force", "offline") if parameters.get(name)]
    rerun: dict[str, Any] = {"command": " ".join(["werkregio refresh", *flags]), "download": [], "download_again": [], "check_modified": []}
    if parameters.get("offline"):
        return rerun
    if "error" in plan:
        return {**rerun, "error": plan["error"]}
    wanted = {entry.table_id for entry in catalog.select(tables)} if tables else set(catalog.ids())
    rerun["download"] = [t for t in plan["download"] if t in wanted]
    rerun["download_again"] = [t for t in plan["download_again"] if t in wanted]
    rerun["check_modified"] = [t for t in plan["check_modified"] if t["table_id"] in wanted]
    if parameters.get("force"):
        rerun["download"] += rerun["download_again"] + [t["table_id"] for t in rerun["check_modified"]]
        rerun["download_again"], rerun["check_modified"] = [], []
    return rerun


def _rerun_text(rerun: dict[str, Any]) -> str:
    """What a rerun does, in a sentence."""
    command = f"a rerun (`{rerun['command']}`)"
    if "error" in rerun:
        return f"{command} cannot be planned: {rerun['error']}"
    if rerun["command"].startswith("werkregio indicators"):
        return f"{command} recomputes the indicators from the published facts, downloads nothing, and publishes only if it succeeds"
    if "--offline" in rerun["command"]:
        return (f"{command} downloads nothing, rebuilds from the landed tables, reuses validation of unchanged batches, "
                "and publishes only if all succeed")  # fmt: skip
    download, again, check = rerun["download"], rerun["download_again"], rerun["check_modified"]
    return (
        f"{command} downloads {len(download)} table(s)" + (f" ({listed(download)})" if download else "")
        + (f", downloads again {len(again)} whose newest landing failed its critical checks ({listed(again)})" if again else "")
        + (f", asks CBS's catalogue in one request for the Modified and MetaDataModified of {len(check)} landed "
           "table(s) (a table it does not answer for: one request of its own) and downloads only changed ones" if check else "")
        + ", reuses validation of unchanged batches, and publishes only if all succeed"
    )  # fmt: skip


def listed(items: list[str], limit: int = LISTED) -> str:
    """``items`` joined with commas, the first ``limit`` of them and '... and N more'."""
    shown = ", ".join(items[:limit])
    return shown + (f", ... and {len(items) - limit} more" if len(items) > limit else "")


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
            parts = str(run["error"]).splitlines()
            for i, part in enumerate(parts[:LISTED]):
                lines.append(("      error: " if i == 0 else "             ") + part)
            if len(parts) > LISTED:
                lines.append(f"             ... and {len(parts) - LISTED} more lines (`werkregio status --json` has them all)")
        if run.get("rerun"):
            lines.append("      " + _rerun_text(run["rerun"]))
    lines.append("")
    published = report["published"]
    if published is None:
        lines.append(f"Published warehouse: none ({report.get('published_error', 'not built yet')})")
        return "\n".join(lines)
    build = published["build"] or {}
    lines.append(f"Published warehouse {report['warehouse']}")
    lines.append(f"  built {build.get('built_at')} by run {build.get('run_id')}")
    if published.get("indicators") is not None:
        lines.append("  indicators:")
        for scenario in published["indicators"]:
            where = (f"on the boundaries of {scenario['reference_year']}" if scenario["reference_year"] is not None
                     else "each year on its own boundaries")  # fmt: skip
            lines.append(
                f"    {scenario['view']:<13} {where}: {scenario['first_year']}-{scenario['last_year']}, "
                f"{scenario['indicators']} indicators, {scenario['rows']} rows"
            )
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
