"""Fault injection through the mirror: every fault kind through a real refresh (issue 6).

Each case copies a home in which the subset (national benefits 37789ksz and Gebieden in Nederland 2016,
83287NED) is already landed and published, injects one fault into a fresh mirror (50 rows per page, so 8
pages per table), runs the refresh flow in process under the session's Prefect server with ``force=True``
(so every table is downloaded again) and checks the outcome:

* success after retries: the published file passes the integrity check (tests/reliability/_checks.py),
  is a new build (its build_info.run_id is this run's) and holds the same content as the baseline;
* clean failure: one error whose message names the table and the cause, the published file unchanged
  byte for byte, no building or staging leftovers, the lock released, and the run log saying ``failed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from flows import runlog
from tests.reliability._checks import check_integrity, differences, leftovers, lock_is_free, sha256
from tests.reliability.conftest import (
    GEBIEDEN_2016,
    NATIONAL,
    PAGE_SIZE,
    QUICK_RETRIES,
    SUBSET,
    build_home,
    environment,
    run_refresh,
    warehouse_of,
)
from tests.statline_mirror import StatLineMirror
from warehouse.store import query

pytestmark = [pytest.mark.mirror, pytest.mark.usefixtures("prefect_server")]

NEW_MODIFIED = "2026-01-01T02:00:00"


class RepublishingMirror(StatLineMirror):
    """A mirror on which one table's ``Modified`` changes with every TableInfos request: CBS republishing it."""

    def __init__(self, *args: Any, table: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.table = table
        self.versions = 0

    def _admit(self, table_id, endpoint, query):
        if table_id == self.table and endpoint == "TableInfos":
            self.versions += 1
            self.set_modified(self.table, f"2026-01-01T02:{self.versions:02d}:00")
        return super()._admit(table_id, endpoint, query)


@dataclass(frozen=True)
class Case:
    """One fault: how to inject it, and what the refresh must do."""

    faults: list[dict[str, Any]] = field(default_factory=list)
    succeeds: bool = True
    fragments: tuple[str, ...] = ()  # in the error message (failures)
    table: str | None = None  # the table the failure message must name
    hits: int | None = None  # requests the fault affected (None: at least one)
    env: dict[str, str] = field(default_factory=dict)
    modified_after: int | None = None  # set_modified(NATIONAL, NEW_MODIFIED, after_requests=...)
    republishing: str | None = None  # RepublishingMirror(table=...)


def data(table: str, skip: int | None = None, **fault: Any) -> dict[str, Any]:
    return {"table": table, "endpoint": "TypedDataSet", "skip": skip, **fault}


CASES = [
    # --- HTTP 500
    pytest.param(Case([data(NATIONAL, 100, kind="status", status=500, times=2)], hits=2), id="500 twice on a data page: retried, succeeds"),
    pytest.param(
        Case([data(NATIONAL, 100, kind="status", status=500, times=None)], succeeds=False, table=NATIONAL,
             fragments=("HTTP 500", "failed after 4 attempts", "$skip=100")),
        id="500 on every attempt: fails naming the table and page",
    ),
    # --- HTTP 429 with Retry-After
    pytest.param(Case([data(GEBIEDEN_2016, 50, kind="status", status=429, retry_after=1, times=1)], hits=1),
                 id="429 with Retry-After 1: waits, succeeds"),
    pytest.param(
        Case([{"table": GEBIEDEN_2016, "endpoint": "TableInfos", "kind": "status", "status": 429, "retry_after": 1, "times": None}],
             succeeds=False, table=GEBIEDEN_2016, fragments=("HTTP 429", "failed after 2 attempts", "TableInfos"),
             env={"WERKREGIO_RETRIES": "1"}),
        id="429 on every attempt (metadata): fails naming the table",
    ),
    # --- connection reset
    pytest.param(Case([data(GEBIEDEN_2016, 0, kind="reset", times=2)], hits=2), id="reset twice on the first page: succeeds"),
    pytest.param(
        Case([data(GEBIEDEN_2016, 150, kind="reset", times=None)], succeeds=False, table=GEBIEDEN_2016,
             fragments=("connection failed", "failed after 4 attempts")),
        id="reset on every attempt: fails naming the table",
    ),
    # --- slow responses beyond the read timeout (WERKREGIO_TIMEOUT=2)
    pytest.param(Case([data(NATIONAL, 150, kind="slow", seconds=4, times=1)], hits=1), id="one response slower than the timeout: succeeds"),
    pytest.param(
        Case([{"table": NATIONAL, "endpoint": "DataProperties", "kind": "slow", "seconds": 4, "times": None}],
             succeeds=False, table=NATIONAL, fragments=("timed out after 2 s", "DataProperties"), env={"WERKREGIO_RETRIES": "1"}),
        id="metadata always slower than the timeout: fails naming the table",
    ),
    # --- truncated bodies and malformed JSON
    pytest.param(Case([data(NATIONAL, 200, kind="truncate", times=1)], hits=1), id="truncated body (short of Content-Length): retried, succeeds"),
    pytest.param(Case([{"table": GEBIEDEN_2016, "endpoint": "RegioS", "kind": "truncate", "times": 1}], hits=1),
                 id="truncated metadata body: retried, succeeds"),
    pytest.param(
        Case([data(NATIONAL, 100, kind="malformed", times=None)], succeeds=False, table=NATIONAL, hits=1,
             fragments=("malformed JSON", "$skip=100")),
        id="malformed JSON: fails at once, not retried",
    ),
    # --- wrong content type
    pytest.param(
        Case([data(GEBIEDEN_2016, 0, kind="html", times=None)], succeeds=False, table=GEBIEDEN_2016, hits=1,
             fragments=("content type 'text/html", "not JSON", "TypedDataSet")),
        id="HTML maintenance page for data: fails at once",
    ),
    pytest.param(
        Case([{"table": NATIONAL, "endpoint": "TableInfos", "kind": "html", "times": None}], succeeds=False, table=NATIONAL, hits=1,
             fragments=("content type 'text/html", "not JSON", "TableInfos")),
        id="HTML maintenance page for metadata: fails at once",
    ),
    # --- responses that never end (issue 22): trickling bodies, links that do not advance, pages without end
    pytest.param(Case([data(NATIONAL, 100, kind="trickle", seconds=0.5, times=1)], hits=1),
                 id="a body trickling in a byte at a time: cut off after 4 x the timeout, retried, succeeds"),
    pytest.param(
        Case([data(NATIONAL, 100, kind="trickle", seconds=0.5, times=None)], succeeds=False, table=NATIONAL, hits=2,
             fragments=("$skip=100", "failed after 2 attempts", "the response took more than 8 s and was still coming"),
             env={"WERKREGIO_RETRIES": "1"}),
        id="a body that always trickles: fails naming the table and page",
    ),
    pytest.param(
        Case([data(GEBIEDEN_2016, 100, kind="trickle", seconds=0.5, times=None)], succeeds=False, table=GEBIEDEN_2016,
             fragments=("the download did not finish within 5 s (WERKREGIO_TABLE_TIMEOUT)", "TypedDataSet"),
             env={"WERKREGIO_TABLE_TIMEOUT": "5"}),
        id="a table that outlasts its deadline: fails naming the table",
    ),
    pytest.param(
        Case([data(NATIONAL, 150, kind="link", link=f"/ODataFeed/OData/{NATIONAL}/TypedDataSet?$format=json&$skip=50", times=None)],
             succeeds=False, table=NATIONAL, fragments=("odata.nextLink of", "$skip=150", "not to the next page ($skip=200)",
                                                        "the paging does not advance")),
        id="a next link back to a page already read: fails naming the table and page",
    ),
    pytest.param(
        Case([data(GEBIEDEN_2016, None, kind="endless", times=None)], succeeds=False, table=GEBIEDEN_2016,
             fragments=("TypedDataSet sent more than 390 rows, the most its dimensions allow",)),
        id="pages that never end: fails at the most rows the table can hold",
    ),
    # --- Modified changes while the table is downloaded
    pytest.param(Case(modified_after=6), id="Modified changes mid-download: fetched again, succeeds with the new version"),
    pytest.param(
        Case(republishing=NATIONAL, succeeds=False, table=NATIONAL,
             fragments=("Modified changed during two downloads in a row", "run the refresh again later")),
        id="Modified changes during every download: fails naming the table",
    ),
]


@pytest.fixture(scope="module")
def baseline(statline_root, prefect_server, tmp_path_factory):
    return build_home(statline_root, tmp_path_factory.mktemp("faults") / "baseline")


@pytest.mark.parametrize("case", CASES)
def test_fault_either_succeeds_after_retries_or_fails_cleanly(case: Case, baseline, statline_root, tmp_path):
    home = baseline.copy_to(tmp_path / "home")
    published = warehouse_of(home)
    before = sha256(published)
    mirror = RepublishingMirror(statline_root, page_size=PAGE_SIZE, table=case.republishing) if case.republishing else (
        StatLineMirror(statline_root, page_size=PAGE_SIZE)
    )
    with mirror, environment(WERKREGIO_HOME=str(home), WERKREGIO_CBS_URL=mirror.base_url, **{**QUICK_RETRIES, **case.env}):
        faults = [mirror.add_fault(**spec) for spec in case.faults]
        if case.modified_after is not None:
            mirror.set_modified(NATIONAL, NEW_MODIFIED, after_requests=case.modified_after)
        error = None
        try:
            result = run_refresh(tables=SUBSET, force=True)
        except Exception as err:  # noqa: BLE001 - the outcome is checked below
            error = err

    outcome = "succeeded" if error is None else "failed: " + " | ".join(str(error).splitlines()[1:] or [str(error)]).strip()
    print(f"\nfault outcome: hits={[f.hits for f in faults]} {outcome}")
    for fault in faults:
        assert fault.hits >= 1, f"the fault {fault} never applied"
        if case.hits is not None:
            assert fault.hits == case.hits, f"{fault.kind} affected {fault.hits} requests, expected {case.hits}"
    last = runlog.runs(home / "runs.jsonl")[-1]
    assert lock_is_free(home)
    assert leftovers(home)["building"] == [] and leftovers(home)["staging"] == []

    if case.succeeds:
        assert error is None, f"expected success after retries, got {type(error).__name__}: {error}"
        assert last.status == "finished" and last.run_id == result["run_id"]
        integrity = check_integrity(published)
        assert integrity.run_id == result["run_id"] and sha256(published) != before
        if case.modified_after is None:
            assert differences(integrity.fingerprint, baseline.integrity.fingerprint) == []
        else:
            # same data, a new CBS version: only the version-stamped tables differ (build_info by its inputs_sha256)
            stamped = {"source_tables", "validation_results", "build_info"}
            assert differences(integrity.fingerprint, baseline.integrity.fingerprint, skip=stamped) == []
            inputs = "SELECT inputs_sha256 FROM build_info"
            assert query(published, inputs).item() != query(warehouse_of(baseline.home), inputs).item()
            assert mirror.data_rows_served(NATIONAL) == 2 * 352  # downloaded again once
            modified = dict(query(published, "SELECT table_id, modified FROM source_tables").iter_rows())
            assert modified[NATIONAL] == NEW_MODIFIED
        assert integrity.national_checksum == baseline.integrity.national_checksum
    else:
        assert error is not None, "expected a clean failure, the refresh succeeded"
        message = str(error)
        assert case.table in message, message
        for fragment in case.fragments:
            assert fragment in message, f"{fragment!r} not in {message!r}"
        assert "Traceback" not in message and len(message) < 2000
        assert sha256(published) == before, "a failed run changed the published warehouse"
        assert last.status == "failed" and case.table in last.error
        assert check_integrity(published).run_id == baseline.integrity.run_id
