"""CBS OData v4 (``datasets.cbs.nl/odata/v1``) documents generated from a StatLine table folder's v3 files.

The shapes and every rule used here are those of ``../shared/data/statline/FORMAT_V4.md`` (section numbers
below refer to it): what was seen in recorded real responses is reproduced, what the v3 dump cannot tell is
the documented mirror choice. Nothing new is stored: a :class:`V4Table` reads the same documents the v3
mirror serves (``TableInfos``, ``DataProperties``, the dimension tables, ``TypedDataSet``).

* ``Properties`` (a singleton) and the ``Datasets`` row from ``TableInfos`` (section 3 field map); ``Modified``
  and its siblings carry the Europe/Amsterdam offset, ``Version`` is ``Modified`` as ``yyyyMMddHHmm``.
* ``Dimensions`` from the dimension records of ``DataProperties``; ``<Dim>Codes`` from the dimension tables
  (keys without their padding, time titles without ``*``, ``Status`` on time dimensions only);
  ``PeriodenGroups`` numbered from the finest period type present; no other ``<Dim>Groups``.
* ``MeasureCodes`` from the topics, ``MeasureGroups`` from the topic groups (only where there are any).
  Identifiers (section 5): the real codes for 37789ksz, else ``X`` + the 6-digit number ending the v3 key.
* ``Observations``: one cell per (TypedDataSet row, topic), measures innermost, ``Id`` = row index x topics +
  topic index; every v3 null is a cell with ``ValueAttribute`` ``Impossible`` and null ``Value`` and
  ``StringValue`` (the dump cannot tell an impossible cell from an empty one, so none is left out). Cells
  are made when a page asks for them (:class:`Observations`), never all at once.

:func:`compile_filter` is the v4 ``$filter`` dialect (section 2): comparisons, ``and``/``or``/``not``,
``contains``/``startswith``/``endswith`` and the other OData 4.01 string functions the shared mirror lists,
``in (...)``; v3's ``substringof`` and date-time literals are 400s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol
from zoneinfo import ZoneInfo

__all__ = [
    "CATALOG",
    "MEASURES_37789KSZ",
    "Observations",
    "V4FilterError",
    "V4Table",
    "compile_filter",
    "measure_identifier",
    "v4_time",
]

CATALOG = "CBS"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
OWMS_CBS = "https://standaarden.overheid.nl/owms/terms/Centraal_Bureau_voor_de_Statistiek"
LICENSE = "https://creativecommons.org/licenses/by/4.0/"

#: The real v4 measure codes of 37789ksz by v3 topic key: FORMAT_V4.md section 5, from the real MeasureCodes
#: captured at https://datasets.cbs.nl/odata/v1/CBS/37789ksz (checkdecijfers tests/fixtures/cbs/37789ksz), the
#: mapping confirmed by 5,379 equal values.
MEASURES_37789KSZ = {
    "TotaalArbeidsongeschiktheidsuitkeringen_1": "D000198_2",
    "WAOUitkeringen_2": "D000287",
    "WajongUitkeringen_3": "D000286",
    "WAZUitkeringen_4": "D000288",
    "TotaalWIAUitkeringen_5": "D000295_2",
    "IVAUitkeringen_6": "D000236",
    "WGAUitkeringen_7": "D000292",
    "NietSeizoengecorrigeerd_8": "D007076_2",
    "Seizoengecorrigeerd_9": "M006400",
    "IOWUitkeringen_10": "D000235",
    "TotaalBijstandsuitkeringen_11": "D000203_2",
    "BijstandsuitkeringenTotDeAOWLeeftijd_12": "90210",
    "BijstandsuitkeringenVanafAOWLeeftijd_13": "90200",
    "IOAWUitkeringen_14": "D000233",
    "IOAZUitkeringen_15": "D003284",
    "AOWUitkeringen_16": "D000194",
    "AnwUitkeringen_17": "D000192",
    "AKWGerechtigden_18": "D001690",
}
_PERIOD_GROUPS = (("MM", "Maanden"), ("KW", "Kwartalen"), ("JJ", "Jaren"))  # finest first (section 3)


def v4_time(modified: str) -> str:
    """A v3 ``Modified`` (Amsterdam local time, no offset) as v4 writes it: ``2025-04-23T02:00:00+02:00``."""
    moment = datetime.fromisoformat(modified)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=AMSTERDAM)
    return moment.isoformat(timespec="seconds")


def measure_identifier(table_id: str, topic_key: str) -> str:
    """The v4 ``Identifier`` of a v3 topic (section 5): 37789ksz's real codes, else ``X`` + the key's 6-digit number."""
    if table_id == "37789ksz":
        return MEASURES_37789KSZ[topic_key]
    return f"X{int(topic_key.rsplit('_', 1)[1]):06d}"


class V3Documents(Protocol):
    """What a :class:`V4Table` reads: the v3 envelope of an endpoint of one table folder (None if it has none)."""

    table_id: str

    def document(self, endpoint: str) -> dict[str, Any] | None: ...


class Observations(Sequence[dict[str, Any]]):
    """The ``Observations`` of a table, made cell by cell when indexed (a page makes only its own cells)."""

    def __init__(self, rows: Sequence[Mapping[str, Any]], topics: Sequence[Mapping[str, Any]], codes: Sequence[str], dimensions: Sequence[str]):
        self._rows = rows
        self._topics = [(topic["Key"], topic.get("Datatype") == "String") for topic in topics]
        self._codes = codes
        self._dimensions = dimensions

    def __len__(self) -> int:
        return len(self._rows) * len(self._topics)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self._cell(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._cell(index)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self._cell(i) for i in range(len(self)))

    def _cell(self, index: int) -> dict[str, Any]:
        row_index, topic_index = divmod(index, len(self._topics))
        row = self._rows[row_index]
        key, text = self._topics[topic_index]
        value = row.get(key)
        cell: dict[str, Any] = {
            "Id": index,
            "Measure": self._codes[topic_index],
            "ValueAttribute": "Impossible" if value is None else "None",
            "Value": None,
            "StringValue": None,
        }
        if value is not None and text:
            cell["StringValue"] = value
        elif value is not None:
            cell["Value"] = int(value) if isinstance(value, float) and value.is_integer() else value
        for dimension in self._dimensions:
            cell[dimension] = row[dimension].rstrip()
        return cell


class V4Table:
    """The v4 documents of one table folder, built from its v3 documents on first use."""

    def __init__(self, v3: V3Documents) -> None:
        self.table_id = v3.table_id
        self._v3 = v3

    def _value(self, endpoint: str) -> list[dict[str, Any]]:
        document = self._v3.document(endpoint)
        return [] if document is None else document["value"]

    @cached_property
    def info(self) -> dict[str, Any]:
        return self._value("TableInfos")[0]

    @cached_property
    def _properties(self) -> list[dict[str, Any]]:
        return self._value("DataProperties")

    @cached_property
    def dimensions(self) -> list[dict[str, Any]]:
        return [p for p in self._properties if str(p.get("Type", "")).endswith("Dimension")]

    @cached_property
    def topics(self) -> list[dict[str, Any]]:
        return [p for p in self._properties if p.get("Type") == "Topic"]

    @cached_property
    def _typed(self) -> list[dict[str, Any]]:
        return self._value("TypedDataSet")

    @cached_property
    def _measure_index(self) -> dict[int, int]:
        """v3 DataProperties ID -> v4 ``Index``: position among topics and topic groups, from 1 (section 3)."""
        members = [p for p in self._properties if p.get("Type") in ("Topic", "TopicGroup")]
        return {p["ID"]: position for position, p in enumerate(members, start=1)}

    @cached_property
    def measure_codes(self) -> list[dict[str, Any]]:
        return [
            {
                "Identifier": measure_identifier(self.table_id, topic["Key"]),
                "Index": self._measure_index[topic["ID"]],
                "Title": topic.get("Title"),
                "Description": topic.get("Description"),
                "MeasureGroupId": _group_id(topic.get("ParentID")),
                "DataType": topic.get("Datatype"),
                "Unit": topic.get("Unit"),
                "Decimals": topic.get("Decimals"),
                "PresentationType": topic.get("PresentationType") or None,
            }
            for topic in self.topics
        ]

    @cached_property
    def measure_groups(self) -> list[dict[str, Any]]:
        return [
            {"Id": _group_id(p["ID"]), "Index": self._measure_index[p["ID"]], "Title": p.get("Title"), "ParentId": _group_id(p.get("ParentID"))}
            for p in self._properties
            if p.get("Type") == "TopicGroup"
        ]

    def _is_time(self, dimension: Mapping[str, Any]) -> bool:
        return dimension.get("Type") == "TimeDimension"

    def dimension_rows(self, base: str) -> list[dict[str, Any]]:
        rows = []
        for dimension in self.dimensions:
            kind, key, time = dimension["Type"], dimension["Key"], self._is_time(dimension)
            row: dict[str, Any] = {"@odata.type": f"#Cbs.Ccb.Models.{kind}"} if kind != "Dimension" else {}
            map_year = dimension.get("MapYear")
            row.update(
                {
                    "Identifier": key,
                    "Title": dimension.get("Title"),
                    "Description": dimension.get("Description"),
                    "MapYear": None if map_year is None else str(map_year),
                    "ReleasePolicy": dimension.get("ReleasePolicy") if time else None,
                    "Kind": kind,
                    "ContainsGroups": time,
                    "ContainsCodes": True,
                    "CodesUrl": f"{self.url(base)}/{key}Codes",
                    "GroupsUrl": f"{self.url(base)}/{key}Groups" if time else None,
                }
            )
            rows.append(row)
        return rows

    def codes(self, dimension: Mapping[str, Any]) -> list[dict[str, Any]]:
        time = self._is_time(dimension)
        groups = {kind: group["Id"] for kind, group in zip(self._period_kinds(dimension), self.period_groups(dimension))}
        rows = []
        for index, category in enumerate(self._value(dimension["Key"]), start=1):
            key, title = category["Key"].rstrip(), category.get("Title")
            if time and isinstance(title, str) and title.rstrip().endswith("*"):
                title = title.rstrip().rstrip("*")
            row = {
                "Identifier": key,
                "Index": index,
                "Title": title,
                "Description": category.get("Description"),
                "DimensionGroupId": groups.get(key[4:6]) if time else None,
            }
            if time:
                row["Status"] = category.get("Status")
            rows.append(row)
        return rows

    def _period_kinds(self, dimension: Mapping[str, Any]) -> list[str]:
        present = {category["Key"].strip()[4:6] for category in self._value(dimension["Key"])}
        return [kind for kind, _ in _PERIOD_GROUPS if kind in present]

    def period_groups(self, dimension: Mapping[str, Any]) -> list[dict[str, Any]]:
        titles = dict(_PERIOD_GROUPS)
        return [
            {"Id": str(number), "Description": None, "ParentId": None, "Index": number + 1, "Title": titles[kind]}
            for number, kind in enumerate(self._period_kinds(dimension))
        ]

    @cached_property
    def observations(self) -> Observations:
        codes = [measure_identifier(self.table_id, topic["Key"]) for topic in self.topics]
        return Observations(self._typed, self.topics, codes, [d["Key"] for d in self.dimensions])

    def entity_sets(self) -> list[str]:
        """The entity sets in service-document order (section 2)."""
        names = ["MeasureCodes", *(["MeasureGroups"] if self.measure_groups else []), "Dimensions"]
        for dimension in self.dimensions:
            names += [f"{dimension['Key']}Groups"] if self._is_time(dimension) else []
            names.append(f"{dimension['Key']}Codes")
        return [*names, "Observations"]

    def entity_set(self, name: str, base: str) -> tuple[Sequence[dict[str, Any]], str] | None:
        """(rows, key field) of the entity set ``name`` (case-sensitive), or None if the table has no such set."""
        if name == "MeasureCodes":
            return self.measure_codes, "Identifier"
        if name == "MeasureGroups" and self.measure_groups:
            return self.measure_groups, "Id"
        if name == "Dimensions":
            return self.dimension_rows(base), "Identifier"
        if name == "Observations":
            return self.observations, "Id"
        for dimension in self.dimensions:
            if name == f"{dimension['Key']}Codes":
                return self.codes(dimension), "Identifier"
            if name == f"{dimension['Key']}Groups" and self._is_time(dimension):
                return self.period_groups(dimension), "Id"
        return None

    def url(self, base: str) -> str:
        return f"{base}/{CATALOG}/{self.table_id}"

    def service_document(self, base: str) -> dict[str, Any]:
        value = [{"name": name, "kind": "EntitySet", "url": name} for name in self.entity_sets()]
        value.append({"name": "Properties", "kind": "Singleton", "url": "Properties"})
        return {"@odata.context": f"{self.url(base)}/$metadata", "value": value}

    def _dataset_type(self) -> str:
        return "Mixed" if any(topic.get("Datatype") == "String" for topic in self.topics) else "Numeric"

    def _distributions(self, base: str) -> list[dict[str, Any]]:
        url = self.url(base)
        return [{"Format": "odata", "MediaType": "odata", "DownloadUrl": url, "AccessUrl": url, "Language": self.info.get("Language")}]

    def properties(self, base: str, modified: str | None = None) -> dict[str, Any]:
        """The ``Properties`` singleton (section 3, field order as recorded for 37789ksz); ``modified`` overrides v3's."""
        info = self.info
        when = v4_time(modified or info["Modified"])
        return {
            "@odata.context": f"{self.url(base)}/$metadata#Properties",
            "Identifier": self.table_id,
            "Title": info.get("Title"),
            "Description": info.get("ShortDescription"),
            "Language": info.get("Language"),
            "Authority": OWMS_CBS,
            "Modified": when,
            "ReleaseDate": when,
            "ModificationDate": when,
            "TemporalCoverage": info.get("Period"),
            "Catalog": CATALOG,
            "Publisher": OWMS_CBS,
            "ContactPoint": "infoservice@cbs.nl",
            "Version": _version(when),
            "VersionNotes": "",
            "VersionReason": info.get("ReasonDelivery"),
            "Frequency": _frequency(info.get("Frequency")),
            "Status": info.get("OutputStatus"),
            "ObservationCount": len(self.observations),
            "ObservationsModified": when,
            "DatasetType": self._dataset_type(),
            "GraphTypes": info.get("GraphTypes"),
            "License": LICENSE,
            "Source": info.get("Source"),
            "Summary": info.get("Summary"),
            "LongDescription": info.get("Description"),
            "Provenance": [],
            "RelatedSources": [],
            "Distributions": self._distributions(base),
        }

    def dataset_row(self, base: str, modified: str | None = None) -> dict[str, Any]:
        """The table's row in ``Datasets`` (section 3, field order as recorded)."""
        info = self.info
        when = v4_time(modified or info["Modified"])
        return {
            "Identifier": self.table_id,
            "Catalog": CATALOG,
            "VersionReason": info.get("ReasonDelivery"),
            "Version": _version(when),
            "VersionNotes": "",
            "Status": info.get("OutputStatus"),
            "ObservationsModified": when,
            "Modified": when,
            "DatasetType": self._dataset_type(),
            "ObservationCount": len(self.observations),
            "Title": info.get("Title"),
            "Language": info.get("Language"),
            "Description": info.get("ShortDescription"),
            "Distributions": self._distributions(base),
        }


def _group_id(v3_id: int | None) -> str | None:
    return None if v3_id is None else f"G{v3_id:06d}"


def _version(v4_modified: str) -> str:
    return datetime.fromisoformat(v4_modified).strftime("%Y%m%d%H%M")


def _frequency(frequency: str | None) -> str | None:
    """v3's ``Permaand`` as v4 writes it, ``Per maand`` (``Stopgezet`` unchanged)."""
    return re.sub(r"^Per(?=\S)", "Per ", frequency) if isinstance(frequency, str) else frequency


# --------------------------------------------------------------------------------------------- $filter (v4)


class V4FilterError(ValueError):
    """A v4 ``$filter`` outside the supported dialect, or naming an unknown column."""


_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<word>[A-Za-z_]\w*)|(?P<punct>[(),]))"
)
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: _equal(a, b),
    "ne": lambda a, b: not _equal(a, b),
    "gt": lambda a, b: _ordered(a, b) and a > b,
    "ge": lambda a, b: _ordered(a, b) and a >= b,
    "lt": lambda a, b: _ordered(a, b) and a < b,
    "le": lambda a, b: _ordered(a, b) and a <= b,
}
_LITERALS = {"null": None, "true": True, "false": False}


def _text(*values: Any) -> bool:
    return all(isinstance(v, str) for v in values)


_FUNCTIONS: dict[str, tuple[int, int, Callable[..., Any]]] = {
    # name: (fewest arguments, most arguments, function); a non-text argument gives null (or false)
    "contains": (2, 2, lambda s, t: _text(s, t) and t in s),
    "startswith": (2, 2, lambda s, t: _text(s, t) and s.startswith(t)),
    "endswith": (2, 2, lambda s, t: _text(s, t) and s.endswith(t)),
    "tolower": (1, 1, lambda s: s.lower() if _text(s) else None),
    "toupper": (1, 1, lambda s: s.upper() if _text(s) else None),
    "trim": (1, 1, lambda s: s.strip() if _text(s) else None),
    "length": (1, 1, lambda s: len(s) if _text(s) else None),
    "indexof": (2, 2, lambda s, t: s.find(t) if _text(s, t) else None),
    "substring": (2, 3, lambda s, start, length=None: (s[start:] if length is None else s[start : start + length]) if _text(s) else None),
    "concat": (2, 2, lambda s, t: s + t if _text(s, t) else None),
}


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def _ordered(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return (isinstance(a, numbers) and isinstance(b, numbers)) or _text(a, b)


Node = Callable[[Mapping[str, Any]], Any]


class _Parser:
    """Recursive descent over ``or`` > ``and`` > ``not`` > comparison / ``in`` > operand."""

    def __init__(self, text: str, columns: frozenset[str] | None) -> None:
        self._tokens = self._tokenize(text)
        self._position = 0
        self._columns = columns

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, Any]]:
        tokens, position, text = [], 0, text.rstrip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:
                raise V4FilterError(f"cannot parse {text[position:]!r}")
            kind = match.lastgroup
            value: Any = match.group(kind)
            if kind == "string":
                value = value[1:-1].replace("''", "'")
            elif kind == "number":
                value = float(value) if any(c in value for c in ".eE") else int(value)
            tokens.append((kind, value))
            position = match.end()
        return tokens

    def parse(self) -> Node:
        node = self._or()
        if self._position != len(self._tokens):
            raise V4FilterError(f"unexpected {self._peek()[1]!r}")
        return node

    def _peek(self, ahead: int = 0) -> tuple[str | None, Any]:
        position = self._position + ahead
        return self._tokens[position] if position < len(self._tokens) else (None, None)

    def _take(self, kind: str, value: Any = None) -> Any:
        found_kind, found = self._peek()
        if found_kind != kind or (value is not None and found != value):
            expected = repr(value) if value is not None else f"a {kind}"
            raise V4FilterError(f"expected {expected}, found {found!r}" if found_kind else f"expected {expected}, found the end")
        self._position += 1
        return found

    def _accept(self, word: str) -> bool:
        if self._peek() == ("word", word):
            self._position += 1
            return True
        return False

    def _or(self) -> Node:
        parts = [self._and()]
        while self._accept("or"):
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda row: any(part(row) is True for part in parts))

    def _and(self) -> Node:
        parts = [self._not()]
        while self._accept("and"):
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else (lambda row: all(part(row) is True for part in parts))

    def _not(self) -> Node:
        if self._accept("not"):
            inner = self._not()
            return lambda row: inner(row) is not True
        return self._comparison()

    def _comparison(self) -> Node:
        left = self._operand()
        kind, word = self._peek()
        if kind == "word" and word in _COMPARISONS:
            self._position += 1
            right, compare = self._operand(), _COMPARISONS[word]
            return lambda row: compare(left(row), right(row))
        if self._accept("in"):
            self._take("punct", "(")
            options = [self._literal()]
            while self._peek() == ("punct", ","):
                self._position += 1
                options.append(self._literal())
            self._take("punct", ")")
            return lambda row: any(_equal(left(row), option) for option in options)
        return left

    def _literal(self) -> Any:
        kind, value = self._peek()
        if kind in ("string", "number") or (kind == "word" and value in _LITERALS):
            self._position += 1
            return _LITERALS[value] if kind == "word" else value
        raise V4FilterError(f"expected a literal, found {value!r}")

    def _operand(self) -> Node:
        kind, value = self._peek()
        if (kind, value) == ("punct", "("):
            self._position += 1
            inner = self._or()
            self._take("punct", ")")
            return inner
        if kind in ("string", "number") or (kind == "word" and value in _LITERALS):
            literal = self._literal()
            return lambda row: literal
        if kind == "word" and self._peek(1) == ("punct", "("):
            return self._call()
        if kind == "word":
            self._position += 1
            if self._columns is not None and value not in self._columns:
                raise V4FilterError(f"unknown column {value!r}")
            return lambda row: row.get(value)
        raise V4FilterError(f"expected a column, literal or function, found {value!r}" if kind else "unexpected end of the filter")

    def _call(self) -> Node:
        name = self._take("word")
        if name not in _FUNCTIONS:
            raise V4FilterError(f"unsupported function {name!r}")
        fewest, most, function = _FUNCTIONS[name]
        self._take("punct", "(")
        arguments = [self._or()]
        while self._peek() == ("punct", ","):
            self._position += 1
            arguments.append(self._or())
        self._take("punct", ")")
        if not fewest <= len(arguments) <= most:
            raise V4FilterError(f"{name} takes {fewest}-{most} arguments, got {len(arguments)}")
        return lambda row: function(*(argument(row) for argument in arguments))


def compile_filter(text: str, columns: Sequence[str] | frozenset[str] | None = None) -> Callable[[Mapping[str, Any]], bool]:
    """A v4 ``$filter`` as a row predicate; `V4FilterError` for anything outside the dialect of the module docstring."""
    node = _Parser(text, None if columns is None else frozenset(columns)).parse()
    return lambda row: node(row) is True
