"""Where UWV files live (inbox, archive, quarantine) and how they move between those folders.

A file is moved with ``os.replace`` when both folders are on one filesystem. The inbox may be
on another one (a mounted share is common): then the file is copied next to its target under
a temporary name, fsynced, renamed into place, and only then removed from where it was. A crash
in between leaves the file in both places, never in none; the intake recognises the copy it
already holds (``sources.uwv.archive``).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import stat
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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


IGNORED_PREFIXES = (".", "~$")
IGNORED_SUFFIXES = ("~", ".tmp", ".part", ".partial", ".crdownload")
"""Names of files still being written (by their writer's own convention): left alone in the inbox."""


class CannotMove(OSError):
    """An entry that cannot be copied to another filesystem (a FIFO, socket or device): it stays where it is."""


def move(source: Path, target: Path) -> None:
    """Move ``source`` (a file, symbolic link or folder; not followed) to ``target``, which must not exist.

    Within a filesystem a rename; across filesystems a copy (fsynced, renamed into place) and then
    the removal of ``source``. Raises :class:`CannotMove` for a FIFO, socket or device on another
    filesystem, which is then left where it was.
    """
    try:
        os.replace(source, target)
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
    else:
        return
    info = os.lstat(source)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.copying")
    try:
        if stat.S_ISLNK(info.st_mode):
            os.symlink(os.readlink(source), temporary)
        elif stat.S_ISDIR(info.st_mode):
            shutil.copytree(source, temporary, symlinks=True, copy_function=_copy_file)
            fsync_dir(temporary)
        elif stat.S_ISREG(info.st_mode):
            _copy_file(source, temporary)
        else:
            raise CannotMove(errno.EXDEV, f"a FIFO, socket or device cannot be moved to another filesystem: {source}")
        os.replace(temporary, target)
    except BaseException:
        if os.path.isdir(temporary) and not os.path.islink(temporary):
            shutil.rmtree(temporary, ignore_errors=True)
        elif os.path.lexists(temporary):
            os.unlink(temporary)
        raise
    fsync_dir(target.parent)
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(source)
    else:
        os.unlink(source)
    fsync_dir(Path(source).parent)


def _copy_file(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Copy a regular file's bytes and times, without following a link, and fsync the copy."""
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as reader, open(target, "xb") as writer:
        shutil.copyfileobj(reader, writer, 1 << 20)
        writer.flush()
        os.fsync(writer.fileno())
    shutil.copystat(source, target, follow_symlinks=False)


def safe_name(name: str) -> str:
    """``name`` reduced to characters that are safe in a file name, for the quarantine."""
    cleaned = re.sub(r"[^\w.\- ]", "_", name.encode("utf-8", "replace").decode("utf-8")).replace("..", "__")
    cleaned = cleaned.lstrip(". ") or "unnamed"
    return cleaned[:150]


def printable(name: str) -> str:
    """``name`` with bytes that are not UTF-8 (kept by Python as surrogates) shown as U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def sha256_of(path: Path) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def write_json(path: Path, record: Mapping[str, Any]) -> None:
    write_text(path, json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n")


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a temporary file beside it, fsync, rename."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(temporary, "w", encoding="utf-8") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def inbox_names(inbox: Path, quiet_seconds: float, now: float) -> tuple[list[str], list[tuple[str, float]]]:
    """Names in the inbox ready to be taken in, oldest first (then by name), and (name, age) of
    those changed less than ``quiet_seconds`` before ``now`` (a POSIX timestamp).

    A file's last change is the later of its modification and status-change times: a copy that
    keeps the original's modification time (``scp -p``, a share) still changes the status-change
    time with every write, which no program can set back.
    """
    ready, settling = [], []
    for entry in os.scandir(inbox):
        name = entry.name
        if name_problem(name) is None and (
            name.startswith(IGNORED_PREFIXES) or name.endswith(IGNORED_SUFFIXES)
        ):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        age = now - max(info.st_mtime, info.st_ctime)
        if quiet_seconds > 0 and age < quiet_seconds:
            settling.append((name, max(age, 0.0)))
        else:
            ready.append((info.st_mtime_ns, name))
    return [name for _, name in sorted(ready)], sorted(settling)


def unchanged(path: Path, info: os.stat_result) -> bool:
    """Whether ``path`` is still the file ``info`` describes (same inode, size, modification and status-change time)."""
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return False
    return (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns, now.st_ctime_ns) == (
        info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns
    )


def name_problem(name: str) -> str | None:
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


def symlink_problem(inbox: Path, path: Path) -> str:
    target = os.readlink(path)
    resolved = Path(os.path.realpath(path))
    inside = resolved.is_relative_to(Path(os.path.realpath(inbox)))
    where = "inside the inbox" if inside else "outside the inbox"
    return (
        f"symbolic link to {target!r} ({where}): links are never followed; copy the file itself "
        "into the inbox"
    )
