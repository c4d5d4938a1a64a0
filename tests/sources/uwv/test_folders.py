"""Moves between the UWV folders when the inbox is on another filesystem than the archive (issue 22).

A mounted share as inbox is common. ``os.replace`` cannot move across filesystems (EXDEV): the
intake then copies, fsyncs and removes. Where the machine has a second filesystem (``/dev/shm``,
a tmpfs), the inbox really is on it; everywhere, the same moves also run with ``os.replace``
refusing every move out of the inbox as it would across filesystems.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

import pytest

from sources.uwv import folders as moves
from sources.uwv.archive import archived_frames
from sources.uwv.folders import UwvFolders
from tests import uwv_files as files
from tests.sources.uwv.test_intake import intake, rows
from transforms.uwv import WWB_REGISTRATIONS


def _other_filesystem(tmp_path: Path) -> Path | None:
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and os.stat(shm).st_dev != os.stat(tmp_path).st_dev:
        return Path(tempfile.mkdtemp(prefix="werkregio-inbox-", dir=shm))
    return None


@pytest.fixture(params=["real", "simulated"])
def home(request, tmp_path, monkeypatch):
    """A home whose inbox is on another filesystem (``real``: /dev/shm) or behaves as if (``simulated``)."""
    home = tmp_path / "home"
    home.mkdir()
    if request.param == "real":
        other = _other_filesystem(tmp_path)
        if other is None:
            pytest.skip("no second writable filesystem here; the simulated variant covers the moves")
        request.addfinalizer(lambda: __import__("shutil").rmtree(other, ignore_errors=True))
        (home / "inbox").symlink_to(other)
    else:
        inbox = str(home / "inbox")
        replace = os.replace

        def across(source, target, *args, **kwargs):
            if str(source).startswith(inbox) != str(target).startswith(inbox):
                raise OSError(errno.EXDEV, "Invalid cross-device link")
            return replace(source, target, *args, **kwargs)

        monkeypatch.setattr(moves.os, "replace", across)
    UwvFolders.at(home).inbox.mkdir(parents=True)
    return home


def test_an_inbox_on_another_filesystem_archives_and_quarantines_by_copying(home):
    """Issue 22: every refresh failed with a bare '[Errno 18] Invalid cross-device link'."""
    folders = UwvFolders.at(home)
    good = files.write_csv(folders.inbox / "bijstand.csv", WWB_REGISTRATIONS, rows(WWB_REGISTRATIONS))
    original = good.read_bytes()
    (folders.inbox / "kapot.csv").write_bytes(b"niets bruikbaars\r\n")
    os.utime(folders.inbox / "kapot.csv", (1e9, 1e9))  # taken in first

    rejected, accepted = intake(home)

    assert rejected.status == "rejected" and accepted.status == "accepted", (rejected.message, accepted.message)
    assert accepted.path.read_bytes() == original
    assert archived_frames(folders.archive)[WWB_REGISTRATIONS].height == len(rows(WWB_REGISTRATIONS))
    assert rejected.path.parent == folders.quarantine and rejected.path.read_bytes() == b"niets bruikbaars\r\n"
    assert json.loads(rejected.report.read_text(encoding="utf-8"))["status"] == "rejected"
    assert list(folders.inbox.iterdir()) == []
    assert [p.name for p in folders.quarantine.iterdir() if p.name.startswith(".")] == []  # no temporary copy left


def test_a_folder_and_a_link_are_quarantined_across_filesystems_and_a_fifo_stays_without_a_report(home):
    folders = UwvFolders.at(home)
    (folders.inbox / "map.csv").mkdir()
    (folders.inbox / "map.csv" / "binnen.csv").write_text("x")
    os.symlink("/etc/hostname", folders.inbox / "link.csv")
    os.mkfifo(folders.inbox / "pijp.csv")

    results = {r.file: r for r in intake(home)}

    assert (results["map.csv"].path / "binnen.csv").read_text() == "x"
    assert os.readlink(results["link.csv"].path) == "/etc/hostname"
    pipe = results["pijp.csv"]  # a FIFO holds no bytes to copy: it stays, and no report claims a move
    assert pipe.status == "rejected" and pipe.report is None and pipe.path == folders.inbox / "pijp.csv"
    assert "cannot be moved to the quarantine on another filesystem and stays in the inbox" in pipe.message
    assert [p.name for p in folders.inbox.iterdir()] == ["pijp.csv"]
    assert not any("pijp" in p.name for p in folders.quarantine.iterdir())
    reports = sorted(p.name for p in folders.quarantine.iterdir() if p.name.endswith(".report.json"))
    assert len(reports) == 2


def test_a_move_cut_short_across_filesystems_leaves_the_file_in_the_inbox_and_the_next_intake_takes_it_once(home, monkeypatch):
    folders = UwvFolders.at(home)
    files.write_csv(folders.inbox / "bijstand.csv", WWB_REGISTRATIONS, rows(WWB_REGISTRATIONS))
    unlink = moves.os.unlink

    def crash_before_removing(path, *args, **kwargs):
        if str(path).startswith(str(folders.inbox)):
            raise KeyboardInterrupt("killed before the inbox copy was removed")
        return unlink(path, *args, **kwargs)

    monkeypatch.setattr(moves.os, "unlink", crash_before_removing)
    with pytest.raises(KeyboardInterrupt):
        intake(home)
    monkeypatch.setattr(moves.os, "unlink", unlink)
    assert [p.name for p in folders.inbox.iterdir()] == ["bijstand.csv"]  # never in none of the folders

    results = intake(home)

    assert [r.status for r in results] in (["duplicate"], ["accepted"])  # entry renamed into place before the crash, or not
    assert list(folders.inbox.iterdir()) == [] and list(folders.archive.glob(".staging-*")) == []
    assert [p for p in folders.quarantine.iterdir()] == []
    assert archived_frames(folders.archive)[WWB_REGISTRATIONS].height == len(rows(WWB_REGISTRATIONS))


def test_a_failed_move_to_the_quarantine_writes_no_report(tmp_path, monkeypatch):
    """Issue 22: each refresh added a quarantine report claiming a move that had not happened."""
    from sources.uwv import quarantine

    home = tmp_path / "home"
    folders = UwvFolders.at(home)
    folders.inbox.mkdir(parents=True)
    (folders.inbox / "kapot.csv").write_bytes(b"niets bruikbaars\r\n")

    def fails(source, target):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(quarantine, "move", fails)
    with pytest.raises(OSError, match="Input/output error"):
        intake(home)

    assert [p.name for p in folders.inbox.iterdir()] == ["kapot.csv"]
    assert list(folders.quarantine.iterdir()) == []
