"""Warehouse checks shared by the reliability suites: integrity of a published file and a content fingerprint.

DuckDB has no ``PRAGMA integrity_check`` and a read-only connection cannot ``CHECKPOINT``. What it does
offer: every block carries a checksum that is verified when the block is read. So the integrity check
opens the file read-only, compares the catalog (``duckdb_tables()``, ``duckdb_views()``) with
``warehouse/schema.py``, reads *every* column of *every* row of every table (an order-independent hash
aggregate, which forces each block to be read and verified), queries every view, and checks the row counts
that follow from ``build_info`` and ``source_tables``.

The fingerprint is the same hash aggregate per table, leaving out the columns that differ from one run to
the next on identical inputs (run id, build and fetch times, landing folder), so two builds can be compared
for equal content.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from flows import runlog
from warehouse.schema import TABLES, VIEWS
from warehouse.store import read_only

#: Columns whose value depends on the run (or on the mirror's port), not on the data: left out of fingerprints.
RUN_SPECIFIC = {
    # inputs_sha256 covers each landing's content, whose data file names the table's URL (the mirror's port)
    "build_info": ("run_id", "built_at", "flow", "cbs_url", "inputs_sha256"),
    "source_tables": ("fetched_at", "raw_path", "source_url", "sha256"),  # the data file names its URL: sha256 too
    "validation_results": ("run_id",),
}

#: Tables that describe the runs rather than the data: never equal between two homes, checked on their own.
RUN_TABLES = {"load_history"}

NATIONAL_TABLE = "37789ksz"


class IntegrityError(AssertionError):
    """A published warehouse file failed the integrity check; the message says which part."""


@dataclass(frozen=True)
class Integrity:
    run_id: str
    counts: dict[str, int]
    fingerprint: dict[str, tuple[int, str]]
    national_checksum: str


def table_hash_sql(table: str, exclude: tuple[str, ...] = ()) -> str:
    """``count(*)`` and an order-independent hash of every row of ``table`` over its declared columns."""
    declared = next(t for t in TABLES if t.name == table)
    columns = [c for c in declared.column_names if c not in exclude]
    return f"SELECT count(*), coalesce(sum(hash({', '.join(columns)})), 0)::VARCHAR FROM {table}"


def fingerprint(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, str]]:
    """Per declared data table: (rows, hash of every row over the columns that do not depend on the run)."""
    result = {}
    for table in (t for t in TABLES if t.name not in RUN_TABLES):
        rows, digest = con.execute(table_hash_sql(table.name, RUN_SPECIFIC.get(table.name, ()))).fetchone()
        result[table.name] = (rows, digest)
    return result


def national_checksum(con: duckdb.DuckDBPyConnection) -> str:
    """sha256 of national_series, every column, in key order: the same bytes for the same series."""
    rows = con.execute("SELECT * FROM national_series ORDER BY series, frequency, period_start").fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def check_integrity(path: Path) -> Integrity:
    """Open ``path`` read-only (both ways downstream tools do) and check it; raise IntegrityError if not sound."""
    path = Path(path)
    if not path.is_file():
        raise IntegrityError(f"{path}: no published file")
    try:
        with duckdb.connect(str(path), read_only=True) as plain:
            (plain_run,) = plain.execute("SELECT run_id FROM build_info").fetchone()
        with read_only(path) as con:
            return _check(con, path, plain_run)
    except duckdb.Error as err:
        raise IntegrityError(f"{path}: cannot be read: {type(err).__name__}: {err}") from err


def _check(con: duckdb.DuckDBPyConnection, path: Path, plain_run: str) -> Integrity:
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    declared = {t.name for t in TABLES}
    if tables != declared:
        raise IntegrityError(f"{path}: tables {sorted(tables)} != declared {sorted(declared)}")
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    if views != {v.name for v in VIEWS}:
        raise IntegrityError(f"{path}: views {sorted(views)} != declared {sorted(v.name for v in VIEWS)}")
    # every column of every row: each block is read and its checksum verified
    fp = {t.name: con.execute(table_hash_sql(t.name)).fetchone() for t in TABLES}
    counts = {name: rows for name, (rows, _) in fp.items()}
    for view in VIEWS:
        con.execute(f"SELECT count(*) FROM {view.name}").fetchone()
    builds = con.execute("SELECT run_id FROM build_info").fetchall()
    if len(builds) != 1:
        raise IntegrityError(f"{path}: build_info has {len(builds)} rows, not 1")
    run_id = builds[0][0]
    if run_id != plain_run:
        raise IntegrityError(f"{path}: two read-only opens disagree on the build ({plain_run} vs {run_id})")
    sources = dict(con.execute("SELECT table_id, rows FROM source_tables").fetchall())
    if not sources or any(rows <= 0 for rows in sources.values()):
        raise IntegrityError(f"{path}: source_tables is empty or lists a table without rows: {sources}")
    if NATIONAL_TABLE in sources:
        (national,) = con.execute(
            "SELECT count(*) FROM national_series WHERE source_table = ?", [NATIONAL_TABLE]
        ).fetchone()
        if national != 2 * sources[NATIONAL_TABLE]:  # ww and wwb for every period row CBS sends
            raise IntegrityError(
                f"{path}: national_series has {national} rows from {NATIONAL_TABLE}, expected 2 x {sources[NATIONAL_TABLE]}"
            )
    own = con.execute("SELECT outcome FROM load_history WHERE run_id = ? ORDER BY attempt DESC LIMIT 1", [run_id]).fetchall()
    if own != [("published",)]:
        raise IntegrityError(f"{path}: load_history does not record the build's run {run_id} as published: {own}")
    (failed,) = con.execute("SELECT count(*) FROM validation_results WHERE severity = 'critical' AND NOT success").fetchone()
    if failed:
        raise IntegrityError(f"{path}: a published build holds {failed} failed critical expectation(s)")
    return Integrity(run_id, counts, fingerprint(con), national_checksum(con))


def differences(got: Mapping[str, tuple[int, str]], want: Mapping[str, tuple[int, str]], skip=()) -> list[str]:
    """Tables whose (rows, hash) differ, as readable lines; ``skip`` names tables not to compare."""
    return [
        f"{name}: {got.get(name)} != {want.get(name)}"
        for name in sorted(set(got) | set(want))
        if name not in skip and got.get(name) != want.get(name)
    ]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def leftovers(home: Path) -> dict[str, list[str]]:
    """Temporary files and folders a killed run may leave behind, relative to ``home``."""
    home = Path(home)

    def found(pattern: str) -> list[str]:
        return sorted(str(p.relative_to(home)) for p in home.glob(pattern))

    return {
        "building": found("warehouse/.werkregio.duckdb.building-*"),
        "staging": found("raw/*/.staging-*"),
        "partial": found("**/*.partial"),
        "uwv_staging": found("archive/uwv/.staging-*"),
        "wal": found("warehouse/werkregio.duckdb.wal"),
    }


def lock_is_free(home: Path) -> bool:
    """Whether no process holds the data dir's pipeline lock (a missing lock file: none ever took it)."""
    path = home / runlog.LOCK_NAME
    if not path.exists():
        return True
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return True
