"""The live CBS client against the local StatLine mirror: the real HTTP path, paging, retries, failures."""

from __future__ import annotations

import codecs
import email.utils
import io
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import pytest

from sources.cbs.client import CbsBadResponse, CbsError, CbsNotFound, CbsUnavailable, LiveCbs, RecordedCbs, _decode, user_agent
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


class CountingMirror(StatLineMirror):
    """A mirror that records the most requests it was serving at once.

    A request counts from the moment the server starts on it (the client has sent it) until it
    is logged, just before its response is written (the client is still waiting for it), so
    this count never exceeds the number of requests the client has in flight.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.serving = 0
        self.most_at_once = 0
        self._serving_lock = threading.Lock()

    def _serve(self, handler) -> None:
        with self._serving_lock:
            self.serving += 1
            self.most_at_once = max(self.most_at_once, self.serving)
        super()._serve(handler)

    def _record(self, record) -> None:
        with self._serving_lock:
            self.serving -= 1
        super()._record(record)


@pytest.fixture
def small_pages(tiny_root):
    """12 pages of 2 rows (the last has 1), every request 20 ms slower."""
    with CountingMirror(tiny_root, page_size=2) as server:
        server.latency(0.02)
        yield server


def page_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("cbs-page")]


def data_skips(mirror: StatLineMirror) -> list[int]:
    """``$skip`` of every TypedDataSet request, in the order the mirror served them."""
    return [int(r.query.get("$skip", 0)) for r in mirror.requests_for(TABLE, "TypedDataSet")]


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


def test_data_pages_name_werkregio_and_its_version_and_the_contact(mirror):
    assert all_rows(client(mirror, agent=user_agent("ops@example.org")))
    pages = mirror.requests_for(TABLE, "TypedDataSet")
    assert pages and {r.user_agent for r in pages} == {f"werkregio/{version('werkregio')} (+ops@example.org)"}


def test_sequential_paging_with_concurrency_one(mirror):
    rows = all_rows(client(mirror, concurrency=1))
    assert [r["ID"] for r in rows] == list(range(ROWS))
    assert mirror.count(TABLE, "TypedDataSet") == 5


@pytest.mark.parametrize("concurrency", [1, 2, 4])
def test_requests_in_flight_reach_but_never_exceed_concurrency(small_pages, concurrency):
    small_pages.latency(0.05)  # long enough for every thread to have its request at the mirror
    cbs = client(small_pages, concurrency=concurrency)
    cbs.table_meta(TABLE)
    rows = all_rows(cbs)
    assert [r["ID"] for r in rows] == list(range(ROWS))
    assert small_pages.most_at_once == concurrency
    assert small_pages.data_rows_served(TABLE) == ROWS


def test_a_slow_page_does_not_hold_up_the_pages_after_it(small_pages):
    # windows of `concurrency` pages would wait for the slow page before requesting more
    small_pages.add_fault("latency", seconds=0.5, table=TABLE, endpoint="TypedDataSet", skip=4)
    rows = all_rows(client(small_pages, concurrency=2))
    assert [r["ID"] for r in rows] == list(range(ROWS))
    skips = data_skips(small_pages)
    served_while_slow = [skip for skip in skips[: skips.index(4)] if skip > 4]
    assert len(served_while_slow) >= 2


def test_pages_come_in_cbs_order_whatever_order_they_finish_in(small_pages):
    for skip, seconds in [(2, 0.3), (4, 0.2), (6, 0.1), (10, 0.15)]:
        small_pages.add_fault("latency", seconds=seconds, table=TABLE, endpoint="TypedDataSet", skip=skip)
    pages = list(client(small_pages, concurrency=4).data_pages(TABLE))
    assert [[r["ID"] for r in page] for page in pages] == [[i, i + 1][: ROWS - i] for i in range(0, ROWS, 2)]
    skips = data_skips(small_pages)
    assert skips.index(6) < skips.index(2)  # finished out of order, yielded in order


def test_the_end_of_the_table_stops_requests(small_pages):
    cbs = client(small_pages, concurrency=3)
    assert len(all_rows(cbs)) == ROWS
    skips = data_skips(small_pages)
    assert sorted(skips) == sorted(set(skips))  # no page twice
    # pages past the end (skip 24 and on) only while the last page was in flight
    assert len([skip for skip in skips if skip > 22]) <= 3 - 1
    assert page_threads() == []


def test_a_failing_page_fails_naming_table_and_page_after_the_pages_before_it(small_pages):
    small_pages.add_fault("status", status=503, table=TABLE, endpoint="TypedDataSet", skip=8, times=None)
    cbs = client(small_pages, retries=2, concurrency=2)
    seen = []
    with pytest.raises(CbsUnavailable) as caught:
        for page in cbs.data_pages(TABLE):
            seen.extend(r["ID"] for r in page)
    assert seen == list(range(8))
    message = str(caught.value)
    assert TABLE in message and "$skip=8" in message and "3 attempts" in message and "HTTP 503" in message
    assert page_threads() == []
    served = len(small_pages.requests_for())
    time.sleep(0.1)
    assert len(small_pages.requests_for()) == served  # nothing still running


def test_a_short_page_mid_table_that_has_a_next_link_fails_the_table(small_pages, monkeypatch):
    """Only a page without odata.nextLink ends a table: a short one with a link would silently drop rows."""
    original = LiveCbs._get_page

    def short_at_6(self, table_id, url):
        rows, link = original(self, table_id, url)
        return (rows[:-1], link) if "skip=6" in url else (rows, link)

    monkeypatch.setattr(LiveCbs, "_get_page", short_at_6)
    cbs = client(small_pages)
    with pytest.raises(CbsBadResponse) as caught:
        all_rows(cbs)
    message = str(caught.value)
    assert message.startswith(f"{TABLE}: the page at ") and "skip=6 has 1 rows, not 2, yet odata.nextLink follows it" in message
    assert page_threads() == []


def test_stopping_early_cancels_the_pages_not_yet_requested(small_pages):
    cbs = client(small_pages, concurrency=2)
    pages = cbs.data_pages(TABLE)
    assert [r["ID"] for r in next(pages)] == [0, 1]
    assert [r["ID"] for r in next(pages)] == [2, 3]
    pages.close()
    assert page_threads() == []
    served = data_skips(small_pages)
    assert len(served) <= 2 + 2 * 2  # the two pages taken, and at most 2 * concurrency ahead
    time.sleep(0.1)
    assert data_skips(small_pages) == served


def test_stopping_early_stops_a_page_between_its_retries(small_pages):
    fault = small_pages.add_fault("status", status=500, table=TABLE, endpoint="TypedDataSet", skip=6, times=None)
    cbs = LiveCbs(small_pages.base_url, retries=3, concurrency=2, sleep=lambda seconds: time.sleep(0.3))
    pages = cbs.data_pages(TABLE)
    next(pages)
    next(pages)
    deadline = time.monotonic() + 5
    while fault.hits == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    pages.close()
    assert time.monotonic() - started < 1.0
    assert fault.hits == 1  # the retry after the backoff was never sent
    assert page_threads() == []


def test_table_meta_fetches_the_first_page_for_the_next_data_pages(small_pages):
    cbs = client(small_pages, concurrency=2)
    cbs.table_meta(TABLE)
    log = small_pages.requests_for(TABLE)
    endpoints = [r.endpoint for r in log]
    assert data_skips(small_pages) == [0]
    # only once TableInfos is answered, so no row is older than the Modified the meta carries
    assert endpoints.index("TableInfos") < endpoints.index("TypedDataSet")
    assert [r["ID"] for r in all_rows(cbs)] == list(range(ROWS))
    assert data_skips(small_pages).count(0) == 1
    assert all_rows(cbs)[0]["ID"] == 0  # used once: a second download asks again
    assert data_skips(small_pages).count(0) == 2


def test_a_first_page_failing_during_table_meta_fails_in_data_pages(small_pages):
    small_pages.add_fault("status", status=404, table=TABLE, endpoint="TypedDataSet", times=None)
    cbs = client(small_pages)
    assert cbs.table_meta(TABLE).modified == "2025-04-23T02:00:00"
    with pytest.raises(CbsNotFound, match=TABLE):
        all_rows(cbs)


def test_a_body_that_is_not_utf8_is_a_bad_response():
    with pytest.raises(CbsBadResponse, match="90001TST.*not UTF-8"):
        _decode(TABLE, "http://cbs/TypedDataSet", b'{"value": ["caf\xe9"]}')


@pytest.mark.parametrize(
    "content",
    [
        pytest.param('{"value": [{"ID": 0, "RegioS": "GM0363", "Titel": "één 3½", "X": -0.0, "Y": 1e-7, "Z": null}]}'.encode(),
                     id="UTF-8, as CBS sends it (orjson)"),
        pytest.param(codecs.BOM_UTF8 + b'{"value": [{"ID": 0}]}', id="with a byte order mark (json)"),
        pytest.param('{"value": [{"ID": 0, "Titel": "één"}]}'.encode("utf-16"), id="UTF-16 (json)"),
        pytest.param(b'{"value": [{"ID": 0, "X": NaN}]}', id="NaN (json)"),
    ],
)
def test_a_page_body_decodes_as_json_decodes_it(content: bytes):
    assert _decode(TABLE, "http://cbs/TypedDataSet", content) == json.loads(content)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"value": [{"ID": 0}, {"ID": 1', r"malformed JSON from http://cbs/TypedDataSet \(Expecting .* at character 30 of 30\)"),
        (b'{"odata.metadata": "x"}', "has no 'value' list"),
        (b'[{"ID": 0}]', "has no 'value' list"),
    ],
)
def test_a_page_body_that_cannot_be_read_is_a_bad_response_naming_the_position(content: bytes, message: str):
    with pytest.raises(CbsBadResponse, match=f"{TABLE}: .*{message}"):
        _decode(TABLE, "http://cbs/TypedDataSet", content)


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


def test_retry_after_as_an_http_date_and_server_errors_beyond_504_are_retried_but_501_is_not(mirror):
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    mirror.add_fault("status", status=503, table=TABLE, endpoint="TableInfos", retry_after=when, times=1)
    mirror.add_fault("status", status=507, table=TABLE, endpoint="DataProperties", times=1)
    sleeps: list[float] = []
    cbs = client(mirror, sleeps=sleeps, backoff=0.5)

    assert cbs.table_info(TABLE)["Modified"]
    assert 25 < sleeps[0] <= 30  # the date, not the 0.25-0.5 s of the backoff
    assert cbs._metadata(TABLE, "DataProperties")
    assert cbs.stats.retries == 2 and sleeps[1] <= 0.5

    mirror.add_fault("status", status=501, table=TABLE, endpoint="DataProperties", times=None)
    with pytest.raises(CbsError) as caught:
        cbs._metadata(TABLE, "DataProperties")
    assert not isinstance(caught.value, CbsUnavailable) and "HTTP 501" in str(caught.value)
    assert cbs.stats.retries == 2  # not retried


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


def test_the_live_client_changes_no_process_global_setting_of_cbsodata():
    import cbsodata

    before = (cbsodata.options.use_https, cbsodata.options.catalog_url)
    LiveCbs("http://127.0.0.1:9/mirror")

    assert (cbsodata.options.use_https, cbsodata.options.catalog_url) == before


class _Page:
    """A JSON answer as ``requests`` gives it, for :class:`_Pages`."""

    def __init__(self, body: dict) -> None:
        self.status_code, self.headers = 200, {"Content-Type": "application/json"}
        self.content = json.dumps(body).encode()
        self.text = self.content.decode()
        self.raw = _Raw(self.content)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


class _Raw(io.BytesIO):
    """``Response.raw`` as the client reads it (``read1`` with ``decode_content``)."""

    def read1(self, size: int = -1, decode_content: bool = False) -> bytes:
        return super().read1(size)


class _Pages:
    """A session that answers metadata URLs from a dict and records every request with its timeout."""

    def __init__(self, pages: dict[str, dict]) -> None:
        self.pages, self.requests = pages, []

    def get(self, url, timeout=None, **kwargs):
        self.requests.append((url, timeout))
        return _Page(self.pages[url])


def test_metadata_follows_next_links_on_the_clients_session_with_its_timeout(monkeypatch):
    cbs = LiveCbs("http://cbs.test", timeout=7, retries=0)
    first = f"http://cbs.test/ODataFeed/odata/{TABLE}/RegioS?%24format=json"
    second = f"http://cbs.test/ODataFeed/odata/{TABLE}/RegioS?$skip=2"
    session = _Pages({first: {"value": [{"Key": "GM0001"}, {"Key": "GM0002"}], "odata.nextLink": second},
                      second: {"value": [{"Key": "GM0003"}]}})  # fmt: skip
    monkeypatch.setattr(cbs, "_session", lambda: session)

    assert [r["Key"] for r in cbs._metadata(TABLE, "RegioS")] == ["GM0001", "GM0002", "GM0003"]
    assert session.requests == [(first, 7), (second, 7)]


def test_metadata_whose_next_link_leads_back_fails_naming_the_table_and_url(monkeypatch):
    cbs = LiveCbs("http://cbs.test", retries=0)
    first = f"http://cbs.test/ODataFeed/odata/{TABLE}/Perioden?%24format=json"
    session = _Pages({first: {"value": [{"Key": "2024MM01"}], "odata.nextLink": first}})
    monkeypatch.setattr(cbs, "_session", lambda: session)

    with pytest.raises(CbsBadResponse, match=f"{TABLE}: .*Perioden.* links back to a page of Perioden already read"):
        cbs._metadata(TABLE, "Perioden")
    assert len(session.requests) == 1
def test_a_body_that_trickles_in_is_cut_off_once_the_request_has_taken_too_long_and_retried(mirror):
    """Issue 22: a body sent one byte per second never timed out, because the timeout applies per read."""
    fault = mirror.add_fault("trickle", seconds=0.05, table=TABLE, endpoint="TypedDataSet", skip=10, times=1)
    cbs = client(mirror, timeout=0.5)  # each read returns within 0.05 s; a page may take 4 x 0.5 s in all

    assert [r["ID"] for r in all_rows(cbs)] == list(range(ROWS))
    assert fault.hits == 1 and cbs.stats.retries == 1


def test_a_body_that_always_trickles_fails_naming_the_table_and_page(mirror):
    mirror.add_fault("trickle", seconds=0.05, table=TABLE, endpoint="TypedDataSet", skip=10, times=None)

    with pytest.raises(CbsUnavailable) as caught:
        all_rows(client(mirror, timeout=0.5, retries=1))

    message = str(caught.value)
    assert message.startswith(f"{TABLE}: {mirror.base_url}/ODataFeed/OData/{TABLE}/TypedDataSet?") and "$skip=10" in message
    assert "failed after 2 attempts; last error: the response took more than 2 s and was still coming" in message


def test_a_next_link_back_to_a_page_already_read_fails_the_table(mirror):
    """Issue 22: an odata.nextLink leading back was followed without end (37,263 requests in 10 minutes)."""
    mirror.add_fault("link", link=f"/ODataFeed/OData/{TABLE}/TypedDataSet?$format=json&$skip=5", table=TABLE,
                     endpoint="TypedDataSet", skip=10, times=None)

    with pytest.raises(CbsBadResponse) as caught:
        all_rows(client(mirror))

    message = str(caught.value)
    assert message.startswith(f"{TABLE}: odata.nextLink of {mirror.base_url}/ODataFeed/OData/{TABLE}/TypedDataSet?")
    assert "$skip=5, not to the next page ($skip=15): the paging does not advance" in message
    assert mirror.count(TABLE, "TypedDataSet") < 12  # the pages in flight, not an endless loop


def test_a_next_link_without_skip_that_leads_back_fails_the_table(mirror):
    again = f"/ODataFeed/OData/{TABLE}/TypedDataSet?$format=json&page=2"
    mirror.add_fault("link", link=again, table=TABLE, endpoint="TypedDataSet", skip=0, times=None)  # page=2 is $skip 0 too

    with pytest.raises(CbsBadResponse) as caught:
        all_rows(client(mirror))

    assert str(caught.value) == (
        f"{TABLE}: odata.nextLink of {mirror.base_url}{again} leads back to {mirror.base_url}{again}, a page already read: "
        "the paging does not advance; nothing was landed"
    )
    assert mirror.count(TABLE, "TypedDataSet") == 2


def test_pages_that_never_end_fail_at_the_most_rows_the_table_can_hold(mirror, tmp_path):
    from sources.cbs.landing import land_table, latest_landing

    mirror.add_fault("endless", table=TABLE, endpoint="TypedDataSet", times=None)

    with pytest.raises(CbsBadResponse) as caught:
        land_table(client(mirror), TABLE, tmp_path / "raw")

    assert str(caught.value) == (
        f"{TABLE}: {mirror.base_url}/ODataFeed/odata/{TABLE}/TypedDataSet sent more than 23 rows, the most its dimensions "
        "allow (one per combination of their categories): the paging repeats pages; nothing was landed"
    )
    assert mirror.data_rows_served(TABLE) <= ROWS + 5 * 2 * 3 + 5  # the pages queued ahead, not without end
    assert latest_landing(tmp_path / "raw", TABLE) is None


def test_a_table_that_takes_longer_than_its_deadline_fails_naming_it(mirror):
    mirror.add_fault("latency", seconds=0.4, table=TABLE, endpoint="TypedDataSet", times=None)  # 5 pages, one at a time
    cbs = client(mirror, concurrency=1, table_timeout=1.0)

    with pytest.raises(CbsUnavailable) as caught:
        all_rows(cbs)

    message = str(caught.value)
    assert message.startswith(f"{TABLE}: the download did not finish within 1 s (WERKREGIO_TABLE_TIMEOUT); gave up before requesting ")
    assert "TypedDataSet" in message and message.endswith("nothing was landed")
    assert cbs.table_info(TABLE)["Modified"]  # the deadline ends with the table: the next request is not refused
