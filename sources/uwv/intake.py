"""Intake of UWV register files from the drop folder ``$WERKREGIO_HOME/inbox/uwv/``.

UWV delivers files, not an API: vacancies per labour-market region, WWB recipients registered
as job seeker per municipality, and municipalities' access to the UWV portal. Each file in the
inbox is checked for a safe name and type, read (CSV or XLSX, bounded in size), parsed and
checked (``transforms.uwv.uwv_table``), validated (``expectations.uwv``), and then either

- **accepted**: moved to ``archive/uwv/<sha256[:2]>/<sha256>/<name>`` with the normalised
  table as ``normalised.parquet`` and ``report.json`` beside it;
- **a duplicate**: content already archived (same sha256, any name, and the entry still holds that
  file); nothing is loaded, the copy in the inbox is removed (its bytes are in the archive already);
- **rejected**: moved to ``quarantine/uwv/<timestamp>_<name>`` with ``<timestamp>_<name>.report.json``
  and ``.report.txt`` beside it; nothing of it is archived or loaded.

Moves are ``os.replace`` within ``$WERKREGIO_HOME`` (one filesystem), so a file is always in
exactly one of inbox, archive or quarantine, also after a crash. ``archived_frames`` rebuilds
the three tables from the archive. The file contract is docs/uwv-files.md.

Plain functions, no Prefect: the refresh flow wraps ``intake_inbox`` in a task.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import unicodedata
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

from expectations.runner import ValidationReport
from sources.parquet import read_named
from sources.uwv.files import Rejected, read_csv, read_xlsx
from transforms import uwv
from transforms.geography import normalise_gm_code

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
"""Largest file accepted (16 MiB). A real UWV file is far smaller (all municipalities for every
month of 20 years is about 4 MB as CSV), so a larger file is a wrong export or an attack. Larger
files are rejected from their size alone, without being read; smaller ones are read into memory
whole, which bounds memory at a small multiple of this limit."""

DEFAULT_MAX_ROWS = 250_000
"""Most data rows accepted: an XLSX of 16 MiB can unpack to far more rows than a CSV of 16 MiB."""


REPORT_PROBLEMS = 1_000
TEXT_PROBLEMS = 50
MESSAGE_PROBLEMS = 3

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
XLSX_SUFFIXES = (".xlsx",)
IGNORED_PREFIXES = (".", "~$")
IGNORED_SUFFIXES = ("~", ".tmp", ".part", ".partial", ".crdownload")
NORMALISED = "normalised.parquet"
REPORT = "report.json"
ACCEPTED_LOG = "accepted.jsonl"
"""In the archive: one line (sha256, accepted_at) per content ever accepted. It outlives an entry's
folder, so a file taken in again (the recovery of a damaged entry) keeps its first accepted_at."""

Status = Literal["accepted", "duplicate", "rejected"]



_NOT_ABOUT_THE_FILE = (OSError, MemoryError, ImportError)
"""Errors of the machine or the installation while a file is checked: they would strike every file
alike, so they stop the intake (the file stays in the inbox) instead of quarantining good files."""


class IntakeBusy(RuntimeError):
    """Another intake holds the lock on the same archive."""


@dataclass(frozen=True)
class UwvFolders:
    """Where UWV files are dropped, archived and quarantined; all under one home directory."""

    inbox: Path
    archive: Path
    quarantine: Path

    @classmethod
    def at(cls, home: Path) -> UwvFolders:
        home = Path(home)
        return cls(home / "inbox" / "uwv", home / "archive" / "uwv", home / "quarantine" / "uwv")


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
    file, None otherwise: a rejected file loads nothing, a duplicate nothing new. ``path`` is
    where the file is now (None for a duplicate, which is removed from the inbox), ``report`` its
    report.json. ``message`` is one line for logs.
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


def intake_inbox(
    home: Path,
    *,
    valid_municipalities: Mapping[int, Collection[str]],
    regions: Mapping[int, Mapping[str, str]],
    today: dt.date,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> list[IntakeResult]:
    """Take in every file in ``home/inbox/uwv``; one result per file, oldest file first.

    ``valid_municipalities``: year -> municipality codes valid on 1 January of that year.
    ``regions``: year -> {region code: region name as CBS spells it}. ``today``: the last
    acceptable reference date. Files whose names start with '.' or '~$' or end in '~', '.tmp',
    '.part', '.partial' or '.crdownload' are still being written and are left alone, and so is a
    file that changes while it is checked (it is taken in by the next intake). A file whose check
    fails with an unexpected error is quarantined with that error in its report.

    Raises IntakeBusy when another intake on the same home is running, and errors of the machine
    (``_NOT_ABOUT_THE_FILE``, errors moving files), which leave the file where it was.
    """
    folders = UwvFolders.at(home)
    for folder in (folders.inbox, folders.archive, folders.quarantine):
        folder.mkdir(parents=True, exist_ok=True)
    with _intake_lock(folders):
        _recover_staging(folders)
        _start_accepted_log(folders)
        results = []
        for name in _inbox_names(folders.inbox):
            result = _intake_file(
                folders,
                name,
                valid_municipalities=valid_municipalities,
                regions=regions,
                today=today,
                max_bytes=max_bytes,
                max_rows=max_rows,
                clock=clock,
            )
            if result is not None:
                results.append(result)
        return results


def waiting_files(home: Path) -> list[str]:
    """Names of the files an intake on ``home`` would take in now (none while the inbox is missing)."""
    inbox = UwvFolders.at(home).inbox
    return _inbox_names(inbox) if inbox.is_dir() else []


def archive_state(home: Path) -> list[str]:
    """One line per accepted file in the archive (folder and sha256), sorted: what ``archived_frames`` reads."""
    archive = UwvFolders.at(home).archive
    return sorted(
        f"{path.parent.relative_to(archive)} {json.loads(path.read_text(encoding='utf-8'))['sha256']}"
        for path in archive.glob(f"??/*/{REPORT}")
    )


def archived_frames(archive_dir: Path) -> dict[str, pl.DataFrame]:
    """The three UWV tables rebuilt from every accepted file in ``archive_dir`` (archive/uwv).

    Merged on each table's key (``transforms.uwv.KEYS``): when several accepted files hold the
    same key, the file accepted last (by its first ``accepted_at``) wins, so a corrected file
    replaces earlier figures for the dates and codes it covers and leaves the others. Each table
    has its fixed schema and is sorted by key; a table without files is empty.
    """
    entries = []
    for report_path in Path(archive_dir).glob(f"??/*/{REPORT}"):
        record = json.loads(report_path.read_text(encoding="utf-8"))
        entries.append((record["accepted_at"], record["sha256"], record["dataset"], report_path.parent))
    frames: dict[str, list[pl.DataFrame]] = {dataset: [] for dataset in uwv.DATASETS}
    for _, _, dataset, folder in sorted(entries):
        frames[dataset].append(_read_normalised(folder).cast(uwv.SCHEMAS[dataset]))
    tables = {}
    for dataset, parts in frames.items():
        keys = list(uwv.KEYS[dataset])
        if parts:
            table = pl.concat(parts).unique(subset=keys, keep="last", maintain_order=True)
        else:
            table = pl.DataFrame(schema=uwv.SCHEMAS[dataset])
        tables[dataset] = table.sort(keys)
    return tables


class ArchiveUnreadable(RuntimeError):
    """An archive entry's normalised table is missing or damaged; the message names it by its full path."""


def _read_normalised(folder: Path) -> pl.DataFrame:
    advice = (
        f"an archive entry is only ever renamed into place complete, so it was changed afterwards: move the accepted "
        f"file kept in {folder} back into the inbox, remove that folder, and refresh again to take the file in anew "
        "(it keeps the accepted_at it first had, so later corrections still win)"
    )
    return read_named(folder / NORMALISED, ArchiveUnreadable, "the UWV archive file", advice)


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
    )
    problems = pl.concat([_problem_frame(raw.problems), table.problems]).with_row_index("order").sort(
        pl.col("row").is_not_null(), "row", "order"
    ).drop("order")
    details["dataset"] = table.dataset
    details["rows"] = table.frame.height
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
    valid_municipalities: Mapping[int, Collection[str]],
    regions: Mapping[int, Mapping[str, str]],
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

    def reject(message: str, **extra: Any) -> IntakeResult:
        check = extra.pop("check", None)
        return _quarantine(folders, name, path, message, now, {**details, **extra}, check)

    name_problem = _name_problem(name)
    if name_problem is not None:
        return reject(name_problem)
    if stat.S_ISLNK(info.st_mode):
        return reject(_symlink_problem(folders.inbox, path))
    if stat.S_ISDIR(info.st_mode):
        return reject("is a directory, not a file: drop files into the inbox, not folders")
    if not stat.S_ISREG(info.st_mode):
        return reject("not a regular file (a FIFO, socket or device): it is not read")
    suffix = Path(name).suffix.lower()
    if suffix == ".xls":
        return reject("old Excel .xls workbooks are not accepted: save the file as .xlsx or CSV")
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
        record = _archived_record(entry, sha256, info.st_size)
        if record is None:
            return reject(
                f"its archive entry {entry} does not hold the accepted file with this content (sha256 "
                f"{sha256[:12]}): the entry was changed afterwards, or its recovery is half done. This copy is "
                "kept: remove that folder, then move this file from the quarantine back into the inbox"
            )
        if not _unchanged(path, info):
            return None
        os.unlink(path)
        _fsync_dir(folders.inbox)
        return IntakeResult(
            file=_printable(name),
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
            valid_municipalities=valid_municipalities,
            regions=regions,
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
    if not _unchanged(path, info):
        return None  # being rewritten: what was checked is not what would be moved
    if not check.passed:
        return reject(_rejection_message(name, check), check=check)
    return _archive(folders, name, path, sha256, check, now, today, details)


def _archived_record(entry: Path, sha256: str, size: int) -> dict[str, Any] | None:
    """The report of archive ``entry`` if the entry holds its accepted file, of ``size`` bytes and
    content ``sha256``; None when the report or that file is missing, unreadable or different."""
    try:
        record = json.loads((entry / REPORT).read_text(encoding="utf-8"))
        kept = entry / record["file"]
        info = os.lstat(kept)
        if not stat.S_ISREG(info.st_mode) or info.st_size != size:
            return None
        with open(kept, "rb") as stream:
            digest = hashlib.file_digest(stream, "sha256").hexdigest()
    except (FileNotFoundError, NotADirectoryError, ValueError, KeyError, TypeError):
        return None
    return record if digest == sha256 else None


def _archive(
    folders: UwvFolders,
    name: str,
    path: Path,
    sha256: str,
    check: FileCheck,
    now: dt.datetime,
    today: dt.date,
    details: dict[str, Any],
) -> IntakeResult:
    """Move an accepted file into its archive entry, with its normalised table and report.

    The entry is assembled in a staging folder and renamed into place; a crash leaves either the
    file in the inbox or in a staging folder, which the next intake moves back to the inbox.
    """
    assert check.table is not None and check.validation is not None
    table = check.table
    frame = table.frame
    entry = folders.archive / sha256[:2] / sha256
    warnings = [r.message for r in check.validation.warnings]
    message = _accepted_message(name, table, details, len(warnings))
    record = {
        "file": _printable(name),
        "status": "accepted",
        "dataset": table.dataset,
        "sha256": sha256,
        "accepted_at": _first_accepted_at(folders, sha256, now.isoformat(timespec="microseconds")),
        "today": today.isoformat(),
        "message": message,
        "details": details,
        "headers": table.headers,
        "warnings": warnings,
        "validation": check.validation.to_rows(),
        "problems": [],
        "problem_count": 0,
    }
    staging = folders.archive / f".staging-{uuid.uuid4().hex}"
    staging.mkdir()
    frame.write_parquet(staging / NORMALISED)
    _write_json(staging / REPORT, record)
    _fsync_file(staging / NORMALISED)
    os.replace(path, staging / name)
    _fsync_dir(staging)
    entry.parent.mkdir(exist_ok=True)
    os.replace(staging, entry)
    _fsync_dir(entry.parent)
    _fsync_dir(folders.inbox)
    return IntakeResult(
        file=_printable(name),
        status="accepted",
        message=message,
        dataset=table.dataset,
        sha256=sha256,
        frame=frame,
        problems=check.problems,
        validation=check.validation,
        path=entry / name,
        report=entry / REPORT,
        details=details,
    )


def _first_accepted_at(folders: UwvFolders, sha256: str, now: str) -> str:
    """When content ``sha256`` was first accepted, from the log of acceptances; else ``now``, logged.

    ``archived_frames`` orders files by accepted_at, so a file taken in again after its damaged
    entry was removed keeps its place before the corrections accepted after it.
    """
    log = folders.archive / ACCEPTED_LOG
    text = log.read_text(encoding="utf-8") if log.is_file() else ""
    for line in text.splitlines():
        try:
            logged = json.loads(line)
        except ValueError:
            continue  # a line cut off by a crash
        if isinstance(logged, dict) and logged.get("sha256") == sha256:
            return str(logged["accepted_at"])
    line = json.dumps({"sha256": sha256, "accepted_at": now}) + "\n"
    with open(log, "a", encoding="utf-8") as stream:
        stream.write(line if not text or text.endswith("\n") else "\n" + line)  # after a cut-off line, a line of its own
        stream.flush()
        os.fsync(stream.fileno())
    return now


def _start_accepted_log(folders: UwvFolders) -> None:
    """Start the log of acceptances from the archive's entries when there is none (an archive
    made before the log)."""
    log = folders.archive / ACCEPTED_LOG
    if log.exists():
        return
    logged = sorted(
        (record["accepted_at"], record["sha256"])
        for record in (json.loads(path.read_text(encoding="utf-8")) for path in folders.archive.glob(f"??/*/{REPORT}"))
    )
    _write_text(log, "".join(json.dumps({"sha256": sha, "accepted_at": at}) + "\n" for at, sha in logged))


def _quarantine(
    folders: UwvFolders,
    name: str,
    path: Path,
    message: str,
    now: dt.datetime,
    details: dict[str, Any],
    check: FileCheck | None,
) -> IntakeResult:
    """Move a rejected file (or link, or folder) to the quarantine with its reports beside it."""
    problems = check.problems if check is not None else _problem_frame([(None, None, None, message)])
    validation = None if check is None else check.validation
    dataset = None if check is None else check.dataset
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = folders.quarantine / f"{stamp}_{_safe_name(name)}"
    while os.path.lexists(target) or target.with_name(target.name + ".report.json").exists():
        target = target.with_name(f"{stamp}_{uuid.uuid4().hex[:6]}_{_safe_name(name)}")
    one_line = message if check is not None else f"rejected {name!r}: {message}"
    record = {
        "file": _printable(name),
        "status": "rejected",
        "dataset": dataset,
        "sha256": details.get("sha256"),
        "rejected_at": now.isoformat(timespec="microseconds"),
        "message": one_line,
        "details": details,
        "problems": problems.head(REPORT_PROBLEMS).to_dicts(),
        "problem_count": problems.height,
        "validation": [] if validation is None else validation.to_rows(),
    }
    report_json = target.with_name(target.name + ".report.json")
    report_txt = target.with_name(target.name + ".report.txt")
    _write_json(report_json, record)
    _write_text(report_txt, _report_text(name, target, one_line, problems, validation, details, now))
    os.replace(path, target)
    _fsync_dir(folders.quarantine)
    _fsync_dir(folders.inbox)
    return IntakeResult(
        file=_printable(name),
        status="rejected",
        message=one_line,
        dataset=dataset,
        sha256=details.get("sha256"),
        frame=None,
        problems=problems,
        validation=validation,
        path=target,
        report=report_json,
        details=details,
    )


def _inbox_names(inbox: Path) -> list[str]:
    """Names in the inbox that are not still being written, oldest first (then by name)."""
    names = []
    for entry in os.scandir(inbox):
        name = entry.name
        if _name_problem(name) is None and (
            name.startswith(IGNORED_PREFIXES) or name.endswith(IGNORED_SUFFIXES)
        ):
            continue
        try:
            mtime = entry.stat(follow_symlinks=False).st_mtime_ns
        except FileNotFoundError:
            continue
        names.append((mtime, name))
    return [name for _, name in sorted(names)]


def _unchanged(path: Path, info: os.stat_result) -> bool:
    """Whether ``path`` is still the file ``info`` describes (same inode, size and mtime)."""
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return False
    return (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns) == (
        info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns
    )


def _name_problem(name: str) -> str | None:
    reasons = []
    if "/" in name or "\\" in name:
        reasons.append("a path separator")
    if ".." in name:
        reasons.append("'..'")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in name):
        reasons.append("control or invisible characters (or bytes that are not UTF-8)")
    if not name.strip():
        reasons.append("no visible characters")
    if not reasons:
        return None
    return (
        f"unsafe file name {name!r}: it contains {' and '.join(reasons)}; names may not contain "
        "'/', '\\', '..' or control characters, so that no file can point outside the inbox"
    )


def _symlink_problem(inbox: Path, path: Path) -> str:
    target = os.readlink(path)
    resolved = Path(os.path.realpath(path))
    inside = resolved.is_relative_to(Path(os.path.realpath(inbox)))
    where = "inside the inbox" if inside else "outside the inbox"
    return (
        f"symbolic link to {target!r} ({where}): links are never followed; copy the file itself "
        "into the inbox"
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


def _report_text(
    name: str,
    target: Path,
    message: str,
    problems: pl.DataFrame,
    validation: ValidationReport | None,
    details: dict[str, Any],
    now: dt.datetime,
) -> str:
    lines = [
        f"UWV file rejected: {name!r}",
        f"Received:  {now.isoformat(timespec='seconds')}",
        f"Now at:    {target}",
        f"Why:       {message}",
        "",
    ]
    facts = {k: v for k, v in details.items() if v is not None}
    if facts:
        lines.append("File: " + ", ".join(f"{k} {v}" for k, v in facts.items()))
        lines.append("")
    if problems.height:
        shown = f", first {TEXT_PROBLEMS} shown" if problems.height > TEXT_PROBLEMS else ""
        lines.append(f"Problems ({problems.height}{shown}):")
        lines += [f"  - {line}" for line in uwv.problem_lines(problems, TEXT_PROBLEMS)]
        lines.append("")
    if validation is not None:
        failed = [r for r in validation.records if not r.success]
        if failed:
            lines.append(f"Failed expectations ({len(failed)}):")
            lines += [f"  - [{r.severity}] {r.dataset}: {r.message}" for r in failed]
            lines.append("")
    lines.append("Nothing from this file was loaded. Fix it and drop it into inbox/uwv again; the "
                 "file contract is docs/uwv-files.md.")
    return "\n".join(lines) + "\n"


def _printable(name: str) -> str:
    """``name`` with bytes that are not UTF-8 (kept by Python as surrogates) shown as U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _safe_name(name: str) -> str:
    """``name`` reduced to characters that are safe in a file name, for the quarantine."""
    cleaned = re.sub(r"[^\w.\- ]", "_", name.encode("utf-8", "replace").decode("utf-8")).replace("..", "__")
    cleaned = cleaned.lstrip(". ") or "unnamed"
    return cleaned[:150]


def _write_json(path: Path, record: Mapping[str, Any]) -> None:
    _write_text(path, json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n")


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a temporary file beside it, fsync, rename."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(temporary, "w", encoding="utf-8") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


def _recover_staging(folders: UwvFolders) -> None:
    """Undo archive entries a crash left half-built: the dropped file goes back to the inbox."""
    for staging in folders.archive.glob(".staging-*"):
        for item in staging.iterdir():
            if item.name in (NORMALISED, REPORT) or item.name.startswith("."):
                continue
            back = folders.inbox / item.name
            if not os.path.lexists(back):
                os.replace(item, back)
            else:
                os.replace(item, folders.quarantine / f"recovered-{uuid.uuid4().hex[:8]}_{_safe_name(item.name)}")
        shutil.rmtree(staging)
