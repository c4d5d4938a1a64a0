"""A local CBS StatLine (OData v3) mirror: an HTTP server that stands in for opendata.cbs.nl in tests.

The server serves table folders laid out as in ``shared/data/statline`` (see FORMAT.md there): one folder per
table holding ``_root.json``, ``TableInfos.json``, ``DataProperties.json``, ``CategoryGroups.json``, one
``<Dimension>.json`` per dimension and ``TypedDataSet.json``, each in the v3 envelope
``{"odata.metadata": ..., "value": [...]}``. Files are parsed lazily on first request and cached per mirror.
The real ``cbsodata`` client runs unchanged against it::

    with StatLineMirror(root, page_size=2) as mirror:
        cbsodata.options.catalog_url = mirror.catalog_url
        cbsodata.options.use_https = False
        rows = cbsodata.get_data("37789ksz")
        assert mirror.count("37789ksz", "TypedDataSet") > 1

URL layout (the paths cbsodata 1.3.5 requests; ``odata``, ``ODataFeed`` and ``ODataCatalog`` match in any case):

* ``/ODataFeed/odata/{id}/`` -- the table's service document (listing of endpoints; never paged);
* ``/ODataFeed/odata/{id}/{Endpoint}`` -- every endpoint in the listing: TableInfos, DataProperties,
  CategoryGroups, each dimension, TypedDataSet, and UntypedDataSet, generated from TypedDataSet (topic values
  formatted with the topic's ``Decimals``, right-aligned to at least 8 characters, missing as ``'       .'``,
  String topics unchanged);
* ``/ODataCatalog/Tables`` -- one record per table folder, built from its TableInfos.

Every canonical ``https://opendata.cbs.nl/ODataFeed/...`` (and ``/ODataCatalog/...``) URL in a response is
rewritten to the mirror's own base URL. Unknown tables, endpoints and paths get 404, bad query options 400, both
with an OData v3 JSON error body. Responses are ``application/json; charset=utf-8`` with a Content-Length, over
HTTP/1.1 keep-alive.

Query options: ``$format`` (only ``json``), ``$select`` (comma-separated columns), ``$filter``, ``$skip``,
``$top``; any other ``$`` option is a 400. ``$filter`` supports ``Col eq|ne <literal>`` (a quoted string,
compared exactly, padding included, or a number), ``substringof('text', Col)``, ``startswith(Col, 'text')``,
combined with ``and``/``or`` and parentheses; anything else is a 400. When more than ``page_size`` rows remain,
the response carries an absolute ``odata.nextLink`` to the same entity set with ``$format=json``, the original
``$filter``/``$select`` (and the remaining ``$top``) and ``$skip=<next offset>``, as CBS does.

Request log: every request is recorded as a `RequestRecord` *before* its response is written, so the log is
complete as soon as the client has its answer. See `StatLineMirror.requests_for`, `StatLineMirror.count`,
`StatLineMirror.data_rows_served` and `StatLineMirror.reset_log`.

Faults: ``mirror.add_fault(kind, table=None, endpoint=None, skip=None, times=1, ...)`` returns a `Fault`
whose ``hits`` counts the requests it affected. A fault matches a request when each of ``table`` (table id),
``endpoint`` (``''`` = service document, ``'Tables'`` = catalog) and ``skip`` (the request's ``$skip``, 0 when
absent, so ``skip=0`` is the first page) is None or equal. It applies to at most ``times`` requests
(``None`` = forever). Kinds:

===============  =====================================================  =====================================
kind             server behaviour                                       what a requests client sees
===============  =====================================================  =====================================
``latency``      sleeps ``seconds``, then handles the request normally  a slow answer; ``ReadTimeout`` when
                 (other faults still apply; the response is not         ``seconds`` exceeds the read timeout
                 marked as faulted)
``slow``         sleeps ``seconds``, then answers normally; the record  ``ReadTimeout`` when ``seconds``
                 is marked ``slow`` with 0 rows                         exceeds the read timeout
``status``       answers ``status`` (400-599) with a JSON error body,   ``response.status_code``, the header;
                 plus ``Retry-After: retry_after`` when given           cbsodata raises ``HTTPError``
``reset``        closes the socket with SO_LINGER 0 (TCP RST) without   ``requests.ConnectionError``
                 answering
``truncate``     sends the full Content-Length but only half the body,  ``ChunkedEncodingError`` (or
                 then closes the connection                             ``ConnectionError``)
``malformed``    a complete 200 whose JSON body is cut in the middle    ``json.JSONDecodeError``
``html``         a complete 200 ``text/html`` maintenance page          ``json.JSONDecodeError``; the
                                                                        Content-Type shows ``text/html``
``trickle``      sends the headers, then the body one byte every        each read returns within a read
                 ``seconds`` (until the client gives up)                timeout; the body never ends in time
``link``         answers normally but with ``odata.nextLink`` set to    a next page that is not the next one
                 the mirror's base URL + ``link`` (a path and query)    (a page already read, or itself)
``endless``      a full page of the table's first rows, with an         a table whose pages never end
                 ``odata.nextLink`` to the next ``$skip``, for every
                 ``$skip``, also past the end of the table
===============  =====================================================  =====================================

All matching ``latency`` faults add up; of the other kinds only the first matching one (in the order added)
applies. ``mirror.latency(seconds)`` delays every request; ``mirror.clear_faults()`` removes all faults and the
global latency.

``mirror.set_modified(table_id, "2026-01-01T02:00:00", after_requests=N)`` makes TableInfos (and the catalog)
report that ``Modified`` once N further requests of that table have been served, i.e. from request N+1 on;
``set_modified(table_id, None)`` restores the stored value.

`write_table` writes small synthetic tables in the same folder layout for unit tests and benchmarks.

OData v4 (``mirror.v4_url`` = ``http://127.0.0.1:PORT/odata/v1``): the same folders served as CBS's v4 service
serves tables, generated on request as ``../shared/data/statline/FORMAT_V4.md`` describes (``tests/statline_v4.py``):

* ``/odata/v1`` and ``/odata/v1/CBS`` -- service documents (Catalogs, Datasets); ``/odata/v1/Datasets``,
  ``/odata/v1/CBS/Datasets`` -- the catalogue, one row per table folder, in one response; ``.../Catalogs``;
* ``/odata/v1/CBS/{id}`` -- a table's service document; ``.../{id}/Properties`` (a singleton);
  ``.../{id}/{EntitySet}`` for MeasureCodes, MeasureGroups (where the table has topic groups), Dimensions,
  ``<Dim>Codes``, ``PeriodenGroups`` and Observations; ``{EntitySet}('key')`` / ``Observations(4)`` one entity,
  ``{EntitySet}/$count`` as text; ``$metadata`` is a 501. The unversioned ``/CBS/...`` paths serve the same.

Table ids and entity-set names are case-sensitive (a wrong case is a 404). Query options: ``$filter`` (the v4
dialect of `tests.statline_v4.compile_filter`), ``$select``, ``$orderby``, ``$count``, ``$top``, ``$skip``,
``$format=json``; ``$search`` is ignored, as CBS does; anything else is a 400. ``Observations`` are paged at
``v4_page_size`` cells (default 100,000, CBS's page) with an absolute ``@odata.nextLink`` carrying the original
``$filter``/``$select``/``$orderby``/``$count``, the remaining ``$top`` and ``$skip``; other sets at 100,000.
Errors have the v4 body ``{"error": {"code": "", "message": ...}}``; responses carry ``OData-Version: 4.0``.
Faults match v4 requests by table, entity set (``endpoint``) and ``$skip`` as they match v3 ones, and
``set_modified`` shows in ``Properties`` and ``Datasets`` (with the Amsterdam offset). Every `RequestRecord`
says which API it was for (``api``) and which ``User-Agent`` sent it.
"""

from __future__ import annotations

import json
import re
import socket
import socketserver
import struct
import sys
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import orjson

from tests.statline_v4 import CATALOG, V4FilterError, V4Table
from tests.statline_v4 import compile_filter as compile_v4_filter

__all__ = [
    "FAULT_KINDS",
    "Fault",
    "FilterError",
    "RequestRecord",
    "StatLineMirror",
    "compile_filter",
    "write_table",
]

CANONICAL_HOST = "https://opendata.cbs.nl"
CATALOG_ENDPOINT = "Tables"
TYPED_DATASET = "TypedDataSet"
UNTYPED_DATASET = "UntypedDataSet"
DATA_ENDPOINTS = (TYPED_DATASET, UNTYPED_DATASET)
UNTYPED_MISSING = "       ."
FAULT_KINDS = ("latency", "slow", "status", "reset", "truncate", "malformed", "html", "trickle", "link", "endless")

_JSON_CONTENT_TYPE = "application/json; charset=utf-8"
_V4_JSON_CONTENT_TYPE = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"
_TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
_V4_HEADERS = (("OData-Version", "4.0"),)
V4_CATALOG = CATALOG
V4_PAGE_SIZE = 100_000
_V4_OPTIONS = frozenset({"$format", "$select", "$filter", "$skip", "$top", "$orderby", "$count", "$search"})
_HTML_CONTENT_TYPE = "text/html; charset=utf-8"
_MAINTENANCE_PAGE = (
    b"<!DOCTYPE html><html><head><title>CBS StatLine - onderhoud</title></head>"
    b"<body><h1>Deze dienst is tijdelijk niet beschikbaar.</h1></body></html>"
)
_TABLE_ID = re.compile(r"[A-Za-z0-9]+")
_CANONICAL_URL = re.compile(rb"https://opendata\.cbs\.nl(?=/OData(?:Feed|Catalog)/)", re.IGNORECASE)
_CANONICAL_PREFIX = CANONICAL_HOST.lower().encode("ascii")  # where _CANONICAL_URL can match, in a lowered body
_SUPPORTED_OPTIONS = frozenset({"$format", "$select", "$filter", "$skip", "$top"})
_LINK_SAFE = "'(),/"
_STATUS_DESCRIPTIONS = {
    "Definitief": "",
    "Voorlopig": "Voorlopige cijfers",
    "NaderVoorlopig": "Nader voorlopige cijfers",
}

Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]


# --------------------------------------------------------------------------------------------- $filter


class FilterError(ValueError):
    """A ``$filter`` expression outside the supported subset, or naming an unknown column."""


_FILTER_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?)|(?P<word>[A-Za-z_]\w*)|(?P<punct>[(),]))"
)


def _tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    text = text.rstrip()
    position = 0
    while position < len(text):
        match = _FILTER_TOKEN.match(text, position)
        if match is None:
            raise FilterError(f"cannot parse {text[position:]!r}")
        kind = match.lastgroup
        value: Any = match.group(kind)
        if kind == "string":
            value = value[1:-1].replace("''", "'")
        elif kind == "number":
            value = float(value) if "." in value else int(value)
        tokens.append((kind, value))
        position = match.end()
    return tokens


class _FilterParser:
    """Recursive-descent parser for the supported ``$filter`` subset (see the module docstring)."""

    def __init__(self, text: str, columns: frozenset[str] | None) -> None:
        self._tokens = _tokenize(text)
        self._position = 0
        self._columns = columns

    def parse(self) -> Predicate:
        predicate = self._disjunction()
        if self._position != len(self._tokens):
            raise FilterError(f"unexpected {self._peek()[1]!r}")
        return predicate

    def _peek(self) -> tuple[str | None, Any]:
        if self._position < len(self._tokens):
            return self._tokens[self._position]
        return None, None

    def _take(self, kind: str, value: Any = None) -> Any:
        found_kind, found_value = self._peek()
        if found_kind != kind or (value is not None and found_value != value):
            expected = repr(value) if value is not None else f"a {kind}"
            found = repr(found_value) if found_kind is not None else "the end of the filter"
            raise FilterError(f"expected {expected}, found {found}")
        self._position += 1
        return found_value

    def _accept(self, word: str) -> bool:
        if self._peek() == ("word", word):
            self._position += 1
            return True
        return False

    def _disjunction(self) -> Predicate:
        parts = [self._conjunction()]
        while self._accept("or"):
            parts.append(self._conjunction())
        return parts[0] if len(parts) == 1 else (lambda row: any(part(row) for part in parts))

    def _conjunction(self) -> Predicate:
        parts = [self._primary()]
        while self._accept("and"):
            parts.append(self._primary())
        return parts[0] if len(parts) == 1 else (lambda row: all(part(row) for part in parts))

    def _primary(self) -> Predicate:
        if self._peek() == ("punct", "("):
            self._position += 1
            inner = self._disjunction()
            self._take("punct", ")")
            return inner
        if self._accept("substringof"):
            self._take("punct", "(")
            needle = self._take("string")
            self._take("punct", ",")
            column = self._column()
            self._take("punct", ")")
            return lambda row: isinstance(row.get(column), str) and needle in row[column]
        if self._accept("startswith"):
            self._take("punct", "(")
            column = self._column()
            self._take("punct", ",")
            prefix = self._take("string")
            self._take("punct", ")")
            return lambda row: isinstance(row.get(column), str) and row[column].startswith(prefix)
        column = self._column()
        operator = self._take("word")
        if operator not in ("eq", "ne"):
            raise FilterError(f"unsupported operator {operator!r}")
        literal = self._literal()
        if operator == "eq":
            return lambda row: row.get(column) == literal
        return lambda row: row.get(column) != literal

    def _column(self) -> str:
        name = self._take("word")
        if self._columns is not None and name not in self._columns:
            raise FilterError(f"unknown column {name!r}")
        return name

    def _literal(self) -> Any:
        kind, value = self._peek()
        if kind not in ("string", "number"):
            found = repr(value) if kind is not None else "the end of the filter"
            raise FilterError(f"expected a quoted string or a number, found {found}")
        self._position += 1
        return value


def compile_filter(text: str, columns: Collection[str] | None = None) -> Predicate:
    """Compile an OData ``$filter`` expression into a row predicate.

    ``columns``, when given, are the names a filter may refer to. Raises `FilterError` for anything outside the
    supported subset: ``Col eq|ne 'text'|number``, ``substringof('text', Col)``, ``startswith(Col, 'text')``,
    ``and``, ``or`` and parentheses.
    """
    return _FilterParser(text, None if columns is None else frozenset(columns)).parse()


# --------------------------------------------------------------------------------------------- table data


def _read_json(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def _write_json(path: Path, document: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(document, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def _feed_url(table_id: str, name: str = "") -> str:
    return f"{CANONICAL_HOST}/ODataFeed/OData/{table_id}/{name}"


def _metadata_url(table_id: str, entity_set: str | None = None) -> str:
    suffix = f"#Cbs.OData.WebAPI.{entity_set}" if entity_set else ""
    return f"{CANONICAL_HOST}/ODataFeed/OData/{table_id}/$metadata{suffix}"


def _untyped_cell(value: Any, datatype: str, decimals: int) -> Any:
    if value is None:
        return UNTYPED_MISSING
    if datatype == "String":
        return value
    if isinstance(value, int) and decimals == 0:
        return f"{value:>8d}"
    return f"{value:>8.{decimals}f}"


class _Table:
    """One table folder. Each endpoint document is parsed on first use and then kept."""

    def __init__(self, table_id: str, folder: Path) -> None:
        self.table_id = table_id
        self.folder = folder
        self._lock = threading.RLock()
        self._documents: dict[str, dict[str, Any]] = {}
        self.v4 = V4Table(self)

    def document(self, endpoint: str) -> dict[str, Any] | None:
        """The envelope served for ``endpoint`` (``''`` = service document), or None if the table has none."""
        with self._lock:
            if endpoint not in self._documents:
                document = self._load(endpoint)
                if document is None:
                    return None
                self._documents[endpoint] = document
            return self._documents[endpoint]

    def _load(self, endpoint: str) -> dict[str, Any] | None:
        if endpoint == "":
            return _read_json(self.folder / "_root.json")
        listed = {entry["name"] for entry in self.document("")["value"]}
        if endpoint not in listed:
            return None
        if endpoint == UNTYPED_DATASET:
            return self._untyped()
        path = self.folder / f"{endpoint}.json"
        return _read_json(path) if path.is_file() else None

    def _untyped(self) -> dict[str, Any] | None:
        typed = self.document(TYPED_DATASET)
        properties = self.document("DataProperties")
        if typed is None or properties is None:
            return None
        topics = {
            prop["Key"]: (prop.get("Datatype"), prop.get("Decimals") or 0)
            for prop in properties["value"]
            if prop.get("odata.type") == "Cbs.OData.Topic"
        }
        rows = [
            {key: _untyped_cell(value, *topics[key]) if key in topics else value for key, value in row.items()}
            for row in typed["value"]
        ]
        return {"odata.metadata": _metadata_url(self.table_id, UNTYPED_DATASET), "value": rows}


# --------------------------------------------------------------------------------------------- records, faults


@dataclass(frozen=True)
class RequestRecord:
    """One request as the mirror saw it.

    ``endpoint`` is ``''`` for a service document, ``'Tables'`` (v3) or ``'Datasets'`` (v4) for the catalog,
    the entity-set name (``'Observations'``, ``'Properties'``, ...) for v4 and None for an unknown path.
    ``status`` is None when no HTTP response was sent (a ``reset`` fault). ``rows`` is the number of ``value``
    rows delivered (v4 Observations: cells): 0 for errors and for every faulted response. ``fault`` is the
    kind of the non-latency fault that shaped the response, if any. ``api`` is ``'v3'`` or ``'v4'``;
    ``user_agent`` the request's ``User-Agent`` header.
    """

    method: str
    path: str
    table_id: str | None
    endpoint: str | None
    query: dict[str, str]
    status: int | None
    rows: int
    fault: str | None = None
    api: str = "v3"
    user_agent: str | None = None


@dataclass(eq=False)
class Fault:
    """A fault registered with `StatLineMirror.add_fault`. ``hits`` counts the requests it affected."""

    kind: str
    table: str | None = None
    endpoint: str | None = None
    skip: int | None = None
    times: int | None = 1
    status: int | None = None
    retry_after: int | str | None = None
    seconds: float | None = None
    link: str | None = None
    hits: int = field(default=0, init=False)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def matches(self, table_id: str | None, endpoint: str | None, skip: int | None) -> bool:
        return (
            (self.table is None or self.table == table_id)
            and (self.endpoint is None or self.endpoint == endpoint)
            and (self.skip is None or self.skip == skip)
        )


@dataclass
class _ModifiedOverride:
    value: str
    pending: int


class _HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class _Options:
    select: tuple[str, ...] | None
    filter: str | None
    skip: int
    top: int | None


def _non_negative(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()):
        raise _HTTPError(400, f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _parse_options(query: Mapping[str, str]) -> _Options:
    unsupported = sorted(name for name in query if name.startswith("$") and name not in _SUPPORTED_OPTIONS)
    if unsupported:
        raise _HTTPError(400, f"unsupported query option(s): {', '.join(unsupported)}")
    if query.get("$format", "json") != "json":
        raise _HTTPError(400, f"unsupported $format {query['$format']!r}; this mirror serves json only")
    select_text = query.get("$select", "").strip()
    select = None if select_text in ("", "*") else tuple(name.strip() for name in select_text.split(","))
    return _Options(
        select=select,
        filter=query.get("$filter") or None,
        skip=_non_negative(query, "$skip") or 0,
        top=_non_negative(query, "$top"),
    )


def _route(path: str) -> tuple[str | None, str | None]:
    """(table id, endpoint) of a request path; (None, 'Tables') for the catalog, (None, None) if unknown."""
    segments = [unquote(segment) for segment in path.split("/")[1:]]
    lowered = [segment.lower() for segment in segments]
    if lowered == ["odatacatalog", "tables"]:
        return None, CATALOG_ENDPOINT
    if len(segments) in (3, 4) and lowered[:2] == ["odatafeed", "odata"]:
        return segments[2], segments[3] if len(segments) == 4 else ""
    return None, None


def _request_skip(query: Mapping[str, str]) -> int | None:
    value = query.get("$skip", "0")
    return int(value) if value.isascii() and value.isdigit() else None


def _error_body(status: int, message: str, api: str = "v3") -> bytes:
    if api == "v4":
        return json.dumps({"error": {"code": "", "message": message}}).encode("utf-8")
    error = {"odata.error": {"code": str(status), "message": {"lang": "en-US", "value": message}}}
    return json.dumps(error).encode("utf-8")


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes
    rows: int
    content_type: str = _JSON_CONTENT_TYPE
    headers: tuple[tuple[str, str], ...] = ()


def _v4_response(status: int, body: bytes, rows: int = 0, content_type: str = _V4_JSON_CONTENT_TYPE) -> _Response:
    return _Response(status, body, rows, content_type, _V4_HEADERS)


@dataclass(frozen=True)
class _V4Route:
    """A v4 request path: ``table_id`` (None: service level), ``endpoint`` ('' = service document, an entity
    set, 'Properties', 'Datasets', 'Catalogs', '$metadata'; None = no such path), a ``key`` lookup
    (``MeasureCodes('D000287')``, ``Observations(4)``) and ``count`` (``/<set>/$count``)."""

    table_id: str | None
    endpoint: str | None
    key: Any = None
    count: bool = False


_ENTITY_SEGMENT = re.compile(r"(?P<name>[A-Za-z_]\w*)(?:\((?P<key>.*)\))?")


def _route_v4(path: str) -> _V4Route | None:
    """The v4 route of a path under ``/odata/v1`` (or ``/CBS``, the unversioned odata4.cbs.nl layout); None if not v4."""
    segments = [unquote(segment) for segment in path.split("/")[1:]]
    if segments and segments[-1] == "":
        segments.pop()
    if segments[:2] == ["odata", "v1"]:
        rest = segments[2:]
    elif segments[:1] == [V4_CATALOG]:
        rest = segments
    else:
        return None
    if rest and rest[0] == V4_CATALOG:
        if len(rest) == 1:
            return _V4Route(None, "")
        if len(rest) == 2 and rest[1] in ("Datasets", "Catalogs", "$metadata"):
            return _V4Route(None, rest[1])
        table_id, tail = rest[1], rest[2:]
        if not tail:
            return _V4Route(table_id, "")
        if tail == ["$metadata"]:
            return _V4Route(table_id, "$metadata")
        match = _ENTITY_SEGMENT.fullmatch(tail[0])
        if match is None or len(tail) > 2 or (len(tail) == 2 and (tail[1] != "$count" or match["key"] is not None)):
            return _V4Route(table_id, None)
        key = match["key"]
        if key is not None:
            key = key[1:-1].replace("''", "'") if len(key) >= 2 and key[0] == key[-1] == "'" else int(key) if key.isdigit() else key
        return _V4Route(table_id, match["name"], key, len(tail) == 2)
    if rest in ([], ["Datasets"], ["Catalogs"], ["$metadata"]):
        return _V4Route(None, rest[0] if rest else "")
    return _V4Route(None, None)


# --------------------------------------------------------------------------------------------- HTTP server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.mirror._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.mirror._untrack(self.connection)

    def do_GET(self) -> None:
        self.server.mirror._serve(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet: no per-request lines on stderr."""

    def send(
        self,
        status: int,
        body: bytes,
        content_type: str = _JSON_CONTENT_TYPE,
        headers: Sequence[tuple[str, str]] = (),
        declared_length: int | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if declared_length is None else declared_length))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def reset(self) -> None:
        """Drop the connection with a TCP RST instead of an orderly FIN."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default listen backlog of 5 drops SYNs under concurrent clients

    def __init__(self, mirror: StatLineMirror) -> None:
        self.mirror = mirror
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn), which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the client went away (timed out, reset) while we were answering
        super().handle_error(request, client_address)


class StatLineMirror:
    """A threaded local HTTP server for the StatLine table folders under ``root`` (see the module docstring).

    Use it as a context manager or call `start` and `stop`. ``page_size`` is the number of rows per page
    before an ``odata.nextLink`` is added (CBS uses 10,000).
    """

    def __init__(self, root: Path, page_size: int = 10_000, v4_page_size: int = V4_PAGE_SIZE) -> None:
        if page_size < 1 or v4_page_size < 1:
            raise ValueError(f"page sizes must be at least 1, got {page_size} and {v4_page_size}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"no StatLine mirror folder at {self.root}")
        self.page_size = page_size
        self.v4_page_size = v4_page_size
        self._lock = threading.Lock()
        self._tables: dict[str, _Table] = {}
        self._log: list[RequestRecord] = []
        self._faults: list[Fault] = []
        self._latency = 0.0
        self._modified: dict[str, _ModifiedOverride] = {}
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._base_url = ""

    # ----------------------------------------------------------------------------------------- lifecycle

    def start(self) -> StatLineMirror:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("the mirror is already running")
        self._stopping.clear()
        self._server = _Server(self)
        self._base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"statline-mirror-{self._server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, interrupt pending latency/slow sleeps and close open keep-alive connections."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> StatLineMirror:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The TCP port the mirror listens on."""
        if self._server is None:
            raise RuntimeError("the mirror is not running")
        return self._server.server_port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.catalog_url}"

    @property
    def catalog_url(self) -> str:
        """``127.0.0.1:PORT``, the value for ``cbsodata.options.catalog_url``."""
        return f"127.0.0.1:{self.port}"

    @property
    def v4_url(self) -> str:
        """``http://127.0.0.1:PORT/odata/v1``, the mirror's v4 service (``WERKREGIO_CBS_V4_URL``)."""
        return f"{self.base_url}/odata/v1"

    # ----------------------------------------------------------------------------------------- request log

    def requests_for(self, table_id: str | None = None, endpoint: str | None = None) -> list[RequestRecord]:
        """Logged requests, oldest first, for ``table_id`` and ``endpoint`` (None = any)."""
        with self._lock:
            return [
                record
                for record in self._log
                if (table_id is None or record.table_id == table_id)
                and (endpoint is None or record.endpoint == endpoint)
            ]

    def count(self, table_id: str | None = None, endpoint: str | None = None) -> int:
        """Number of logged requests for ``table_id`` and ``endpoint`` (None = any)."""
        return len(self.requests_for(table_id, endpoint))

    def data_rows_served(self, table_id: str | None = None) -> int:
        """Rows delivered from TypedDataSet and UntypedDataSet, for one table or all."""
        return sum(record.rows for record in self.requests_for(table_id) if record.endpoint in DATA_ENDPOINTS)

    def reset_log(self) -> None:
        """Forget every logged request."""
        with self._lock:
            self._log.clear()

    # ----------------------------------------------------------------------------------------- faults

    def add_fault(
        self,
        kind: str,
        *,
        table: str | None = None,
        endpoint: str | None = None,
        skip: int | None = None,
        times: int | None = 1,
        status: int | None = None,
        retry_after: int | str | None = None,
        seconds: float | None = None,
        link: str | None = None,
    ) -> Fault:
        """Register a fault (kinds and matching rules: see the module docstring) and return its handle."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if times is not None and times < 1:
            raise ValueError(f"times must be at least 1 or None (forever), got {times}")
        if (kind == "status") != (status is not None):
            raise ValueError("status= is required for, and only for, kind='status'")
        if status is not None and not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), got {status}")
        if retry_after is not None and kind != "status":
            raise ValueError("retry_after= only applies to kind='status'")
        if (kind in ("latency", "slow", "trickle")) != (seconds is not None):
            raise ValueError("seconds= is required for, and only for, kind='latency', 'slow' and 'trickle'")
        if (kind == "link") != (link is not None):
            raise ValueError("link= is required for, and only for, kind='link'")
        if seconds is not None and seconds <= 0:
            raise ValueError(f"seconds must be positive, got {seconds}")
        fault = Fault(kind, table, endpoint, skip, times, status, retry_after, seconds, link)
        with self._lock:
            self._faults.append(fault)
        return fault

    def latency(self, seconds: float) -> None:
        """Delay every request by ``seconds`` (0 switches the global latency off)."""
        if seconds < 0:
            raise ValueError(f"latency must not be negative, got {seconds}")
        with self._lock:
            self._latency = seconds

    def clear_faults(self) -> None:
        """Remove every fault and the global latency."""
        with self._lock:
            self._faults.clear()
            self._latency = 0.0

    def set_modified(self, table_id: str, modified: str | None, *, after_requests: int = 0) -> None:
        """Make TableInfos of ``table_id`` (and the catalog) report ``Modified = modified``.

        The change takes effect after ``after_requests`` further requests of the table (any endpoint
        counts), i.e. from request ``after_requests + 1`` on. ``modified=None`` restores the stored value.
        """
        if after_requests < 0:
            raise ValueError(f"after_requests must not be negative, got {after_requests}")
        with self._lock:
            if modified is None:
                self._modified.pop(table_id, None)
            else:
                self._modified[table_id] = _ModifiedOverride(modified, after_requests)

    # ----------------------------------------------------------------------------------------- serving

    def _track(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _untrack(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def _admit(
        self, table_id: str | None, endpoint: str | None, query: Mapping[str, str]
    ) -> tuple[str | None, float, Fault | None]:
        """Under the lock: the Modified override this request sees, its delay, and the fault shaping it."""
        skip = _request_skip(query)
        with self._lock:
            override = self._modified.get(table_id) if table_id is not None else None
            if override is not None and override.pending > 0:
                override.pending -= 1
                override = None
            delay = self._latency
            shaping = None
            for fault in self._faults:
                if fault.exhausted or not fault.matches(table_id, endpoint, skip):
                    continue
                if fault.kind == "latency":
                    fault.hits += 1
                    delay += fault.seconds
                elif shaping is None:
                    fault.hits += 1
                    shaping = fault
        return (override.value if override else None), delay, shaping

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._log.append(record)

    def _serve(self, handler: _Handler) -> None:
        target = urlsplit(handler.path)
        v4 = _route_v4(target.path)
        api = "v3" if v4 is None else "v4"
        table_id, endpoint = _route(target.path) if v4 is None else (v4.table_id, v4.endpoint)
        query = {name: values[-1] for name, values in parse_qs(target.query, keep_blank_values=True).items()}
        modified, delay, fault = self._admit(table_id, endpoint, query)
        if delay and self._stopping.wait(delay):
            handler.close_connection = True
            return
        kind = fault.kind if fault else None
        user_agent = handler.headers.get("User-Agent")

        def record(status: int | None, rows: int = 0) -> None:
            self._record(
                RequestRecord(handler.command, target.path, table_id, endpoint, query, status, rows, kind, api, user_agent)
            )

        if kind == "reset":
            record(None)
            handler.reset()
        elif kind == "status":
            record(fault.status)
            headers = [] if fault.retry_after is None else [("Retry-After", str(fault.retry_after))]
            body = _error_body(fault.status, "fault injected by StatLineMirror", api)
            handler.send(fault.status, body, headers=headers)
        elif kind == "html":
            record(200)
            handler.send(200, _MAINTENANCE_PAGE, _HTML_CONTENT_TYPE)
        elif kind == "endless":
            options = _parse_options(query)
            rows = self._table(table_id).document(endpoint)["value"][: self.page_size]
            path = f"/ODataFeed/OData/{table_id}/{endpoint}"
            payload = {"odata.metadata": "", "value": rows, "odata.nextLink": self._next_link(path, options, len(rows))}
            record(200, len(rows))
            handler.send(200, orjson.dumps(payload))
        else:
            if v4 is None:
                response = self._response(table_id, endpoint, query, modified)
            else:
                response = self._v4_response(v4, target.path, query, modified)
            if kind == "link":
                payload = orjson.loads(response.body)
                payload["@odata.nextLink" if v4 is not None else "odata.nextLink"] = self._base_url + fault.link
                response = replace(response, body=orjson.dumps(payload))

            def send(body: bytes, **kwargs: Any) -> None:
                handler.send(response.status, body, response.content_type, response.headers, **kwargs)

            if kind == "trickle":
                record(response.status)
                handler.send_response(response.status)
                handler.send_header("Content-Type", response.content_type)
                handler.send_header("Content-Length", str(len(response.body)))
                for name, value in response.headers:
                    handler.send_header(name, value)
                handler.end_headers()
                handler.wfile.flush()
                for offset in range(len(response.body)):
                    if self._stopping.wait(fault.seconds):
                        break
                    try:
                        handler.wfile.write(response.body[offset : offset + 1])
                        handler.wfile.flush()
                    except OSError:  # the client gave up
                        break
                handler.close_connection = True
            elif kind == "truncate":
                record(response.status)
                send(response.body[: len(response.body) // 2], declared_length=len(response.body))
                handler.close_connection = True
            elif kind == "malformed":
                record(200)
                handler.send(200, response.body[: len(response.body) // 2], response.content_type, response.headers)
            elif kind == "slow":
                record(response.status)
                if self._stopping.wait(fault.seconds):
                    handler.close_connection = True
                    return
                send(response.body)
            else:
                record(response.status, response.rows)
                send(response.body)

    def _response(
        self, table_id: str | None, endpoint: str | None, query: Mapping[str, str], modified: str | None
    ) -> _Response:
        try:
            payload, rows = self._payload(table_id, endpoint, query, modified)
        except _HTTPError as error:
            return _Response(error.status, _error_body(error.status, error.message), 0)
        # orjson writes the bytes json.dumps(payload, ensure_ascii=False, separators=(",", ":")) would
        # (compact, UTF-8), about ten times faster: 2 ms instead of 20 for a 10,000-row page, CPU that
        # the mirror takes from the client's cores where a remote CBS would not
        return _Response(200, self._local_urls(orjson.dumps(payload)), rows)

    def _local_urls(self, body: bytes) -> bytes:
        """CBS's OData URLs in a response body (any case) pointed at this mirror.

        The regex is tried only where the host occurs (found in a lowered copy): scanning a 2 MB
        data page with a case-insensitive regex costs about 15 ms of CPU, this about 2.
        """
        lowered, base_url = body.lower(), self._base_url.encode("ascii")
        parts: list[bytes] = []
        done = 0
        start = lowered.find(_CANONICAL_PREFIX)
        while start != -1:
            match = _CANONICAL_URL.match(body, start)
            if match is not None:
                parts += [body[done:start], base_url]
                done = match.end()
            start = lowered.find(_CANONICAL_PREFIX, start + 1)
        return b"".join([*parts, body[done:]]) if parts else body

    def _payload(
        self, table_id: str | None, endpoint: str | None, query: Mapping[str, str], modified: str | None
    ) -> tuple[dict[str, Any], int]:
        if endpoint == CATALOG_ENDPOINT and table_id is None:
            metadata = f"{CANONICAL_HOST}/ODataCatalog/$metadata#Tables"
            return self._entity_set("/ODataCatalog/Tables", self._catalog_rows(), metadata, query, paged=True)
        if endpoint is None:
            raise _HTTPError(404, "no such resource; expected /ODataFeed/odata/{table}/{endpoint}")
        table = self._table(table_id)
        if table is None:
            raise _HTTPError(404, f"table {table_id!r} does not exist")
        document = table.document(endpoint)
        if document is None:
            raise _HTTPError(404, f"table {table_id!r} has no endpoint {endpoint!r}")
        rows = document["value"]
        if endpoint == "TableInfos" and modified is not None:
            rows = [{**row, "Modified": modified} for row in rows]
        path = f"/ODataFeed/OData/{table_id}/{endpoint}"
        return self._entity_set(path, rows, document["odata.metadata"], query, paged=endpoint != "")

    def _entity_set(
        self, path: str, rows: Sequence[Row], metadata: str, query: Mapping[str, str], *, paged: bool
    ) -> tuple[dict[str, Any], int]:
        options = _parse_options(query)
        columns = frozenset(rows[0]) if rows else None
        if options.select and columns is not None:
            unknown = [name for name in options.select if name not in columns]
            if unknown:
                raise _HTTPError(400, f"unknown $select column(s): {', '.join(unknown)}")
        if options.filter:
            try:
                predicate = compile_filter(options.filter, columns)
            except FilterError as error:
                raise _HTTPError(400, f"unsupported $filter {options.filter!r}: {error}") from error
            rows = [row for row in rows if predicate(row)]
        # the window is rows[start:stop] and the page its first page_size rows, found by index: slicing
        # a large table from $skip to its end first costs milliseconds per page
        start = min(options.skip, len(rows))
        stop = len(rows) if options.top is None else min(len(rows), start + options.top)
        end = min(stop, start + self.page_size) if paged else stop
        page = rows[start:end]
        if options.select:
            page = [{name: row[name] for name in options.select} for row in page]
            metadata = f"{metadata}&$select={','.join(options.select)}"
        payload: dict[str, Any] = {"odata.metadata": metadata, "value": page}
        if stop > end:
            payload["odata.nextLink"] = self._next_link(path, options, len(page))
        return payload, len(page)

    def _next_link(self, path: str, options: _Options, served: int) -> str:
        params = [("$format", "json")]
        if options.filter:
            params.append(("$filter", options.filter))
        if options.select:
            params.append(("$select", ",".join(options.select)))
        if options.top is not None:
            params.append(("$top", str(options.top - served)))
        params.append(("$skip", str(options.skip + served)))
        query = "&".join(f"{name}={quote(value, safe=_LINK_SAFE)}" for name, value in params)
        return f"{self._base_url}{path}?{query}"

    def _table(self, table_id: str | None) -> _Table | None:
        if table_id is None or not _TABLE_ID.fullmatch(table_id):
            return None
        with self._lock:
            table = self._tables.get(table_id)
            if table is None:
                folder = self.root / table_id
                if not (folder / "_root.json").is_file():
                    return None
                table = self._tables[table_id] = _Table(table_id, folder)
            return table

    def _current_modified(self, table_id: str) -> str | None:
        with self._lock:
            override = self._modified.get(table_id)
            return override.value if override is not None and override.pending == 0 else None

    def _catalog_rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for folder in sorted(self.root.iterdir()):
            table = self._table(folder.name)
            infos = table.document("TableInfos") if table is not None else None
            if not infos or not infos["value"]:
                continue
            info = {key: value for key, value in infos["value"][0].items() if key != "ID"}
            info["Modified"] = self._current_modified(folder.name) or info.get("Modified")
            rows.append(
                {
                    "ID": len(rows),
                    "Updated": info["Modified"],
                    **info,
                    "SummaryAndLinks": info.get("Summary", ""),
                    "FeedUrl": _feed_url(folder.name).rstrip("/"),
                }
            )
        return rows


    # ----------------------------------------------------------------------------------------- v4 (FORMAT_V4.md)

    def _v4_response(self, route: _V4Route, path: str, query: Mapping[str, str], modified: str | None) -> _Response:
        try:
            return self._v4_payload(route, path, query, modified)
        except _HTTPError as error:
            return _v4_response(error.status, _error_body(error.status, error.message, "v4"))

    def _v4_payload(self, route: _V4Route, path: str, query: Mapping[str, str], modified: str | None) -> _Response:
        base = self.v4_url
        if route.endpoint is None:
            raise _HTTPError(404, "no such resource; expected /odata/v1/CBS/{table}/{entity set}")
        if route.endpoint == "$metadata":
            raise _HTTPError(501, "$metadata (CSDL) is not mirrored")
        if route.table_id is None:
            if route.endpoint == "":
                names = ("Catalogs", "Datasets")
                document = {"@odata.context": f"{base}/$metadata", "value": [{"name": n, "kind": "EntitySet", "url": n} for n in names]}
                return self._v4_json(document)
            if route.endpoint == "Datasets":
                return self._v4_set(path, self._v4_dataset_rows(base), "Identifier", f"{base}/$metadata#Datasets", route, query)
            catalogs = [{"Identifier": V4_CATALOG, "Index": 1, "Title": "CBS", "Description": "Centraal Bureau voor de Statistiek"}]
            return self._v4_set(path, catalogs, "Identifier", f"{base}/$metadata#Catalogs", route, query)
        table = self._v4_table(route.table_id)
        if table is None:
            raise _HTTPError(404, f"dataset {route.table_id!r} does not exist (v4 table ids are case-sensitive)")
        if route.endpoint == "":
            return self._v4_json(table.service_document(base))
        context = f"{table.url(base)}/$metadata#{route.endpoint}"
        if route.endpoint == "Properties":
            if route.key is not None or route.count:
                raise _HTTPError(400, "Properties is a singleton")
            properties = table.properties(base, modified)
            options = _parse_v4_options(query)
            if options.select:
                _check_select(options.select, properties)
                properties = {"@odata.context": f"{context}({','.join(options.select)})", **{n: properties[n] for n in options.select}}
            return self._v4_json(properties)
        entity_set = table.entity_set(route.endpoint, base)
        if entity_set is None:
            raise _HTTPError(404, f"dataset {route.table_id!r} has no entity set {route.endpoint!r} (names are case-sensitive)")
        rows, key_field = entity_set
        page_size = self.v4_page_size if route.endpoint == "Observations" else V4_PAGE_SIZE
        return self._v4_set(path, rows, key_field, context, route, query, page_size)

    def _v4_table(self, table_id: str) -> V4Table | None:
        """The table ``table_id`` spelt exactly as its folder is (v4 ids are case-sensitive)."""
        if not _TABLE_ID.fullmatch(table_id) or not (self.root / table_id).is_dir():
            return None
        if table_id not in {entry.name for entry in self.root.iterdir()}:
            return None  # a case-insensitive file system found the folder under another spelling
        table = self._table(table_id)
        return None if table is None else table.v4

    def _v4_dataset_rows(self, base: str) -> list[dict[str, Any]]:
        rows = []
        for folder in sorted(self.root.iterdir()):
            table = self._table(folder.name)
            if table is not None and table.document("TableInfos"):
                rows.append(table.v4.dataset_row(base, self._current_modified(folder.name)))
        return rows

    def _v4_json(self, payload: Mapping[str, Any], rows: int = 0) -> _Response:
        return _v4_response(200, orjson.dumps(payload), rows)

    def _v4_set(
        self,
        path: str,
        rows: Sequence[Row],
        key_field: str,
        context: str,
        route: _V4Route,
        query: Mapping[str, str],
        page_size: int = V4_PAGE_SIZE,
    ) -> _Response:
        """An entity set (``$filter``, ``$orderby``, ``$select``, ``$count``, ``$top``/``$skip``, paged at
        ``page_size`` with an absolute ``@odata.nextLink``), one entity by key, or ``/$count`` as text."""
        options = _parse_v4_options(query)
        columns = list(rows[0]) if len(rows) else None
        if route.key is not None:
            found = next((row for row in rows if row.get(key_field) == route.key), None)
            if found is None:
                raise _HTTPError(404, f"no {route.endpoint} with {key_field} {route.key!r}")
            return self._v4_json({"@odata.context": f"{context}/$entity", **found})
        if options.select and columns is not None:
            _check_select(options.select, columns)
        if options.filter:
            try:
                predicate = compile_v4_filter(options.filter, columns)
            except V4FilterError as error:
                raise _HTTPError(400, f"unsupported $filter {options.filter!r}: {error}") from error
            rows = [row for row in rows if predicate(row)]
        if options.orderby:
            for name, descending in reversed(options.orderby):
                if columns is not None and name not in columns:
                    raise _HTTPError(400, f"unknown $orderby column {name!r}")
                rows = sorted(rows, key=lambda row, n=name: (0,) if row.get(n) is None else (1, row.get(n)), reverse=descending)
        if route.count:
            return _v4_response(200, str(len(rows)).encode("ascii"), content_type=_TEXT_CONTENT_TYPE)
        start = min(options.skip, len(rows))
        stop = len(rows) if options.top is None else min(len(rows), start + options.top)
        end = min(stop, start + page_size)
        page = rows[start:end]
        if options.select:
            page = [{name: row[name] for name in options.select} for row in page]
            context = f"{context}({','.join(options.select)})"
        payload: dict[str, Any] = {"@odata.context": context}
        if options.count:
            payload["@odata.count"] = len(rows)
        payload["value"] = page
        if stop > end:
            payload["@odata.nextLink"] = self._v4_next_link(path, query, options, len(page))
        return self._v4_json(payload, len(page))

    def _v4_next_link(self, path: str, query: Mapping[str, str], options: _V4Options, served: int) -> str:
        params = [(name, query[name]) for name in ("$filter", "$select", "$orderby", "$count") if name in query]
        if options.top is not None:
            params.append(("$top", str(options.top - served)))
        params.append(("$skip", str(options.skip + served)))
        return f"{self._base_url}{path}?" + "&".join(f"{name}={quote(value, safe=_LINK_SAFE)}" for name, value in params)


@dataclass(frozen=True)
class _V4Options:
    select: tuple[str, ...] | None
    filter: str | None
    orderby: tuple[tuple[str, bool], ...]
    count: bool
    skip: int
    top: int | None


def _parse_v4_options(query: Mapping[str, str]) -> _V4Options:
    unsupported = sorted(name for name in query if name.startswith("$") and name not in _V4_OPTIONS)
    if unsupported:
        raise _HTTPError(400, f"unsupported query option(s): {', '.join(unsupported)}")
    if query.get("$format", "json") not in ("json", "application/json"):
        raise _HTTPError(400, f"unsupported $format {query['$format']!r}; this mirror serves json only")
    count = query.get("$count", "false")
    if count not in ("true", "false"):
        raise _HTTPError(400, f"$count must be true or false, got {count!r}")
    select_text = query.get("$select", "").strip()
    orderby = []
    for part in filter(None, (p.strip() for p in query.get("$orderby", "").split(","))):
        words = part.split()
        if len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise _HTTPError(400, f"unsupported $orderby {part!r}")
        orderby.append((words[0], words[-1] == "desc"))
    return _V4Options(
        select=None if select_text in ("", "*") else tuple(name.strip() for name in select_text.split(",")),
        filter=query.get("$filter") or None,
        orderby=tuple(orderby),
        count=count == "true",
        skip=_non_negative(query, "$skip") or 0,
        top=_non_negative(query, "$top"),
    )


def _check_select(select: Sequence[str], columns: Collection[str]) -> None:
    unknown = [name for name in select if name not in columns]
    if unknown:
        raise _HTTPError(400, f"unknown $select column(s): {', '.join(unknown)}")


# --------------------------------------------------------------------------------------------- synthetic tables


def write_table(
    root: Path,
    table_id: str,
    *,
    dimensions: Mapping[str, Sequence[Mapping[str, Any]]],
    topics: Sequence[Mapping[str, Any]],
    rows: Sequence[Mapping[str, Any]],
    time_dimension: str | None = None,
    geo_dimension: str | None = None,
    modified: str = "2025-04-23T02:00:00",
    title: str | None = None,
) -> Path:
    """Write a synthetic table folder ``root/table_id`` in the mirror's layout and envelopes; return the folder.

    ``dimensions`` maps each dimension key, in column order, to its categories (``Key``, ``Title``, optional
    ``Description`` and, for the time dimension, ``Status``: Definitief (default), Voorlopig or NaderVoorlopig).
    ``time_dimension`` / ``geo_dimension`` name the dimensions typed Cbs.OData.TimeDimension / GeoDimension; the
    others are Cbs.OData.Dimension. ``topics`` carry ``Key``, ``Title``, ``Datatype`` (Long, Double, Float,
    String), ``Unit``, ``Decimals`` and optionally ``Description``, ``Default``, ``PresentationType``. ``rows``
    hold a category key for every dimension and topic values (absent = null); IDs are assigned 0..n-1.
    """
    if not _TABLE_ID.fullmatch(table_id):
        raise ValueError(f"table id must be alphanumeric, got {table_id!r}")
    for special in (time_dimension, geo_dimension):
        if special is not None and special not in dimensions:
            raise ValueError(f"{special!r} is not one of the dimensions {list(dimensions)}")
    topic_keys = [topic["Key"] for topic in topics]
    category_keys = {key: {category["Key"] for category in values} for key, values in dimensions.items()}
    for index, row in enumerate(rows):
        unknown = set(row) - set(dimensions) - set(topic_keys)
        if unknown:
            raise ValueError(f"row {index} has unknown columns {sorted(unknown)}")
        for key, keys in category_keys.items():
            if row.get(key) not in keys:
                raise ValueError(f"row {index}: {key}={row.get(key)!r} is not a category of {key}")

    folder = Path(root) / table_id
    folder.mkdir(parents=True, exist_ok=True)

    names = ["TableInfos", UNTYPED_DATASET, TYPED_DATASET, "DataProperties", "CategoryGroups", *dimensions]
    _write_json(
        folder / "_root.json",
        {
            "odata.metadata": _metadata_url(table_id),
            "value": [{"name": name, "url": _feed_url(table_id, name)} for name in names],
        },
    )

    def envelope(entity_set: str, value: list[dict[str, Any]]) -> dict[str, Any]:
        return {"odata.metadata": _metadata_url(table_id, entity_set), "value": value}

    table_title = title or f"Synthetic table {table_id}"
    info = {
        "ID": 1,
        "Title": table_title,
        "ShortTitle": table_title,
        "Identifier": table_id,
        "Summary": "",
        "Modified": modified,
        "ReasonDelivery": "Actualisering",
        "ExplanatoryText": "",
        "Language": "nl",
        "Catalog": "CBS",
        "Frequency": "Perjaar",
        "Period": "",
        "ShortDescription": "",
        "Description": "",
        "DefaultPresentation": "",
        "DefaultSelection": "",
        "GraphTypes": "Table",
        "OutputStatus": "Regulier",
        "Source": "CBS.",
        "MetaDataModified": modified,
        "SearchPriority": "2",
    }
    _write_json(folder / "TableInfos.json", envelope("TableInfos", [info]))

    properties: list[dict[str, Any]] = []
    for key in dimensions:
        kind = {time_dimension: "TimeDimension", geo_dimension: "GeoDimension"}.get(key, "Dimension")
        prop: dict[str, Any] = {
            "odata.type": f"Cbs.OData.{kind}",
            "ID": len(properties),
            "Position": len(properties),
            "ParentID": None,
            "Type": kind,
            "Key": key,
            "Title": key,
            "Description": "",
        }
        if kind == "TimeDimension":
            prop["ReleasePolicy"] = True
        elif kind == "GeoDimension":
            prop["MapYear"] = int(modified[:4])
        properties.append(prop)
    for topic in topics:
        properties.append(
            {
                "odata.type": "Cbs.OData.Topic",
                "ID": len(properties),
                "Position": len(properties),
                "ParentID": None,
                "Type": "Topic",
                "Key": topic["Key"],
                "Title": topic["Title"],
                "Description": topic.get("Description", ""),
                "Datatype": topic["Datatype"],
                "Unit": topic["Unit"],
                "Decimals": topic["Decimals"],
                "Default": topic.get("Default", "Impossible"),
                "PresentationType": topic.get(
                    "PresentationType", "" if topic["Datatype"] == "String" else "Absolute"
                ),
            }
        )
    _write_json(folder / "DataProperties.json", envelope("DataProperties", properties))
    _write_json(folder / "CategoryGroups.json", envelope("CategoryGroups", []))

    for key, categories in dimensions.items():
        if key == time_dimension:
            records = [
                {
                    "Key": category["Key"],
                    "Title": category["Title"],
                    "Description": category.get(
                        "Description", _STATUS_DESCRIPTIONS[category.get("Status", "Definitief")]
                    ),
                    "Status": category.get("Status", "Definitief"),
                }
                for category in categories
            ]
        else:
            records = [
                {
                    "Key": category["Key"],
                    "Title": category["Title"],
                    "Description": category.get("Description", ""),
                    "CategoryGroupID": None,
                }
                for category in categories
            ]
        _write_json(folder / f"{key}.json", envelope(key, records))

    data = [
        {"ID": index, **{key: row[key] for key in dimensions}, **{key: row.get(key) for key in topic_keys}}
        for index, row in enumerate(rows)
    ]
    _write_json(folder / "TypedDataSet.json", envelope(TYPED_DATASET, data))
    return folder
