"""The CBS StatLine OData v3 client: the one door through which CBS data enters.

Two implementations share one small interface (:class:`CbsSource`):

* :class:`LiveCbs` talks HTTP to the configured ``WERKREGIO_CBS_URL``, in the URL layout of
  CBS's OData v3 feed (``ODataFeed/odata/<table>/<entity set>``, as cbsodata requests it), on
  pooled sessions of its own with an explicit timeout and our retry policy. Metadata (table
  listing, ``TableInfos``, ``DataProperties``, dimension tables) is read page by page; data rows
  (``TypedDataSet``) with ``concurrency`` pages in flight after the first (see
  ``docs/cbs-client.md``).
* :class:`RecordedCbs` reads a folder in the layout of the offline StatLine mirror
  (``<table>/<Endpoint>.json``) without any network, for tests and benchmarks.

The OData v4 source (``sources/cbs/v4.py``) implements the same interface; both are built on
:class:`CbsHttp` (timeouts, retries with backoff, a bound on requests in flight, keep-alive
sessions that send werkregio's User-Agent, :func:`user_agent`).

Errors: :class:`CbsNotFound` (404 / unknown table: never retried), :class:`CbsBadResponse`
(malformed JSON, wrong content type, missing fields: never retried),
:class:`CbsUnavailable` (timeouts, resets, 429 and 5xx still failing after the retries),
:class:`CbsUnreachable` (:meth:`CbsHttp.check_reachable`: the service's host does not resolve or refuses),
:class:`CbsCancelled` (:meth:`CbsHttp.cancel` was called: a signal stops the run).
"""

from __future__ import annotations

import email.utils
import importlib.metadata
import json
import logging
import math
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import orjson
import requests
import urllib3

log = logging.getLogger("werkregio.cbs")

T = TypeVar("T")

FEED = "ODataFeed/odata"
"""Path of CBS's OData v3 feed under the base URL (cbsodata's ``BULK``)."""
CATALOGUE = "ODataCatalog/Tables"
"""Path of CBS's OData v3 table catalogue under the base URL (cbsodata's ``get_table_list``)."""
#: Table ids per catalogue request: each adds about 36 characters to the URL's ``$filter``, and many servers refuse
#: query strings over 2,048 characters (IIS's default; CBS's limit is not documented).
CATALOGUE_BATCH = 40
DATA_SET = "TypedDataSet"
#: Entity sets in a table listing that are not dimension tables.
NON_DIMENSION_SETS = frozenset({"TableInfos", "UntypedDataSet", "TypedDataSet", "DataProperties", "CategoryGroups"})
#: Retried: a timeout, too early, too many requests, and every server error but "not implemented" (501)
#: and "HTTP version not supported" (505), which a retry cannot cure.
RETRYABLE_STATUS = frozenset({408, 425, 429, *(code for code in range(500, 600) if code not in (501, 505))})
MAX_BACKOFF_SECONDS = 60.0
MAX_RETRY_AFTER_SECONDS = 300.0
READ_CHUNK_BYTES = 1 << 20  # a data page (10,000 rows) is about 2 MB of JSON
REQUEST_DEADLINE_FACTOR = 4  # a page is read whole within this many times timeout (which bounds each read only)


class CbsError(Exception):
    """Base class: something went wrong talking to CBS. The message names the table and URL."""


class CbsNotFound(CbsError):
    """The table or entity set does not exist (HTTP 404): retrying will not help."""


class CbsBadResponse(CbsError):
    """CBS answered, but not with what the pipeline can read (malformed JSON, missing fields)."""


class CbsUnavailable(CbsError):
    """A transient failure (timeout, reset, 429, 5xx) that outlasted every retry."""


class CbsUnreachable(CbsError):
    """No connection to the CBS service at all: its host name does not resolve, it refuses, or no
    connection is made within the timeout (:meth:`CbsHttp.check_reachable`)."""


class CbsCancelled(CbsError):
    """The client was cancelled (:meth:`CbsHttp.cancel`): nothing more is requested or read."""


class _Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class _Abandoned(Exception):
    """A request given up before it was sent, because its page is no longer wanted (never reaches a caller)."""


@dataclass(frozen=True)
class TableMeta:
    """Everything about a table except its data rows.

    ``info`` is the single ``TableInfos`` record; ``properties`` the ``DataProperties``
    records; ``dimensions`` maps each dimension key to its categories (``Key``, ``Title``,
    and ``Status`` for the time dimension).
    """

    table_id: str
    info: dict[str, Any]
    properties: list[dict[str, Any]]
    dimensions: dict[str, list[dict[str, Any]]]

    @property
    def modified(self) -> str:
        return str(self.info["Modified"])


@dataclass
class RequestStats:
    """Counts of HTTP requests made, for progress lines and benchmarks."""

    requests: int = 0
    retries: int = 0
    rows: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, requests: int = 0, retries: int = 0, rows: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.retries += retries
            self.rows += rows


class CbsSource(Protocol):
    """What the flows need from CBS."""

    source_url: str
    api: str  # "v3" or "v4": which CBS service, recorded in each landing's data file

    def table_url(self, table_id: str) -> str:
        """Where the table lives, recorded in the landing manifest."""

    def check_reachable(self) -> None:
        """Raise :class:`CbsUnreachable` when the service cannot be reached at all."""

    def cancel(self) -> None:
        """Stop: no further request or retry; pages being read end with :class:`CbsCancelled`."""

    def table_info(self, table_id: str) -> dict[str, Any]:
        """The ``TableInfos`` record (one request); ``Modified`` says whether data changed."""

    def versions(self, table_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """What :meth:`table_info` would say of each of ``table_ids`` about its version (``Modified``, and
        ``MetaDataModified`` where the service has it), from the catalogue in one request; a table the
        catalogue does not answer for is left out."""

    def table_meta(self, table_id: str) -> TableMeta:
        """Table info, data properties and every dimension table."""

    def data_pages(self, table_id: str) -> Iterator[list[dict[str, Any]]]:
        """``TypedDataSet`` rows, page by page, in CBS order, keys as CBS sends them."""


def user_agent(contact: str | None = None) -> str:
    """``werkregio/<version>``, with ``(+<contact>)`` when given: how werkregio names itself to CBS."""
    agent = f"werkregio/{importlib.metadata.version('werkregio')}"
    return f"{agent} (+{contact})" if contact else agent


class CbsHttp:
    """The request policy both CBS clients share.

    ``timeout`` applies to connecting and to each read (a data page: ``REQUEST_DEADLINE_FACTOR *
    timeout`` in all); ``retries`` is the number of extra attempts per request; backoff is
    exponential (``backoff * 2**attempt``, capped, with jitter) or what a 429/503 ``Retry-After``
    asks for. ``concurrency`` bounds the requests in flight from this client across all threads;
    ``table_timeout`` a table's download, from :meth:`start_table` to its last page, retries
    included. Each thread keeps one keep-alive session whose
    requests carry ``User-Agent: agent`` (default :func:`user_agent`); no library-wide setting
    is touched. ``sleep`` waits between retries (default: a wait that :meth:`cancel` ends).
    """

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 1.0,
        concurrency: int = 4,
        table_timeout: float = 1800.0,
        agent: str | None = None,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self.timeout = timeout
        self.table_timeout = table_timeout
        self.retries = retries
        self.backoff = backoff
        self.concurrency = concurrency
        self.agent = agent or user_agent()
        self.stats = RequestStats()
        self._cancelled = threading.Event()
        self._sleep = sleep if sleep is not None else self._cancelled.wait
        self._slots = threading.BoundedSemaphore(concurrency)
        self._local = threading.local()
        self._deadlines: dict[str, float] = {}  # table id -> time.monotonic() by which its download must be done

    def start_table(self, table_id: str) -> None:
        """Start the clock of ``table_id``'s download: no request of it starts after ``table_timeout``."""
        self._deadlines[table_id] = time.monotonic() + self.table_timeout

    def end_table(self, table_id: str) -> None:
        """Stop the clock of ``table_id``'s download (it ended, or failed)."""
        self._deadlines.pop(table_id, None)

    def _with_retries(
        self, table_id: str, url: str, fetch: Callable[[], T], abandon: Callable[[], bool] | None = None
    ) -> T:
        """``fetch()`` holding one of the ``concurrency`` slots, retried on transient failures.

        ``abandon`` is asked before every attempt, once a slot is held; when it answers true the
        request is not sent and :class:`_Abandoned` is raised. No attempt starts after the table's time is
        up, nor once the client is cancelled (:class:`CbsCancelled`).
        """
        for attempt in range(self.retries + 1):
            if time.monotonic() > self._deadlines.get(table_id, math.inf):
                raise CbsUnavailable(f"{table_id}: the download did not finish within {self.table_timeout:g} s (WERKREGIO_TABLE_"
                                     f"TIMEOUT); gave up before requesting {url}; nothing was landed")
            try:
                with self._slots:
                    self._raise_if_cancelled(table_id, url)
                    if abandon is not None and abandon():
                        raise _Abandoned(url)
                    self.stats.add(requests=1)
                    try:
                        return fetch()
                    except (requests.Timeout, urllib3.exceptions.ReadTimeoutError) as err:
                        raise _Transient(f"timed out after {self.timeout:g} s ({type(err).__name__})") from err
                    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError) as err:
                        raise _Transient(f"connection failed ({type(err).__name__}: {err})") from err
            except _Transient as err:
                if attempt == self.retries:
                    raise CbsUnavailable(
                        f"{table_id}: {url} failed after {self.retries + 1} attempts; last error: {err}"
                    ) from err
                delay = min(self._delay(attempt, err.retry_after), max(0.0, self._deadlines.get(table_id, math.inf) - time.monotonic()))
                self.stats.add(retries=1)
                log.warning(
                    "%s: %s (attempt %d of %d); retrying in %.1f s", table_id, err, attempt + 1, self.retries + 1, delay
                )
                self._sleep(delay)
        raise AssertionError("unreachable")

    def cancel(self) -> None:
        """Stop this client, from any thread: requests not yet sent are not sent, retries not
        retried (a wait between retries ends at once), and a page being read stops at its next
        chunk; each raises :class:`CbsCancelled`. A request waiting for CBS's answer ends when the
        answer comes or the timeout passes."""
        self._cancelled.set()

    def _raise_if_cancelled(self, table_id: str, url: str) -> None:
        if self._cancelled.is_set():
            raise CbsCancelled(f"{table_id}: {url} not requested: the download was cancelled")

    def check_reachable(self) -> None:
        """One request to the service's base URL, not retried: :class:`CbsUnreachable` when its host name
        does not resolve, the connection is refused or not made within the timeout (or TLS fails).
        Any HTTP answer, an error status included, means the service is there."""
        try:
            with self._session().get(self.source_url, timeout=self.timeout, stream=True, allow_redirects=False):
                pass
        except requests.ReadTimeout:
            return  # connected: the host is there, only slow
        except requests.ConnectionError as err:
            raise CbsUnreachable(f"cannot reach CBS at {self.source_url}: {_connection_problem(err, self.timeout, self.source_url)}") from err

    def _get_json(self, table_id: str, url: str) -> Any:
        """One attempt at a JSON document (call it holding a slot, through :meth:`_with_retries`).

        The body is read in pieces of what one read of the socket brings, at most a mebibyte (not
        ``Response.content``'s 10 KiB: each read has to win the GIL back from threads parsing other
        pages), and cut off once the request has taken ``REQUEST_DEADLINE_FACTOR * timeout`` or the
        table's time is up (a body sent a byte at a time never trips the per-read timeout), or
        at the next piece once the client is cancelled. It is
        parsed from bytes, as JSON is UTF-8, without guessing a charset (:func:`parse_json`).
        """
        started = time.monotonic()
        limit = min(started + REQUEST_DEADLINE_FACTOR * self.timeout, self._deadlines.get(table_id, math.inf))
        with self._session().get(url, timeout=self.timeout, stream=True) as response:
            _raise_for_status(table_id, url, response)
            pieces, size = [], 0
            while piece := response.raw.read1(READ_CHUNK_BYTES, decode_content=True):
                self._raise_if_cancelled(table_id, url)
                pieces.append(piece)
                size += len(piece)
                if time.monotonic() > limit:
                    raise _Transient(f"the response took more than {time.monotonic() - started:.0f} s and was still coming ({size:,} "
                                     f"bytes so far; a response must be in within {REQUEST_DEADLINE_FACTOR} x WERKREGIO_TIMEOUT)")
            return parse_json(table_id, url, b"".join(pieces))

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER_SECONDS)
        base = min(self.backoff * 2**attempt, MAX_BACKOFF_SECONDS)
        return base * (0.5 + random.random() / 2)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = self.agent
            self._local.session = session
        return session


class LiveCbs(CbsHttp):
    """HTTP client for a CBS StatLine OData v3 service (``https://opendata.cbs.nl`` or a mirror).

    Timeouts, retries and concurrency: :class:`CbsHttp`. Every request (metadata and data pages)
    goes through this client's own sessions and carries werkregio's User-Agent.

    :meth:`table_meta` also fetches the table's first data page, which the next
    :meth:`data_pages` of that table yields instead of requesting it again (once; a page no
    :meth:`data_pages` call takes is kept until the next :meth:`table_meta` of its table).
    """

    api = "v3"

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 1.0,
        concurrency: int = 4,
        table_timeout: float = 1800.0,
        agent: str | None = None,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        super().__init__(
            timeout=timeout, retries=retries, backoff=backoff, concurrency=concurrency, table_timeout=table_timeout, agent=agent, sleep=sleep
        )
        parts = urlsplit(base_url.rstrip("/"))
        self.source_url = f"{parts.scheme}://{parts.netloc}{parts.path}"
        # table id -> its first data page, fetched by table_meta for the next data_pages
        # (single dict operations, atomic across threads)
        self._first_pages: dict[str, Future[tuple[list[dict[str, Any]], str | None]]] = {}

    def table_url(self, table_id: str) -> str:
        return f"{self.source_url}/{FEED}/{table_id}/"

    def versions(self, table_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``Modified`` and ``MetaDataModified`` of each of ``table_ids``, from the catalogue (``ODataCatalog/Tables``
        with ``$filter`` on ``Identifier`` and ``$select``): one request for up to ``CATALOGUE_BATCH`` tables.

        The catalogue's records carry every ``TableInfos`` field (``../shared/data/statline/FORMAT.md``), so its
        answer is the one :meth:`table_info` would give. Identifiers are matched without regard to letter case,
        as v3 table ids are. A table the catalogue does not list, or lists without ``MetaDataModified``, is left
        out: the caller asks it on its own rather than compare ``Modified`` alone.
        """
        wanted = {table_id.lower(): table_id for table_id in table_ids}
        found: dict[str, dict[str, Any]] = {}
        ids = list(wanted.values())
        for start in range(0, len(ids), CATALOGUE_BATCH):
            condition = " or ".join(f"Identifier eq '{table_id}'" for table_id in ids[start : start + CATALOGUE_BATCH])
            query = {"$format": "json", "$select": "Identifier,Modified,MetaDataModified", "$filter": condition}
            url = f"{self.source_url}/{CATALOGUE}?" + urlencode(query, quote_via=quote, safe="$',()")
            for row in self._with_retries(CATALOGUE, url, lambda url=url: self._records(CATALOGUE, url)):
                table_id = wanted.get(str(row.get("Identifier")).lower())
                if table_id is not None and {"Modified", "MetaDataModified"} <= row.keys():
                    found[table_id] = {"Modified": row["Modified"], "MetaDataModified": row["MetaDataModified"]}
        return found

    def table_info(self, table_id: str) -> dict[str, Any]:
        records = self._metadata(table_id, "TableInfos")
        if not records or "Modified" not in records[0]:
            raise CbsBadResponse(f"{table_id}: TableInfos at {self.table_url(table_id)}TableInfos has no Modified field")
        return records[0]

    def table_meta(self, table_id: str) -> TableMeta:
        """Table info, data properties and dimensions, requested in parallel; the first data page alongside.

        ``TableInfos`` first; once it is in, the listing, ``DataProperties`` and the first
        ``TypedDataSet`` page at once, and the dimension tables as soon as the listing names them.
        Nothing is requested before ``TableInfos``, so nothing of the landing predates ``modified``:
        the landing's check that ``Modified`` did not change during the download covers it all. The
        first page is kept for the next :meth:`data_pages` of this table; its failure, if any, is
        raised there.
        """
        self.start_table(table_id)
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="cbs-meta")
        try:
            info = pool.submit(self.table_info, table_id)
            info.result()
            listing = pool.submit(self._metadata, table_id, "")
            properties = pool.submit(self._metadata, table_id, "DataProperties")
            first_page = pool.submit(self._page, table_id, self._first_page_url(table_id))
            names = [entry["name"] for entry in listing.result() if "name" in entry]
            if DATA_SET not in names or "DataProperties" not in names:
                raise CbsBadResponse(
                    f"{table_id}: the table listing at {self.table_url(table_id)} lacks "
                    f"{DATA_SET} or DataProperties (it lists {', '.join(names) or 'nothing'})"
                )
            dimension_names = [n for n in names if n not in NON_DIMENSION_SETS]
            dimensions = {n: pool.submit(self._metadata, table_id, n) for n in dimension_names}
            meta = TableMeta(
                table_id=table_id,
                info=info.result(),
                properties=properties.result(),
                dimensions={n: future.result() for n, future in dimensions.items()},
            )
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            self.end_table(table_id)
            raise
        pool.shutdown(wait=True)  # the first page included
        self._first_pages[table_id] = first_page
        return meta

    def data_pages(self, table_id: str) -> Iterator[list[dict[str, Any]]]:
        """Pages of ``TypedDataSet`` in CBS order; after the first page, ``concurrency`` are in flight at a time.

        The first page is the one :meth:`table_meta` fetched, if it did so since the last call
        for this table; otherwise it is requested now. CBS pages at 10,000 rows with an absolute
        ``odata.nextLink`` carrying ``$skip``. When the link has that form, later pages are
        requested in parallel by rewriting ``$skip`` (:meth:`_parallel_pages`); otherwise the
        links are followed one by one, and a link to a page already read fails the table. Each
        page is retried on its own, so a failure late in a large table does not restart it.
        """
        if table_id not in self._deadlines:
            self.start_table(table_id)
        try:
            prefetched = self._first_pages.pop(table_id, None)
            url = self._first_page_url(table_id)
            if prefetched is not None:
                page, next_link = prefetched.result()
            else:
                page, next_link = self._page(table_id, url)
            yield page
            if next_link is None:
                return
            template = _skip_template(next_link)
            if template is None or len(page) == 0:
                read = {url}
                while next_link is not None:
                    if next_link in read:
                        raise CbsBadResponse(f"{table_id}: odata.nextLink of {url} leads back to {next_link}, a page already read: "
                                             "the paging does not advance; nothing was landed")
                    read.add(url := next_link)
                    page, next_link = self._page(table_id, url)
                    yield page
                return
            make_url, page_size = template
            if page_size != len(page):
                raise CbsBadResponse(
                    f"{table_id}: first page has {len(page)} rows but odata.nextLink skips {page_size}: {next_link}"
                )
            yield from self._parallel_pages(table_id, make_url, page_size)
        finally:
            self.end_table(table_id)

    def _parallel_pages(
        self, table_id: str, make_url: Callable[[int], str], page_size: int
    ) -> Iterator[list[dict[str, Any]]]:
        """The pages from ``$skip=page_size`` on, in order, with ``concurrency`` requests in flight all the time.

        ``concurrency`` threads work through a queue kept ``2 * concurrency`` pages ahead of the
        consumer: a thread starts the next page as soon as its last one is done, whatever order
        pages finish in, and at most that many pages wait in memory. The first page found to
        end the table (without ``odata.nextLink``; a short page that has one fails the table) or to fail
        sets a horizon: pages beyond it are not requested (those already in flight, at most
        ``concurrency - 1``, are dropped). When the consumer stops, the table ends or a page
        fails, queued pages are cancelled, pages waiting for a slot or between retries give up
        without another request, and the threads are joined once the requests in flight have
        ended.
        """
        horizon = _Horizon()

        def fetch(skip: int) -> tuple[list[dict[str, Any]], str | None]:
            url = make_url(skip)

            def attempt() -> tuple[list[dict[str, Any]], str | None]:
                rows, link = self._get_page(table_id, url)
                if link is None:
                    horizon.lower(skip)  # still holding the slot: no later page slips in meanwhile
                elif len(rows) != page_size:
                    raise CbsBadResponse(
                        f"{table_id}: the page at {url} has {len(rows)} rows, not {page_size}, yet odata.nextLink "
                        "follows it: rows would be missing from the table; nothing was landed"
                    )
                elif _skip_of(link) != skip + page_size:
                    raise CbsBadResponse(
                        f"{table_id}: odata.nextLink of {url} leads to {link}, not to the next page ($skip="
                        f"{skip + page_size}): the paging does not advance; nothing was landed"
                    )
                return rows, link

            try:
                return self._with_retries(table_id, url, attempt, abandon=lambda: horizon.passed(skip))
            except BaseException:
                horizon.lower(skip)
                raise

        ahead = 2 * self.concurrency
        requested: deque[Future[tuple[list[dict[str, Any]], str | None]]] = deque()
        next_skip = page_size
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="cbs-page")
        try:
            while True:
                while len(requested) < ahead and not horizon.passed(next_skip):
                    requested.append(pool.submit(fetch, next_skip))
                    next_skip += page_size
                rows, link = requested.popleft().result()
                if rows:
                    yield rows
                if link is None:
                    return
        finally:
            horizon.close()
            pool.shutdown(wait=True, cancel_futures=True)

    def _first_page_url(self, table_id: str) -> str:
        return self.table_url(table_id) + DATA_SET + "?" + urlencode({"$format": "json"})

    def _page(self, table_id: str, url: str) -> tuple[list[dict[str, Any]], str | None]:
        """One data page, with retries: its rows and its ``odata.nextLink``."""
        return self._with_retries(table_id, url, lambda: self._get_page(table_id, url))

    def _get_page(self, table_id: str, url: str) -> tuple[list[dict[str, Any]], str | None]:
        """One attempt at a data page, made holding a slot (parse included): :meth:`_get_json`."""
        body = _checked(table_id, url, self._get_json(table_id, url))
        rows = body["value"]
        self.stats.add(rows=len(rows))
        return rows, body.get("odata.nextLink")

    def _metadata(self, table_id: str, name: str) -> list[dict[str, Any]]:
        """Every record of a metadata entity set (``TableInfos``, ``DataProperties``, a dimension; ``""``: the
        table's listing), following ``odata.nextLink``; the whole set is retried as one request.

        Plain requests on this client's session, with its timeout. cbsodata's public ``get_meta``
        would build the URL's scheme from its process-global ``options.use_https`` and open a new
        session for every page.
        """
        first = self.table_url(table_id) + name + "?" + urlencode({"$format": "json"})
        return self._with_retries(table_id, first, lambda: self._records(table_id, first, name or "the listing"))

    def _records(self, table_id: str, first: str, name: str = "") -> list[dict[str, Any]]:
        """One attempt at every record of an entity set from ``first``, following ``odata.nextLink``; a link
        back to a page already read fails."""
        records: list[dict[str, Any]] = []
        url: str | None = first
        read: set[str] = set()
        while url is not None:
            if url in read:
                raise CbsBadResponse(f"{table_id}: {url} links back to a page of {name or first} already read")
            read.add(url)
            body = _checked(table_id, url, self._get_json(table_id, url))
            records += body["value"]
            url = body.get("odata.nextLink")
        return records


def _connection_problem(err: requests.ConnectionError, timeout: float, url: str) -> str:
    """Why no connection to ``url`` was made, in a few words: its host name, a refusal, the connect timeout or TLS."""
    if isinstance(err, requests.ConnectTimeout):
        return f"no connection within {timeout:g} s"
    if isinstance(err, requests.exceptions.SSLError):
        return f"TLS failed ({err})"
    causes = _causes(err)
    if any(isinstance(cause, socket.gaierror) for cause in causes):  # urllib3's NameResolutionError is raised from it
        return f"the host name {urlsplit(url).hostname!r} does not resolve"
    if any(isinstance(cause, ConnectionRefusedError) for cause in causes):
        return "the connection was refused"
    return f"{type(err).__name__}: {err}"


def _causes(err: BaseException) -> list[BaseException]:
    """``err`` and every exception behind it: causes, contexts, urllib3's ``reason`` and exceptions among the args."""
    found: list[BaseException] = []
    todo: list[object] = [err]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or any(item is seen for seen in found):
            continue
        found.append(item)
        todo += [item.__cause__, item.__context__, getattr(item, "reason", None), *item.args]
    return found


def _raise_for_status(table_id: str, url: str, response: requests.Response | None) -> None:
    if response is None:
        raise CbsBadResponse(f"{table_id}: no HTTP response from {url}")
    status = response.status_code
    if status < 400:
        content_type = response.headers.get("Content-Type", "")
        if content_type and "json" not in content_type.lower():
            raise CbsBadResponse(
                f"{table_id}: {url} answered with content type {content_type!r}, not JSON "
                f"(first bytes: {response.text[:80]!r})"
            )
        return
    if status == 404:
        raise CbsNotFound(f"{table_id}: not found at CBS ({url} returned HTTP 404); check the table id in sources/cbs/catalog.py")
    if status in RETRYABLE_STATUS:
        raise _Transient(f"HTTP {status}", retry_after=_retry_after(response))
    raise CbsError(f"{table_id}: {url} returned HTTP {status}: {response.text[:200]!r}")


def _retry_after(response: requests.Response) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait: a number of seconds or an HTTP date (RFC 9110)."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT; parsedate_to_datetime leaves '-0000' naive
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _decode(table_id: str, url: str, content: bytes) -> dict[str, Any]:
    """The JSON body of a data page: :func:`parse_json`, an object with a ``value`` list."""
    return _checked(table_id, url, parse_json(table_id, url, content))


def parse_json(table_id: str, url: str, content: bytes) -> Any:
    """A JSON response body (UTF-8, as JSON must be; ``json`` also accepts UTF-16/32).

    ``orjson`` parses a 10,000-row page in about half the CPU time of ``json`` (7 ms against 13),
    time in which the other pages' threads wait for the GIL. A body it refuses (a byte order mark,
    ``NaN``, UTF-16, or simply malformed) is parsed by ``json``, as before, whose error names the
    position. The one difference: an integer beyond 64 bits arrives as a float (CBS publishes none;
    the landing's typing would refuse it as a Long).
    """
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(content)
    except json.JSONDecodeError as err:
        raise CbsBadResponse(
            f"{table_id}: malformed JSON from {url} ({err.msg} at character {err.pos} of {len(err.doc)})"
        ) from err
    except UnicodeDecodeError as err:
        raise CbsBadResponse(f"{table_id}: response from {url} is not UTF-8 JSON ({err})") from err


def _checked(table_id: str, url: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise CbsBadResponse(f"{table_id}: response from {url} has no 'value' list")
    return body


class _Horizon:
    """The largest ``$skip`` of a table still worth requesting: lowered from any thread, never raised."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._skip: float = math.inf

    def lower(self, skip: int) -> None:
        with self._lock:
            self._skip = min(self._skip, skip)

    def close(self) -> None:
        """Nothing more is wanted: every later request is abandoned."""
        self.lower(-1)

    def passed(self, skip: int) -> bool:
        return skip > self._skip


def _skip_of(link: str) -> int | None:
    """The ``$skip`` of a link, when it has exactly one that is a number."""
    skips = [v for k, v in parse_qsl(urlsplit(link).query, keep_blank_values=True) if k == "$skip"]
    return int(skips[0]) if len(skips) == 1 and skips[0].isdigit() else None


def _skip_template(link: str) -> tuple[Callable[[int], str], int] | None:
    skip = _skip_of(link)
    if skip is None:
        return None
    parts = urlsplit(link)
    rest = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "$skip"]

    def make_url(skip: int) -> str:
        return urlunsplit(parts._replace(query=urlencode([*rest, ("$skip", str(skip))], safe="$',()")))

    return make_url, skip


class RecordedCbs:
    """Reads tables from a folder in the offline mirror layout; no network at all.

    Data pages are cut at ``page_size`` rows to mimic CBS paging.
    """

    api = "v3"

    def __init__(self, root: Path, page_size: int = 10_000) -> None:
        self.root = Path(root)
        self.page_size = page_size
        self.source_url = self.root.resolve().as_uri()

    def table_url(self, table_id: str) -> str:
        return self._folder(table_id).resolve().as_uri() + "/"

    def check_reachable(self) -> None:
        if not self.root.is_dir():
            raise CbsUnreachable(f"no recording at {self.root}")

    def cancel(self) -> None:
        """Nothing to stop: a recording is read at once."""

    def _read(self, table_id: str, name: str) -> list[dict[str, Any]]:
        folder = self._folder(table_id)
        path = folder / f"{name or '_root'}.json"
        if not path.is_file():
            raise CbsNotFound(f"{table_id}: no {name or 'table listing'} in the recording at {folder}")
        try:
            return json.loads(path.read_text(encoding="utf-8"))["value"]
        except (json.JSONDecodeError, KeyError) as err:
            raise CbsBadResponse(f"{table_id}: unreadable recording {path}: {err}") from err

    def _folder(self, table_id: str) -> Path:
        for candidate in (self.root / table_id, *self.root.glob("*")):
            if candidate.name.lower() == table_id.lower() and candidate.is_dir():
                return candidate
        raise CbsNotFound(f"{table_id}: no such table in the recording at {self.root}")

    def table_info(self, table_id: str) -> dict[str, Any]:
        return self._read(table_id, "TableInfos")[0]

    def versions(self, table_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``Modified`` and ``MetaDataModified`` of each recorded table of ``table_ids``, from its ``TableInfos``."""
        found = {}
        for table_id in table_ids:
            try:
                info = self.table_info(table_id)
            except CbsNotFound:
                continue
            found[table_id] = {key: info[key] for key in ("Modified", "MetaDataModified") if key in info}
        return found

    def table_meta(self, table_id: str) -> TableMeta:
        names = [entry["name"] for entry in self._read(table_id, "")]
        dimensions = [n for n in names if n not in NON_DIMENSION_SETS]
        return TableMeta(
            table_id=table_id,
            info=self.table_info(table_id),
            properties=self._read(table_id, "DataProperties"),
            dimensions={n: self._read(table_id, n) for n in dimensions},
        )

    def data_pages(self, table_id: str) -> Iterator[list[dict[str, Any]]]:
        rows = self._read(table_id, DATA_SET)
        for start in range(0, max(len(rows), 1), self.page_size):
            yield rows[start : start + self.page_size]


def dimension_keys(properties: Sequence[dict[str, Any]]) -> list[str]:
    """Keys of the dimension columns, in column order."""
    return [p["Key"] for p in properties if p.get("Type", "").endswith("Dimension")]


def topic_types(properties: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Topic column key -> CBS Datatype (``Long``, ``Double``, ``Float``, ``String``, ...)."""
    return {p["Key"]: p.get("Datatype", "String") for p in properties if p.get("Type") == "Topic"}


def time_dimension(properties: Sequence[dict[str, Any]]) -> str:
    """Key of the table's time dimension (``Perioden`` in CBS tables)."""
    keys = [p["Key"] for p in properties if p.get("Type") == "TimeDimension"]
    if len(keys) != 1:
        raise CbsBadResponse(f"expected one TimeDimension in DataProperties, found {keys}")
    return keys[0]
