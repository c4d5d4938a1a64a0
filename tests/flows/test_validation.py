"""flows.validation: a stored report is reused only for the same data, suite and code, never kept with an error, replaced when damaged; a job's code lists."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from datetime import date
from pathlib import Path

import polars as pl
import pytest

import expectations.runner as runner
import great_expectations as gx
from sources.cbs.landing import Landing
from flows.validation import ValidationJob, job_valid_codes, suite_fingerprint, validate_landed
from tests.expectations.test_cbs_tables import REGIONS, VALID, WW, ww_frame
from transforms.regions import MUNICIPALITIES_SCHEMA

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def job(tmp_path) -> ValidationJob:
    landing = Landing(WW.table_id, "2025-04-23T02:00:00", "now", 12, "a" * 64, "http://x", str(tmp_path / "nowhere"), {})
    return ValidationJob(WW.table_id, landing, VALID, REGIONS, tmp_path / "home")


def stored(job: ValidationJob) -> list[Path]:
    return sorted((job.home / "validated").rglob("*.json"))


def test_a_report_is_stored_and_reused_for_the_same_data_and_suite(job):
    first = validate_landed(job, ww_frame(), [])
    again = validate_landed(job, ww_frame(), [])

    assert not first.reused and again.reused
    assert again.report == first.report
    assert len(stored(job)) == 1


def test_a_changed_validation_code_validates_again(job, monkeypatch):
    validate_landed(job, ww_frame(), [])

    with monkeypatch.context() as patch:
        patch.setattr("flows.validation.validation_code_sha256", lambda: "0" * 64)  # e.g. the helper columns changed
        assert not validate_landed(job, ww_frame(), []).reused
    assert validate_landed(job, ww_frame(), []).reused


def test_another_gx_version_validates_again(job, monkeypatch):
    validate_landed(job, ww_frame(), [])

    with monkeypatch.context() as patch:
        patch.setattr(gx, "__version__", "0.0.1")
        assert not validate_landed(job, ww_frame(), []).reused
    assert validate_landed(job, ww_frame(), []).reused


def test_the_code_hash_covers_the_suites_the_runner_and_the_helper_columns():
    from flows.validation import validation_sources

    files = {path.relative_to(REPO).as_posix() for path in validation_sources()}

    assert {"expectations/cbs_tables.py", "expectations/runner.py", "transforms/validation_frames.py"} <= files


def test_a_changed_check_description_changes_the_fingerprint(job):
    from flows.validation import landed_suite
    from sources.cbs import catalog

    suite, _ = landed_suite(catalog.table(WW.table_id), ww_frame(), [], VALID, REGIONS)
    described = replace(suite, checks=(replace(suite.checks[0], description="another text"), *suite.checks[1:]))

    assert suite_fingerprint(described) != suite_fingerprint(suite)


def test_a_report_with_an_error_raised_while_validating_is_not_stored(job, monkeypatch):
    class OutOfMemory:
        def get_batch(self, **kwargs):
            raise MemoryError("Unable to allocate 1.2 GiB for an array")

    real = runner._batch_definition()
    monkeypatch.setattr(runner, "_batch_definition", lambda: OutOfMemory())
    failed = validate_landed(job, ww_frame(), [])

    assert not failed.report.passed and "MemoryError" in failed.report.critical_failures[0].message
    assert stored(job) == []
    monkeypatch.setattr(runner, "_batch_definition", lambda: real)
    again = validate_landed(job, ww_frame(), [])
    assert not again.reused and again.report.passed
    assert len(stored(job)) == 1


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda body: "", id="empty"),
        pytest.param(lambda body: body[: len(body) // 2], id="truncated"),
        pytest.param(
            lambda body: json.dumps({**json.loads(body), "records": [{**r, "check_index": 0} for r in json.loads(body)["records"]]}),
            id="old format",
        ),
    ],
)
def test_an_unreadable_stored_report_is_validated_again_and_replaced(job, damage, caplog):
    first = validate_landed(job, ww_frame(), [])
    (path,) = stored(job)
    path.write_text(damage(path.read_text(encoding="utf-8")), encoding="utf-8")

    with caplog.at_level(logging.WARNING, logger="werkregio.validation"):
        again = validate_landed(job, ww_frame(), [])

    assert not again.reused and again.report == first.report
    assert str(path) in caplog.text
    assert validate_landed(job, ww_frame(), []).reused  # replaced by a readable one
    assert not list(path.parent.glob("*.partial"))


def test_a_report_is_stored_through_a_synced_temporary_file(job, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real(fd))

    validate_landed(job, ww_frame(), [])

    (path,) = stored(job)
    assert synced == [str(path.with_name(f"{path.stem}.{os.getpid()}.partial"))]  # then renamed to path


def test_job_valid_codes_run_to_next_year():
    municipalities = pl.read_csv(REPO / "sources" / "reference" / "municipalities.csv", schema=MUNICIPALITIES_SCHEMA)

    codes = job_valid_codes(municipalities, date(2025, 6, 1))

    assert min(codes) == int(municipalities["valid_from_year"].min())
    assert max(codes) == 2026  # a 'Gebieden in Nederland' edition of next year is published early
    assert codes[2026]
