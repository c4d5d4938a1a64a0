"""Realistic UWV register files, generated, for tests and benchmarks.

Real UWV register files are not public, so the tests make their own in the shapes described in
docs/uwv-files.md: Dutch or English headers and their variants, ';' ',' or tab, UTF-8 with or
without BOM or Windows-1252, Dutch thousands separators, day-first dates, codes written as
``GM0363``/``0363``/``363`` or ``AM01``/``AM1``/``1``/a region name, and XLSX workbooks with
(merged) title rows above the header and real spreadsheet dates and numbers.

Rows are plain dicts with the normalised values (``gm_code='0363'``, ``reference_date=date``,
counts as int, ``connected`` as bool); ``expected_frame`` turns them into the table the intake
must produce, so a test can compare exactly. ``write_large_csv`` streams a file of any size to
disk without holding it in memory.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl

from transforms.uwv import KEYS, PORTAL_CONNECTIONS, SCHEMAS, VACANCIES, WWB_REGISTRATIONS

TODAY = dt.date(2020, 6, 30)
"""The 'today' of the tests: reference dates after it are in the future."""

MUNICIPALITIES: dict[str, str] = {
    "0014": "Groningen",
    "0018": "Hoogezand-Sappemeer",
    "0080": "Leeuwarden",
    "0106": "Assen",
    "0193": "Zwolle",
    "0344": "Utrecht",
    "0363": "Amsterdam",
    "0518": "'s-Gravenhage",
    "0599": "Rotterdam",
    "0772": "Eindhoven",
    "0935": "Maastricht",
    "1900": "Súdwest-Fryslân",
    "1952": "Midden-Groningen",
}
"""A sample of real municipalities. Hoogezand-Sappemeer (0018) merged into Midden-Groningen
(1952) on 1 January 2018, as in the real list."""

ENDED = {"0018": 2017}
STARTED = {"1952": 2018}

REGIONS: dict[str, str] = {
    "AM01": "Groningen", "AM02": "Friesland", "AM03": "Drenthe", "AM04": "IJsselvechtstreek",
    "AM05": "Twente", "AM06": "Stedendriehoek en Noordwest Veluwe", "AM07": "Midden-Gelderland",
    "AM08": "Rijk van Nijmegen", "AM09": "Achterhoek", "AM10": "Rivierenland", "AM11": "Flevoland",
    "AM12": "Gooi en Vechtstreek", "AM13": "Midden-Utrecht", "AM14": "Amersfoort",
    "AM15": "Noord-Holland Noord", "AM16": "Zuid-Kennemerland", "AM17": "Zaanstreek/Waterland",
    "AM18": "Groot Amsterdam", "AM19": "Holland Rijnland", "AM20": "Midden-Holland",
    "AM21": "Haaglanden", "AM22": "Rijnmond", "AM23": "Drechtsteden", "AM24": "Zeeland",
    "AM25": "West-Brabant", "AM26": "Midden-Brabant", "AM27": "Noordoost-Brabant",
    "AM28": "Zuidoost-Brabant", "AM29": "Noord-Limburg", "AM30": "Zuid-Limburg",
    "AM31": "Food Valley", "AM32": "Helmond-De Peel", "AM33": "Midden-Limburg",
    "AM34": "Zuid-Holland Centraal", "AM35": "Gorinchem",
}  # fmt: skip
"""The 35 labour-market regions as CBS spells them in 'Gebieden in Nederland 2015'."""

YEARS = range(2014, 2021)

# Rough size of each municipality's bijstand population, so the numbers look like real ones.
_WWB_SIZE = {"0363": 41_000, "0599": 38_000, "0518": 24_000, "0344": 9_500, "0772": 6_800,
             "0014": 10_500, "0080": 5_200, "0935": 4_600, "0193": 3_400, "0106": 1_900,
             "1900": 1_300, "0018": 1_600, "1952": 2_500}  # fmt: skip


def valid_municipalities(years: Iterable[int] = YEARS) -> dict[int, set[str]]:
    """year -> the sample municipalities valid on 1 January of that year."""
    return {
        year: {
            code for code in MUNICIPALITIES
            if year <= ENDED.get(code, 9999) and year >= STARTED.get(code, 0)
        }
        for year in years
    }  # fmt: skip


def region_lists(years: Iterable[int] = YEARS) -> dict[int, dict[str, str]]:
    """year -> {region code: name}; the 35 regions in every year."""
    return {year: dict(REGIONS) for year in years}


def municipalities_on(day: dt.date) -> list[str]:
    return sorted(valid_municipalities([day.year])[day.year])


def vacancies(dates: Sequence[dt.date], regions: Mapping[str, str] = REGIONS, seed: int = 0) -> list[dict[str, Any]]:
    """One row per region per date: open vacancies registered at UWV (hundreds to ~15,000)."""
    rng = random.Random(seed)
    return [
        {"region_code": code, "region_name": name, "reference_date": day,
         "open_vacancies": rng.randint(400, 15_000)}
        for day in dates
        for code, name in regions.items()
    ]  # fmt: skip


def wwb_registrations(
    dates: Sequence[dt.date], codes: Sequence[str] | None = None, seed: int = 0
) -> list[dict[str, Any]]:
    """One row per municipality per date: WWB recipients, of whom 35-85 % registered at UWV."""
    rng = random.Random(seed)
    rows = []
    for day in dates:
        for code in codes if codes is not None else municipalities_on(day):
            recipients = int(_WWB_SIZE.get(code, 1_000) * rng.uniform(0.9, 1.1))
            rows.append({"gm_code": code, "gm_name": MUNICIPALITIES.get(code, f"Gemeente {code}"),
                         "reference_date": day, "wwb_recipients": recipients,
                         "registered_job_seekers": int(recipients * rng.uniform(0.35, 0.85))})
    return rows


def portal_connections(
    dates: Sequence[dt.date], codes: Sequence[str] | None = None, seed: int = 0
) -> list[dict[str, Any]]:
    """One row per municipality per date: connected to the UWV portal, and since when."""
    rng = random.Random(seed)
    rows = []
    for day in dates:
        for code in codes if codes is not None else municipalities_on(day):
            connected = rng.random() < 0.8
            since = dt.date(rng.randint(2009, day.year - 1), rng.randint(1, 12), 1) if connected else None
            rows.append({"gm_code": code, "gm_name": MUNICIPALITIES.get(code, f"Gemeente {code}"),
                         "reference_date": day, "connected": connected, "connected_since": since})
    return rows


HEADERS: dict[str, dict[str, dict[str, str]]] = {
    VACANCIES: {
        "nl": {"region_code": "Arbeidsmarktregio", "region_name": "Regionaam",
               "reference_date": "Peildatum", "open_vacancies": "Aantal openstaande vacatures"},
        "en": {"region_code": "Region code", "region_name": "Region name",
               "reference_date": "Reference date", "open_vacancies": "Open vacancies"},
        "variant": {"region_code": "AMR", "region_name": "Naam arbeidsmarktregio",
                    "reference_date": "Datum", "open_vacancies": "Vacatures (aantal)"},
    },
    WWB_REGISTRATIONS: {
        "nl": {"gm_code": "Gemeentecode", "gm_name": "Gemeentenaam", "reference_date": "Peildatum",
               "wwb_recipients": "Aantal bijstandsontvangers",
               "registered_job_seekers": "Ingeschreven als werkzoekende"},
        "en": {"gm_code": "Municipality code", "gm_name": "Municipality name",
               "reference_date": "Reference date", "wwb_recipients": "WWB recipients",
               "registered_job_seekers": "Registered job seekers"},
        "variant": {"gm_code": "GM-code", "gm_name": "Gemeente", "reference_date": "Datum",
                    "wwb_recipients": "WWB", "registered_job_seekers": "Geregistreerd bij UWV"},
    },
    PORTAL_CONNECTIONS: {
        "nl": {"gm_code": "Gemeentecode", "gm_name": "Gemeentenaam", "reference_date": "Peildatum",
               "connected": "Aangesloten op portaal", "connected_since": "Aangesloten sinds"},
        "en": {"gm_code": "Municipality code", "gm_name": "Municipality name",
               "reference_date": "Reference date", "connected": "Connected",
               "connected_since": "Connected since"},
        "variant": {"gm_code": "Code gemeente", "gm_name": "Naam gemeente",
                    "reference_date": "Peildatum", "connected": "Sonar/WBS",
                    "connected_since": "Sinds"},
    },
}  # fmt: skip
"""Header sets per kind: Dutch, English and a mix of aliases (name columns are optional)."""

TITLES = {
    VACANCIES: (
        "UWV - Openstaande vacatures per arbeidsmarktregio",
        "Bron: UWV, registratie werkzoekenden en vacatures",
    ),
    WWB_REGISTRATIONS: ("UWV - Bijstandsontvangers ingeschreven als werkzoekende", "Peildata volgens kolom Peildatum"),
    PORTAL_CONNECTIONS: ("UWV - Aansluiting gemeenten op het portaal (Sonar/WBS)", ""),
}


@dataclass(frozen=True)
class Style:
    """How a file spells its values.

    ``numbers``: 'nl' (1.234), 'space' (1 234), 'nbsp' (1\\u00a0234), 'plain' (1234) or 'decimal'
    (1.234,0). ``dates``: 'dmy' (31-12-2015), 'slash' (31/12/2015) or 'iso'. ``codes``: 'GM'
    (GM0363), '4' (0363) or 'short' (363); regions: 'AM' (AM01), 'short' (AM1), 'number' (1) or
    'name'. ``yes_no``: 'ja/nee', 'x' (x or blank), '1/0' or 'yes/no'.
    """

    headers: str = "nl"
    delimiter: str = ";"
    encoding: str = "utf-8-sig"
    numbers: str = "nl"
    dates: str = "dmy"
    codes: str = "GM"
    regions: str = "AM"
    yes_no: str = "ja/nee"
    names: bool = True
    title_rows: tuple[str, ...] = ()
    line_end: str = "\r\n"


def columns(kind: str, style: Style) -> list[str]:
    names = list(HEADERS[kind][style.headers])
    return [c for c in names if style.names or c not in ("gm_name", "region_name")]


def format_count(value: int | str, style: str) -> str:
    if isinstance(value, str):
        return value  # a deliberately bad value, as is
    digits = f"{value:,}"
    if style == "nl":
        return digits.replace(",", ".")
    if style == "space":
        return digits.replace(",", " ")
    if style == "nbsp":
        return digits.replace(",", "\u00a0")
    if style == "decimal":
        return digits.replace(",", ".") + ",0"
    return str(value)


def format_date(value: dt.date | str | None, style: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if style == "iso":
        return value.isoformat()
    separator = "/" if style == "slash" else "-"
    return f"{value.day:02d}{separator}{value.month:02d}{separator}{value.year}"


def format_code(code: str, style: str) -> str:
    if code.startswith("AM"):
        return {"AM": code, "short": f"AM{int(code[2:])}", "number": str(int(code[2:])),
                "name": REGIONS.get(code, code)}[style]  # fmt: skip
    return {"GM": f"GM{code}", "4": code, "short": str(int(code))}[style]


def format_yes_no(value: bool | str, style: str) -> str:
    if isinstance(value, str):
        return value
    yes, no = {"ja/nee": ("ja", "nee"), "x": ("x", ""), "1/0": ("1", "0"), "yes/no": ("Yes", "No")}[style]
    return yes if value else no


def text_cells(kind: str, row: Mapping[str, Any], style: Style) -> list[str]:
    """One row as the text cells of a CSV file in ``style``."""
    cells = []
    for column in columns(kind, style):
        value = row[column]
        if column == "region_code":
            cells.append(format_code(value, style.regions))
        elif column == "gm_code":
            cells.append(format_code(value, style.codes))
        elif column in ("reference_date", "connected_since"):
            cells.append(format_date(value, style.dates))
        elif column == "connected":
            cells.append(format_yes_no(value, style.yes_no))
        elif column in ("open_vacancies", "wwb_recipients", "registered_job_seekers"):
            cells.append(format_count(value, style.numbers))
        else:
            cells.append(str(value))
    return cells


def csv_text(kind: str, rows: Iterable[Mapping[str, Any]], style: Style = Style()) -> str:
    """A whole CSV file as text; fields holding the delimiter or a quote are quoted."""
    lines = [_csv_line([title], style.delimiter) for title in style.title_rows]
    lines.append(_csv_line([HEADERS[kind][style.headers][c] for c in columns(kind, style)], style.delimiter))
    lines += [_csv_line(text_cells(kind, row, style), style.delimiter) for row in rows]
    return style.line_end.join(lines) + style.line_end


def _csv_line(cells: Sequence[str], delimiter: str) -> str:
    quoted = []
    for cell in cells:
        if delimiter in cell or '"' in cell or "\n" in cell:
            cell = '"' + cell.replace('"', '""') + '"'
        quoted.append(cell)
    return delimiter.join(quoted)


def write_csv(path: Path, kind: str, rows: Iterable[Mapping[str, Any]], style: Style = Style()) -> Path:
    path.write_bytes(csv_text(kind, rows, style).encode(style.encoding))
    return path


def write_xlsx(
    path: Path,
    kind: str,
    rows: Iterable[Mapping[str, Any]],
    *,
    headers: str = "nl",
    titles: Sequence[str] | None = None,
    merge_titles: bool = True,
    typed: bool = True,
    style: Style = Style(),
    sheet: str = "Gegevens",
    extra_sheets: Mapping[str, Sequence[Sequence[Any]]] | None = None,
    merge: Sequence[str] = (),
) -> Path:
    """An XLSX workbook as UWV exports it: title rows (merged across the table), a blank row,
    the header, then one row per record.

    ``typed``: dates as spreadsheet dates, counts as numbers and yes/no as text 'ja'/'nee'; else
    every cell is text in ``style``. ``extra_sheets``: more sheets (name -> rows), placed after
    the data sheet. ``merge``: more cell ranges to merge, such as 'B3:C3'.
    """
    from openpyxl import Workbook

    style = replace(style, headers=headers)
    names = columns(kind, style)
    workbook = Workbook()
    worksheet = workbook.active
    worksheet.title = sheet
    titles = TITLES[kind] if titles is None else titles
    for number, title in enumerate(titles, start=1):
        worksheet.append([title])
        if merge_titles and title:
            worksheet.merge_cells(start_row=number, start_column=1, end_row=number, end_column=len(names))
    if titles:
        worksheet.append([])
    worksheet.append([HEADERS[kind][headers][c] for c in names])
    date_columns = [i + 1 for i, c in enumerate(names) if c in ("reference_date", "connected_since")]
    number = worksheet.max_row  # counted from here on: max_row scans every cell
    for row in rows:
        if typed:
            cells = []
            for column in names:
                value = row[column]
                if column == "gm_code":
                    value = format_code(value, style.codes)
                elif column == "connected":
                    value = format_yes_no(value, style.yes_no)
                cells.append(value)
        else:
            cells = text_cells(kind, row, style)
        worksheet.append(cells)
        number += 1
        if typed:
            for column in date_columns:
                worksheet.cell(number, column).number_format = "DD-MM-YYYY"
    for ref in merge:
        worksheet.merge_cells(ref)
    for name, sheet_rows in (extra_sheets or {}).items():
        extra = workbook.create_sheet(name)
        for sheet_row in sheet_rows:
            extra.append(list(sheet_row))
    workbook.save(path)
    return path


def expected_frame(kind: str, rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """The normalised table the intake must produce from ``rows``: fixed schema, sorted by key."""
    schema = SCHEMAS[kind]
    return pl.DataFrame(
        [{c: row[c] for c in schema} for row in rows], schema=schema, orient="row"
    ).sort(list(KEYS[kind]))


def write_large_csv(path: Path, size_bytes: int, *, first_day: dt.date = dt.date(2015, 1, 1)) -> Path:
    """A WWB registrations CSV of at least ``size_bytes``, streamed to disk block by block.

    Each block holds one reference date for codes 0001-9999 (which are not all real
    municipalities), so rows stay distinct; memory use is one block (about 300 kB).
    """
    header = "Gemeentecode;Peildatum;Aantal bijstandsontvangers;Ingeschreven als werkzoekende\r\n"
    template = "".join(
        f"GM{code:04d};@DATE@;{(code * 37) % 5000 + 100};{(code * 11) % 100}\r\n" for code in range(1, 10_000)
    )
    written = 0
    day = first_day
    with open(path, "w", encoding="utf-8", newline="") as stream:
        written += stream.write(header)
        while written < size_bytes:
            written += stream.write(template.replace("@DATE@", format_date(day, "dmy")))
            day += dt.timedelta(days=1)
    return path
