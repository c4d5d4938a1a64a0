"""The run log and the data dir lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flows import runlog


def test_a_second_run_is_refused_with_the_holder_named_and_the_lock_is_released(tmp_path):
    with runlog.exclusive(tmp_path, "refresh run r-1"):
        with pytest.raises(runlog.PipelineBusy) as caught:
            with runlog.exclusive(tmp_path, "indicators run r-2"):
                pass
    message = str(caught.value)
    assert "refresh run r-1" in message and f"pid {os.getpid()}" in message and str(tmp_path) in message
    with runlog.exclusive(tmp_path, "indicators run r-3"):
        assert "indicators run r-3" in (tmp_path / runlog.LOCK_NAME).read_text()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from flows import runlog
            with runlog.exclusive(Path({str(tmp_path)!r}), "refresh run killed"):
                print("locked", flush=True)
                time.sleep(60)
        """)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(runlog.PipelineBusy, match="refresh run killed"):
            with runlog.exclusive(tmp_path, "second"):
                pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        with runlog.exclusive(tmp_path, "after the kill"):
            pass
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_runs_merge_start_and_outcome_and_survive_a_torn_line(tmp_path):
    log = tmp_path / "runs.jsonl"
    runlog.append(log, {"run_id": "a", "flow": "refresh", "event": "started", "parameters": {"force": True}})
    runlog.append(log, {"run_id": "a", "flow": "refresh", "event": "failed", "error": "CbsNotFound: 37789ksz"})
    runlog.append(log, {"run_id": "b", "flow": "indicators", "event": "started", "parameters": {}})
    with log.open("a") as handle:
        handle.write('{"run_id": "b", "event": "fini')
    runs = runlog.runs(log)
    assert [(r.run_id, r.flow, r.status) for r in runs] == [("a", "refresh", "failed"), ("b", "indicators", "running or killed")]
    assert runs[0].error == "CbsNotFound: 37789ksz" and runs[0].parameters == {"force": True}


def test_a_flow_run_retried_under_its_id_is_a_second_attempt_and_the_failure_stays(tmp_path):
    log = tmp_path / "runs.jsonl"
    runlog.append(log, {"run_id": "fr-1", "flow": "refresh", "event": "started", "parameters": {}})
    runlog.append(log, {"run_id": "fr-1", "flow": "refresh", "event": "failed", "error": "CbsUnavailable: 37789ksz"})
    runlog.append(log, {"run_id": "fr-2", "flow": "indicators", "event": "started", "parameters": {}})
    runlog.append(log, {"run_id": "fr-1", "flow": "refresh", "event": "started", "parameters": {}})  # Prefect's Retry
    runlog.append(log, {"run_id": "fr-2", "flow": "indicators", "event": "finished"})
    runlog.append(log, {"run_id": "fr-1", "flow": "refresh", "event": "finished"})
    runs = runlog.runs(log)
    assert [(r.run_id, r.attempt, r.status, r.error) for r in runs] == [
        ("fr-1", 1, "failed", "CbsUnavailable: 37789ksz"),
        ("fr-2", 1, "finished", None),
        ("fr-1", 2, "finished", None),
    ]


def test_a_retried_runs_validation_report_keeps_the_first_attempts(tmp_path, monkeypatch):
    import flows.refresh
    from flows.settings import Settings

    monkeypatch.setenv("WERKREGIO_HOME", str(tmp_path / "home"))
    settings = Settings.from_env()
    record = {"run_id": "fr-1", "validation": [{"dataset": "d", "batch": "b", "severity": "critical", "success": False,
                                                "message": "m", "expectation": "expect_column_to_exist"}], "uwv_files": []}
    first = flows.refresh.write_validation_report(settings, record, "failed")
    second = flows.refresh.write_validation_report(settings, record, "finished")
    assert Path(first).name == "validation-fr-1.html" and Path(second).name == "validation-fr-1-attempt-2.html"
    assert "failed" in Path(first).read_text() and Path(second).is_file()


def test_a_report_that_cannot_be_written_leaves_a_published_run_finished(tmp_path, monkeypatch):
    import flows.refresh
    from flows.settings import Settings

    warnings = []

    class Logger:
        def warning(self, message, *args):
            warnings.append(message % args)

    monkeypatch.setattr(flows.refresh, "get_run_logger", Logger, raising=False)
    monkeypatch.setenv("WERKREGIO_HOME", str(tmp_path / "home"))
    settings = Settings.from_env()
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "reports").write_text("a file where the reports folder belongs")
    check = {"dataset": "cbs_national_benefits", "batch": "37789ksz@2025", "severity": "critical", "success": True}

    with flows.refresh.recorded_run(settings, "refresh", {}) as record:
        record["validation"] = [check]
        record["published"] = {"path": str(settings.warehouse_path)}  # the build is published by now

    (run,) = runlog.runs(settings.run_log_path)
    assert (run.status, run.published, run.report) == ("finished", {"path": str(settings.warehouse_path)}, None)
    assert len(warnings) == 1
    assert warnings[0].startswith(f"run {record['run_id']}: the validation report could not be written: FileExistsError")
