"""Reading a UWV file's bytes (CSV or XLSX) into its header and cells, as text.

One row per data row of the file; every cell as the file holds it (CSV: text; XLSX: the cell's
typed value, a column of mixed types as text), with the file's row numbers, so that
``transforms.uwv.uwv_table`` can parse and check the cells and name rows as the user sees them.
A problem that ends the reading of a file raises :class:`Rejected` with the message for its report.
No moves and no archive here: ``sources.uwv.intake`` does that.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from openpyxl import load_workbook
from openpyxl.utils.cell import get_column_letter, range_boundaries
from openpyxl.worksheet.formula import ArrayFormula

from transforms import uwv

MAX_UNPACKED_FACTOR = 16
"""An XLSX may unpack to at most this many times ``max_bytes`` (a guard against ZIP bombs)."""
MAX_COLUMNS = 64
HEADER_SCAN_ROWS = 20
CHUNK_ROWS = 50_000
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_MOJIBAKE = re.compile(
    "[\u00c2\u00c3][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]"
)
_STRAY_CR = re.compile("\r(?!\n)")
_DELIMITERS = (";", ",", "\t")
_OTHER_DELIMITERS = ("|", ":", "^", "~", "#", " ")


Problem = tuple[int | None, str | None, str | None, str]
"""(row as numbered in the file, column header, value, message): ``transforms.uwv.PROBLEM_SCHEMA``."""

MAX_BLANKS_TRACKED = 100_000
"""Blank cells of an XLSX remembered to tell a formula without a saved value from an empty cell."""


class Rejected(Exception):
    """A problem that ends the reading of a file; the message goes into its report."""


@dataclass
class RawFile:
    headers: list[str]
    cells: pl.DataFrame
    row_numbers: list[int]
    problems: list[tuple[int | None, str | None, str | None, str]]
    details: dict[str, Any]


def read_csv(data: bytes, max_rows: int) -> RawFile:
    text, encoding = _decode(data)
    _check_line_ends(text)
    delimiter, header_line, offset = _find_csv_header(text)
    n_lines_before = header_line - 1
    reader = csv.reader(io.StringIO(text[offset:], newline=""), delimiter=delimiter, strict=True)
    problems: list[tuple[int | None, str | None, str | None, str]] = []
    try:
        headers = [cell.strip() for cell in next(reader)]
    except csv.Error as err:
        raise Rejected(f"malformed header on line {header_line}: {err}") from err
    if len(headers) > MAX_COLUMNS:
        raise Rejected(f"the header on line {header_line} has {len(headers)} columns; at most {MAX_COLUMNS} are read")
    width = len(headers)
    empty_tail = width - len(_rstrip_empty(headers))
    columns: list[list[str]] = [[] for _ in range(width)]
    chunks: list[pl.DataFrame] = []
    row_numbers: list[int] = []
    last: tuple[int, int] | None = None
    start = reader.line_num + 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            if "unexpected end of data" in str(err):
                problems.append((start + n_lines_before, None, None,
                                 f"truncated file: a quoted field that starts on line {start + n_lines_before} "
                                 "is not closed at the end of the file; the file looks cut off"))
            else:
                problems.append((reader.line_num + n_lines_before, None, None,
                                 f"malformed CSV on line {reader.line_num + n_lines_before}: {err}; "
                                 "the rest of the file is not read"))
            break
        line = start + n_lines_before
        start = reader.line_num + 1
        if not any(cell.strip() for cell in record):
            continue
        last = (line, len(record))
        if len(record) > width and not any(cell.strip() for cell in record[width:]):
            record = record[:width]
        elif width - empty_tail <= len(record) < width:
            record = record + [""] * (width - len(record))
        if len(record) != width:
            shown = delimiter.join(record)
            problems.append((line, None, shown[:80],
                             f"row has {len(record)} fields where the header has {width}"))
            continue
        if len(row_numbers) >= max_rows:
            raise Rejected(f"more than {max_rows:,} data rows; at most {max_rows:,} are accepted")
        for column, cell in zip(columns, record):
            column.append(cell)
        row_numbers.append(line)
        if len(columns[0]) >= CHUNK_ROWS:
            chunks.append(_string_frame(columns))
            columns = [[] for _ in range(width)]
    if columns and columns[0]:
        chunks.append(_string_frame(columns))
    if last is not None and not text.endswith(("\n", "\r")) and last[1] < width - empty_tail:
        line, fields = last
        problems = [p for p in problems if p[0] != line]
        problems.append((line, None, None,
                         f"truncated file: the last line (line {line}) has {fields} of {width} fields "
                         "and does not end with a line break; the file looks cut off"))
    cells = pl.concat(chunks) if chunks else pl.DataFrame(
        {f"column_{i}": [] for i in range(width)}, schema={f"column_{i}": pl.String for i in range(width)}
    )
    shown = {";": ";", ",": ",", "\t": "tab"}[delimiter]
    return RawFile(headers, cells, row_numbers, problems,
                {"encoding": encoding, "delimiter": shown, "header_row": header_line})


def _string_frame(columns: list[list[str]]) -> pl.DataFrame:
    return pl.DataFrame({f"column_{i}": values for i, values in enumerate(columns)},
                        schema={f"column_{i}": pl.String for i in range(len(columns))})


def _rstrip_empty(cells: Sequence[object]) -> list[object]:
    cells = list(cells)
    while cells and (cells[-1] is None or str(cells[-1]).strip() == ""):
        cells.pop()
    return cells


def _line_of(data: bytes | str, offset: int) -> int:
    newline = b"\n" if isinstance(data, bytes) else "\n"
    return data.count(newline, 0, offset) + 1


def _decode(data: bytes) -> tuple[str, str]:
    """The text of a CSV file and the encoding it was read with (UTF-8, else Windows-1252).

    Rejects empty files, binary data, UTF-16/32, ZIP or old Excel files named .csv, files that
    mix UTF-8 with another encoding, bytes Windows-1252 does not define, and text that was
    encoded as UTF-8 twice.
    """
    if not data:
        raise Rejected("the file is empty (0 bytes)")
    for bom, name in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                      (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")):
        if data.startswith(bom):
            raise Rejected(f"wrong encoding: the file is {name} text; save it as UTF-8 (or Windows-1252)")
    if data.startswith(_ZIP_MAGIC):
        if kind := _opendocument(data):
            raise Rejected(f"the file is an {kind} named as CSV; save it as CSV or as .xlsx")
        raise Rejected("the file is a ZIP archive (an XLSX workbook?) but is named as CSV; "
                        "rename it to .xlsx or save it as CSV")
    if data.startswith(_OLE_MAGIC):
        raise Rejected("the file is an old Excel (.xls) workbook named as CSV; save it as .xlsx or CSV")
    head = data[:65536]
    nul = data.find(b"\x00")
    if nul >= 0:
        if head[1::2].count(0) > len(head) // 4 or head[0::2].count(0) > len(head) // 4:
            raise Rejected("wrong encoding: the file looks like UTF-16 text without a byte-order mark; "
                            "save it as UTF-8 (or Windows-1252)")
        raise Rejected(f"binary data, not text: a NUL byte at offset {nul} (line {_line_of(data, nul)})")
    controls = sum(head.count(bytes([b])) for b in range(32) if b not in (9, 10, 12, 13))
    if controls > max(2, len(head) // 100):
        raise Rejected(f"binary data, not text: {controls} control bytes in the first {len(head):,} bytes")
    bom = data.startswith(codecs.BOM_UTF8)
    body = data[len(codecs.BOM_UTF8):] if bom else data
    try:
        text = body.decode("utf-8")
        encoding = "utf-8 with BOM" if bom else "utf-8"
    except UnicodeDecodeError as err:
        position = err.start + (len(codecs.BOM_UTF8) if bom else 0)
        bad = f"byte 0x{data[position]:02X} on line {_line_of(data, position)}"
        multibyte = _UTF8_MULTIBYTE.search(data)
        if bom or multibyte is not None:
            seen = ("a UTF-8 byte-order mark" if bom else
                    f"UTF-8 text ({multibyte.group().decode('utf-8')!r} on line {_line_of(data, multibyte.start())})")
            raise Rejected(f"mixed encodings: the file has {seen} but {bad} is not UTF-8; "
                            "save the whole file as UTF-8") from err
        try:
            text = data.decode("cp1252")
            encoding = "windows-1252"
        except UnicodeDecodeError as err1252:
            offset = err1252.start
            raise Rejected(
                f"wrong encoding: neither UTF-8 nor Windows-1252 (byte 0x{data[offset]:02X} on line "
                f"{_line_of(data, offset)} is not a character in either); save the file as UTF-8"
            ) from err1252
    if not text.strip():
        raise Rejected("the file is empty (only whitespace)")
    mojibake = _MOJIBAKE.search(text)
    if mojibake is not None:
        raise Rejected(
            f"wrong encoding: {mojibake.group()!r} on line {_line_of(text, mojibake.start())} is UTF-8 text "
            "read as Windows-1252 and saved again (double-encoded); save the original as UTF-8 once"
        )
    return text, encoding


def _check_line_ends(text: str) -> None:
    """Rejects a carriage return that is not part of a ``\\r\\n`` line break.

    The header scan and the reader would otherwise disagree on where lines end (the csv module
    takes a lone ``\\r`` as a line break, or fails on it), so such a file is rejected, naming the
    line, rather than read one way or the other.
    """
    stray = _STRAY_CR.search(text)
    if stray is None:
        return
    start = text.rfind("\n", 0, stray.start()) + 1
    before = text[max(start, stray.start() - 40) : stray.start()]
    message = (
        f"line {_line_of(text, stray.start())}: a carriage return (\\r) after {before!r} is not followed by a "
        "line feed (\\n); lines must end in \\n or \\r\\n"
    )
    if "\n" not in text:
        message += "; this file's lines end in \\r alone (classic Mac line endings): save it again as 'CSV UTF-8'"
    raise Rejected(message)


def _find_csv_header(text: str) -> tuple[str, int, int]:
    """(delimiter, line number of the header, offset of that line in ``text``)."""
    lines = []
    offset = 0
    for raw_line in text[: 1 << 16].split("\n")[:HEADER_SCAN_ROWS]:
        lines.append((offset, raw_line.rstrip("\r")))
        offset += len(raw_line) + 1
    for number, (start, line) in enumerate(lines, start=1):
        scores = []
        for delimiter in _DELIMITERS:
            cells = next(csv.reader([line], delimiter=delimiter), [])
            scores.append((uwv.header_score(cells), len(cells), delimiter))
        best = max(scores, key=lambda s: (s[0], s[1]))
        if best[0] >= 2:
            return best[2], number, start
    for number, (_, line) in enumerate(lines, start=1):
        for delimiter in _OTHER_DELIMITERS:
            if uwv.header_score(line.split(delimiter)) >= 2:
                raise Rejected(
                    f"unknown delimiter {delimiter!r} on line {number} ({line[:60]!r}): "
                    "columns must be separated by ';', ',' or a tab"
                )
    first = next((line for _, line in lines if line.strip()), "")
    raise Rejected(
        f"no header row found: none of the first {HEADER_SCAN_ROWS} lines has two or more known column "
        f"names separated by ';', ',' or a tab (first line: {first[:80]!r}); accepted headers are listed "
        "in docs/uwv-files.md"
    )


def read_xlsx(data: bytes, max_rows: int) -> RawFile:
    if not data:
        raise Rejected("the file is empty (0 bytes)")
    if data.startswith(_OLE_MAGIC):
        raise Rejected("the file is an old Excel (.xls) workbook named .xlsx; save it as .xlsx or CSV")
    if not data.startswith(_ZIP_MAGIC):
        raise Rejected("not an XLSX workbook: an .xlsx file is a ZIP archive and this one does not "
                        "start like one (binary data or text named .xlsx?)")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, EOFError, ValueError) as err:
        if kind := _opendocument(data):
            raise Rejected(f"the file is an {kind} named .xlsx; save it as .xlsx (Excel) or CSV") from err
        raise Rejected(f"truncated or damaged XLSX file: the ZIP archive cannot be read ({err})") from err
    names = archive.namelist()
    if kind := _opendocument(data):
        raise Rejected(f"the file is an {kind} named .xlsx; save it as .xlsx (Excel) or CSV")
    if "[Content_Types].xml" not in names or not any(name.startswith("xl/") for name in names):
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise Rejected(
            f"not an XLSX workbook: a ZIP archive of something else (it holds {shown or 'nothing'}); save the table "
            "as .xlsx (Excel) or CSV"
        )
    limit = MAX_UNPACKED_FACTOR * max(len(data), 1 << 20)
    if unpacked > limit:
        raise Rejected(f"the XLSX unpacks to {unpacked:,} bytes, more than {limit:,}; it is not read")
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises many kinds of errors on damaged workbooks
        raise Rejected(f"truncated or damaged XLSX file: {type(err).__name__}: {err}") from err
    try:
        found = []
        for sheet in workbook.worksheets:
            head = [
                list(row)
                for row in sheet.iter_rows(
                    min_row=1, max_row=HEADER_SCAN_ROWS, max_col=MAX_COLUMNS + 1, values_only=True
                )
            ]
            index = uwv.find_header_row(head, HEADER_SCAN_ROWS)
            if index is not None:
                found.append((sheet, index + 1))
        if not found:
            names = ", ".join(repr(s.title) for s in workbook.worksheets)
            raise Rejected(
                f"no header row found in the first {HEADER_SCAN_ROWS} rows of any sheet ({names}): no row has "
                "two or more known column names (title rows above the header are fine, merged or not); "
                "accepted headers are listed in docs/uwv-files.md"
            )
        if len(found) > 1:
            raise Rejected(
                "several sheets hold a table ("
                + ", ".join(repr(s.title) for s, _ in found)
                + "); one file holds one table"
            )
        sheet, header_row = found[0]
        problems: list[Problem] = []
        for ref in _merged_ranges(archive, sheet.title):
            min_col, min_row, max_col, max_row = _range_boundaries(ref)
            if max_row >= header_row:
                where = "the header row" if min_row <= header_row else "the data"
                problems.append((max(min_row, header_row), None, ref,
                                 f"merged cells {ref} in {where} (row {header_row} is the header): give every "
                                 "column its own header cell and every row its own values"))
        rows = sheet.iter_rows(min_row=header_row, max_col=MAX_COLUMNS + 1, values_only=True)
        header_cells = _rstrip_empty(next(rows))
        if len(header_cells) > MAX_COLUMNS:
            raise Rejected(f"the header in row {header_row} has more than {MAX_COLUMNS} columns")
        headers = ["" if cell is None else str(cell).strip() for cell in header_cells]
        width = len(headers)
        values: list[list[Any]] = [[] for _ in range(width)]
        blanks: set[tuple[int, int]] = set()
        chunks: list[pl.DataFrame] = []
        row_numbers: list[int] = []
        for number, row in enumerate(rows, start=header_row + 1):
            row = list(row)
            if all(_blank(cell) for cell in row):
                continue
            extra = [i for i, cell in enumerate(row[width:], start=width) if not _blank(cell)]
            if extra:
                letter = get_column_letter(extra[0] + 1)
                problems.append((number, None, _cell_text(row[extra[0]]),
                                 f"value in column {letter}, which has no header"))
                continue
            if len(row_numbers) >= max_rows:
                raise Rejected(f"more than {max_rows:,} data rows; at most {max_rows:,} are accepted")
            row = row[:width] + [None] * (width - len(row))
            for index, (column, cell) in enumerate(zip(values, row)):
                column.append(None if _blank(cell) else cell)
                if cell is None and headers[index] and len(blanks) < MAX_BLANKS_TRACKED:
                    blanks.add((number, index))
            row_numbers.append(number)
            if len(values[0]) >= CHUNK_ROWS:
                chunks.append(_typed_frame(values))
                values = [[] for _ in range(width)]
        if width and values[0]:
            chunks.append(_typed_frame(values))
        if blanks:
            problems += _formulas_without_values(data, sheet.title, header_row, headers, blanks)
    except Rejected:
        raise
    except IndexError as err:  # openpyxl looks shared strings up by the cell's index, unchecked
        raise Rejected(
            f"truncated or damaged XLSX file: a cell refers to text or a style the workbook does not hold "
            f"({type(err).__name__}: {err})"
        ) from err
    except (zipfile.BadZipFile, EOFError, ET.ParseError, KeyError, ValueError, OSError) as err:
        raise Rejected(f"truncated or damaged XLSX file: {type(err).__name__}: {err}") from err
    finally:
        workbook.close()
    cells = _concat_typed(chunks, width)
    return RawFile(headers, cells, row_numbers, problems, {"sheet": sheet.title, "header_row": header_row})


def _opendocument(data: bytes) -> str | None:
    """What OpenDocument file ``data`` is ('OpenDocument spreadsheet (.ods)', ...), or None.

    An OpenDocument file is a ZIP archive whose first entry, stored uncompressed, is ``mimetype``.
    """
    if data[30:38] != b"mimetype":
        return None
    kind = re.match(rb"[^\0]{0,40}application/vnd\.oasis\.opendocument\.([a-z-]+)", data[38:160])
    if kind is None:
        return None
    name = kind.group(1).decode("ascii")
    suffix = {"spreadsheet": ".ods", "text": ".odt", "presentation": ".odp"}.get(name, "")
    return f"OpenDocument {name}{f' ({suffix})' if suffix else ''}"


def _formulas_without_values(data: bytes, title: str, header_row: int, headers: Sequence[str], blanks: set[tuple[int, int]]) -> list[Problem]:
    """The blank cells (``blanks``: row, column index) that hold a formula whose result was never saved.

    A workbook written by a program that computes no formulas (a script, some exports) keeps the
    formula without its value: read for values, the cell is empty. Said so, instead of 'empty'.
    """
    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    try:
        found = []
        rows = workbook[title].iter_rows(min_row=header_row + 1, max_col=len(headers), values_only=True)
        for number, row in enumerate(rows, start=header_row + 1):
            for index, cell in enumerate(row):
                formula = cell.text if isinstance(cell, ArrayFormula) else cell
                if (number, index) in blanks and isinstance(formula, str) and formula.startswith("="):
                    found.append((number, headers[index], formula,
                                  "the cell holds a formula whose result was never saved in the file, so there is no "
                                  "value to read: open the file in Excel or LibreOffice and save it again (or paste the "
                                  "values), so that the results are stored"))
        return found
    finally:
        workbook.close()


_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_RELATIONSHIPS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_RELATIONSHIP_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def _merged_ranges(archive: zipfile.ZipFile, title: str) -> list[str]:
    """The merged ranges of the sheet named ``title``, read from the workbook's XML.

    openpyxl (3.1) parses no merged cells in read-only mode and names no sheet's part in its
    public API, so the sheet's part is found as the format defines it: ``xl/workbook.xml`` gives
    the sheet's relationship id, ``xl/_rels/workbook.xml.rels`` its part.
    """
    relation = next(
        (sheet.get(_RELATIONSHIP_ID) for sheet in ET.fromstring(archive.read("xl/workbook.xml")).iter(f"{_MAIN}sheet")
         if sheet.get("name") == title),
        None,
    )  # fmt: skip
    targets = {r.get("Id"): r.get("Target", "") for r in ET.fromstring(archive.read("xl/_rels/workbook.xml.rels")).iter(f"{_RELATIONSHIPS}Relationship")}
    target = targets.get(relation)
    if not target:
        return []
    path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")
    refs = []
    sheet_data = None
    with archive.open(path) as source:
        for event, element in ET.iterparse(source, events=("start", "end")):
            if event == "start":
                if element.tag.endswith("}sheetData"):
                    sheet_data = element
                continue
            if element.tag.endswith("}mergeCell") and element.get("ref"):
                refs.append(element.get("ref"))
            elif element.tag.endswith("}row") and sheet_data is not None:
                sheet_data.clear()  # the cells were read already; keep memory flat
    return refs


def _range_boundaries(ref: str) -> tuple[int, int, int, int]:
    min_col, min_row, max_col, max_row = range_boundaries(ref)
    return min_col, min_row, max_col or min_col, max_row or min_row


def _blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _typed_frame(values: list[list[Any]]) -> pl.DataFrame:
    """Spreadsheet columns typed where every filled cell has one type (dates, whole numbers,
    numbers, booleans); any other column as text."""
    return pl.DataFrame([_typed_series(f"column_{i}", column) for i, column in enumerate(values)])


def _typed_series(name: str, values: list[Any]) -> pl.Series:
    kinds = {type(v) for v in values if v is not None}
    try:
        if kinds and kinds <= {dt.datetime, dt.date}:
            dates = [v.date() if isinstance(v, dt.datetime) and v.time() == dt.time() else v for v in values]
            if all(v is None or type(v) is dt.date for v in dates):
                return pl.Series(name, dates, dtype=pl.Date)
            return pl.Series(name, [_as_datetime(v) for v in values], dtype=pl.Datetime("us"))
        if kinds and kinds <= {int}:
            return pl.Series(name, values, dtype=pl.Int64)
        if kinds and kinds <= {int, float}:
            return pl.Series(name, [None if v is None else float(v) for v in values], dtype=pl.Float64)
        if kinds == {bool}:
            return pl.Series(name, values, dtype=pl.Boolean)
    except (OverflowError, TypeError, ValueError, pl.exceptions.PolarsError):
        pass
    return pl.Series(name, [None if v is None else _cell_text(v) for v in values], dtype=pl.String)


def _as_datetime(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime(value.year, value.month, value.day)


def _cell_text(value: Any) -> str:
    """A spreadsheet cell as the text the parser reads.

    A number with a fraction is never a valid cell, and its text must not read as a whole number
    in either convention of writing numbers (``transforms.uwv_values``): 1.234 is written
    ``1.2340``, since ``1.234`` or ``1,234`` would read as 1234 in one of them.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 9e18:
            return str(int(value))
        text = repr(value)
        return text + "0" if re.fullmatch(r"-?\d+\.\d{3}", text) else text
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _concat_typed(chunks: list[pl.DataFrame], width: int) -> pl.DataFrame:
    """Chunks of one sheet as one frame; a column typed differently in two chunks becomes text."""
    if not chunks:
        return pl.DataFrame(schema={f"column_{i}": pl.String for i in range(width)})
    if len(chunks) == 1:
        return chunks[0]
    unified = []
    for name in chunks[0].columns:
        dtypes = {chunk.schema[name] for chunk in chunks} - {pl.Null}
        unified.append((name, dtypes.pop() if len(dtypes) == 1 else None))
    fixed = []
    for chunk in chunks:
        fixed.append(chunk.with_columns(
            pl.col(name).cast(dtype) if dtype is not None
            else pl.Series(name, [None if v is None else _cell_text(v) for v in chunk[name].to_list()], dtype=pl.String)
            for name, dtype in unified
        ))
    return pl.concat(fixed)
