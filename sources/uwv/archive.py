"""The UWV archive: one entry per accepted file content, and the three tables rebuilt from them.

Layout under ``$WERKREGIO_HOME/archive/uwv`` (docs/uwv-files.md, 'Where files go')::

    <sha256[:2]>/<sha256>/<original name>     the accepted file, byte for byte
                          normalised.parquet  its normalised table
                          report.json         dataset, sha256, accepted_at, details, warnings, validation
    accepted.jsonl                            sha256 and first accepted_at of every content ever accepted
    .staging-<id>/                            an entry being built (renamed into place complete)

An entry is only ever renamed into place complete; whatever reads it checks that its accepted
file still has the sha256 it was accepted with, so a file that changed afterwards (a writer
still holding it open) fails the run instead of standing for what was checked.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import stat
import uuid
from pathlib import Path
from typing import Any

import polars as pl

from sources.parquet import read_named
from sources.uwv.folders import UwvFolders, fsync_dir, fsync_file, move, safe_name, sha256_of, write_json, write_text
from transforms import uwv

NORMALISED = "normalised.parquet"
REPORT = "report.json"
ACCEPTED_LOG = "accepted.jsonl"
"""In the archive: one line (sha256, accepted_at) per content ever accepted. It outlives an entry's
folder, so a file taken in again (the recovery of a damaged entry) keeps its first accepted_at."""


class ArchiveUnreadable(RuntimeError):
    """An archive entry is missing a file, holds a damaged one, or its accepted file changed since;
    the message names it by its full path."""


def archive_state(home: Path) -> list[str]:
    """One line per accepted file in the archive (folder and sha256), sorted: what :func:`archived_frames` reads.

    Each entry's accepted file is checked against its sha256 (:class:`ArchiveUnreadable`), so a
    refresh that would otherwise find nothing changed notices an archived file that did change.
    """
    archive = UwvFolders.at(home).archive
    return sorted(f"{folder.relative_to(archive)} {record['sha256']}" for folder, record in _entries(archive))


def archived_frames(archive_dir: Path) -> dict[str, pl.DataFrame]:
    """The three UWV tables rebuilt from every accepted file in ``archive_dir`` (archive/uwv).

    Merged on each table's key (``transforms.uwv.KEYS``): when several accepted files hold the
    same key, the file accepted last (by its first ``accepted_at``) wins, so a corrected file
    replaces earlier figures for the dates and codes it covers and leaves the others. Each table
    has its fixed schema and is sorted by key; a table without files is empty. Every entry's
    accepted file is checked against its sha256 first (:class:`ArchiveUnreadable`).
    """
    entries = sorted((record["accepted_at"], record["sha256"], record["dataset"], folder) for folder, record in _entries(Path(archive_dir)))
    frames: dict[str, list[pl.DataFrame]] = {dataset: [] for dataset in uwv.DATASETS}
    for _, _, dataset, folder in entries:
        frames[dataset].append(read_named(folder / NORMALISED, ArchiveUnreadable, "the UWV archive file", _advice(folder)).cast(uwv.SCHEMAS[dataset]))
    tables = {}
    for dataset, parts in frames.items():
        keys = list(uwv.KEYS[dataset])
        if parts:
            table = pl.concat(parts).unique(subset=keys, keep="last", maintain_order=True)
        else:
            table = pl.DataFrame(schema=uwv.SCHEMAS[dataset])
        tables[dataset] = table.sort(keys)
    return tables


def _entries(archive: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every entry's folder and report, its accepted file checked against the report's sha256."""
    found = []
    for report in archive.glob(f"??/*/{REPORT}"):
        folder = report.parent
        try:
            record = json.loads(report.read_text(encoding="utf-8"))
            kept = folder / record["file"]
            if not stat.S_ISREG(os.lstat(kept).st_mode):
                raise ArchiveUnreadable(f"the UWV archive file {kept} is no longer a regular file; {_advice(folder)}")
            digest = sha256_of(kept)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ArchiveUnreadable(f"the UWV archive entry {folder} cannot be read ({type(err).__name__}: {err}); {_advice(folder)}") from err
        if digest != record["sha256"]:
            raise ArchiveUnreadable(
                f"the UWV archive file {kept} changed after it was accepted (sha256 {digest[:12]}, accepted as "
                f"{record['sha256'][:12]}): it was probably still being written when it was taken in. What was loaded "
                f"from it is not what it holds now; {_advice(folder)}"
            )
        found.append((folder, record))
    return found


def _advice(folder: Path) -> str:
    return (
        f"an archive entry is only ever renamed into place complete, so it was changed afterwards: move the accepted "
        f"file kept in {folder} back into the inbox, remove that folder, and refresh again to take the file in anew "
        "(it keeps the accepted_at it first had, so later corrections still win)"
    )


def archived_record(entry: Path, sha256: str, size: int) -> dict[str, Any] | None:
    """The report of archive ``entry`` if the entry holds its accepted file, of ``size`` bytes and
    content ``sha256``; None when the report or that file is missing, unreadable or different."""
    try:
        record = json.loads((entry / REPORT).read_text(encoding="utf-8"))
        kept = entry / record["file"]
        info = os.lstat(kept)
        if not stat.S_ISREG(info.st_mode) or info.st_size != size:
            return None
        digest = sha256_of(kept)
    except (FileNotFoundError, NotADirectoryError, ValueError, KeyError, TypeError):
        return None
    return record if digest == sha256 else None


def add_entry(folders: UwvFolders, name: str, path: Path, sha256: str, frame: pl.DataFrame, record: dict[str, Any]) -> Path | None:
    """Move the accepted file ``path`` (content ``sha256``) into its archive entry, with ``frame`` and ``record``.

    The entry is assembled in a staging folder and renamed into place; a crash leaves the file in
    the inbox or in a staging folder (or, across filesystems, in both), and the next intake's
    :func:`recover_staging` puts it back. Returns the entry, or None when the file no longer has
    ``sha256`` once moved (a writer still had it open): it is then back in the inbox, for the next
    intake to check again.
    """
    entry = folders.archive / sha256[:2] / sha256
    staging = folders.archive / f".staging-{uuid.uuid4().hex}"
    staging.mkdir()
    frame.write_parquet(staging / NORMALISED)
    write_json(staging / REPORT, record)
    fsync_file(staging / NORMALISED)
    move(path, staging / name)
    fsync_dir(staging)
    if sha256_of(staging / name) != sha256:
        recover_staging(folders)
        return None
    entry.parent.mkdir(exist_ok=True)
    os.replace(staging, entry)
    fsync_dir(entry.parent)
    fsync_dir(folders.inbox)
    return entry


def first_accepted_at(folders: UwvFolders, sha256: str, now: str) -> str:
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


def start_accepted_log(folders: UwvFolders) -> None:
    """Start the log of acceptances from the archive's entries when there is none (an archive
    made before the log)."""
    log = folders.archive / ACCEPTED_LOG
    if log.exists():
        return
    logged = sorted(
        (record["accepted_at"], record["sha256"])
        for record in (json.loads(path.read_text(encoding="utf-8")) for path in folders.archive.glob(f"??/*/{REPORT}"))
    )
    write_text(log, "".join(json.dumps({"sha256": sha, "accepted_at": at}) + "\n" for at, sha in logged))


def recover_staging(folders: UwvFolders) -> None:
    """Undo archive entries a crash left half-built: the dropped file goes back to the inbox.

    A copy still in the inbox too (a move across filesystems cut short) is kept there and the
    staging copy dropped; another file of that name in the inbox sends the staged one to the
    quarantine instead.
    """
    for staging in folders.archive.glob(".staging-*"):
        for item in staging.iterdir():
            if item.name in (NORMALISED, REPORT) or item.name.startswith("."):
                continue
            back = folders.inbox / item.name
            if not os.path.lexists(back):
                move(item, back)
            elif not (back.is_file() and item.is_file() and filecmp.cmp(back, item, shallow=False)):
                move(item, folders.quarantine / f"recovered-{uuid.uuid4().hex[:8]}_{safe_name(item.name)}")
        shutil.rmtree(staging)
