"""The texts and tables of a run's artifacts, from plain values (flows/artifacts.py).

How they reach the Prefect UI (and read back through Prefect's client) is tested against a real
server in tests/flows/test_deployments.py (``shown_in_the_ui``).
"""

from __future__ import annotations

from flows.artifacts import SHOWN_FAILURES, table_rows, tables_text, validation_markdown

TABLES = [
    {"table_id": "37789ksz", "action": "downloaded", "rows": 352, "modified": "2025-04-23T02:00:00"},
    {"table_id": "83287NED", "action": "unchanged", "rows": 2901, "modified": "2016-09-01T02:00:00"},
    {"table_id": "82496NED", "action": "identical", "rows": 10, "modified": "2015-01-01T02:00:00"},
    {"table_id": "70059ned", "action": "failed", "error": "CbsUnavailable: 70059ned: 503 after 6 attempts"},
]


def test_the_table_of_tables_names_each_outcome_and_counts_them():
    rows = table_rows(TABLES, {"37789ksz": "Sociale zekerheid; kerncijfers"})

    assert [(r["table"], r["outcome"], r["rows"], r["Modified"]) for r in rows] == [
        ("37789ksz", "fetched", 352, "2025-04-23T02:00:00"),
        ("83287NED", "unchanged", 2901, "2016-09-01T02:00:00"),
        ("82496NED", "fetched (same as landed)", 10, "2015-01-01T02:00:00"),
        ("70059ned", "failed", None, None),
    ]
    assert rows[0]["title"] == "Sociale zekerheid; kerncijfers" and rows[1]["title"] == ""
    assert rows[3]["error"] == "CbsUnavailable: 70059ned: 503 after 6 attempts"
    assert tables_text(TABLES) == "4 tables: 2 fetched, 1 unchanged, 1 failed"
    assert tables_text([{"table_id": "x", "action": "offline"}]) == "1 tables: 0 fetched, 0 unchanged, 1 landed before (offline), 0 failed"


def check(dataset: str, batch: str, severity: str, success: bool, message: str) -> dict[str, object]:
    return {"dataset": dataset, "batch": batch, "severity": severity, "success": success, "message": message}


def test_the_validation_summary_counts_per_batch_lists_the_failed_checks_and_links_the_report(tmp_path):
    report = tmp_path / "reports" / "validation-run-1.html"
    checks = [
        check("cbs_national_benefits", "37789ksz@2025", "critical", True, "ok"),
        check("cbs_national_benefits", "37789ksz@2025", "warning", False, "NietSeizoengecorrigeerd_8: 1 value above 800"),
        check("cbs_regions", "83287NED@2016", "critical", False, "RegioS: 2 codes unknown"),
    ]

    text = validation_markdown("run-1", "failed", checks, str(report))

    assert text.startswith("# Validation of run run-1: failed\n")
    assert "3 checks on 2 batches: 1 critical failures, 1 warnings." in text
    assert "| cbs_national_benefits | 37789ksz@2025 | 2 | 0 | 1 |" in text
    assert "| cbs_regions | 83287NED@2016 | 1 | 1 | 0 |" in text
    assert "- critical: cbs_regions (83287NED@2016): RegioS: 2 codes unknown" in text
    assert "- warning: cbs_national_benefits (37789ksz@2025): NietSeizoengecorrigeerd_8: 1 value above 800" in text
    assert text.index("- critical:") < text.index("- warning:")
    assert f"Report: [validation-run-1.html]({report.as_uri()})" in text


def test_the_validation_summary_shortens_a_long_list_of_failures_and_may_have_no_report():
    checks = [check("uwv_ww", f"batch-{i}", "critical", False, f"failure {i}") for i in range(SHOWN_FAILURES + 3)]

    text = validation_markdown("run-2", "failed", checks, None)

    assert text.count("\n- critical: ") == SHOWN_FAILURES
    assert text.rstrip().endswith("- ... and 3 more (in the report)")
    assert "Report:" not in text
