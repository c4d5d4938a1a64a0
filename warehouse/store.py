"""The only code that opens DuckDB: build a new warehouse file, publish it atomically, read it.

Publishing never writes into the published file. A build goes into a fresh file next to it
(``.werkregio.duckdb.building-<id>``), is checked, checkpointed and closed, then
``os.replace``-d over the published path. A reader that opened the old file keeps reading the
old inode, a consistent build; a build that fails at any point leaves the published file
byte-for-byte as it was.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from warehouse.schema import TABLES, VIEWS, Table, View


class WarehouseError(RuntimeError):
    """The warehouse could not be built or read; the message names the file and table."""


class WarehouseLocked(WarehouseError):
    """Another process has the warehouse file open read-write (the ``duckdb`` command does so by
    default): it cannot be read now, which is not the same as holding nothing. The message names
    the process, as DuckDB does."""


_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)(?: by user (?P<user>\S+))?")


def _locked(path: Path, err: duckdb.Error) -> WarehouseLocked | None:
    """:class:`WarehouseLocked` naming the holder, when ``err`` is DuckDB refusing ``path`` for another process's lock."""
    text = str(err)
    if "Could not set lock" not in text and "Conflicting lock" not in text:
        return None
    found = _LOCK_HOLDER.search(text)
    holder = (
        f"process {found['pid']} ({found['program']}{', user ' + found['user'] if found['user'] else ''})"
        if found else "another process"
    )
    return WarehouseLocked(
        f"the warehouse {path} is open read-write in {holder}: it cannot be read while that session is open, and "
        "nothing was changed. Close that session (the file belongs to the pipeline; open it read-only, "
        f"e.g. `duckdb -readonly {path}`) and run again. DuckDB: {text}"
    )


@dataclass(frozen=True)
class PublishResult:
    path: Path
    row_counts: dict[str, int]
    size_bytes: int


def publish(
    path: Path,
    frames: Mapping[str, pl.DataFrame],
    tables: Sequence[Table] = TABLES,
    views: Sequence[View] = VIEWS,
    *,
    keep: Sequence[str] = (),
) -> PublishResult:
    """Build every declared table from ``frames`` into a new file and move it over ``path``.

    ``frames`` must hold exactly one frame per declared table, with at least the declared
    columns, except the tables named in ``keep``: those are taken as they are from the
    published file (which is copied as the start of the new one; the published file itself is
    never opened for writing). A kept table must be in the published file with the declared
    columns. Keys are enforced by DuckDB primary keys (added once a table's rows are in); a duplicate
    key fails the build, naming the duplicated keys.
    Callers must not publish to the same path concurrently (the flows hold the pipeline lock):
    building files (and DuckDB spill folders) left by a killed build are removed first.
    """
    expected = {t.name for t in tables} - set(keep)
    if set(frames) != expected or not set(keep) <= {t.name for t in tables}:
        raise WarehouseError(
            f"{path}: a build needs exactly the tables {sorted(expected)}; "
            f"missing {sorted(expected - set(frames))}, unexpected {sorted(set(frames) - expected)}, "
            f"kept but not declared {sorted(set(keep) - {t.name for t in tables})}"
        )
    if keep and not path.is_file():
        raise WarehouseError(f"{path}: no published warehouse to keep {sorted(keep)} from: run `werkregio refresh` first")
    if keep:
        _not_held_read_write(path)  # its copy is the start of the new file: never copied while a session writes to it
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.building-*"):
        # left by a build that was killed; publishers never overlap (the pipeline lock), so it is dead.
        # A folder is where DuckDB spilled to (the building file's ``.tmp``).
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale)
        else:
            stale.unlink(missing_ok=True)
    building = path.with_name(f".{path.name}.building-{uuid.uuid4().hex[:12]}")
    try:
        if keep:
            shutil.copyfile(path, building)
        con = duckdb.connect(str(building))
        try:
            if keep:
                counts = _reuse(con, [t for t in tables if t.name in keep], path)
                for view in views:
                    con.execute(f"DROP VIEW IF EXISTS {view.name}")
                for table in tables:
                    if table.name not in keep:
                        con.execute(f"DROP TABLE IF EXISTS {table.name}")
            else:
                counts = {}
            counts |= {t.name: _load(con, t, frames[t.name], path) for t in tables if t.name not in keep}
            counts = {t.name: counts[t.name] for t in tables}
            for view in views:
                if view.table.name in counts:
                    con.execute(view.ddl())
                    for statement in view.comments():
                        con.execute(statement)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        _check(building, counts)
        _fsync(building)
        _not_held_read_write(path)
        # A write-ahead log beside the published file was left by a read-write session on it that
        # did not close (a crash): it belongs to the file replaced here, and DuckDB would replay it
        # into the new one ("WAL does not match database file"). Removed before the swap, so a
        # reader in between reads the old file as it was published.
        path.with_name(path.name + ".wal").unlink(missing_ok=True)
        os.replace(building, path)
        _fsync(path.parent)
        return PublishResult(path, counts, path.stat().st_size)
    finally:
        for leftover in (building, building.with_name(building.name + ".wal")):
            leftover.unlink(missing_ok=True)


def _reuse(con: duckdb.DuckDBPyConnection, kept: Sequence[Table], path: Path) -> dict[str, int]:
    """Rows of each kept table in the copy of the published file; fails if one is missing or has other columns."""
    counts = {}
    for table in kept:
        found = [row[0] for row in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() AND table_name = ? ORDER BY column_index", [table.name]
        ).fetchall()]  # fmt: skip
        if found != table.column_names:
            raise WarehouseError(
                f"{path}: table {table.name} cannot be kept: the published file has columns {found or 'none'}, "
                f"this version declares {table.column_names}; run `werkregio refresh` to rebuild it"
            )
        (counts[table.name],) = con.execute(f"SELECT count(*) FROM {table.name}").fetchone()
    return counts


class _ArrowStream:
    """A Polars frame as DuckDB scans it: through the Arrow C stream interface (PyCapsule).

    Registered as is, a Polars frame goes through ``DataFrame.to_arrow()``, which imports
    pyarrow (about 0.15 s of CPU in the build's process, which needs it nowhere else) and first
    converts every string column from Polars' string views to pyarrow's ``large_string`` (a
    copy). The stream hands DuckDB the string views as they are. Each scan asks for a new
    stream, so DuckDB may read it more than once.
    """

    __slots__ = ("frame",)

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self.frame.__arrow_c_stream__(requested_schema)


def _load(con: duckdb.DuckDBPyConnection, table: Table, frame: pl.DataFrame, path: Path) -> int:
    missing = [c for c in table.column_names if c not in frame.columns]
    if missing:
        raise WarehouseError(f"{path}: table {table.name} is missing column(s) {missing}")
    if table.nullable_key:
        _unique(table, frame, path)
    con.execute(table.ddl())
    for statement in table.comments():
        con.execute(statement)
    incoming = f"incoming_{table.name}"
    con.register(incoming, _ArrowStream(frame.select(table.column_names)))
    try:
        columns = ", ".join(table.column_names)
        con.execute(f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {incoming}")
    except duckdb.ConstraintException as err:
        raise WarehouseError(f"{path}: table {table.name} violates a NOT NULL column: {err}") from err
    finally:
        con.unregister(incoming)
    primary_key = table.primary_key()
    if primary_key is not None:
        try:
            con.execute(primary_key)
        except duckdb.ConstraintException as err:
            _unique(table, frame, path)  # names the duplicates, which DuckDB's message does not
            raise WarehouseError(f"{path}: table {table.name} violates its key {table.key}: {err}") from err
    return frame.height


def _unique(table: Table, frame: pl.DataFrame, path: Path) -> None:
    """Raise :class:`WarehouseError` naming up to three duplicated keys of ``frame``, if any."""
    duplicated = frame.filter(frame.select(table.key).is_duplicated())
    if duplicated.height:
        example = duplicated.select(table.key).head(3).to_dicts()
        raise WarehouseError(f"{path}: table {table.name} violates its key {table.key}: duplicates such as {example}")


def _check(building: Path, counts: Mapping[str, int]) -> None:
    with read_only(building) as con:
        for name, expected in counts.items():
            (actual,) = con.execute(f"SELECT count(*) FROM {name}").fetchone()
            if actual != expected:
                raise WarehouseError(f"{building}: table {name} has {actual} rows after loading {expected}")


def _not_held_read_write(path: Path) -> None:
    """Raise :class:`WarehouseLocked` when a process has the published ``path`` open read-write.

    Such a session can write a write-ahead log beside the file at any time, which DuckDB would
    replay into the new file (making it unreadable until the session ends), and it expects its own
    writes to stay. A file that cannot be opened for another reason (damaged) is replaced.
    """
    if not path.is_file():
        return
    try:
        with read_only(path):
            pass
    except WarehouseLocked:
        raise
    except WarehouseError:
        pass


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def read_only(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to a warehouse file; fails clearly if there is none or DuckDB cannot open it."""
    if not Path(path).is_file():
        raise WarehouseError(f"no warehouse at {path}: run `werkregio refresh` first")
    # Not duckdb.connect(path): DuckDB reuses one instance per path within a process, so while
    # any reader of the old file is open a new connect would miss a newer publish.
    literal = "'" + str(path).replace("'", "''") + "'"
    con = duckdb.connect()
    try:
        try:
            con.execute(f"ATTACH {literal} AS warehouse (READ_ONLY)")
        except duckdb.Error as err:
            raise _locked(path, err) or WarehouseError(
                f"cannot open the warehouse {path}: {err} (a damaged file is rebuilt by `werkregio refresh`)"
            ) from err
        con.execute("USE warehouse")
        yield con
    finally:
        con.close()


def query(path: Path, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
    """Run one read-only query on the published warehouse and return a Polars frame."""
    with read_only(path) as con:
        try:
            return con.sql(sql, params=params).pl() if params else con.sql(sql).pl()
        except duckdb.Error as err:
            raise WarehouseError(f"{path}: query failed: {err}") from err


def queries(path: Path, statements: Mapping[str, str]) -> dict[str, pl.DataFrame]:
    """Several read-only queries on the published warehouse through one connection (so on one build), by name."""
    with read_only(path) as con:
        frames = {}
        for name, sql in statements.items():
            try:
                frames[name] = con.sql(sql).pl()
            except duckdb.Error as err:
                raise WarehouseError(f"{path}: query {name!r} failed: {err}") from err
        return frames


def query_tables(path: Path, names: Sequence[str]) -> dict[str, pl.DataFrame | None]:
    """Whole tables of the published warehouse, read through one connection (so from one build).

    A table the file lacks, or that cannot be read, is None; a file DuckDB cannot open at all
    raises :class:`WarehouseError`.
    """
    frames: dict[str, pl.DataFrame | None] = {}
    with read_only(path) as con:
        for name in names:
            try:
                frames[name] = con.sql(f"SELECT * FROM {name}").pl()
            except duckdb.Error:
                frames[name] = None
    return frames


def published_build(path: Path) -> tuple[str, str | None] | None:
    """``(run_id, inputs_sha256)`` of the build published at ``path``; None when there is no file
    or its ``build_info`` is not one readable row.
    """
    try:
        with read_only(path) as con:
            rows = con.execute("SELECT run_id, inputs_sha256 FROM build_info").fetchall()
    except (WarehouseError, duckdb.Error):
        return None
    return rows[0] if len(rows) == 1 else None


def table_counts(path: Path) -> dict[str, int]:
    """Rows per table in a warehouse file."""
    with read_only(path) as con:
        names = [row[0] for row in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY table_name").fetchall()]
        return {name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in names}


def export_parquet(path: Path, output: Path, *, views: bool = True) -> list[Path]:
    """Write every view (or table) of the published warehouse to ``output/<name>.parquet``.

    Reads through a read-only connection, so it can run while a refresh publishes. The files are
    written into a fresh hidden folder inside ``output`` and renamed into ``output`` only once all
    of them are written: a failure part-way leaves ``output`` as it was (no mix of two builds),
    and a reader never sees half a file.
    """
    if output.exists() and not output.is_dir():
        raise WarehouseError(f"cannot export into {output}: it is a file, not a folder")
    with read_only(path) as con:
        kind = "duckdb_views() WHERE NOT internal" if views else "duckdb_tables()"
        names = [row[0] for row in con.execute(f"SELECT {'view_name' if views else 'table_name'} FROM {kind} ORDER BY 1").fetchall()]
        output.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".export-", dir=output))
        try:
            for name in names:
                literal = "'" + str(staging / f"{name}.parquet").replace("'", "''") + "'"
                try:
                    con.execute(f"COPY (SELECT * FROM {name}) TO {literal} (FORMAT parquet)")
                except duckdb.Error as err:
                    raise WarehouseError(f"{path}: exporting {name} into {output} failed: {err}") from err
            written = []
            for name in names:
                os.replace(staging / f"{name}.parquet", output / f"{name}.parquet")
                written.append(output / f"{name}.parquet")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return written
