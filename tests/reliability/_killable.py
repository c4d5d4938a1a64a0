"""``werkregio`` with phase markers, for the kill -9 trials (tests/reliability/test_kill.py).

Runs ``flows.cli.main`` unchanged after wrapping a few pipeline functions so that each prints one line
``RELIABILITY-PHASE <phase> <detail>`` to stderr (flushed) when it starts. The kill trials read these lines
to aim a SIGKILL at a phase; after the kill the last marker in the output says which phase the process
had reached. Nothing else changes, except that ``WERKREGIO_TEST_HOLD=<phase>[ <detail>]=<seconds>`` makes the process
sleep right after printing a marker that starts with ``<phase>[ <detail>]``: a way to stop at an exact code point (e.g. between the
fsync of the finished building file and its ``os.replace``) whose natural window is a few milliseconds.

Markers, in the order a refresh reaches them:

* ``fetch <table>``        data pages of a table start (``sources.cbs.landing._fetch_data``)
* ``land <table>``         the landing is written into a ``.staging-*`` folder (``_write_landing``)
* ``land-commit <table>``  the staging folder, manifest included, is complete and about to be renamed
* ``validate <table>``     a table is validated, in the flow's process (``flows.tasks.validate_landed``) or
                           handed to a validation worker (``ValidationWorkers.run``)
* ``transform``            indicator marts are computed (``compute_marts``)
* ``load <table>``         a table is created and filled in the ``.building-*`` file (``warehouse.store._load``)
* ``check``                the building file is closed and re-opened read-only to check row counts
* ``pre-replace``          the building file is being fsynced; ``os.replace`` comes next
* ``post-replace``         the published directory is being fsynced; ``os.replace`` is done

Usage: ``python -m tests.reliability._killable refresh [--table ...]`` (same arguments as ``werkregio``).
"""

from __future__ import annotations

import functools
import os
import sys
import time
from pathlib import Path

PREFIX = "RELIABILITY-PHASE"


def mark(phase: str, detail: str = "") -> None:
    sys.stderr.write(f"{PREFIX} {phase} {detail}".rstrip() + "\n")
    sys.stderr.flush()
    hold = os.environ.get("WERKREGIO_TEST_HOLD", "")
    if "=" in hold:
        name, seconds = hold.split("=", 1)
        if f"{phase} {detail}".startswith(name):
            time.sleep(float(seconds))


def _wrap(module, name: str, phase: str, detail=lambda *a, **k: "") -> None:
    original = getattr(module, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        label = detail(*args, **kwargs)
        if label is not None:
            mark(phase, label)
        return original(*args, **kwargs)

    setattr(module, name, wrapper)


def install() -> None:
    from sources.cbs import landing
    import flows.refresh as refresh
    import flows.tasks as tasks
    import warehouse.store as store

    _wrap(landing, "_fetch_data", "fetch", lambda source, meta, pages: meta.table_id)
    _wrap(landing, "_write_landing", "land", lambda raw_dir, meta, *a, **k: meta.table_id)
    # _fsync_dir(staging) runs after the manifest is written and just before os.replace(staging, final)
    _wrap(
        landing,
        "_fsync_dir",
        "land-commit",
        lambda path: path.parent.name if Path(path).name.startswith(".staging-") else None,
    )
    _wrap(tasks, "validate_landed", "validate", lambda job, *a, **k: job.table_id)  # on the flow's threads (the default runner)
    _wrap(refresh, "compute_marts", "transform")
    _wrap(store, "_load", "load", lambda con, table, frame, path: table.name)
    _wrap(store, "_check", "check")
    # _fsync(building) before os.replace; _fsync(path.parent) right after it
    _wrap(store, "_fsync", "pre-replace", lambda path: "" if Path(path).name.startswith(".") else None)
    _wrap(store, "_fsync", "post-replace", lambda path: "" if Path(path).is_dir() else None)


def main(argv: list[str]) -> int:
    from flows.cli import main as cli
    from flows.cli import prepare_prefect_environment
    from flows.settings import Settings

    prepare_prefect_environment(Settings.from_env())  # what the CLI does before it imports Prefect
    install()

    return cli(argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
