"""``werkregio status``: the run log and the published warehouse, side by side."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from flows import catalog, runlog
from flows.landing import current_landings
from flows.settings import Settings
from warehouse.store import WarehouseError, query


def status_report(settings: Settings, runs: int = 5) -> dict[str, Any]:
    """Recent runs (newest first) and what the published warehouse holds."""
    report: dict[str, Any] = {
        "home": str(settings.home),
        "warehouse": str(settings.warehouse_path),
        "runs": [asdict(run) for run in reversed(runlog.runs(settings.run_log_path)[-runs:])],
        "published": None,
        "rerun": rerun_plan(settings),
    }
    try:
        build = query(settings.warehouse_path, "SELECT run_id, built_at FROM build_info").to_dicts()
        tables = query(
            settings.warehouse_path,
            "SELECT table_id, family, modified, rows, fetched_at FROM source_tables ORDER BY family, table_id",
        ).to_dicts()
        validation = query(
            settings.warehouse_path,
            "SELECT dataset, batch, severity, success, count(*) AS checks FROM validation_results "
            "GROUP BY ALL ORDER BY dataset, batch, severity, success",
        ).to_dicts()
        failed = query(
            settings.warehouse_path,
            "SELECT dataset, batch, severity, message FROM validation_results WHERE NOT success ORDER BY dataset, check_index",
        ).to_dicts()
    except WarehouseError as err:
        report["published_error"] = str(err)
        return report
    report["published"] = {"build": build[0] if build else None, "tables": tables, "validation": validation, "failed_checks": failed}
    return report


def rerun_plan(settings: Settings) -> dict[str, list[str]]:
    """What ``werkregio refresh`` would do now, table by table, from the landing zone alone."""
    landed = {landing.table_id: landing for landing in current_landings(settings.raw_dir, catalog.ids())}
    return {
        "download": [t for t in catalog.ids() if t not in landed],
        "check_modified": [f"{t} (landed Modified {landed[t].modified})" for t in catalog.ids() if t in landed],
    }


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
            plan = report["rerun"]
            lines.append(
                f"      a rerun (`werkregio refresh`) downloads {len(plan['download'])} table(s) never landed"
                + (f" ({', '.join(plan['download'][:8])}{', ...' if len(plan['download']) > 8 else ''})" if plan["download"] else "")
                + f", asks {len(plan['check_modified'])} landed table(s) for their Modified (one request each, "
                "downloading only changed ones), reuses validation of unchanged batches, and publishes only if all succeed"
            )
    lines.append("")
    published = report["published"]
    if published is None:
        lines.append(f"Published warehouse: none ({report.get('published_error', 'not built yet')})")
        return "\n".join(lines)
    build = published["build"] or {}
    lines.append(f"Published warehouse {report['warehouse']}")
    lines.append(f"  built {build.get('built_at')} by run {build.get('run_id')}")
    lines.append("  CBS tables:")
    for table in published["tables"]:
        lines.append(f"    {table['table_id']:<10} {table['family']:<18} Modified {table['modified']}  {table['rows']:>8} rows")
    lines.append("  validation:")
    for row in published["validation"]:
        outcome = "passed" if row["success"] else "FAILED"
        lines.append(f"    {row['dataset']} {row['batch']}: {row['checks']} {row['severity']} checks {outcome}")
    for row in published["failed_checks"]:
        lines.append(f"    ! {row['severity']}: {row['message']}")
    return "\n".join(lines)
