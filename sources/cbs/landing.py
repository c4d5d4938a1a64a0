"""The raw landing zone: every fetched CBS table, once, immutable, with its manifest.

Layout under ``$WERKREGIO_HOME/raw``::

    <table_id>/<Modified as 2025-04-23T020000>_<content_sha256[:12]>[_2, _3, ...]/
        TypedDataSet.parquet      one row per CBS data row; keys as CBS sends them (padding kept); key-value
                                  metadata: table id, Modified, source URL, service, units (landing_facts)
        <Dimension>.parquet       one row per category: Key, Title, Description, Status, ...
        DataProperties.json       the DataProperties records, verbatim
        TableInfos.json           the TableInfos record, verbatim
        manifest.json             table_id, modified, fetched_at, rows, sha256, source_url, files

    failed-checks.json            landings (by folder name) that failed their critical checks

A landing is written to a temporary folder and renamed into place, so a folder either is
complete or does not exist, and is never changed afterwards; the data rows go into it page by page
as they arrive, never all in memory. A landing that failed its
critical checks (``mark_failed``) is not taken for CBS's current version of the table: the
next refresh downloads the table again, and a healthy download becomes the newest landing. The newest landing of a table (by
``fetched_at``) is the one the build reads. Its name is content-addressed (data, dimension
tables, DataProperties, TableInfos: ``Landing.content_sha256``; landings made before the
metadata counted are named by the data's sha256, and found by their manifest's ``files`` all
the same): re-landing what the newest landing holds is a no-op; content an older landing holds
(CBS serving a version again after another) is landed anew with a suffix, so that it is the
newest, and the others are kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from sources.cbs.client import CbsBadResponse, CbsError, CbsSource, TableMeta, dimension_keys, topic_types
from sources.parquet import read_named

MANIFEST = "manifest.json"
DATA_FILE = "TypedDataSet.parquet"
FAILED_CHECKS = "failed-checks.json"
ROW_GROUP_ROWS = 100_000
"""Rows per row group of a landed data file: a bound on what a download holds in memory, and the same for any paging."""

_POLARS_TYPES = {
    "Long": pl.Int64,
    "Integer": pl.Int64,
    "Short": pl.Int64,
    "Double": pl.Float64,
    "Float": pl.Float64,
    "Decimal": pl.Float64,
    "String": pl.String,
}


class LandingUnreadable(RuntimeError):
    """A file of a landing is missing or damaged; the message names the file by its full path."""


@dataclass(frozen=True)
class Landing:
    """One landed version of a CBS table (the content of its ``manifest.json``)."""

    table_id: str
    modified: str
    fetched_at: str
    rows: int
    sha256: str
    source_url: str
    path: str
    files: dict[str, str]

    @property
    def folder(self) -> Path:
        return Path(self.path)

    @property
    def content_sha256(self) -> str:
        """sha256 of everything landed (each file's name and sha256 from ``files``): the data, the
        dimension tables, DataProperties and TableInfos. Two landings hold the same exactly when
        these are equal; ``sha256`` covers the data file alone."""
        return _content_sha256(self.files)

    def read_data(self, where: pl.Expr | None = None) -> pl.DataFrame:
        """The landed data rows; ``where``: only the rows it selects, filtered while the file is read."""
        return self._read_parquet(DATA_FILE, where)

    def scan_data(self) -> pl.LazyFrame:
        """The landed data rows as a Polars scan of the file, for a table too large to hold at once;
        read errors surface when the scan is collected."""
        return pl.scan_parquet(self.folder / DATA_FILE)

    def read_dimension(self, name: str) -> pl.DataFrame:
        return self._read_parquet(f"{name}.parquet")

    def _advice(self) -> str:
        return (
            f"a landing folder is only ever renamed into place complete, so it was changed afterwards: move {self.folder} "
            f"away and refresh {self.table_id} again to land it anew"
        )

    def _read_parquet(self, name: str, where: pl.Expr | None = None) -> pl.DataFrame:
        return read_named(self.folder / name, LandingUnreadable, f"{self.table_id}: the landed file", self._advice(), where)

    def _read_json(self, name: str) -> Any:
        path = self.folder / name
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:  # missing, unreadable, not UTF-8, not JSON
            raise LandingUnreadable(
                f"{self.table_id}: the landed file {path} cannot be read ({type(err).__name__}: {err}); {self._advice()}"
            ) from err

    def read_properties(self) -> list[dict[str, Any]]:
        return self._read_json("DataProperties.json")

    def read_info(self) -> dict[str, Any]:
        return self._read_json("TableInfos.json")


@dataclass(frozen=True)
class LandResult:
    landing: Landing
    action: str  # "downloaded" | "unchanged" | "identical"


def landings(raw_dir: Path, table_id: str | None = None) -> list[Landing]:
    """Every complete landing (optionally of one table), oldest first.

    Folders whose names start with a dot are staging folders of downloads in progress (or
    killed): never landings, whatever they hold.
    """
    pattern = f"{table_id}/[!.]*/{MANIFEST}" if table_id else f"[!.]*/[!.]*/{MANIFEST}"
    found = []
    for path in raw_dir.glob(pattern) if raw_dir.is_dir() else ():
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:  # not UTF-8, not JSON
            raise _damaged_manifest(path, f"is not readable JSON ({err})") from err
        if problems := _manifest_problems(record):
            raise _damaged_manifest(path, f"is not a landing manifest ({problems})")
        found.append(Landing(**record, path=str(path.parent)))
    return sorted(found, key=lambda landing: (landing.fetched_at, landing.path))


_MANIFEST_TYPES = {"table_id": str, "modified": str, "fetched_at": str, "rows": int, "sha256": str, "source_url": str, "files": dict}


def _manifest_problems(record: Any) -> str:
    """What keeps ``record`` from being a manifest :func:`_write_landing` wrote; empty if nothing."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    missing = sorted(_MANIFEST_TYPES.keys() - record.keys())
    unexpected = sorted(record.keys() - _MANIFEST_TYPES.keys())
    mistyped = sorted(
        key
        for key, kind in _MANIFEST_TYPES.items()
        if key in record and (not isinstance(record[key], kind) or isinstance(record[key], bool))
    )
    if isinstance(record.get("files"), dict) and not all(isinstance(v, str) for v in record["files"].values()):
        mistyped.append("files")
    parts = [f"{label} {names}" for label, names in (("missing", missing), ("unexpected", unexpected), ("wrong type", mistyped)) if names]
    return "; ".join(parts)


def _damaged_manifest(path: Path, what: str) -> CbsBadResponse:
    return CbsBadResponse(
        f"landing manifest {path} {what}; a landing folder is only ever renamed into "
        "place complete, so the file was changed afterwards: move that folder away and refresh again"
    )


def failed_checks(landing: Landing) -> dict[str, Any] | None:
    """What :func:`mark_failed` recorded for ``landing`` (``run``, ``at``, ``checks``), or None."""
    return _failed_records(landing.folder.parent).get(landing.folder.name)


def mark_failed(landing: Landing, run: str, checks: list[str], now: datetime) -> None:
    """Record that ``landing`` failed its critical ``checks`` in ``run``: it no longer counts as CBS's version."""
    records = _failed_records(landing.folder.parent)
    records[landing.folder.name] = {"run": run, "at": now.isoformat(timespec="seconds"), "checks": checks[:10]}
    _write_failed_records(landing.folder.parent, records)


def clear_failed(landing: Landing) -> None:
    """Forget a failure recorded for ``landing`` (its checks passed since, e.g. with a corrected suite)."""
    records = _failed_records(landing.folder.parent)
    if records.pop(landing.folder.name, None) is not None:
        _write_failed_records(landing.folder.parent, records)


def _failed_records(table_dir: Path) -> dict[str, Any]:
    path = table_dir / FAILED_CHECKS
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as err:  # not JSON: changed by hand, or cut off
        raise CbsBadResponse(f"{path} is not readable JSON ({err}); remove it: the next refresh checks every landing again") from err
    return records if isinstance(records, dict) else {}


def _write_failed_records(table_dir: Path, records: dict[str, Any]) -> None:
    path = table_dir / FAILED_CHECKS
    if not records:
        path.unlink(missing_ok=True)
        return
    partial = table_dir / f".{FAILED_CHECKS}.{uuid.uuid4().hex}"
    _write_json(partial, records)
    with partial.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, path)


def latest_landing(raw_dir: Path, table_id: str) -> Landing | None:
    found = landings(raw_dir, table_id)
    return found[-1] if found else None


def current_landings(raw_dir: Path, table_ids: Iterable[str]) -> list[Landing]:
    """The newest landing of each of ``table_ids`` that has one."""
    return [landing for table_id in table_ids if (landing := latest_landing(raw_dir, table_id)) is not None]


def tables_to_check(raw_dir: Path, table_ids: Iterable[str]) -> list[str]:
    """Those of ``table_ids`` whose newest landing may hold CBS's version, so that CBS is asked whether it
    changed: landed, and not failed its critical checks. The others are downloaded whatever CBS says."""
    return [
        table_id
        for table_id in table_ids
        if (landing := latest_landing(raw_dir, table_id)) is not None and failed_checks(landing) is None
    ]


def catalogued_versions(
    source: CbsSource,
    raw_dir: Path,
    table_ids: Sequence[str],
    *,
    progress: Callable[[str], None] = lambda message: None,
    warn: Callable[[str], None] = lambda message: None,
) -> dict[str, dict[str, Any]]:
    """The version of each of ``table_ids`` that needs a check (:func:`tables_to_check`), from CBS's catalogue in
    one request (``CbsSource.versions``), for :func:`land_table`'s ``listed``.

    A catalogue that cannot be read, or does not answer for a table, is not an error: those tables are then
    asked on their own (one request each), and ``warn`` says which and why.
    """
    wanted = tables_to_check(raw_dir, table_ids)
    if not wanted:
        return {}
    try:
        versions = source.versions(wanted)
    except CbsError as err:
        warn(f"the catalogue could not be read ({err}); asking each of {len(wanted)} table(s) for its version instead")
        return {}
    if lacking := [table_id for table_id in wanted if table_id not in versions]:
        warn(f"the catalogue does not give the version of {', '.join(lacking)}; asking each of them on its own")
    progress(f"the catalogue gave the version of {len(versions)} of {len(wanted)} landed table(s)")
    return versions


def land_table(
    source: CbsSource,
    table_id: str,
    raw_dir: Path,
    *,
    force: bool = False,
    listed: Mapping[str, Any] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    progress: Callable[[str], None] = lambda message: None,
    pages: Callable[[str, int], None] = lambda table_id, rows: None,
) -> LandResult:
    """Fetch ``table_id`` into the landing zone unless its newest landing has CBS's version
    (:func:`_same_version`: ``Modified`` and ``MetaDataModified``).

    The check costs one ``TableInfos`` request, or none when ``listed`` is the table's version as the
    catalogue gave it (:func:`catalogued_versions`). ``force`` downloads anyway, and so does a newest
    landing that failed its critical checks (:func:`mark_failed`); content identical to the
    newest landing's (data and metadata) then keeps that landing. If ``Modified``
    changes while the data are downloaded the download is repeated once, and fails after that,
    so a landing never mixes two versions. ``progress`` is told what happens (a line each);
    ``pages(table_id, rows)`` is called after every data page with the rows downloaded so far.
    """
    for stale in (raw_dir / table_id).glob(".staging-*"):
        # a download that was killed (a partial data file); landings of a table never overlap (the pipeline lock)
        shutil.rmtree(stale, ignore_errors=True)
    known = latest_landing(raw_dir, table_id)
    failed = failed_checks(known) if known is not None else None
    if failed is not None:
        progress(
            f"{table_id}: the newest landing {known.folder.name} failed its critical checks in run {failed['run']}; "
            "downloading the table again"
        )
    elif known is not None and not force:
        info = listed if listed is not None else source.table_info(table_id)
        if _same_version(info, known):
            where = "the catalogue" if listed is not None else "TableInfos"
            progress(f"{table_id}: unchanged ({_version_text(info)}, from {where}), nothing downloaded")
            return LandResult(known, "unchanged")
    for _ in range(2):
        meta = source.table_meta(table_id)
        with _staging(raw_dir / table_id) as staging:
            rows = _fetch_data(source, meta, staging / DATA_FILE, pages)
            after = str(source.table_info(table_id)["Modified"])
            if after == meta.modified:
                return _write_landing(raw_dir, meta, staging, rows, source.table_url(table_id), clock(), progress)
        progress(f"{table_id}: Modified changed from {meta.modified} to {after} during the download; fetching again")
    raise CbsBadResponse(
        f"{table_id}: Modified changed during two downloads in a row ({meta.modified} -> {after}); "
        "CBS is publishing this table right now, run the refresh again later"
    )


def _same_version(info: Mapping[str, Any], landing: Landing) -> bool:
    """Whether CBS's ``TableInfos`` record ``info`` has the ``Modified`` (data) and, when CBS sends
    it, the ``MetaDataModified`` (dimension tables, DataProperties) of ``landing``'s ``TableInfos``."""
    if str(info["Modified"]) != landing.modified:
        return False
    return "MetaDataModified" not in info or info["MetaDataModified"] == landing.read_info().get("MetaDataModified")


def _version_text(info: Mapping[str, Any]) -> str:
    metadata = f", MetaDataModified {info['MetaDataModified']}" if "MetaDataModified" in info else ""
    return f"Modified {info['Modified']}{metadata}"


def most_rows(meta: TableMeta) -> int | None:
    """The most rows ``TypedDataSet`` can hold: one per combination of its dimensions' categories
    (None when a dimension table is missing). A table is a cube; CBS leaves empty cells out, never
    sends a combination twice."""
    total = 1
    for key in dimension_keys(meta.properties):
        if key not in meta.dimensions:
            return None
        total *= len(meta.dimensions[key])
    return total


def _fetch_data(source: CbsSource, meta: TableMeta, path: Path, pages: Callable[[str, int], None]) -> int:
    """Download the data rows of ``meta``'s table into the Parquet file ``path`` as the pages arrive; the number of rows.

    Each page is typed (:func:`_page_frame`) and written on: the rows go out in row groups of ``ROW_GROUP_ROWS``,
    so that no more than a row group and a page are ever held, and the same rows make the same file however CBS
    pages them. The file's key-value metadata hold the landing's facts (:func:`landing_facts`). A page that
    would take the table past :func:`most_rows`, or whose columns differ from ``DataProperties``, fails the download.
    """
    schema = data_schema(meta)
    expected = set(schema)
    cap = most_rows(meta)
    rows = 0
    held: list[pl.DataFrame] = []
    arrow_schema = pl.DataFrame(schema=schema).to_arrow().schema.with_metadata(landing_facts(source, meta))
    # ID counts up: delta-encoded it takes almost nothing, where a dictionary of its (unique) values would be the
    # largest part of the file; keys and figures repeat, and take dictionaries
    encoding = {"use_dictionary": [name for name in schema if name != "ID"], "column_encoding": {"ID": "DELTA_BINARY_PACKED"}}
    with pq.ParquetWriter(path, arrow_schema, compression="zstd", **encoding) as writer:
        for page in source.data_pages(meta.table_id):
            if not page:
                continue
            if cap is not None and rows + len(page) > cap:
                raise CbsBadResponse(
                    f"{meta.table_id}: {source.table_url(meta.table_id)}TypedDataSet sent more than {cap:,} rows, the most its "
                    f"dimensions allow (one per combination of their categories): the paging repeats pages; nothing was landed"
                )
            columns = set(page[0])
            if columns != expected:
                raise CbsBadResponse(
                    f"{meta.table_id}: TypedDataSet columns differ from DataProperties: "
                    f"missing {sorted(expected - columns)}, unexpected {sorted(columns - expected)}"
                )
            held.append(_page_frame(meta.table_id, page, schema, rows))
            rows += len(page)
            if sum(frame.height for frame in held) >= ROW_GROUP_ROWS:
                block = pl.concat(held)
                whole = block.height - block.height % ROW_GROUP_ROWS
                writer.write_table(block.head(whole).to_arrow(), row_group_size=ROW_GROUP_ROWS)
                held = [block.slice(whole)]
            pages(meta.table_id, rows)
        if rest := [frame for frame in held if frame.height]:
            writer.write_table(pl.concat(rest).to_arrow())
    return rows


def landing_facts(source: CbsSource, meta: TableMeta) -> dict[str, str]:
    """What the landed data file says of itself, in its Parquet key-value metadata: table id, ``Modified``, the
    table's URL, the CBS service (``v3``/``v4``) and each topic's unit (JSON). Nothing that differs between two
    downloads of the same data (no time of fetching), so that landing them again makes the same file."""
    units = {p["Key"]: p.get("Unit") for p in meta.properties if p.get("Type") == "Topic"}
    return {
        "werkregio.table_id": meta.table_id,
        "werkregio.modified": meta.modified,
        "werkregio.source_url": source.table_url(meta.table_id),
        "werkregio.api": source.api,
        "werkregio.units": json.dumps(units, ensure_ascii=False, sort_keys=True),
    }


@contextmanager
def _staging(table_dir: Path) -> Iterator[Path]:
    """A new staging folder in ``table_dir`` (``.staging-<uuid>``), removed on the way out unless renamed into place."""
    table_dir.mkdir(parents=True, exist_ok=True)
    staging = table_dir / f".staging-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        yield staging
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _page_frame(table_id: str, page: list[dict[str, Any]], schema: dict[str, pl.DataType], before: int) -> pl.DataFrame:
    """One data page as a frame of ``schema``; a value that does not fit its column's type fails the download.

    Built column by column with strict Series: ``pl.DataFrame(page, schema=..., strict=True)``
    converts instead (12.7 to 12 and "12" to 12 for an integer column, 12 to "12" for a text one),
    which would land altered figures. JSON integers in a decimal column are numbers and fit.
    """
    columns = []
    for key, dtype in schema.items():
        values = [row[key] for row in page]
        try:
            columns.append(pl.Series(key, values, dtype=dtype, strict=True))
        except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError) as err:
            index, value = next(((i, v) for i, v in enumerate(values) if not _fits(v, dtype)), (None, None))
            where = f"row {before + index + 1} (ID {page[index].get('ID')!r}) holds {value!r}" if index is not None else f"({err})"
            raise CbsBadResponse(
                f"{table_id}: TypedDataSet column {key!r} is declared {dtype} by DataProperties, but {where}: "
                "a schema change or a damaged response; nothing was landed"
            ) from err
    return pl.DataFrame(columns)


def _fits(value: Any, dtype: pl.DataType) -> bool:
    if value is None:
        return True
    if dtype == pl.String:
        return isinstance(value, str)
    if dtype == pl.Int64:
        return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def data_schema(meta: TableMeta) -> dict[str, pl.DataType]:
    """Column types of ``TypedDataSet`` from ``DataProperties``: ID, dimension keys, topics."""
    schema: dict[str, Any] = {"ID": pl.Int64}
    for key in dimension_keys(meta.properties):
        schema[key] = pl.String
    for key, datatype in topic_types(meta.properties).items():
        if datatype not in _POLARS_TYPES:
            raise CbsBadResponse(f"{meta.table_id}: topic {key} has a Datatype the pipeline does not know: {datatype!r}")
        schema[key] = _POLARS_TYPES[datatype]
    return schema


def _write_landing(
    raw_dir: Path, meta: TableMeta, staging: Path, rows: int, table_url: str, now: datetime, progress: Callable[[str], None]
) -> LandResult:
    """Complete the landing in ``staging`` (which holds the data file, ``rows`` rows) and rename it into place,
    unless the newest landing holds the same ("identical").

    The same content as an older landing (CBS serving a version again after another) is landed
    anew, in ``<name>_2`` (``_3``, ...), so that it is the newest: landings are never changed,
    and the older ones are kept.
    """
    table_dir = staging.parent
    for name, categories in meta.dimensions.items():
        _dimension_frame(categories).write_parquet(staging / f"{name}.parquet")
    _write_json(staging / "DataProperties.json", meta.properties)
    _write_json(staging / "TableInfos.json", meta.info)
    files = {path.name: _sha256(path) for path in sorted(staging.iterdir())}
    content = _content_sha256(files)
    existing = landings(raw_dir, meta.table_id)
    if existing and existing[-1].content_sha256 == content:
        return LandResult(existing[-1], "identical")
    name = f"{_stamp(meta.modified)}_{content[:12]}"
    final, again = table_dir / name, 1
    while final.exists():
        again += 1
        final = table_dir / f"{name}_{again}"
    if again > 1:
        progress(f"{meta.table_id}: the same as the older landing {name}, landed again as the newest: {final.name}")
    landing = Landing(
        table_id=meta.table_id,
        modified=meta.modified,
        fetched_at=now.isoformat(timespec="microseconds"),
        rows=rows,
        sha256=files[DATA_FILE],
        source_url=table_url,
        path=str(final),
        files=files,
    )
    record = {k: v for k, v in asdict(landing).items() if k != "path"}
    _write_json(staging / MANIFEST, record)
    _fsync_dir(staging)
    try:
        os.replace(staging, final)
        _fsync_dir(table_dir)
        return LandResult(landing, "downloaded")
    except OSError:
        if not (final / MANIFEST).is_file():
            raise
    same = next(item for item in landings(raw_dir, meta.table_id) if item.path == str(final))
    return LandResult(same, "identical")


def _dimension_frame(categories: Iterable[dict[str, Any]]) -> pl.DataFrame:
    rows = [{k: (None if v is None else str(v)) for k, v in c.items()} for c in categories]
    columns = sorted({k for row in rows for k in row}, key=lambda k: (k != "Key", k != "Title", k))
    return pl.DataFrame(rows, schema={c: pl.String for c in columns or ["Key", "Title"]})


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _content_sha256(files: dict[str, str]) -> str:
    return hashlib.sha256("".join(f"{name} {digest}\n" for name, digest in sorted(files.items())).encode()).hexdigest()


def _stamp(modified: str) -> str:
    return "".join(ch for ch in modified if ch.isalnum() or ch in "-T") or "unknown"


def _fsync_dir(path: Path) -> None:
    for file in path.iterdir() if path.is_dir() else ():
        if file.is_file():
            with file.open("rb") as handle:
                os.fsync(handle.fileno())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
