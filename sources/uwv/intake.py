"""Intake of UWV register files from the drop folder ``$WERKREGIO_HOME/inbox/uwv/``.

UWV delivers files, not an API: vacancies per labour-market region, WWB recipients registered
as job seeker per municipality, and municipalities' access to the UWV portal. Each file in the
inbox that has been quiet long enough (unchanged for ``quiet_seconds``) is checked for a safe
name and type, read (CSV or XLSX, bounded in size: ``sources.uwv.files``), parsed and checked
(``transforms.uwv.uwv_table``), validated (``expectations.uwv``), and then either

- **accepted**: moved into its archive entry with its normalised table and report
  (``sources.uwv.archive``);
- **a duplicate**: content already archived (same sha256, any name, and the entry still holds that
  file); nothing is loaded, the copy in the inbox is removed (its bytes are in the archive already);
- **rejected**: moved to the quarantine with its reports (``sources.uwv.quarantine``); nothing of
  it is archived or loaded.

A file is always in the inbox, the archive or the quarantine, also after a crash (moves across
filesystems: ``sources.uwv.folders``). The file contract is docs/uwv-files.md.

Plain functions, no Prefect: the refresh flow wraps ``intake_inbox`` in a task.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import hashlib
import os
import stat
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

from expectations.runner import ValidationReport
from sources.uwv.archive import REPORT, add_entry, archived_record, first_accepted_at, recover_staging, start_accepted_log
from sources.uwv.files import Rejected, read_csv, read_xlsx
from sources.uwv.folders import UwvFolders, fsync_dir, inbox_names, name_problem, printable, symlink_problem, unchanged
from sources.uwv.quarantine import quarantine
from transforms import uwv
from transforms.geography import normalise_gm_code
from transforms.uwv_checks import NationalBounds

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
"""Largest file accepted (16 MiB). A real UWV file is far smaller (all municipalities for every
month of 20 years is about 4 MB as CSV), so a larger file is a wrong export or an attack. Larger
files are rejected from their size alone, without being read; smaller ones are read into memory
whole, which bounds memory at a small multiple of this limit."""

DEFAULT_MAX_ROWS = 250_000
"""Most data rows accepted: an XLSX of 16 MiB can unpack to far more rows than a CSV of 16 MiB."""

DEFAULT_QUIET_SECONDS = 60.0
"""How long a file in the inbox must have been left unchanged before it is taken in: a copy that
pauses (a share, scp) must not be read half-written (``WERKREGIO_UWV_QUIET_SECONDS``)."""

MESSAGE_PROBLEMS = 3

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
XLSX_SUFFIXES = (".xlsx",)

Status = Literal["accepted", "duplicate", "rejected", "waiting"]

_NOT_ABOUT_THE_FILE = (OSError, MemoryError, ImportError)
"""Errors of the machine or the installation while a file is checked: they would strike every file
alike, so they stop the intake (the file stays in the inbox) instead of quarantining good files."""


class IntakeBusy(RuntimeError):
    """Another intake holds the lock on the same archive."""


@dataclass(frozen=True)
class FileCheck:
    """A file read, parsed and validated, before anything is moved.

    ``table`` is None when the file could not be read as a table; ``problems`` holds every
    problem (reading and parsing, ``transforms.uwv.PROBLEM_SCHEMA``); ``validation`` is the GX
    report, run when the table has rows. ``details``: format, encoding, delimiter, sheet,
    header_row, rows.
    """

    table: uwv.UwvTable | None
    problems: pl.DataFrame
    validation: ValidationReport | None
    details: dict[str, Any]

    @property
    def passed(self) -> bool:
        return (
            self.table is not None
            and self.table.dataset is not None
            and self.problems.height == 0
            and self.validation is not None
            and self.validation.passed
        )

    @property
    def dataset(self) -> str | None:
        return None if self.table is None else self.table.dataset


@dataclass(frozen=True)
class IntakeResult:
    """What happened to one file of the inbox.

    ``frame`` is the normalised table (schema ``transforms.uwv.SCHEMAS[dataset]``) of an accepted
    file, None otherwise: a rejected file loads nothing, a duplicate nothing new, a file still
    ``waiting`` to be quiet is not read yet. ``path`` is where the file is now (None for a
    duplicate, which is removed from the inbox), ``report`` its report.json. ``message`` is one
    line for logs.
    """

    file: str
    status: Status
    message: str
    dataset: str | None = None
    sha256: str | None = None
    frame: pl.DataFrame | None = None
    problems: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=uwv.PROBLEM_SCHEMA))
    validation: ValidationReport | None = None
    path: Path | None = None
    report: Path | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def validation_rows(self) -> list[dict[str, Any]]:
        """One row per expectation checked, as ``ValidationReport.to_rows`` (empty if none ran)."""
        return [] if self.validation is None else self.validation.to_rows()


@dataclass(frozen=True)
class CbsKnowledge:
    """What CBS says, against which a file is checked (``transforms.uwv.uwv_table``).

    ``valid_municipalities``: year -> municipality codes valid on 1 January of that year.
    ``regions``: year -> {region code: region name as CBS spells it}. ``municipality_names``:
    year -> {code: CBS's names of it} (None: names not checked). ``national_bounds``: the national
    totals no row may exceed (None: not checked).
    """

    valid_municipalities: Mapping[int, Collection[str]]
    regions: Mapping[int, Mapping[str, str]]
    municipality_names: Mapping[int, Mapping[str, Collection[str]]] | None = None
    national_bounds: NationalBounds | None = None


def intake_inbox(
    home: Path,
    *,
    valid_municipalities: Mapping[int, Collection[str]],
    regions: Mapping[int, Mapping[str, str]],
    today: dt.date,
    municipality_names: Mapping[int, Mapping[str, Collection[str]]] | None = None,
    national_bounds: NationalBounds | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
    quiet_seconds: float = DEFAULT_QUIET_SECONDS,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> list[IntakeResult]:
    """Take in every file in ``home/inbox/uwv``; one result per file, oldest file first.

    What CBS says (codes, names, national totals): :class:`CbsKnowledge`. ``today``: the last
    acceptable reference date. A file changed less than ``quiet_seconds`` before ``clock()`` (its
    modification or status-change time) is ``waiting``: it may still be being copied, and is
    taken in by a later intake. Files whose names start with '.' or '~$' or end in '~', '.tmp',
    '.part', '.partial' or '.crdownload' are still being written and are left alone, and so is a
    file that changes while it is checked (it is taken in by the next intake). A file whose check
    fails with an unexpected error is quarantined with that error in its report.

    Raises IntakeBusy when another intake on the same home is running, and errors of the machine
    (``_NOT_ABOUT_THE_FILE``, errors moving files), which leave the file where it was.
    """
    cbs = CbsKnowledge(valid_municipalities, regions, municipality_names, national_bounds)
    folders = UwvFolders.at(home)
    for folder in (folders.inbox, folders.archive, folders.quarantine):
        folder.mkdir(parents=True, exist_ok=True)
    with _intake_lock(folders):
        recover_staging(folders)
        start_accepted_log(folders)
        ready, settling = inbox_names(folders.inbox, quiet_seconds, clock().timestamp())
        results = [
            IntakeResult(
                file=printable(name),
                status="waiting",
                message=f"{name!r} changed {age:.0f} s ago: taken in once it has been left unchanged for "
                f"{quiet_seconds:g} s (WERKREGIO_UWV_QUIET_SECONDS), so that a copy still under way is not read",
                path=folders.inbox / name,
            )
            for name, age in settling
        ]
        for name in ready:
            result = _intake_file(folders, name, cbs=cbs, today=today, max_bytes=max_bytes, max_rows=max_rows, clock=clock)
            if result is not None:
                results.append(result)
        return results


def waiting_files(home: Path, quiet_seconds: float = DEFAULT_QUIET_SECONDS) -> list[str]:
    """Names of the files an intake on ``home`` would take in now (none while the inbox is missing)."""
    inbox = UwvFolders.at(home).inbox
    return inbox_names(inbox, quiet_seconds, dt.datetime.now(dt.UTC).timestamp())[0] if inbox.is_dir() else []


def settling_files(home: Path, quiet_seconds: float = DEFAULT_QUIET_SECONDS) -> list[tuple[str, float]]:
    """(name, seconds since it last changed) of the files an intake on ``home`` would leave ``waiting`` now."""
    inbox = UwvFolders.at(home).inbox
    return inbox_names(inbox, quiet_seconds, dt.datetime.now(dt.UTC).timestamp())[1] if inbox.is_dir() else []


def load_valid_municipalities(path: Path) -> dict[int, set[str]]:
    """year -> codes from a CSV with ``year`` and ``gemeentecode`` (or ``code``/``gm_code``) columns,
    such as ``gemeenten_valid_on_1_january_2009_2026.csv`` in the shared reference data."""
    frame = pl.read_csv(path, infer_schema=False)
    column = next((c for c in ("gemeentecode", "code", "gm_code") if c in frame.columns), None)
    if "year" not in frame.columns or column is None:
        raise ValueError(f"{path}: needs a 'year' and a 'gemeentecode' column, has {frame.columns}")
    valid: dict[int, set[str]] = {}
    for year, code in frame.select("year", column).iter_rows():
        valid.setdefault(int(year), set()).add(normalise_gm_code(code))
    return valid


def check_file(
    data: bytes,
    name: str,
    *,
    valid_municipalities: Mapping[int, Collection[str]],
    regions: Mapping[int, Mapping[str, str]],
    today: dt.date,
    municipality_names: Mapping[int, Mapping[str, Collection[str]]] | None = None,
    national_bounds: NationalBounds | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    batch: str | None = None,
) -> FileCheck:
    """Read ``data`` (the bytes of a file called ``name``) as a UWV file, parse and validate it.

    Moves nothing; ``intake_inbox`` uses it, and so can a benchmark or a one-off check.
    """
    details: dict[str, Any] = {"format": "xlsx" if name.lower().endswith(XLSX_SUFFIXES) else "csv"}
    try:
        raw = read_xlsx(data, max_rows) if details["format"] == "xlsx" else read_csv(data, max_rows)
    except Rejected as err:
        return FileCheck(None, _problem_frame([(None, None, None, str(err))]), None, details)
    details.update(raw.details)
    table = uwv.uwv_table(
        raw.headers,
        raw.cells,
        today=today,
        valid_municipalities=valid_municipalities,
        regions=regions,
        row_numbers=raw.row_numbers,
        municipality_names=municipality_names,
        national_bounds=national_bounds,
    )
    problems = pl.concat([_problem_frame(raw.problems), table.problems]).with_row_index("order").sort(
        pl.col("row").is_not_null(), "row", "order"
    ).drop("order")
    details["dataset"] = table.dataset
    details["rows"] = table.frame.height
    if table.numbers is not None:
        details["numbers"] = table.numbers
    validation = None
    if table.dataset is not None and table.frame.height:
        from expectations.uwv import validate_uwv  # GX: imported only when a file is taken in

        validation = validate_uwv(
            table.frame,
            table.dataset,
            batch or name,
            valid_municipalities=valid_municipalities,
            regions=regions,
            today=today,
        )
    return FileCheck(table, problems, validation, details)


def _intake_file(
    folders: UwvFolders,
    name: str,
    *,
    cbs: CbsKnowledge,
    today: dt.date,
    max_bytes: int,
    max_rows: int,
    clock: Callable[[], dt.datetime],
) -> IntakeResult | None:
    path = folders.inbox / name
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None  # removed since the listing
    now = clock()
    details: dict[str, Any] = {"size_bytes": info.st_size}

    def reject(message: str, check: FileCheck | None = None) -> IntakeResult:
        problems = check.problems if check is not None else _problem_frame([(None, None, None, message)])
        message = message if check is not None else f"rejected {name!r}: {message}"
        validation = None if check is None else check.validation
        dataset = None if check is None else check.dataset
        moved = quarantine(
            folders, name, path, message=message, now=now, details=details, dataset=dataset, problems=problems, validation=validation
        )
        if moved.path is None:
            message += f"; it cannot be moved to the quarantine on another filesystem and stays in the inbox: remove it from {folders.inbox}"
        else:
            fsync_dir(folders.inbox)
        return IntakeResult(
            file=printable(name), status="rejected", message=message, dataset=dataset, sha256=details.get("sha256"),
            problems=problems, validation=validation, path=moved.path or path, report=moved.report, details=details,
        )

    unsafe = name_problem(name)
    if unsafe is not None:
        return reject(unsafe)
    if stat.S_ISLNK(info.st_mode):
        return reject(symlink_problem(folders.inbox, path))
    if stat.S_ISDIR(info.st_mode):
        return reject("is a directory, not a file: drop files into the inbox, not folders")
    if not stat.S_ISREG(info.st_mode):
        return reject("not a regular file (a FIFO, socket or device): it is not read")
    suffix = Path(name).suffix.lower()
    if suffix == ".xls":
        return reject("old Excel .xls workbooks are not accepted: save the file as .xlsx or CSV")
    if suffix == ".ods":
        return reject("OpenDocument spreadsheets (.ods) are not accepted: save the file as .xlsx (Excel) or CSV")
    if suffix not in CSV_SUFFIXES + XLSX_SUFFIXES:
        return reject(
            f"unsupported file type {suffix or '(no extension)'!r}: UWV files are CSV "
            f"({', '.join(CSV_SUFFIXES)}) or XLSX (.xlsx)"
        )
    if info.st_size > max_bytes:
        return reject(_too_large(info.st_size, max_bytes))
    try:
        data, sha256 = _read_bounded(path, info, max_bytes)
    except Rejected as err:
        return reject(str(err))
    details["sha256"] = sha256
    entry = folders.archive / sha256[:2] / sha256
    if os.path.lexists(entry):
        record = archived_record(entry, sha256, info.st_size)
        if record is None:
            return reject(
                f"its archive entry {entry} does not hold the accepted file with this content (sha256 "
                f"{sha256[:12]}): the entry was changed afterwards, or its recovery is half done. This copy is "
                "kept: remove that folder, then move this file from the quarantine back into the inbox"
            )
        if not unchanged(path, info):
            return None
        os.unlink(path)
        fsync_dir(folders.inbox)
        return IntakeResult(
            file=printable(name),
            status="duplicate",
            message=(
                f"duplicate: {name!r} has the same content (sha256 {sha256[:12]}) as {record['file']!r}, "
                f"accepted {record['accepted_at']} as {record['dataset']}; nothing loaded, the copy "
                f"in the inbox was removed"
            ),
            dataset=record["dataset"],
            sha256=sha256,
            path=None,
            report=entry / REPORT,
            details={**details, "duplicate_of": str(entry / record["file"])},
        )
    try:
        check = check_file(
            data,
            name,
            valid_municipalities=cbs.valid_municipalities,
            regions=cbs.regions,
            municipality_names=cbs.municipality_names,
            national_bounds=cbs.national_bounds,
            today=today,
            max_rows=max_rows,
            batch=f"{name}@{sha256[:12]}",
        )
    except _NOT_ABOUT_THE_FILE:
        raise
    except Exception as err:  # noqa: BLE001 - this file's content met a bug: quarantine it, go on with the others
        return reject(
            f"the intake failed on this file with {type(err).__name__}: {err}; nothing of it was loaded. This is "
            "a bug in the intake, not a known problem of the file: please report it with the file"
        )
    del data
    details.update(check.details)
    if not unchanged(path, info):
        return None  # being rewritten: what was checked is not what would be moved
    if not check.passed:
        return reject(_rejection_message(name, check), check)
    return _accept(folders, name, path, sha256, check, now, today, details)


def _accept(
    folders: UwvFolders,
    name: str,
    path: Path,
    sha256: str,
    check: FileCheck,
    now: dt.datetime,
    today: dt.date,
    details: dict[str, Any],
) -> IntakeResult | None:
    """Archive an accepted file (``sources.uwv.archive.add_entry``); None if it changed while it was moved."""
    assert check.table is not None and check.validation is not None
    table = check.table
    warnings = uwv.problem_lines(table.warnings, limit=table.warnings.height) + [r.message for r in check.validation.warnings]
    message = _accepted_message(name, table, details, len(warnings))
    record = {
        "file": printable(name),
        "status": "accepted",
        "dataset": table.dataset,
        "sha256": sha256,
        "accepted_at": first_accepted_at(folders, sha256, now.isoformat(timespec="microseconds")),
        "today": today.isoformat(),
        "message": message,
        "details": details,
        "headers": table.headers,
        "warnings": warnings,
        "validation": check.validation.to_rows(),
        "problems": [],
        "problem_count": 0,
    }
    entry = add_entry(folders, name, path, sha256, table.frame, record)
    if entry is None:
        return None
    return IntakeResult(
        file=printable(name),
        status="accepted",
        message=message,
        dataset=table.dataset,
        sha256=sha256,
        frame=table.frame,
        problems=check.problems,
        validation=check.validation,
        path=entry / name,
        report=entry / REPORT,
        details=details,
    )


def _too_large(size: int, max_bytes: int) -> str:
    return (
        f"file too large: {size:,} bytes, more than the limit of {max_bytes:,} bytes; it was not "
        "read. Real UWV files are far smaller; split the file or raise max_bytes"
    )


def _read_bounded(path: Path, info: os.stat_result, max_bytes: int) -> tuple[bytes, str]:
    """The file's bytes and sha256, never reading more than ``max_bytes`` + 1 bytes.

    Opened without following links and checked to be the file that was listed, so a file
    swapped for a link or a FIFO in the meantime is not read.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise Rejected("became a symbolic link while being read; links are never followed") from err
        raise Rejected(f"cannot be opened: {err.strerror}") from err
    with os.fdopen(fd, "rb") as stream:
        opened = os.fstat(stream.fileno())
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            raise Rejected("changed into another file while being read; drop it again")
        digest = hashlib.sha256()
        chunks = []
        size = 0
        while chunk := stream.read(1 << 20):
            size += len(chunk)
            if size > max_bytes:
                raise Rejected(_too_large(size, max_bytes) + " (it grew while being read)")
            digest.update(chunk)
            chunks.append(chunk)
    return b"".join(chunks), digest.hexdigest()


def _problem_frame(problems: Sequence[tuple[int | None, str | None, str | None, str]]) -> pl.DataFrame:
    return pl.DataFrame(list(problems), schema=uwv.PROBLEM_SCHEMA, orient="row")


def _rejection_message(name: str, check: FileCheck) -> str:
    """One line: the file, its dataset, the first problems and failed critical expectations."""
    parts = []
    if check.problems.height:
        lines = uwv.problem_lines(check.problems, MESSAGE_PROBLEMS)
        parts.append(f"{check.problems.height} problem(s): " + "; ".join(lines))
    if check.validation is not None and check.validation.critical_failures:
        failures = check.validation.critical_failures
        shown = "; ".join(f"{r.dataset}: {r.message}" for r in failures[:MESSAGE_PROBLEMS])
        more = f"; ... and {len(failures) - MESSAGE_PROBLEMS} more" if len(failures) > MESSAGE_PROBLEMS else ""
        parts.append(f"{len(failures)} failed critical expectation(s): {shown}{more}")
    dataset = f" ({check.dataset})" if check.dataset else ""
    return f"rejected {name!r}{dataset}: " + " | ".join(parts or ["no table could be read"])


def _accepted_message(name: str, table: uwv.UwvTable, details: dict[str, Any], warnings: int) -> str:
    dates = table.frame["reference_date"]
    how = [details.get("format")]
    if details.get("encoding"):
        how += [details["encoding"], f"delimiter {details['delimiter']}"]
    if details.get("sheet"):
        how.append(f"sheet {details['sheet']!r}")
    return (
        f"accepted {name!r} as {table.dataset}: {table.frame.height} rows, reference dates "
        f"{dates.min()} to {dates.max()} ({', '.join(how)}); {warnings} warning(s)"
    )


@contextmanager
def _intake_lock(folders: UwvFolders) -> Iterator[None]:
    """Hold an exclusive lock on the archive for one intake; released by the OS if we die."""
    with open(folders.archive / ".intake.lock", "a+") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise IntakeBusy(
                f"another UWV intake is running on {folders.archive}; try again when it has finished"
            ) from err
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
