"""transforms.metadata: build_info and the load history carried from build to build."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict

import polars as pl
import pytest

from flows.runlog import Run
from transforms.metadata import LOAD_HISTORY_SCHEMA, build_info, load_history, reference_years

BUILT_AT = dt.datetime(2025, 4, 24, 3, 20, 5, tzinfo=dt.UTC)


def at(hour: int, minute: int = 0) -> str:
    return dt.datetime(2025, 4, 24, hour, minute, tzinfo=dt.UTC).isoformat(timespec="seconds")


def table(table_id: str, action: str, rows: int) -> dict:
    return {"table_id": table_id, "action": action, "rows": rows}


def logged(run_id: str, started: str, status: str = "running or killed", attempt: int = 1, **fields) -> dict:
    return asdict(Run(run_id, fields.pop("flow", "refresh"), started, fields.pop("parameters", {"force": False}),
                      status=status, attempt=attempt, **fields))


LOG = [
    logged("published-1", at(0), "finished", finished_at=at(0, 5), published={"path": "w.duckdb", "rows": {}},
           tables=[table("37789ksz", "downloaded", 352), table("82496NED", "unchanged", 403)],
           uwv_files=[{"status": "accepted"}, {"status": "rejected"}, {"status": "duplicate"}]),
    logged("nothing-new", at(1), "finished", finished_at=at(1, 1), tables=[table("37789ksz", "unchanged", 352)],
           published={"path": "w.duckdb", "rows": {}, "rebuilt": False, "build": "published-1"}),
    logged("failed-fetching", at(2), "failed", finished_at=at(2, 2), error="RefreshFailed: 1 of 2 table(s) failed"),
    logged("failed-validating", at(2, 30), "failed", finished_at=at(2, 31), error="ValidationStopped: ...",
           tables=[table("37789ksz", "downloaded", 353)]),
    logged("recalc-failed", at(2, 40), "failed", flow="indicators", finished_at=at(2, 41), error="MissingSource: ...",
           parameters={"reference_year": 2013, "view": "harmonised"}),
    logged("killed", at(2, 50)),
    logged("this-run", at(3), "failed", finished_at=at(3, 1), error="OSError: ..."),
    logged("this-run", at(3, 10), attempt=2),  # Prefect's Retry: the attempt building this file
]
RECORD = {"run_id": "this-run", "flow": "refresh", "tables": [table("37789ksz", "downloaded", 354), table("82496NED", "identical", 403)],
          "uwv_files": [{"status": "accepted"}]}


def rows(frame: pl.DataFrame, *columns: str) -> list[tuple]:
    return frame.select("run_id", "attempt", *columns).rows()


def test_the_first_history_takes_every_logged_run_with_its_outcome_and_this_build_last():
    history = load_history(None, LOG, RECORD, BUILT_AT, [2015, 2025])

    assert history.schema == pl.Schema(LOAD_HISTORY_SCHEMA)
    assert rows(history, "flow", "outcome", "ended_at", "reference_years") == [
        ("published-1", 1, "refresh", "published", dt.datetime.fromisoformat(at(0, 5)), None),
        ("nothing-new", 1, "refresh", "unchanged", dt.datetime.fromisoformat(at(1, 1)), None),
        ("failed-fetching", 1, "refresh", "failed", dt.datetime.fromisoformat(at(2, 2)), None),
        ("failed-validating", 1, "refresh", "failed", dt.datetime.fromisoformat(at(2, 31)), None),
        ("recalc-failed", 1, "indicators", "failed", dt.datetime.fromisoformat(at(2, 41)), None),
        ("killed", 1, "refresh", "killed", None, None),
        ("this-run", 1, "refresh", "failed", dt.datetime.fromisoformat(at(3, 1)), None),
        ("this-run", 2, "refresh", "published", BUILT_AT, "2015, 2025"),
    ]
    assert rows(history, "tables_fetched", "tables_unchanged", "rows_fetched", "uwv_files_accepted", "uwv_files_rejected") == [
        ("published-1", 1, 1, 1, 352, 1, 1),
        ("nothing-new", 1, 0, 1, 0, 0, 0),
        ("failed-fetching", 1, None, None, None, 0, 0),  # some tables may have landed: the log does not say
        ("failed-validating", 1, 1, 0, 353, 0, 0),
        ("recalc-failed", 1, 0, 0, 0, 0, 0),  # a recalculation asks CBS nothing
        ("killed", 1, None, None, None, None, None),
        ("this-run", 1, None, None, None, 0, 0),
        ("this-run", 2, 1, 1, 354, 1, 0),
    ]
    assert history.filter(pl.col("run_id") == "recalc-failed").select("parameters", "error").row(0) == (
        '{"reference_year": 2013, "view": "harmonised"}', "MissingSource: ..."
    )


def test_the_published_history_is_carried_over_and_only_runs_it_lacks_are_added():
    first = load_history(None, LOG[:1], {**RECORD, "run_id": "published-1", "tables": LOG[0]["tables"]}, BUILT_AT, [2025])
    assert rows(first, "outcome", "reference_years") == [("published-1", 1, "published", "2025")]

    later = load_history(first, LOG, RECORD, BUILT_AT, [2025])

    assert rows(later.head(1), "outcome", "ended_at", "reference_years") == [("published-1", 1, "published", BUILT_AT, "2025")]
    assert later.height == len(LOG)
    assert later.select("run_id", "attempt").is_unique().all()


def test_a_run_log_without_this_run_is_an_error():
    with pytest.raises(ValueError, match="run this-run has no 'started' line in the run log"):
        load_history(None, LOG[:2], RECORD, BUILT_AT, [])


def test_reference_years_are_those_of_the_harmonised_indicators():
    indicators = pl.DataFrame({"view": ["harmonised", "harmonised", "as_published", "harmonised"], "geography_year": [2025, 2015, 2016, 2025]})
    assert reference_years(indicators) == [2015, 2025]


def test_build_info_carries_the_schema_version():
    row = build_info("r", "refresh", BUILT_AT, "https://opendata.cbs.nl", "0.1.0", "ab", schema_version="1.0.0").row(0, named=True)
    assert (row["schema_version"], row["inputs_sha256"]) == ("1.0.0", "ab")
