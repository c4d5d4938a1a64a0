"""The CBS OData v4 source (``datasets.cbs.nl/odata/v1``): the v3 client's interface, landing the same format.

CBS's v4 service serves *data cells* (``Observations``: one row per figure, ``Measure`` + dimension keys)
where v3 served record sets (``TypedDataSet``: one row per coordinate, a column per topic). This source
reads a table's ``Properties``, ``Dimensions``, ``MeasureCodes`` (and ``MeasureGroups``), each
``<Dimension>Codes`` and its ``Observations`` page by page (``@odata.nextLink``), and turns them once, here,
into what the v3 client gives, so that the landing zone and everything after it do not know which API a
table came from. The rules (``docs/cbs-client.md``, 'OData v4'):

* **Modified**: v4 writes ``2025-04-23T02:00:00+02:00``; the source gives Amsterdam local time without the
  offset, as v3 writes it (``2025-04-23T02:00:00``), so a landing's ``modified`` means the same either way.
* **Keys**: v4 keys are unpadded (``GM0363``); v3 padded each dimension's keys with blanks to its longest
  key (``'NL01  '`` beside ``'GM0363'``). The source pads every key to the longest key of its
  ``<Dimension>Codes``.
* **Rows**: one row per coordinate (combination of dimension keys) that has at least one cell; ``ID`` is the
  coordinate's position in the cube of the code lists (dimensions as nested loops in ``Dimensions`` order,
  codes in ``Index`` order), which is v3's row ``ID``.
* **Empty cells**: a cell left out, or sent with a ``ValueAttribute`` other than ``None`` (``Impossible``,
  ...) and a null ``Value``, is null, as v3's empty cells are. A flagged cell that carries a value, a text
  value in a numeric measure or a number in a text one fails the download.
* **Measure codes** (``M006400``, ``D000287``) become v3 topic keys (:func:`measure_keys`): an override in
  the catalog (``SourceTable.measures``) first, otherwise the key v3 builds from the measure's title and
  its position among the measures; a key the pipeline reads that no measure maps to fails, naming the table
  and the measure.

Requests go through :class:`~sources.cbs.client.CbsHttp` (timeouts, retries with backoff, concurrency,
User-Agent) and fail with the v3 client's errors, each naming the table and URL.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from sources.cbs import catalog
from sources.cbs.client import (
    CbsBadResponse,
    CbsHttp,
    CbsNotFound,
    TableMeta,
)

CATALOG = "CBS"
OBSERVATIONS = "Observations"
#: Entity sets every v4 table has (the ``Properties`` singleton included), besides ``<Dimension>Codes``.
REQUIRED_SETS = frozenset({"MeasureCodes", "Dimensions", OBSERVATIONS, "Properties"})
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
_INTEGER_TYPES = frozenset({"Long", "Integer", "Short"})
NOTHING: Mapping[str, str] = MappingProxyType({})


def v3_time(table_id: str, value: Any) -> str:
    """A v4 date-time (``2025-04-23T02:00:00+02:00``, or UTC) as v3 writes it: Amsterdam local time, no offset."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError) as err:
        raise CbsBadResponse(f"{table_id}: Modified {value!r} is not an ISO 8601 date-time") from err
    if moment.tzinfo is not None:
        moment = moment.astimezone(AMSTERDAM).replace(tzinfo=None)
    return moment.isoformat()


def derived_key(title: str, position: int) -> str:
    """The topic key v3 gives a measure: its title's words in CamelCase, ``_`` and its position among the measures.

    Accents are dropped and every other character separates words (``WAO-uitkeringen`` -> ``WAOUitkeringen``);
    a key that would start with a digit gets ``k_`` (``0 tot 6 maanden`` -> ``k_0Tot6Maanden``). This gives the
    real v3 key of each of the 18 measures of 37789ksz from its real v4 title.
    """
    plain = unicodedata.normalize("NFKD", title or "").encode("ascii", "ignore").decode("ascii")
    name = "".join(word[0].upper() + word[1:] for word in re.findall(r"[A-Za-z0-9]+", plain))
    if not name or name[0].isdigit():
        name = f"k_{name}"
    return f"{name}_{position}"


def measure_keys(
    table_id: str,
    measures: Sequence[Mapping[str, Any]],
    *,
    overrides: Mapping[str, str] = NOTHING,
    required: Mapping[str, str] = NOTHING,
    spellings: Iterable[str] = (),
) -> list[str]:
    """The topic key each of ``measures`` (``MeasureCodes`` records, in ``Index`` order) lands as.

    ``overrides`` (code -> key, the catalog's ``measures``) win; every other measure gets its
    :func:`derived_key`, spelt as in ``spellings`` where one of those equals it but for letter case (v4 titles
    need not capitalise as the titles v3 keys were made from did). ``required`` (name -> key: the series the
    catalog reads) must all be among the keys, or the table fails naming the key and the measure in its place.
    """
    codes = [str(m.get("Identifier")) for m in measures]
    unknown = sorted(set(overrides) - set(codes))
    if unknown:
        raise CbsBadResponse(
            f"{table_id}: sources/cbs/catalog.py maps v4 measure(s) {unknown} of this table, but its MeasureCodes "
            f"lists no such code (it lists {', '.join(codes)})"
        )
    spelt = {key.lower(): key for key in spellings}
    keys = []
    for position, (code, measure) in enumerate(zip(codes, measures), start=1):
        derived = derived_key(str(measure.get("Title") or ""), position)
        keys.append(overrides.get(code) or spelt.get(derived.lower(), derived))
    doubled = sorted({key for key in keys if keys.count(key) > 1})
    if doubled:
        owners = {key: [c for c, k in zip(codes, keys) if k == key] for key in doubled}
        raise CbsBadResponse(f"{table_id}: v4 measures land under the same topic key: {owners}; fix measures= in sources/cbs/catalog.py")
    for name, key in required.items():
        if key not in keys:
            raise CbsBadResponse(f"{table_id}: {_missing(key, name, codes, keys, measures)}")
    return keys


def _missing(key: str, series: str, codes: Sequence[str], keys: Sequence[str], measures: Sequence[Mapping[str, Any]]) -> str:
    """Why the topic ``key`` the catalog reads for ``series`` is not among a v4 table's measures, and what to do."""
    found = re.fullmatch(r".+_(\d+)", key)
    position = int(found[1]) if found else 0
    where = (
        f"measure {position} of MeasureCodes is {codes[position - 1]} ({measures[position - 1].get('Title')!r}), "
        f"which lands as {keys[position - 1]!r}"
        if 1 <= position <= len(codes)
        else f"the table has {len(codes)} measures"
    )
    fix = f"{codes[position - 1]!r}" if 1 <= position <= len(codes) else "'<v4 code>'"
    return (
        f"no v4 measure maps to topic {key!r}, which the catalog reads as series {series!r}: {where}; "
        f"if that is the measure, add measures={{{fix}: {key!r}}} to this table in sources/cbs/catalog.py"
    )


@dataclass(frozen=True)
class _Measure:
    key: str
    text: bool
    integer: bool


@dataclass(frozen=True)
class Layout:
    """What turns a table's ``Observations`` into v3 ``TypedDataSet`` rows: its dimensions (in ``Dimensions``
    order) with each key's index and padded form, and each measure code's topic key and type."""

    table_id: str
    dimensions: tuple[str, ...]
    codes: Mapping[str, Mapping[str, tuple[int, str]]]
    sizes: tuple[int, ...]
    measures: Mapping[str, _Measure]

    def position(self, coordinate: Sequence[Any]) -> int:
        """The coordinate's place in the cube of the code lists, v3's row ``ID``."""
        position = 0
        for dimension, key, size in zip(self.dimensions, coordinate, self.sizes):
            found = self.codes[dimension].get(key)
            if found is None:
                raise CbsBadResponse(
                    f"{self.table_id}: Observations hold {dimension} {key!r}, which {dimension}Codes does not list"
                )
            position = position * size + found[0]
        return position

    def row(self, position: int, coordinate: Sequence[str]) -> dict[str, Any]:
        row: dict[str, Any] = {"ID": position}
        for dimension, key in zip(self.dimensions, coordinate):
            row[dimension] = self.codes[dimension][key][1]
        for measure in self.measures.values():
            row[measure.key] = None
        return row


def table_parts(
    table_id: str,
    info: dict[str, Any],
    dimensions: Sequence[Mapping[str, Any]],
    codes: Mapping[str, Sequence[Mapping[str, Any]]],
    measures: Sequence[Mapping[str, Any]],
    groups: Sequence[Mapping[str, Any]] = (),
    *,
    overrides: Mapping[str, str] = NOTHING,
    required: Mapping[str, str] = NOTHING,
    spellings: Iterable[str] = (),
) -> tuple[TableMeta, Layout]:
    """A v4 table's metadata as v3's (:class:`TableMeta`: ``DataProperties`` records, dimension tables with
    padded keys) and the :class:`Layout` that pivots its ``Observations``. No I/O."""
    measures = sorted(measures, key=lambda m: m.get("Index") if isinstance(m.get("Index"), int) else 0)
    keys = measure_keys(table_id, measures, overrides=overrides, required=required, spellings=spellings)
    properties: list[dict[str, Any]] = []
    for dimension in dimensions:
        kind = str(dimension.get("Kind") or "Dimension")
        record = {
            "odata.type": f"Cbs.OData.{kind}",
            "ID": len(properties),
            "Position": len(properties),
            "ParentID": None,
            "Type": kind,
            "Key": dimension["Identifier"],
            "Title": dimension.get("Title"),
            "Description": dimension.get("Description"),
        }
        if kind == "TimeDimension":
            record["ReleasePolicy"] = dimension.get("ReleasePolicy")
        if kind == "GeoDimension":
            map_year = dimension.get("MapYear")
            record["MapYear"] = int(map_year) if isinstance(map_year, str) and map_year.isdigit() else map_year
        properties.append(record)
    # measures and their groups in Index order (a group before its members), as v3 lists topics and topic groups
    items = sorted(
        [(group.get("Index"), "group", group) for group in groups] + [(m.get("Index"), "measure", m) for m in measures],
        key=lambda item: (item[0] if isinstance(item[0], int) else 0, item[1] == "measure"),
    )
    first = len(properties)
    group_ids = {item[2].get("Id"): first + n for n, item in enumerate(items) if item[1] == "group"}
    key_of = {str(m.get("Identifier")): key for m, key in zip(measures, keys)}
    position = 0
    for _, what, item in items:
        if what == "group":
            properties.append(
                {
                    "odata.type": "Cbs.OData.TopicGroup",
                    "ID": len(properties),
                    "Position": None,
                    "ParentID": group_ids.get(item.get("ParentId")),
                    "Type": "TopicGroup",
                    "Key": "",
                    "Title": item.get("Title"),
                    "Description": item.get("Description"),
                }
            )
            continue
        position += 1
        properties.append(
            {
                "odata.type": "Cbs.OData.Topic",
                "ID": len(properties),
                "Position": position,
                "ParentID": group_ids.get(item.get("MeasureGroupId")),
                "Type": "Topic",
                "Key": key_of[str(item.get("Identifier"))],
                "Title": item.get("Title"),
                "Description": item.get("Description"),
                "Datatype": item.get("DataType"),
                "Unit": item.get("Unit"),
                "Decimals": item.get("Decimals"),
                "PresentationType": item.get("PresentationType"),
                "MeasureCode": item.get("Identifier"),
            }
        )
    landed: dict[str, list[dict[str, Any]]] = {}
    indexed: dict[str, dict[str, tuple[int, str]]] = {}
    for dimension in dimensions:
        name = dimension["Identifier"]
        listed = sorted(codes[name], key=lambda c: c.get("Index") if isinstance(c.get("Index"), int) else 0)
        width = max((len(str(c["Identifier"])) for c in listed), default=0)
        indexed[name] = {}
        landed[name] = []
        for index, code in enumerate(listed):
            key = str(code["Identifier"])
            if key in indexed[name]:
                raise CbsBadResponse(f"{table_id}: {name}Codes lists {key!r} twice")
            indexed[name][key] = (index, key.ljust(width))
            category = {"Key": key.ljust(width), "Title": code.get("Title"), "Description": code.get("Description")}
            category.update({field: code[field] for field in ("Status", "DimensionGroupId") if field in code})
            landed[name].append(category)
    layout = Layout(
        table_id=table_id,
        dimensions=tuple(d["Identifier"] for d in dimensions),
        codes=indexed,
        sizes=tuple(len(indexed[d["Identifier"]]) for d in dimensions),
        measures={
            str(m.get("Identifier")): _Measure(key, m.get("DataType") == "String", m.get("DataType") in _INTEGER_TYPES)
            for m, key in zip(measures, keys)
        },
    )
    return TableMeta(table_id=table_id, info=info, properties=properties, dimensions=landed), layout


class Pivot:
    """Observations in, ``TypedDataSet`` rows out, page by page (:meth:`add`, then :meth:`finish`).

    CBS sends a coordinate's cells together, coordinates in cube order. The last coordinate of a page may go
    on in the next one, so it is held back until a later coordinate (or the end) shows it complete. A
    coordinate that comes again, or earlier than the one before, fails: the rows would be duplicated or
    out of v3's order.
    """

    def __init__(self, layout: Layout) -> None:
        self._layout = layout
        self._row: dict[str, Any] | None = None
        self._coordinate: tuple[Any, ...] = ()
        self._filled: set[str] = set()

    def add(self, cells: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The rows these cells complete."""
        layout, done = self._layout, []
        for cell in cells:
            try:
                coordinate = tuple(cell[d] for d in layout.dimensions)
            except (KeyError, TypeError) as err:
                raise CbsBadResponse(f"{layout.table_id}: an observation lacks a dimension key ({err!r}): {dict(cell)}") from err
            if self._row is None or coordinate != self._coordinate:
                position = layout.position(coordinate)
                if self._row is not None:
                    if position <= self._row["ID"]:
                        raise CbsBadResponse(
                            f"{layout.table_id}: Observations out of order: {dict(zip(layout.dimensions, coordinate))} "
                            f"(row {position}) after row {self._row['ID']}; rows would be duplicated"
                        )
                    done.append(self._row)
                self._row, self._coordinate, self._filled = layout.row(position, coordinate), coordinate, set()
            code = cell.get("Measure")
            measure = layout.measures.get(code)
            if measure is None:
                raise CbsBadResponse(f"{layout.table_id}: an observation has measure {code!r}, which MeasureCodes does not list")
            if code in self._filled:
                raise CbsBadResponse(f"{layout.table_id}: measure {code} twice at {dict(zip(layout.dimensions, coordinate))}")
            self._filled.add(code)
            self._row[measure.key] = _value(layout.table_id, cell, measure)
        return done

    def finish(self) -> list[dict[str, Any]]:
        """The last row, once the last page is in."""
        row, self._row = self._row, None
        return [] if row is None else [row]


def _value(table_id: str, cell: Mapping[str, Any], measure: _Measure) -> Any:
    """The cell's figure as v3 typed it: text from ``StringValue``, numbers from ``Value``; null for an empty cell."""
    value, other = (cell.get("StringValue"), cell.get("Value")) if measure.text else (cell.get("Value"), cell.get("StringValue"))
    attribute = cell.get("ValueAttribute")
    if other is not None or (value is not None and attribute not in (None, "None")):
        raise CbsBadResponse(
            f"{table_id}: the cell {cell.get('Id')!r} of measure {cell.get('Measure')} ({measure.key}) holds "
            f"Value {cell.get('Value')!r}, StringValue {cell.get('StringValue')!r} with ValueAttribute {attribute!r}: "
            "not one figure of the measure's type; nothing was landed"
        )
    if value is None or measure.text or isinstance(value, bool):
        return value
    if measure.integer and isinstance(value, float) and value.is_integer():
        return int(value)  # a .NET Double written with a fraction; the landing refuses any other fraction
    if not measure.integer and isinstance(value, int):
        return float(value)  # .NET writes an integral Double without fraction (714)
    return value


class V4Cbs(CbsHttp):
    """HTTP client for CBS's OData v4 service (``https://datasets.cbs.nl/odata/v1`` or a mirror of it).

    Same interface as :class:`~sources.cbs.client.LiveCbs`; timeouts, retries, concurrency and User-Agent
    from :class:`~sources.cbs.client.CbsHttp`. ``tables`` are the catalog entries whose ``measures``
    overrides and ``series`` apply (default: the catalog); ``spellings`` are further topic keys whose letter
    case the derived keys take (the validation rules' topics). Table ids are used as given: v4 ids are
    case-sensitive.
    """

    api = "v4"

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
        tables: Iterable[catalog.SourceTable] = catalog.TABLES,
        spellings: Collection[str] = (),
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        super().__init__(
            timeout=timeout, retries=retries, backoff=backoff, concurrency=concurrency, table_timeout=table_timeout, agent=agent, sleep=sleep
        )
        self.source_url = base_url.rstrip("/")
        self._entries = {entry.table_id: entry for entry in tables}
        self._spellings = frozenset(spellings) | {key for entry in self._entries.values() for key in entry.series.values()}
        # table id -> the Layout of its latest table_meta, for data_pages (single dict operations, atomic across threads)
        self._layouts: dict[str, Layout] = {}

    def table_url(self, table_id: str) -> str:
        return f"{self.source_url}/{CATALOG}/{table_id}"

    def table_info(self, table_id: str) -> dict[str, Any]:
        """The ``Properties`` record (one request), ``Modified`` as v3 writes it (:func:`v3_time`)."""
        url = f"{self.table_url(table_id)}/Properties"
        body = self._get(table_id, url)
        if not isinstance(body, dict) or "Modified" not in body:
            raise CbsBadResponse(f"{table_id}: Properties at {url} has no Modified field")
        info = {key: value for key, value in body.items() if not key.startswith("@odata.")}
        info["Modified"] = v3_time(table_id, info["Modified"])
        return info

    def datasets_modified(self) -> dict[str, str]:
        """``Modified`` (as v3 writes it) of every dataset in the catalogue, by id: one request (``Datasets``)."""
        url = f"{self.source_url}/{CATALOG}/Datasets?$select=Identifier,Modified"
        rows = [row for row in self._rows("Datasets", url) if "Identifier" in row and "Modified" in row]
        return {str(row["Identifier"]): v3_time(str(row["Identifier"]), row["Modified"]) for row in rows}

    def versions(self, table_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``Modified`` of each of ``table_ids`` the catalogue lists (:meth:`datasets_modified`, one request), all
        :meth:`table_info` says of a v4 table's version (v4 has no ``MetaDataModified``). Ids match exactly, as v4's do."""
        modified = self.datasets_modified()
        return {table_id: {"Modified": modified[table_id]} for table_id in table_ids if table_id in modified}

    def table_meta(self, table_id: str) -> TableMeta:
        """Properties first; then the service document, ``Dimensions`` and ``MeasureCodes`` at once, and each
        ``<Dimension>Codes`` (and ``MeasureGroups``) as soon as the service document and ``Dimensions`` are in.
        Nothing is requested before ``Properties``, so nothing of the landing predates its ``Modified``. The
        table's download time (``table_timeout``) runs from here to its last page."""
        self.start_table(table_id)
        try:
            info = self.table_info(table_id)
        except BaseException:
            self.end_table(table_id)
            raise
        url = self.table_url(table_id)
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="cbs-v4-meta")
        try:
            listing = pool.submit(self._rows, table_id, url)
            dimensions = pool.submit(self._rows, table_id, f"{url}/Dimensions")
            measures = pool.submit(self._rows, table_id, f"{url}/MeasureCodes")
            names = {str(entry.get("name")) for entry in listing.result()}
            if missing := sorted(REQUIRED_SETS - names):
                raise CbsBadResponse(f"{table_id}: the service document at {url} lacks {missing} (it lists {sorted(names)})")
            groups = pool.submit(self._rows, table_id, f"{url}/MeasureGroups") if "MeasureGroups" in names else None
            keys = [str(d.get("Identifier")) for d in dimensions.result()]
            if unlisted := [f"{key}Codes" for key in keys if f"{key}Codes" not in names]:
                raise CbsBadResponse(f"{table_id}: the service document at {url} lacks {unlisted}")
            codes = {key: pool.submit(self._rows, table_id, f"{url}/{key}Codes") for key in keys}
            entry = self._entries.get(table_id)
            meta, layout = table_parts(
                table_id,
                info,
                dimensions.result(),
                {key: future.result() for key, future in codes.items()},
                measures.result(),
                groups.result() if groups is not None else (),
                overrides=entry.measures if entry else NOTHING,
                required=entry.series if entry else NOTHING,
                spellings=self._spellings,
            )
        except BaseException:
            self.end_table(table_id)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        self._layouts[table_id] = layout
        return meta

    def data_pages(self, table_id: str) -> Iterator[list[dict[str, Any]]]:
        """``TypedDataSet`` rows in v3's order, a page of rows per page of ``Observations`` as it arrives.

        Pivoted with the layout of the last :meth:`table_meta` of this table (asked for now if there was
        none). Pages follow ``@odata.nextLink`` one after another (CBS pages at 100,000 cells; the link's form
        is not documented), each retried on its own; a link that comes round again fails.
        """
        layout = self._layouts.get(table_id)
        if layout is None:
            self.table_meta(table_id)
            layout = self._layouts[table_id]
        if table_id not in self._deadlines:
            self.start_table(table_id)
        try:
            yield from self._pivoted_pages(table_id, layout)
        finally:
            self.end_table(table_id)

    def _pivoted_pages(self, table_id: str, layout: Layout) -> Iterator[list[dict[str, Any]]]:
        pivot = Pivot(layout)
        url: str | None = f"{self.table_url(table_id)}/{OBSERVATIONS}"
        followed: set[str] = set()
        while url is not None:
            followed.add(url)
            cells, url = self._page(table_id, url)
            if url in followed:
                raise CbsBadResponse(f"{table_id}: @odata.nextLink {url} was followed before; the pages go round in a loop")
            if rows := pivot.add(cells):
                self.stats.add(rows=len(rows))
                yield rows
        if rows := pivot.finish():
            self.stats.add(rows=len(rows))
            yield rows

    def _page(self, table_id: str, url: str) -> tuple[list[dict[str, Any]], str | None]:
        body = self._get(table_id, url)
        if not isinstance(body, dict) or not isinstance(body.get("value"), list):
            raise CbsBadResponse(f"{table_id}: response from {url} has no 'value' list")
        return body["value"], body.get("@odata.nextLink")

    def _rows(self, table_id: str, url: str) -> list[dict[str, Any]]:
        """Every row of an entity set (the service document included), following ``@odata.nextLink``."""
        rows: list[dict[str, Any]] = []
        followed: set[str] = set()
        next_url: str | None = url
        while next_url is not None:
            followed.add(next_url)
            page, next_url = self._page(table_id, next_url)
            if next_url in followed:
                raise CbsBadResponse(f"{table_id}: @odata.nextLink {next_url} was followed before; the pages go round in a loop")
            rows += page
        return rows

    def _get(self, table_id: str, url: str) -> Any:
        """One JSON document, with retries; a 404 names v4's case-sensitive ids."""
        try:
            return self._with_retries(table_id, url, lambda: self._get_json(table_id, url))
        except CbsNotFound as err:
            raise CbsNotFound(f"{err} (v4 table ids are case-sensitive: 80590ned, not 80590NED)") from err
