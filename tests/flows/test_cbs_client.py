"""The live CBS client against the local StatLine mirror: the real HTTP path, paging, retries, failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cbs import CbsBadResponse, CbsNotFound, CbsUnavailable, LiveCbs, RecordedCbs
from tests.statline_mirror import StatLineMirror, write_table

TABLE = "90001TST"
ROWS = 23


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("statline")
    periods = [{"Key": f"2014MM{m:02d}", "Title": f"2014 maand {m}", "Status": "Definitief"} for m in range(1, 13)]
    periods += [{"Key": f"2015MM{m:02d}", "Title": f"2015 maand {m}*", "Status": "Voorlopig"} for m in range(1, 12)]
    write_table(
        root,
        TABLE,
        dimensions={"Perioden": periods},
        time_dimension="Perioden",
        topics=[{"Key": "Uitkeringen_1", "Title": "Uitkeringen", "Datatype": "Double", "Unit": "x 1 000", "Decimals": 1}],
        rows=[{"Perioden": p["Key"], "Uitkeringen_1": float(i)} for i, p in enumerate(periods)],
        title="Test table",
    )
    return root


@pytest.fixture
def mirror(tiny_root):
    with StatLineMirror(tiny_root, page_size=5) as server:
        yield server


def client(mirror: StatLineMirror, sleeps: list[float] | None = None, **kwargs) -> LiveCbs:
    options = {"timeout": 5.0, "retries": 3, "backoff": 0.5, "concurrency": 3}
    options.update(kwargs)
    return LiveCbs(mirror.base_url, sleep=(sleeps.append if sleeps is not None else (lambda s: None)), **options)


def all_rows(cbs: LiveCbs, table_id: str = TABLE) -> list[dict]:
    return [row for page in cbs.data_pages(table_id) for row in page]


def test_table_info_is_one_request(mirror):
    info = client(mirror).table_info(TABLE)
    assert info["Modified"] == "2025-04-23T02:00:00"
    assert mirror.count(TABLE) == 1


def test_table_meta_has_properties_and_dimension_keys(mirror):
    meta = client(mirror).table_meta(TABLE)
    assert meta.modified == "2025-04-23T02:00:00"
    assert [p["Key"] for p in meta.properties] == ["Perioden", "Uitkeringen_1"]
    assert list(meta.dimensions) == ["Perioden"]
    assert meta.dimensions["Perioden"][0]["Key"] == "2014MM01"
    assert meta.dimensions["Perioden"][-1]["Status"] == "Voorlopig"


def test_parallel_paging_returns_every_row_once_in_order(mirror):
    rows = all_rows(client(mirror))
    assert [r["ID"] for r in rows] == list(range(ROWS))
    assert rows[0]["Perioden"] == "2014MM01"
    assert mirror.data_rows_served(TABLE) == ROWS
    assert mirror.count(TABLE, "TypedDataSet") >= 5


def test_sequential_paging_with_concurrency_one(mirror):
    rows = all_rows(client(mirror, concurrency=1))
    assert [r["ID"] for r in rows] == list(range(ROWS))
    assert mirror.count(TABLE, "TypedDataSet") == 5


def test_500_on_one_page_is_retried_and_only_that_page_refetched(mirror):
    fault = mirror.add_fault("status", status=500, table=TABLE, endpoint="TypedDataSet", skip=10, times=1)
    sleeps: list[float] = []
    cbs = client(mirror, sleeps)
    rows = all_rows(cbs)
    assert [r["ID"] for r in rows] == list(range(ROWS))
    assert fault.hits == 1
    assert cbs.stats.retries == 1
    assert len(sleeps) == 1 and 0.25 <= sleeps[0] <= 0.5
    first_pages = [r for r in mirror.requests_for(TABLE, "TypedDataSet") if r.query.get("$skip") in (None, "0")]
    assert len(first_pages) == 1


def test_429_honours_retry_after(mirror):
    mirror.add_fault("status", status=429, retry_after=7, table=TABLE, endpoint="TableInfos", times=2)
    sleeps: list[float] = []
    assert client(mirror, sleeps).table_info(TABLE)["Modified"]
    assert sleeps == [7.0, 7.0]


@pytest.mark.parametrize("kind", ["reset", "truncate"])
def test_broken_connections_are_retried(mirror, kind):
    fault = mirror.add_fault(kind, table=TABLE, endpoint="TypedDataSet", skip=0, times=2)
    cbs = client(mirror)
    assert len(all_rows(cbs)) == ROWS
    assert fault.hits == 2
    assert cbs.stats.retries == 2


def test_metadata_5xx_is_retried(mirror):
    mirror.add_fault("status", status=503, table=TABLE, endpoint="DataProperties", times=1)
    cbs = client(mirror)
    assert cbs.table_meta(TABLE).properties
    assert cbs.stats.retries == 1


def test_slow_response_beyond_timeout_is_retried(mirror):
    mirror.add_fault("latency", seconds=1.5, table=TABLE, endpoint="TableInfos", times=1)
    cbs = client(mirror, timeout=0.3)
    assert cbs.table_info(TABLE)["Modified"]
    assert cbs.stats.retries == 1


def test_transient_failure_that_outlasts_retries_names_table_and_url(mirror):
    mirror.add_fault("status", status=502, table=TABLE, endpoint="TypedDataSet", times=None)
    cbs = client(mirror, retries=2)
    with pytest.raises(CbsUnavailable) as caught:
        all_rows(cbs)
    message = str(caught.value)
    assert TABLE in message and "TypedDataSet" in message and "3 attempts" in message and "HTTP 502" in message


def test_404_fails_at_once_with_the_table_named(mirror):
    cbs = client(mirror)
    with pytest.raises(CbsNotFound) as caught:
        cbs.table_info("99999XXX")
    assert "99999XXX" in str(caught.value) and "404" in str(caught.value)
    assert cbs.stats.retries == 0
    assert mirror.count("99999XXX") == 1


def test_404_on_data_page_fails_at_once(mirror):
    mirror.add_fault("status", status=404, table=TABLE, endpoint="TypedDataSet", times=None)
    cbs = client(mirror)
    with pytest.raises(CbsNotFound, match=TABLE):
        all_rows(cbs)
    assert cbs.stats.retries == 0


@pytest.mark.parametrize("kind", ["malformed", "html"])
def test_unreadable_body_fails_at_once_on_data(mirror, kind):
    mirror.add_fault(kind, table=TABLE, endpoint="TypedDataSet", times=None)
    cbs = client(mirror)
    with pytest.raises(CbsBadResponse, match=TABLE):
        all_rows(cbs)
    assert cbs.stats.retries == 0


@pytest.mark.parametrize("kind", ["malformed", "html"])
def test_unreadable_body_fails_at_once_on_metadata(mirror, kind):
    mirror.add_fault(kind, table=TABLE, endpoint="TableInfos", times=None)
    cbs = client(mirror)
    with pytest.raises(CbsBadResponse, match=TABLE):
        cbs.table_info(TABLE)
    assert mirror.count(TABLE, "TableInfos") == 1


def test_recorded_source_reads_the_same_table_without_network(tiny_root):
    recorded = RecordedCbs(tiny_root, page_size=10)
    assert recorded.table_info(TABLE)["Modified"] == "2025-04-23T02:00:00"
    pages = list(recorded.data_pages(TABLE))
    assert [len(p) for p in pages] == [10, 10, 3]
    with pytest.raises(CbsNotFound, match="nope"):
        recorded.table_info("nope")


@pytest.mark.mirror
def test_real_national_benefits_table_through_the_mirror(statline_root):
    with StatLineMirror(statline_root, page_size=100) as server:
        cbs = client(server, concurrency=4)
        meta = cbs.table_meta("37789ksz")
        rows = all_rows(cbs, "37789ksz")
    assert meta.info["Identifier"] == "37789ksz"
    assert len(rows) == 352
    assert rows[0]["Perioden"] == "1998MM01" and rows[0]["NietSeizoengecorrigeerd_8"] == 350.8
    assert len(meta.dimensions["Perioden"]) == 352
