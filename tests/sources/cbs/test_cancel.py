"""Stopping the CBS clients (a signal stops the run: ``cancel``) and asking whether CBS answers at all (``check_reachable``)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from sources.cbs.client import CbsCancelled, CbsUnreachable, LiveCbs
from sources.cbs.v4 import V4Cbs
from tests.sources.cbs.test_client import TABLE, data_skips, page_threads, tiny_root  # noqa: F401 - tiny_root is a fixture
from tests.statline_mirror import StatLineMirror


@pytest.fixture
def slow_pages(tiny_root):  # noqa: F811 - the fixture imported above
    """12 pages of 2 rows, every request 0.1 s slower."""
    with StatLineMirror(tiny_root, page_size=2, v4_page_size=2) as server:
        server.latency(0.1)
        yield server


def refused_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def in_thread(call) -> tuple[threading.Thread, list]:
    """``call()`` in a thread; the list gets its result or the exception it raised."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as err:  # noqa: BLE001 - handed to the test
            outcome.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_cancel_stops_the_pages_of_a_table_and_requests_nothing_more(slow_pages):
    cbs = LiveCbs(slow_pages.base_url, concurrency=2, retries=3)
    pages = cbs.data_pages(TABLE)
    next(pages)
    cbs.cancel()
    with pytest.raises(CbsCancelled, match=f"{TABLE}: .* not requested: the download was cancelled"):
        list(pages)
    served = data_skips(slow_pages)
    assert len(served) <= 1 + 2 * 2  # the first page, and at most two windows of concurrency ahead: not the 12
    assert page_threads() == []
    time.sleep(0.3)
    assert data_skips(slow_pages) == served  # nothing requested after


def test_cancel_ends_a_wait_between_retries_at_once(slow_pages):
    fault = slow_pages.add_fault("status", status=503, table=TABLE, endpoint="TableInfos", times=None)
    cbs = LiveCbs(slow_pages.base_url, retries=3, backoff=30)  # the default wait between retries, cancelled below
    thread, outcome = in_thread(lambda: cbs.table_info(TABLE))
    deadline = time.monotonic() + 10
    while fault.hits == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    cbs.cancel()
    thread.join(timeout=5)
    assert not thread.is_alive()  # the 15 to 30 s of backoff were not waited
    assert isinstance(outcome[0], CbsCancelled)
    assert fault.hits == 1  # no retry was sent


def test_a_cancelled_v4_source_requests_no_further_page(slow_pages):
    v4 = V4Cbs(slow_pages.v4_url, retries=3)
    v4.table_meta(TABLE)
    pages = v4.data_pages(TABLE)
    next(pages)
    served = len(slow_pages.requests_for(TABLE, "Observations"))
    v4.cancel()
    with pytest.raises(CbsCancelled):
        list(pages)
    assert len(slow_pages.requests_for(TABLE, "Observations")) == served


@pytest.mark.parametrize("source", [LiveCbs, V4Cbs])
def test_a_refused_connection_is_unreachable_at_once(source):
    sleeps: list[float] = []
    url = refused_url()

    with pytest.raises(CbsUnreachable) as caught:
        source(url, retries=5, sleep=sleeps.append).check_reachable()

    assert str(caught.value) == f"cannot reach CBS at {url}: the connection was refused"
    assert sleeps == []  # not retried


@pytest.mark.parametrize("source", [LiveCbs, V4Cbs])
def test_a_host_name_that_does_not_resolve_is_unreachable(source):
    url = "http://cbs.werkregio-test.invalid"  # .invalid never resolves (RFC 6761)

    with pytest.raises(CbsUnreachable) as caught:
        source(url).check_reachable()

    assert str(caught.value) == f"cannot reach CBS at {url}: the host name 'cbs.werkregio-test.invalid' does not resolve"


def test_any_http_answer_means_reachable(slow_pages):
    slow_pages.add_fault("status", status=503, times=None)  # CBS answering with errors is there all the same

    LiveCbs(slow_pages.base_url).check_reachable()
    V4Cbs(slow_pages.v4_url).check_reachable()

    assert len(slow_pages.requests_for()) == 2  # one request each, not retried
