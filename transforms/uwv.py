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

from transforms.uwv_checks import (
    NationalBounds,
    check_magnitudes,
    check_municipalities,
    check_names,
    normalise_region_code,
    resolve_regions,
)
from transforms.uwv_values import (
    as_text,
    choose_number_convention,
    count_readings,
    parse_date,
    parse_gm_code,
    parse_region_form,
    parse_yes_no,
)

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
"""Name columns a file may carry besides its codes. They are not loaded, but checked against the
names CBS gives the codes (``transforms.uwv_checks.check_names``); a region name column stands in
for the region code column when a vacancies file has no code column."""

_UNIT_SUFFIX = re.compile(
    r"\s*\(\s*(?:aantal|number|count|n|ja\s*/\s*nee|j\s*/\s*n|yes\s*/\s*no|datum|date|"
    r"dd-mm-jjjj|dd-mm-yyyy|jjjj-mm-dd|yyyy-mm-dd)\s*\)\s*$",
    re.IGNORECASE,
)


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

    ``columns`` maps each position in the header to a column name or name column (None for a
    column that is ignored: an empty header over empty cells, or one already reported). ``dataset`` is None when the
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
    columns = [c if c in allowed and first_position.get(c) == i else None for i, c in enumerate(columns, start=1)]
    return HeaderMatch(dataset, tuple(columns), tuple(problems))


@dataclass(frozen=True)
class UwvTable:
    """A UWV file as a normalised table, with every problem found in it.

    ``frame`` has the schema ``SCHEMAS[dataset]``, one row per data row of the file (values that
    could not be parsed are null), sorted by key; it is empty when the headers already fail.
    ``problems`` has ``PROBLEM_SCHEMA``, file-level problems first, then by row; ``warnings``
    likewise, for what is worth a look but does not reject the file. ``headers`` maps each read
    column to its header as found in the file. ``numbers`` says how the file writes numbers
    (``transforms.uwv_values.NumberConvention.describe``), for its report.
    """

    dataset: str | None
    frame: pl.DataFrame
    problems: pl.DataFrame
    headers: dict[str, str] = field(default_factory=dict)
    warnings: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PROBLEM_SCHEMA))
    numbers: str | None = None

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
    municipality_names: Mapping[int, Mapping[str, Collection[str]]] | None = None,
    national_bounds: NationalBounds | None = None,
) -> UwvTable:
    """Recognise, parse and check one UWV file.

    ``headers``: the header cells in file order. ``cells``: one column per header, in the same
    order (column names are ignored), one row per data row (blank rows already left out); text
    columns as read from a CSV, or typed columns from a spreadsheet (dates, numbers, booleans).
    ``row_numbers``: each row's number in the file (default: the header is row 1, data rows
    2, 3, ...). ``today`` bounds reference dates. ``valid_municipalities``: year -> codes valid
    on 1 January of that year, in any form ``normalise_gm_code`` accepts. ``regions``:
    year -> {region code 'AMxx': name as CBS spells it} for that year.

    ``municipality_names``: year -> {code '0363': the names CBS gives it that year}; a name
    column is checked against them (and a region name column against ``regions``:
    ``transforms.uwv_checks.check_names``). ``national_bounds``: the national totals no row may
    exceed (``transforms.uwv_checks.national_bounds``). Either may be None: not checked.
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
            filled = cells.select(as_text(cells.columns[i], cells.dtypes[i]).alias("v")).filter(pl.col("v") != "")
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
        [as_text(cells.columns[i], cells.dtypes[i]).alias(f"text_{name}") for name, i in positions.items()]
        + [pl.col(cells.columns[i]).alias(f"cell_{name}") for name, i in positions.items()]
    ).with_columns(rows)
    dtypes = {name: cells.dtypes[i] for name, i in positions.items()}

    counts = [name for name in KIND_MEASURES[dataset] if SCHEMAS[dataset][name] == pl.Int64()]
    work = work.with_columns([expr for name in counts for expr in count_readings(name, dtypes[name])])
    work, numbers = choose_number_convention(work, counts, header_of)
    parsed = [parse_date("reference_date", dtypes["reference_date"])]
    if dataset == PORTAL_CONNECTIONS:
        parsed += [parse_yes_no("connected", dtypes["connected"]), parse_date("connected_since", dtypes["connected_since"], required=False)]
    parsed.append(parse_region_form() if dataset == VACANCIES else parse_gm_code())
    work = work.with_columns([expr for pair in parsed for expr in pair]).with_columns(
        year=pl.col("reference_date").dt.year().cast(pl.Int64),
        # codes are judged only on a usable date; a future date is reported on its own
        date_usable=pl.col("reference_date").is_not_null() & (pl.col("reference_date") <= today),
    )
    if dataset == VACANCIES:
        work = resolve_regions(work, regions)
        code, name_column, names, noun = "region_code", "region_name", _region_names(regions), "labour-market region"
    else:
        work = check_municipalities(work, valid_municipalities)
        code, name_column, names, noun = "gm_code", "municipality_name", municipality_names, "municipality"

    parse_errors = ["reference_date", *KIND_MEASURES[dataset], code]
    for name in parse_errors:
        problems.append(_column_problems(work, f"error_{name}", header_of[name], f"text_{name}"))
    problems.append(_column_problems(work, "error_code_validity", header_of[code], f"text_{code}"))
    problems += _row_checks(work, dataset, header_of, today)
    warnings: list[pl.DataFrame] = []
    if name_column in header_of and names:
        wrong, doubtful = check_names(work, code=code, name_column=name_column, names=names, noun=noun)
        for found, into in ((wrong, problems), (doubtful, warnings)):
            into.append(found.select("row", column=pl.lit(header_of[name_column]), value="name", message="message"))
    for name in counts:
        if national_bounds and name in national_bounds:
            wrong, doubtful = check_magnitudes(work, name, header_of[name], national_bounds[name], noun)
            problems.append(wrong)
            warnings.append(doubtful)

    frame = work.select(
        [pl.col(name).cast(dtype) for name, dtype in SCHEMAS[dataset].items()]
    ).sort(list(KEYS[dataset]), nulls_last=True, maintain_order=True)
    return _result(dataset, frame, problems, header_of, warnings, numbers.describe() if counts else None)


def _region_names(regions: Mapping[int, Mapping[str, str]]) -> dict[int, dict[str, list[str]]]:
    return {int(year): {normalise_region_code(c): [str(n)] for c, n in names.items()} for year, names in regions.items()}


def _result(
    dataset: str | None,
    frame: pl.DataFrame | None,
    problems: list[pl.DataFrame],
    headers: dict[str, str],
    warnings: Sequence[pl.DataFrame] = (),
    numbers: str | None = None,
) -> UwvTable:
    if frame is None:
        frame = pl.DataFrame(schema=SCHEMAS[dataset]) if dataset else pl.DataFrame()
    return UwvTable(dataset, frame, _in_file_order(problems), headers, _in_file_order(warnings), numbers)


def _in_file_order(found: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Problems (or warnings) as one frame: those of the whole file first, then by row."""
    if not found:
        return pl.DataFrame(schema=PROBLEM_SCHEMA)
    frame = pl.concat([p.cast(PROBLEM_SCHEMA) for p in found], how="vertical")
    return frame.with_row_index("order").sort(pl.col("row").is_not_null(), "row", "order").drop("order")


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
