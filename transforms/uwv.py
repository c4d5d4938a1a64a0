"""UWV register files: recognise the kind of a file from its headers, parse its values, check
them against the codes valid on the reference date, and return one normalised table.

One file holds one of three kinds (the dataset names are also the GX suite and table names):

- ``uwv_vacancies``: one row per labour-market region per reference date; key
  (region_code, reference_date); ``open_vacancies`` = open vacancies registered at UWV.
- ``uwv_wwb_registrations``: one row per municipality per reference date; key
  (gm_code, reference_date); ``wwb_recipients`` = people receiving bijstand (WWB),
  ``registered_job_seekers`` = how many of them are registered as job seeker at UWV.
- ``uwv_portal_connections``: one row per municipality per reference date; key
  (gm_code, reference_date); ``connected`` = whether the municipality has access to the UWV
  portal (Sonar/WBS) on that date, ``connected_since`` = since when (null when not connected).

Codes come out as ``'0363'`` (municipality, as everywhere in the project) and ``'AM01'``
(labour-market region). A code is valid when it is in the list for the reference date's year
(municipalities and regions valid on 1 January of that year, passed in by the caller).

Everything here is pure. ``sources/uwv/intake.py`` reads the file and passes its header cells and a frame
of its cells; ``today`` and the valid code lists arrive as parameters. Every problem of a file is
collected, as (row number as in the file, column header as in the file, value, message), instead
of stopping at the first. The file contract for people who produce these files is
docs/uwv-files.md.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from transforms.geography import normalise_gm_code_expr
from transforms.periods import years_text

VACANCIES = "uwv_vacancies"
WWB_REGISTRATIONS = "uwv_wwb_registrations"
PORTAL_CONNECTIONS = "uwv_portal_connections"
DATASETS: tuple[str, ...] = (VACANCIES, WWB_REGISTRATIONS, PORTAL_CONNECTIONS)

SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    VACANCIES: {
        "region_code": pl.String(),
        "reference_date": pl.Date(),
        "open_vacancies": pl.Int64(),
    },
    WWB_REGISTRATIONS: {
        "gm_code": pl.String(),
        "reference_date": pl.Date(),
        "wwb_recipients": pl.Int64(),
        "registered_job_seekers": pl.Int64(),
    },
    PORTAL_CONNECTIONS: {
        "gm_code": pl.String(),
        "reference_date": pl.Date(),
        "connected": pl.Boolean(),
        "connected_since": pl.Date(),
    },
}
"""Column types of the normalised table of each dataset."""

KEYS: dict[str, tuple[str, ...]] = {
    VACANCIES: ("region_code", "reference_date"),
    WWB_REGISTRATIONS: ("gm_code", "reference_date"),
    PORTAL_CONNECTIONS: ("gm_code", "reference_date"),
}

PROBLEM_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.Int64(),
    "column": pl.String(),
    "value": pl.String(),
    "message": pl.String(),
}
"""One row per problem: ``row`` as numbered in the file (spreadsheet row or text line; null for
a problem of the whole file), ``column`` the header as found in the file (null when the problem
is not about one column), ``value`` the cell as text."""

FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "gm_code": (
        "Gemeentecode", "Gemeente code", "Code gemeente", "GM-code", "GM code", "GMcode",
        "Gemeentenummer", "CBS-gemeentecode", "CBS gemeentecode", "Municipality code",
    ),
    "municipality_name": (
        "Gemeente", "Gemeentenaam", "Naam gemeente", "Municipality", "Municipality name",
    ),
    "region_code": (
        "Arbeidsmarktregio", "AMR", "Regio", "Regiocode", "Arbeidsmarktregiocode",
        "Code arbeidsmarktregio", "AMR-code", "Labour market region", "Labor market region",
        "Region", "Region code",
    ),
    "region_name": (
        "Regionaam", "Naam arbeidsmarktregio", "Arbeidsmarktregionaam", "Naam regio", "Region name",
    ),
    "reference_date": (
        "Peildatum", "Datum", "Reference date", "Referentiedatum", "Date", "Peilmoment",
        "Stand per", "Per datum",
    ),
    "open_vacancies": (
        "Aantal openstaande vacatures", "Openstaande vacatures", "Vacatures", "Aantal vacatures",
        "Open vacancies", "Vacancies", "Number of open vacancies",
    ),
    "wwb_recipients": (
        "Aantal bijstandsontvangers", "Bijstandsontvangers", "WWB", "WWB-ontvangers",
        "Aantal WWB", "Aantal WWB-ers", "Bijstand", "WWB recipients",
        "Social assistance recipients", "Recipients",
    ),
    "registered_job_seekers": (
        "Ingeschreven als werkzoekende", "Waarvan ingeschreven als werkzoekende",
        "Geregistreerd bij UWV", "Ingeschreven bij UWV", "Ingeschreven werkzoekenden",
        "Registered job seekers", "Registered at UWV", "Registered as job seeker",
    ),
    "connected": (
        "Aangesloten op portaal", "Aangesloten", "Aangesloten op Sonar", "Aangesloten op WBS",
        "Sonar", "WBS", "Sonar/WBS", "Portaal", "Toegang Sonar", "Connected",
        "Connected to portal",
    ),
    "connected_since": (
        "Aangesloten sinds", "Sinds", "Aansluitdatum", "Datum aansluiting", "Connected since",
    ),
}  # fmt: skip
"""Accepted headers per column; matching ignores case, accents, spaces and punctuation, and a
trailing unit such as ``(aantal)`` or ``(ja/nee)`` (see ``header_key``)."""

KIND_COLUMNS: dict[str, tuple[str, ...]] = {
    VACANCIES: ("region_code", "reference_date", "open_vacancies"),
    WWB_REGISTRATIONS: ("gm_code", "reference_date", "wwb_recipients", "registered_job_seekers"),
    PORTAL_CONNECTIONS: ("gm_code", "reference_date", "connected", "connected_since"),
}
"""The columns every file of a kind must have."""

KIND_MEASURES: dict[str, tuple[str, ...]] = {
    VACANCIES: ("open_vacancies",),
    WWB_REGISTRATIONS: ("wwb_recipients", "registered_job_seekers"),
    PORTAL_CONNECTIONS: ("connected", "connected_since"),
}
"""The columns that tell the kind of a file: a file is of the kind whose measure columns it has."""

KIND_EXTRAS: dict[str, tuple[str, ...]] = {
    VACANCIES: ("region_name",),
    WWB_REGISTRATIONS: ("municipality_name",),
    PORTAL_CONNECTIONS: ("municipality_name",),
}
"""Name columns a file may carry besides its codes. They are not loaded; a region name column
stands in for the region code column when a vacancies file has no code column."""

YES_VALUES = ("ja", "j", "yes", "y", "1", "true", "waar", "x")
NO_VALUES = ("nee", "n", "no", "0", "false", "onwaar")

_UNIT_SUFFIX = re.compile(
    r"\s*\(\s*(?:aantal|number|count|n|ja\s*/\s*nee|j\s*/\s*n|yes\s*/\s*no|datum|date|"
    r"dd-mm-jjjj|dd-mm-yyyy|jjjj-mm-dd|yyyy-mm-dd)\s*\)\s*$",
    re.IGNORECASE,
)
_MAX_DIGITS = 18
_ISO_DATE = r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00(?:\.0+)?)?)?$"
_DMY_DASH = r"^(\d{1,2})-(\d{1,2})-(\d{4})(?: 00:00(?::00)?)?$"
_DMY_SLASH = r"^(\d{1,2})/(\d{1,2})/(\d{4})(?: 00:00(?::00)?)?$"
_SPACES = "[ \u00a0\u202f]"
_REGION_CODE = r"^(?:AM)?\s*-?\s*0*(\d{1,2})$"


def header_key(header: object) -> str:
    """The form in which headers are compared: no accents, case, spaces, punctuation or unit.

    ``'Gemeente code'``, ``'GM-code '`` and ``'gemeentecode'`` give ``'gemeentecode'``/``'gmcode'``;
    ``'Vacatures (aantal)'`` gives ``'vacatures'``.
    """
    text = _UNIT_SUFFIX.sub("", "" if header is None else str(header))
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return re.sub(r"[^0-9a-z]", "", text)


def _alias_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for name, aliases in FIELD_ALIASES.items():
        for alias in (name, *aliases):
            key = header_key(alias)
            if index.setdefault(key, name) != name:
                raise AssertionError(f"header alias {alias!r} means both {index[key]} and {name}")
    return index


_ALIASES = _alias_index()


def header_field(header: object) -> str | None:
    """The column a header means (``'gm_code'``, ``'reference_date'``, ...), or None."""
    return _ALIASES.get(header_key(header))


def find_header_row(rows: Iterable[Sequence[object]], max_scan: int = 20) -> int | None:
    """Index of the header among the first ``max_scan`` rows, or None.

    The header is the first row with two or more cells that are accepted headers; rows above it
    are title rows (a merged title shows as one filled cell) and are skipped.
    """
    for index, row in enumerate(rows):
        if index >= max_scan:
            break
        if header_score(row) >= 2:
            return index
    return None


def header_score(row: Sequence[object]) -> int:
    """How many distinct accepted columns the cells of ``row`` name."""
    return len({f for cell in row if (f := header_field(cell)) is not None})


def accepted_headers(columns: Iterable[str] | None = None) -> str:
    """The accepted headers of ``columns`` (default: all), for messages: main name and aliases."""
    names = FIELD_ALIASES if columns is None else columns
    return "; ".join(f"{name}: " + ", ".join(repr(a) for a in FIELD_ALIASES[name]) for name in names)


@dataclass(frozen=True)
class HeaderMatch:
    """What the header row of a file says: its dataset, the column each position holds, problems.

    ``columns`` maps each position in the header to a column name (or None for a column that is
    ignored: a name column, or an empty header over empty cells). ``dataset`` is None when the
    kind cannot be told; ``problems`` holds (column header, message) pairs.
    """

    dataset: str | None
    columns: tuple[str | None, ...]
    problems: tuple[tuple[str | None, str], ...]


def match_headers(headers: Sequence[object]) -> HeaderMatch:
    """Recognise the kind of file and the column under each header.

    The kind is the one whose measure columns (``KIND_MEASURES``) appear among the headers;
    headers of measures of two kinds make the file ambiguous, and a file without any is of an
    unknown kind. Within the kind, every column of ``KIND_COLUMNS`` must be present once, and
    every header must be one of its columns or name columns (``KIND_EXTRAS``).
    """
    texts = ["" if h is None else str(h).strip() for h in headers]
    fields = [header_field(t) if t else None for t in texts]
    found = ", ".join(repr(t) for t in texts)
    kinds = [k for k in DATASETS if any(f in KIND_MEASURES[k] for f in fields)]
    if not kinds:
        return HeaderMatch(
            None,
            tuple(fields),
            ((None, "cannot tell which kind of UWV file this is: none of the headers "
                    f"[{found}] names a vacancies, WWB or portal column. Accepted headers: "
                    f"{accepted_headers()} (docs/uwv-files.md)"),),
        )
    if len(kinds) > 1:
        parts = "; ".join(
            f"{k} ({', '.join(repr(t) for t, f in zip(texts, fields) if f in KIND_MEASURES[k])})"
            for k in kinds
        )
        return HeaderMatch(
            None,
            tuple(fields),
            ((None, f"ambiguous kind of file: the headers [{found}] hold columns of "
                    f"{len(kinds)} kinds: {parts}. One file holds one kind"),),
        )
    dataset = kinds[0]
    allowed = set(KIND_COLUMNS[dataset]) | set(KIND_EXTRAS[dataset])
    problems: list[tuple[str | None, str]] = []
    first_position: dict[str, int] = {}
    columns: list[str | None] = []
    for position, (text, name) in enumerate(zip(texts, fields), start=1):
        if not text:
            columns.append(None)
            continue
        if name is None:
            problems.append((text, f"unknown column {text!r} (column {position}) in a {dataset} "
                                   f"file; accepted headers: {accepted_headers(KIND_COLUMNS[dataset])}"))
        elif name not in allowed:
            problems.append((text, f"column {text!r} (column {position}, {name}) does not belong "
                                   f"in a {dataset} file"))
        elif name in first_position:
            other = texts[first_position[name] - 1]
            problems.append((text, f"columns {other!r} (column {first_position[name]}) and {text!r} "
                                   f"(column {position}) both mean {name}"))
        else:
            first_position[name] = position
        columns.append(name)
    if dataset == VACANCIES and "region_code" not in first_position and "region_name" in first_position:
        columns = ["region_code" if c == "region_name" else c for c in columns]
        first_position["region_code"] = first_position.pop("region_name")
    missing = [c for c in KIND_COLUMNS[dataset] if c not in first_position]
    for name in missing:
        problems.append((None, f"missing column {name} in a {dataset} file (headers found: [{found}]); "
                               f"accepted headers: {accepted_headers([name])}"))
    columns = [c if c in KIND_COLUMNS[dataset] else None for c in columns]
    return HeaderMatch(dataset, tuple(columns), tuple(problems))


@dataclass(frozen=True)
class UwvTable:
    """A UWV file as a normalised table, with every problem found in it.

    ``frame`` has the schema ``SCHEMAS[dataset]``, one row per data row of the file (values that
    could not be parsed are null), sorted by key; it is empty when the headers already fail.
    ``problems`` has ``PROBLEM_SCHEMA``, file-level problems first, then by row. ``headers``
    maps each loaded column to its header as found in the file.
    """

    dataset: str | None
    frame: pl.DataFrame
    problems: pl.DataFrame
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.dataset is not None and self.problems.height == 0


def uwv_table(
    headers: Sequence[object],
    cells: pl.DataFrame,
    *,
    today: dt.date,
    valid_municipalities: Mapping[int, Collection[str]],
    regions: Mapping[int, Mapping[str, str]],
    row_numbers: Sequence[int] | pl.Series | None = None,
) -> UwvTable:
    """Recognise, parse and check one UWV file.

    ``headers``: the header cells in file order. ``cells``: one column per header, in the same
    order (column names are ignored), one row per data row (blank rows already left out); text
    columns as read from a CSV, or typed columns from a spreadsheet (dates, numbers, booleans).
    ``row_numbers``: each row's number in the file (default: the header is row 1, data rows
    2, 3, ...). ``today`` bounds reference dates. ``valid_municipalities``: year -> codes valid
    on 1 January of that year, in any form ``normalise_gm_code`` accepts. ``regions``:
    year -> {region code 'AMxx': name as CBS spells it} for that year.
    """
    if cells.width != len(headers):
        raise ValueError(f"cells has {cells.width} columns but there are {len(headers)} headers")
    match = match_headers(headers)
    texts = ["" if h is None else str(h).strip() for h in headers]
    problems: list[pl.DataFrame] = [
        _file_problems([message for _, message in match.problems], [column for column, _ in match.problems])
    ]
    positions = {name: i for i, name in enumerate(match.columns) if name is not None}
    for i, (text, name) in enumerate(zip(texts, match.columns)):
        if not text and name is None:
            filled = cells.select(_as_text(cells.columns[i], cells.dtypes[i]).alias("v")).filter(pl.col("v") != "")
            if filled.height:
                problems.append(_file_problems(
                    [f"column {i + 1} has no header but holds values (e.g. {filled['v'][0]!r})"], [None]
                ))
    if match.dataset is None or match.problems:
        return _result(match.dataset, None, problems, {})
    if cells.height == 0:
        problems.append(_file_problems(["the file has a header but no data rows"], [None]))
        return _result(match.dataset, None, problems, {})

    dataset = match.dataset
    header_of = {name: texts[i] for name, i in positions.items()}
    rows = (
        pl.Series("row", range(2, cells.height + 2), dtype=pl.Int64)
        if row_numbers is None
        else pl.Series("row", list(row_numbers), dtype=pl.Int64)
    )
    if rows.len() != cells.height:
        raise ValueError(f"{rows.len()} row numbers for {cells.height} rows")
    work = cells.select(
        [_as_text(cells.columns[i], cells.dtypes[i]).alias(f"text_{name}") for name, i in positions.items()]
        + [pl.col(cells.columns[i]).alias(f"cell_{name}") for name, i in positions.items()]
    ).with_columns(rows)
    dtypes = {name: cells.dtypes[i] for name, i in positions.items()}

    parsed = [_parse_date("reference_date", dtypes["reference_date"])]
    for name in KIND_MEASURES[dataset]:
        if name == "connected":
            parsed.append(_parse_yes_no(name, dtypes[name]))
        elif name == "connected_since":
            parsed.append(_parse_date(name, dtypes[name], required=False))
        else:
            parsed.append(_parse_count(name, dtypes[name]))
    if dataset == VACANCIES:
        parsed.append(_parse_region_form())
    else:
        parsed.append(_parse_gm_code())
    work = work.with_columns([expr for pair in parsed for expr in pair]).with_columns(
        year=pl.col("reference_date").dt.year().cast(pl.Int64),
        # codes are judged only on a usable date; a future date is reported on its own
        date_usable=pl.col("reference_date").is_not_null() & (pl.col("reference_date") <= today),
    )
    if dataset == VACANCIES:
        work = _resolve_regions(work, regions)
        code = "region_code"
    else:
        work = _check_municipalities(work, valid_municipalities)
        code = "gm_code"

    parse_errors = ["reference_date", *KIND_MEASURES[dataset], code]
    for name in parse_errors:
        problems.append(_column_problems(work, f"error_{name}", header_of[name], f"text_{name}"))
    problems.append(_column_problems(work, "error_code_validity", header_of[code], f"text_{code}"))
    problems += _row_checks(work, dataset, header_of, today)

    frame = work.select(
        [pl.col(name).cast(dtype) for name, dtype in SCHEMAS[dataset].items()]
    ).sort(list(KEYS[dataset]), nulls_last=True, maintain_order=True)
    return _result(dataset, frame, problems, header_of)


def _result(
    dataset: str | None, frame: pl.DataFrame | None, problems: list[pl.DataFrame], headers: dict[str, str]
) -> UwvTable:
    if frame is None:
        frame = pl.DataFrame(schema=SCHEMAS[dataset]) if dataset else pl.DataFrame()
    found = pl.concat([p.cast(PROBLEM_SCHEMA) for p in problems], how="vertical")
    found = found.with_row_index("order").sort(
        pl.col("row").is_not_null(), "row", "order"
    ).drop("order")
    return UwvTable(dataset, frame, found, headers)


def _file_problems(messages: Sequence[str], columns: Sequence[str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {"row": [None] * len(messages), "column": list(columns), "value": [None] * len(messages),
         "message": list(messages)},
        schema=PROBLEM_SCHEMA,
    )


def _column_problems(work: pl.DataFrame, error: str, header: str, text: str) -> pl.DataFrame:
    return work.filter(pl.col(error).is_not_null()).select(
        "row", column=pl.lit(header), value=pl.col(text), message=pl.col(error)
    )


def _as_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """A cell as text: strings as they are, spreadsheet numbers and dates in a parseable form."""
    col = pl.col(name)
    if dtype == pl.String:
        text = col
    elif dtype == pl.Boolean:
        text = pl.when(col).then(pl.lit("true")).when(col.not_()).then(pl.lit("false"))
    elif dtype.is_integer():
        text = col.cast(pl.String)
    elif dtype.is_float():
        whole = col.is_finite() & (col == col.floor()) & (col.abs() < 9e18)
        text = (
            pl.when(whole)
            .then(col.cast(pl.Int64, strict=False).cast(pl.String))
            .otherwise(col.cast(pl.String).str.replace(".", ",", literal=True))
        )
    elif dtype == pl.Date:
        text = col.dt.to_string("%Y-%m-%d")
    elif isinstance(dtype, pl.Datetime):
        text = col.dt.to_string("%Y-%m-%d %H:%M:%S").str.strip_suffix(" 00:00:00")
    else:
        text = col.cast(pl.String)
    return text.fill_null("").str.strip_chars()


def _is_empty(name: str) -> pl.Expr:
    return pl.col(f"text_{name}") == ""


def _parse_count(name: str, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    """A whole number >= 0 of anything; decimal comma, '.', space or no-break-space thousands.

    A '.' followed by exactly three digits is a thousands separator (Dutch), so '1.234' is 1234;
    any other '.' is a decimal point ('12.5'). Negative numbers parse (and are reported later).
    """
    text = pl.col(f"text_{name}")
    if dtype.is_integer():
        value = pl.col(f"cell_{name}").cast(pl.Int64, strict=False)
        error = pl.when(_is_empty(name)).then(pl.lit("empty: a count is required"))
        return value.alias(name), error.alias(f"error_{name}")
    negative = text.str.contains(r"^[-\u2212]")
    body = text.str.replace(r"^[+\-\u2212]\s*", "")
    comma_form = (
        body.str.contains(r"^\d{1,3}(?:\.\d{3})+(?:,\d+)?$")
        | body.str.contains(rf"^\d{{1,3}}(?:{_SPACES}\d{{3}})+(?:,\d+)?$")
        | body.str.contains(r"^\d+(?:,\d+)?$")
    )
    dot_form = body.str.contains(r"^\d+\.\d+$")
    integer = (
        pl.when(comma_form)
        .then(body.str.replace(r",\d+$", "").str.replace_all(rf"[.]|{_SPACES}", ""))
        .when(dot_form)
        .then(body.str.extract(r"^(\d+)\.", 1))
    ).str.replace(r"^0+(\d)", "${1}")
    fraction = pl.when(comma_form).then(body.str.extract(r",(\d+)$", 1)).when(dot_form).then(
        body.str.extract(r"\.(\d+)$", 1)
    )
    whole = fraction.is_null() | fraction.str.contains(r"^0+$")
    too_large = integer.str.len_chars() > _MAX_DIGITS
    magnitude = pl.when(whole & too_large.not_()).then(integer.cast(pl.Int64, strict=False))
    value = pl.when(negative).then(-magnitude).otherwise(magnitude)
    error = (
        pl.when(_is_empty(name))
        .then(pl.lit("empty: a count is required"))
        .when(comma_form.not_() & dot_form.not_())
        .then(pl.lit("not a number: expected a whole number such as 1234, 1.234 or 1 234"))
        .when(whole.not_())
        .then(pl.lit("not a whole number: counts are whole numbers"))
        .when(too_large)
        .then(pl.lit(f"too large: more than {_MAX_DIGITS} digits"))
    )
    return value.alias(name), error.alias(f"error_{name}")


def _parse_date(name: str, dtype: pl.DataType, required: bool = True) -> tuple[pl.Expr, pl.Expr]:
    """A date: a spreadsheet date, or text as 2015-12-31, 31-12-2015 or 31/12/2015 (day first)."""
    text = pl.col(f"text_{name}")
    empty = pl.lit("empty: a date is required") if required else pl.lit(None, pl.String)
    if dtype == pl.Date:
        value = pl.col(f"cell_{name}")
        return value.alias(name), pl.when(value.is_null()).then(empty).alias(f"error_{name}")
    if isinstance(dtype, pl.Datetime):
        cell = pl.col(f"cell_{name}")
        timed = cell != cell.dt.truncate("1d")
        error = (
            pl.when(cell.is_null())
            .then(empty)
            .when(timed)
            .then(pl.lit("a date with a time of day other than 00:00: a date may have at most a time of 00:00"))
        )
        return pl.when(timed.not_()).then(cell.dt.date()).alias(name), error.alias(f"error_{name}")

    def iso(year: int, month: int, day: int, pattern: str) -> pl.Expr:
        return pl.concat_str(
            text.str.extract(pattern, year),
            pl.lit("-"),
            text.str.extract(pattern, month).str.zfill(2),
            pl.lit("-"),
            text.str.extract(pattern, day).str.zfill(2),
        )

    normalised = (
        pl.when(text.str.contains(_ISO_DATE))
        .then(iso(1, 2, 3, _ISO_DATE))
        .when(text.str.contains(_DMY_DASH))
        .then(iso(3, 2, 1, _DMY_DASH))
        .when(text.str.contains(_DMY_SLASH))
        .then(iso(3, 2, 1, _DMY_SLASH))
    )
    value = normalised.str.to_date("%Y-%m-%d", strict=False)
    error = (
        pl.when(_is_empty(name))
        .then(empty)
        .when(normalised.is_null())
        .then(pl.lit("not a date: expected e.g. 2015-12-31, 31-12-2015 or 31/12/2015"))
        .when(value.is_null())
        .then(pl.lit("not a valid calendar date"))
    )
    return value.alias(name), error.alias(f"error_{name}")


def _parse_yes_no(name: str, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    """ja/nee, yes/no, j/n, 1/0, true/false, x; in a column that marks with 'x', blank is no."""
    if dtype == pl.Boolean:
        value = pl.col(f"cell_{name}")
        error = pl.when(value.is_null()).then(pl.lit("empty: expected ja or nee"))
        return value.alias(name), error.alias(f"error_{name}")
    text = pl.col(f"text_{name}").str.to_lowercase()
    marks = (text == "x").any()
    value = (
        pl.when(text.is_in(YES_VALUES))
        .then(True)
        .when(text.is_in(NO_VALUES) | ((text == "") & marks))
        .then(False)
    )
    error = (
        pl.when((text == "") & marks.not_())
        .then(pl.lit("empty: expected ja or nee"))
        .when(value.is_null())
        .then(pl.lit("not a yes/no value: expected ja/nee, yes/no, 1/0, true/false or x"))
    )
    return value.alias(name), error.alias(f"error_{name}")


def _parse_gm_code() -> tuple[pl.Expr, pl.Expr]:
    text = pl.col("text_gm_code")
    value = normalise_gm_code_expr(text)
    error = (
        pl.when(text == "")
        .then(pl.lit("empty: every row needs a municipality code"))
        .when(value.str.contains(r"^\d{4}$").not_())
        .then(pl.lit("not a municipality code: expected e.g. GM0363, 0363 or 363"))
    )
    return value.alias("gm_code"), error.alias("error_gm_code")


def _parse_region_form() -> tuple[pl.Expr, pl.Expr]:
    """A region written as a code ('AM01', 'AM1', '1'); names are resolved per year later."""
    text = pl.col("text_region_code")
    digits = text.str.to_uppercase().str.extract(_REGION_CODE, 1)
    code = pl.when(digits.is_not_null()).then(pl.concat_str(pl.lit("AM"), digits.str.zfill(2)))
    error = pl.when(text == "").then(pl.lit("empty: every row needs a labour-market region"))
    return code.alias("region_code_form"), error.alias("error_region_code")


def _name_key(expr: pl.Expr) -> pl.Expr:
    return expr.str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()


def _python_name_key(name: str) -> str:
    return " ".join(name.lower().split())


def _validity(valid: pl.DataFrame) -> tuple[pl.DataFrame, list[int]]:
    """(code, first_year, last_year) per code, and the years with a list."""
    spans = valid.group_by("code").agg(
        first_year=pl.col("year").min(), last_year=pl.col("year").max()
    )
    return spans, sorted(set(valid["year"].to_list()))


def _validity_message(code: pl.Expr, noun: str, years: list[int], no_list: str) -> pl.Expr:
    """Why ``code`` is not valid in ``year`` (null when it is); needs year, is_valid, first/last_year.

    ``no_list``: the message for a year without a list of codes, with ``{}`` for the year.
    """
    year = pl.col("year")
    date = pl.col("reference_date").dt.to_string("%Y-%m-%d")
    span = years_text(years)
    return (
        pl.when(pl.col("is_valid") | code.is_null() | year.is_null())
        .then(None)
        .when(year.is_in(years).not_())
        .then(pl.format(no_list, year))
        .when(pl.col("first_year").is_null())
        .then(pl.format(f"unknown {noun} code {{}}: not a {noun} in any year {span}", code))
        .when(year > pl.col("last_year"))
        .then(pl.format(
            f"{noun} code {{}} no longer existed on {{}}: last valid on 1 January {{}} (merged or renamed since)",
            code, date, pl.col("last_year"),
        ))
        .when(year < pl.col("first_year"))
        .then(pl.format(
            f"{noun} code {{}} did not exist yet on {{}}: first valid on 1 January {{}}",
            code, date, pl.col("first_year"),
        ))
        .otherwise(pl.format(f"{noun} code {{}} was not valid on 1 January {{}}", code, year))
    )


def _check_municipalities(work: pl.DataFrame, valid_municipalities: Mapping[int, Collection[str]]) -> pl.DataFrame:
    valid = _code_year_frame(
        (year, code) for year, codes in valid_municipalities.items() for code in codes
    ).with_columns(code=normalise_gm_code_expr("code"))
    spans, years = _validity(valid)
    checked = (
        work.join(valid.with_columns(is_valid=pl.lit(True)), left_on=["gm_code", "year"],
                  right_on=["code", "year"], how="left", maintain_order="left")
        .join(spans, left_on="gm_code", right_on="code", how="left", maintain_order="left")
        .with_columns(pl.col("is_valid").fill_null(False))
    )
    usable = pl.col("error_gm_code").is_null() & pl.col("date_usable")
    return checked.with_columns(
        error_code_validity=pl.when(usable).then(_validity_message(
            pl.col("gm_code"), "municipality", years,
            f"no list of valid municipality codes for {{}} (the lists cover {years_text(years)}); check the date",
        ))
    )


def _code_year_frame(pairs: Iterable[tuple[int, str]]) -> pl.DataFrame:
    years, codes = [], []
    for year, code in pairs:
        years.append(int(year))
        codes.append(str(code))
    return pl.DataFrame({"year": years, "code": codes}, schema={"year": pl.Int64, "code": pl.String}).unique()


def _resolve_regions(work: pl.DataFrame, regions: Mapping[int, Mapping[str, str]]) -> pl.DataFrame:
    """Region codes from the code form or, failing that, from the region's name in that year."""
    table = pl.DataFrame(
        [
            (int(year), normalise_region_code(code), _python_name_key(str(name)))
            for year, names in regions.items()
            for code, name in names.items()
        ],
        schema={"year": pl.Int64, "code": pl.String, "name_key": pl.String},
        orient="row",
    )
    spans, years = _validity(table.select("year", "code"))
    names = table.select("year", "name_key", code_by_name="code").unique(["year", "name_key"])
    known_names = table.group_by("name_key").agg(name_years=pl.col("year").unique().sort())
    resolved = (
        work.with_columns(name_key=_name_key(pl.col("text_region_code")))
        .join(names, on=["year", "name_key"], how="left", maintain_order="left")
        .join(known_names, on="name_key", how="left", maintain_order="left")
        .with_columns(
            region_code=pl.coalesce("region_code_form", "code_by_name", pl.col("text_region_code"))
        )
        .join(table.select("year", "code", is_valid=pl.lit(True)).unique(),
              left_on=["region_code", "year"], right_on=["code", "year"], how="left", maintain_order="left")
        .join(spans, left_on="region_code", right_on="code", how="left", maintain_order="left")
        .with_columns(pl.col("is_valid").fill_null(False))
    )
    text = pl.col("text_region_code")
    by_name = pl.col("region_code_form").is_null()
    no_regions = (
        "no 'Gebieden in Nederland' edition for {} is landed, so the labour-market regions of that year are not "
        f"known (editions landed: {years_text(years)}); land it with `werkregio refresh --table regions` (the "
        "editions are listed in sources/cbs/catalog.py)"
    )
    name_message = (
        pl.when(pl.col("year").is_null() | pl.col("code_by_name").is_not_null())
        .then(None)
        .when(pl.col("year").is_in(years).not_())
        .then(pl.format(no_regions, pl.col("year")))
        .when(pl.col("name_years").is_not_null())
        .then(pl.format(
            "labour-market region {} is not a region in {} (it is one in {})",
            text, pl.col("year"), pl.col("name_years").cast(pl.List(pl.String)).list.join(", "),
        ))
        .otherwise(pl.format(
            "unknown labour-market region '{}': not a region code (AM01, AM1 or 1) or the name of a region",
            text,
        ))
    )
    usable = pl.col("error_region_code").is_null() & pl.col("date_usable")
    return resolved.with_columns(
        error_code_validity=pl.when(usable).then(
            pl.when(by_name).then(name_message).otherwise(
                _validity_message(pl.col("region_code"), "labour-market region", years, no_regions)
            )
        )
    )


def normalise_region_code(code: str | int) -> str:
    """'AM01' for 'AM01', 'am1', 'AM 1', '01', '1' or 1; ValueError for anything else."""
    match = re.match(_REGION_CODE, str(code).strip().upper())
    if match is None:
        raise ValueError(f"not a labour-market region code in the list of regions: {code!r} (expected e.g. 'AM01')")
    return f"AM{int(match.group(1)):02d}"


def _row_checks(work: pl.DataFrame, dataset: str, header_of: dict[str, str], today: dt.date) -> list[pl.DataFrame]:
    """Problems that involve a row's parsed values: keys, signs, parts of wholes, dates."""
    problems = []
    keys = list(KEYS[dataset])
    keyed = pl.all_horizontal([pl.col(k).is_not_null() for k in keys])
    work = work.with_columns(first_row=pl.when(keyed).then(pl.col("row")).min().over(keys))

    def add(condition: pl.Expr, column: str, message: pl.Expr) -> None:
        problems.append(
            work.filter(condition.fill_null(False)).select(
                "row", column=pl.lit(header_of[column]), value=pl.col(f"text_{column}"), message=message
            )
        )

    date_text = pl.col("reference_date").dt.to_string("%Y-%m-%d")
    add(pl.col("reference_date") > today, "reference_date",
        pl.format(f"reference date {{}} is in the future (today is {today.isoformat()})", date_text))

    for name in KIND_MEASURES[dataset]:
        if SCHEMAS[dataset][name] == pl.Int64():
            add(pl.col(name) < 0, name, pl.format("negative count {}: counts are 0 or more", pl.col(name)))

    if dataset == WWB_REGISTRATIONS:
        add(
            (pl.col("registered_job_seekers") > pl.col("wwb_recipients")) & (pl.col("wwb_recipients") >= 0),
            "registered_job_seekers",
            pl.format(
                f"{{}} registered job seekers is more than the {{}} WWB recipients in "
                f"'{header_of['wwb_recipients']}': they are a part of the recipients",
                pl.col("registered_job_seekers"), pl.col("wwb_recipients"),
            ),
        )
    if dataset == PORTAL_CONNECTIONS:
        since = pl.col("connected_since").dt.to_string("%Y-%m-%d")
        add(pl.col("connected_since") > today, "connected_since",
            pl.format(f"connected since {{}}, which is in the future (today is {today.isoformat()})", since))
        add(
            (pl.col("connected_since") > pl.col("reference_date")) & (pl.col("connected_since") <= today),
            "connected_since",
            pl.format("connected since {}, after the reference date {}", since, date_text),
        )
        add(
            pl.col("connected").not_() & pl.col("connected_since").is_not_null(),
            "connected_since",
            pl.format(
                f"'{header_of['connected']}' says not connected but there is a connection date {{}}", since
            ),
        )

    code = keys[0]
    add(
        keyed & (pl.col("row") != pl.col("first_row")),
        code,
        pl.format(f"duplicate key ({code} {{}}, reference_date {{}}): same as row {{}}",
                  pl.col(code), date_text, pl.col("first_row")),
    )
    return problems


def problem_lines(problems: pl.DataFrame, limit: int = 20) -> list[str]:
    """Up to ``limit`` problems as text lines, then a line saying how many more there are."""
    lines = [
        describe_problem(row, column, value, message)
        for row, column, value, message in problems.head(limit).select(list(PROBLEM_SCHEMA)).iter_rows()
    ]
    if problems.height > limit:
        lines.append(f"... and {problems.height - limit} more problem(s)")
    return lines


def describe_problem(row: int | None, column: str | None, value: str | None, message: str) -> str:
    """One problem as text: ``row 7, column 'WWB', value '-3': negative count ...``."""
    where = [f"row {row}"] if row is not None else []
    if column is not None:
        where.append(f"column {column!r}")
    if value is not None:
        where.append(f"value {value!r}")
    return f"{', '.join(where)}: {message}" if where else message
