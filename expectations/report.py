"""A validation report a person can open: one self-contained HTML page per run."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from typing import Any

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; font-size: 14px; }
th { background: #f2f2f2; }
tr.failed-critical td { background: #fde2e1; }
tr.failed-warning td { background: #fff4d6; }
.summary { font-size: 16px; margin-bottom: 1em; }
code { font-size: 13px; }
"""


def html_report(run_id: str, outcome: str, rows: Iterable[Mapping[str, Any]], uwv_files: Iterable[Mapping[str, Any]] = ()) -> str:
    """The report of one run: a summary, then every check per dataset and batch, failures first.

    ``rows`` are validation records as the runner's ``to_rows()`` gives them; ``uwv_files`` the
    outcome of each UWV file taken in (file, status, message, report).
    """
    rows = list(rows)
    files = list(uwv_files)
    critical = sum(1 for r in rows if not r["success"] and r["severity"] == "critical")
    warnings = sum(1 for r in rows if not r["success"] and r["severity"] == "warning")
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>werkregio validation, run {_e(run_id)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Validation report</h1><p class=summary>Run <code>{_e(run_id)}</code>: {_e(outcome)}. "
        f"{len(rows)} checks, {critical} critical failures, {warnings} warnings.</p>",
    ]
    if files:
        out.append("<h2>UWV register files</h2><table><tr><th>file</th><th>status</th><th>message</th><th>report</th></tr>")
        for item in files:
            out.append(
                f"<tr><td>{_e(item['file'])}</td><td>{_e(item['status'])}</td><td>{_e(item['message'])}</td>"
                f"<td>{_e(item.get('report') or '')}</td></tr>"
            )
        out.append("</table>")
    batches: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        batches.setdefault((row["dataset"], row["batch"]), []).append(row)
    for (dataset, batch), checks in batches.items():
        out.append(f"<h2>{_e(dataset)} <small><code>{_e(batch)}</code></small></h2>")
        out.append(
            "<table><tr><th>outcome</th><th>severity</th><th>expectation</th><th>column</th>"
            "<th>unexpected</th><th>examples</th><th>message</th></tr>"
        )
        for check in sorted(checks, key=lambda c: (c["success"], c["severity"] != "critical")):
            state = "passed" if check["success"] else "FAILED"
            css = "" if check["success"] else f' class="failed-{_e(check["severity"])}"'
            sample = check.get("unexpected_sample") or []
            if isinstance(sample, str):
                sample = json.loads(sample)
            out.append(
                f"<tr{css}><td>{state}</td><td>{_e(check['severity'])}</td><td>{_e(check['expectation'])}</td>"
                f"<td>{_e(check.get('column') or '')}</td><td>{_e(check.get('unexpected_count') or 0)}"
                f" of {_e(check.get('element_count') or 0)}</td><td>{_e(', '.join(map(str, sample)))}</td>"
                f"<td>{_e(check['message'])}</td></tr>"
            )
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)


def _e(value: Any) -> str:
    return html.escape(str(value))
