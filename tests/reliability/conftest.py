"""Fixtures and helpers shared by the reliability suites (docs/reliability.md)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.reliability._checks import Integrity, check_integrity

ROOT = Path(__file__).resolve().parents[2]
NATIONAL = "37789ksz"  # Sociale zekerheid; kerncijfers (national benefits), 352 rows
GEBIEDEN_2016 = "83287NED"  # Gebieden in Nederland 2016, 390 rows
SUBSET = [NATIONAL, GEBIEDEN_2016]
PAGE_SIZE = 50  # several pages per table: 8 for each

#: Settings for in-process refreshes against the mirror: quick retries, so failures come fast.
QUICK_RETRIES = {"WERKREGIO_RETRIES": "3", "WERKREGIO_BACKOFF": "0.05", "WERKREGIO_TIMEOUT": "2"}


@contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """Set (or, with None, remove) environment variables for the duration."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in values.items():
            if value is None:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, value)
        yield


def run_refresh(**kwargs):
    """The refresh flow, in process, under the session's Prefect test server."""
    from flows.refresh import refresh

    return refresh(**kwargs)


def warehouse_of(home: Path) -> Path:
    return Path(home) / "warehouse" / "werkregio.duckdb"


@pytest.fixture(scope="session")
def prefect_api_url(prefect_server) -> str:
    """The API URL of the session's Prefect test server, for subprocesses that should use it."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url, "the prefect_server fixture did not set PREFECT_API_URL"
    return url


class Built:
    """A home with the subset landed and published, to be copied by tests."""

    def __init__(self, home: Path, integrity: Integrity) -> None:
        self.home = home
        self.integrity = integrity

    def copy_to(self, target: Path) -> Path:
        shutil.copytree(self.home, target, symlinks=True)
        return target


def build_home(statline_root: Path, home: Path, *, tables=SUBSET, mirror_setup=None, **env: str) -> Built:
    """Refresh ``tables`` from a fresh mirror into ``home`` (in process) and check the published file."""
    from tests.statline_mirror import StatLineMirror

    with StatLineMirror(statline_root, page_size=PAGE_SIZE) as mirror:
        if mirror_setup is not None:
            mirror_setup(mirror)
        with environment(WERKREGIO_HOME=str(home), WERKREGIO_CBS_URL=mirror.base_url, **QUICK_RETRIES, **env):
            run_refresh(tables=list(tables))
    return Built(home, check_integrity(warehouse_of(home)))


def pids_with_tag(tag: str) -> list[int]:
    """Live processes whose environment holds ``WERKREGIO_RELIABILITY_TAG=<tag>`` (zombies excluded)."""
    needle = f"WERKREGIO_RELIABILITY_TAG={tag}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
            if state in (b"Z", b"X"):
                continue
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if needle in handle.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found
