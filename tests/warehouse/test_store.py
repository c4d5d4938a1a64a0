"""warehouse.store and warehouse.schema: declared tables, atomic publish, read-only access, generated docs."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from tests.frames import geography_frames, mart_frames
from polars.testing import assert_frame_equal

from transforms.metadata import build_info, source_tables, validation_results
from transforms.series import SERIES_SCHEMA
from warehouse import schema
from tests.holders import held_read_write
from warehouse.store import (
    WarehouseError,
    WarehouseLocked,
    _ArrowStream,
    export_parquet,
    publish,
    published_build,
    query,
    query_tables,
    read_only,
    table_counts,
)

REPO = Path(__file__).resolve().parents[2]
BUILT_AT = dt.datetime(2025, 4, 23, 3, 15, tzinfo=dt.UTC)
DUCKDB_TYPE = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}


def series_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SERIES_SCHEMA, orient="row")


def national(ww_january: float = 449.0) -> pl.DataFrame:
    return series_frame(
        [
            ("ww", "month", dt.date(2024, 1, 1), "2024MM01", ww_january, "x 1 000", False, "37789ksz"),
            ("ww", "month", dt.date(2024, 2, 1), "2024MM02", None, "x 1 000", False, "37789ksz"),
            ("ww", "year", dt.date(2024, 1, 1), "2024JJ00", 440.5, "x 1 000", True, "37789ksz"),
            ("wwb", "month", dt.date(2024, 1, 1), "2024MM01", 425.0, "x 1 000", False, "37789ksz"),
        ]
    )


def sources() -> pl.DataFrame:
    landing = {
        "table_id": "37789ksz",
        "modified": "2025-04-23T02:00:00",
        "fetched_at": "2025-04-23T03:00:00+00:00",
        "rows": 352,
        "sha256": "ab" * 32,
        "source_url": "https://opendata.cbs.nl/ODataFeed/odata/37789ksz/",
        "path": "raw/37789ksz/2025-04-23T02-00-00",
    }
    catalog = {"37789ksz": {"title": "Sociale zekerheid; kerncijfers", "family": "national_benefits"}}
    return source_tables([landing], catalog)


def checks(run_id: str) -> pl.DataFrame:
    record = {
        "dataset": "cbs_national_benefits",
        "batch": "37789ksz@2025-04-23T02:00:00",
        "expectation": "expect_column_values_to_be_between",
        "column": "NietSeizoengecorrigeerd_8",
        "severity": "critical",
        "success": True,
        "observed_value": None,
        "element_count": 352,
        "unexpected_count": 0,
        "unexpected_sample": [],
        "message": "all values between 0 and 20000",
    }
    warning = {**record, "severity": "warning", "success": False, "unexpected_count": 1,
               "unexpected_sample": [812.0], "message": "1 value above 800"}
    return validation_results(run_id, [record, warning])


def build(run_id: str = "run-1", ww_january: float = 449.0) -> dict[str, pl.DataFrame]:
    """Schema-correct frames for every declared table."""
    return {
        "build_info": build_info(run_id, "refresh", BUILT_AT, "https://opendata.cbs.nl", "0.1.0", schema_version=schema.SCHEMA_VERSION),
        "source_tables": sources(),
        "national_series": national(ww_january),
        **geography_frames(),
        **mart_frames(),
        "validation_results": checks(run_id),
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def warehouse(tmp_path) -> Path:
    path = tmp_path / "warehouse" / "werkregio.duckdb"
    publish(path, build("run-1"))
    return path


def test_publish_builds_every_declared_table_with_columns_keys_and_comments(tmp_path):
    path = tmp_path / "warehouse" / "werkregio.duckdb"
    frames = build()

    result = publish(path, frames)

    assert result.path == path
    assert result.row_counts == {name: frame.height for name, frame in frames.items()}
    assert result.size_bytes == path.stat().st_size > 0
    with read_only(path) as con:
        tables = dict(con.execute("SELECT table_name, comment FROM duckdb_tables()").fetchall())
        assert tables == {t.name: t.comment for t in schema.TABLES}
        for table in schema.TABLES:
            columns = con.execute(
                "SELECT column_name, data_type, is_nullable, comment FROM duckdb_columns() "
                "WHERE table_name = ? ORDER BY column_index",
                [table.name],
            ).fetchall()
            assert columns == [
                (c.name, DUCKDB_TYPE.get(c.type, c.type), c.nullable, c.comment) for c in table.columns
            ], table.name
            keys = con.execute(
                "SELECT constraint_column_names FROM duckdb_constraints() "
                "WHERE table_name = ? AND constraint_type = 'PRIMARY KEY'",
                [table.name],
            ).fetchall()
            assert [tuple(k[0]) for k in keys] == ([] if table.nullable_key else [table.key]), table.name


def test_publish_reads_the_frames_through_the_arrow_stream_without_pyarrow(tmp_path):
    # a new process: this test session has imported pyarrow; the build's process needs it nowhere else
    path = tmp_path / "werkregio.duckdb"
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from tests.warehouse.test_store import build\n"
        "from warehouse.store import publish\n"
        f"counts = publish(Path({str(path)!r}), build()).row_counts\n"
        "print(sorted(m for m in ('pyarrow', 'pandas') if m in sys.modules), sum(counts.values()))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)

    assert done.stdout.split() == ["[]", str(sum(frame.height for frame in build().values()))]


def test_a_frame_registered_as_an_arrow_stream_can_be_scanned_again():
    con = duckdb.connect()
    con.register("incoming", _ArrowStream(pl.DataFrame({"code": ["GM0363", "GM0518"], "value": [1.5, None]})))

    for _ in range(2):
        assert con.execute("SELECT code, value FROM incoming ORDER BY code").fetchall() == [("GM0363", 1.5), ("GM0518", None)]


def test_every_table_is_loaded_with_replace_semantics():
    assert {t.load for t in schema.TABLES} == {"replace"}
    assert all(set(t.key) <= set(t.column_names) for t in schema.TABLES)
    enforced = [t for t in schema.TABLES if not t.nullable_key]
    assert all(not c.nullable for t in enforced for c in t.columns if c.name in t.key)
    assert {t.name for t in schema.TABLES if t.nullable_key} == {"indicators", "indicator_spread"}


def test_table_counts_and_query_read_back_what_was_published(warehouse):
    assert table_counts(warehouse) == {
        "analyses": 0,
        "build_info": 1,
        "indicator_spread": 0,
        "indicators": 0,
        "load_history": 0,
        "municipal_changes": 1,
        "municipalities": 2,
        "national_series": 4,
        "region_membership": 2,
        "regional_series": 0,
        "source_tables": 1,
        "uwv_portal_connections": 0,
        "uwv_vacancies": 0,
        "uwv_wwb_registrations": 0,
        "validation_results": 2,
    }

    published = query(warehouse, "SELECT * FROM national_series ORDER BY series, frequency, period_start")
    assert_frame_equal(published, national())

    ww = query(warehouse, "SELECT period_key, value FROM national_series WHERE series = ? ORDER BY period_key", ["ww"])
    assert_frame_equal(
        ww,
        pl.DataFrame({"period_key": ["2024JJ00", "2024MM01", "2024MM02"], "value": [440.5, 449.0, None]}),
    )
    build_row = query(warehouse, "SELECT run_id, built_at FROM build_info").row(0)
    assert build_row[0] == "run-1"
    assert build_row[1] == BUILT_AT
    outcome = query(warehouse, "SELECT check_index, severity, success, unexpected_sample FROM validation_results")
    assert outcome.rows() == [(0, "critical", True, "[]"), (1, "warning", False, "[812.0]")]


def test_read_only_on_a_missing_file_names_the_path_and_the_fix(tmp_path):
    missing = tmp_path / "nowhere" / "werkregio.duckdb"

    with pytest.raises(WarehouseError) as raised:
        with read_only(missing):
            pass

    assert str(missing) in str(raised.value)
    assert "werkregio refresh" in str(raised.value)
    with pytest.raises(WarehouseError, match="werkregio refresh"):
        query(missing, "SELECT 1")
    assert not missing.parent.exists()


def test_a_damaged_file_fails_naming_the_file_and_duckdbs_error(warehouse):
    with warehouse.open("r+b") as handle:
        handle.truncate(100)  # e.g. a copy that was cut off

    def connect():
        with read_only(warehouse):
            pass

    for read in (
        connect,
        lambda: query(warehouse, "SELECT 1"),
        lambda: query_tables(warehouse, ["build_info"]),
        lambda: table_counts(warehouse),
    ):
        with pytest.raises(WarehouseError) as raised:
            read()
        assert str(raised.value).startswith(f"cannot open the warehouse {warehouse}: IO Error: Could not read enough bytes")
        assert "werkregio refresh" in str(raised.value)
    assert published_build(warehouse) is None


def test_a_file_another_process_holds_read_write_is_locked_not_missing_and_names_the_process(warehouse):
    """Issue 22: such a file was taken for 'nothing published' and rebuilt without what it held."""
    with held_read_write(warehouse) as pid:
        for read in (
            lambda: query(warehouse, "SELECT 1"),
            lambda: query_tables(warehouse, ["build_info"]),
            lambda: table_counts(warehouse),
        ):
            with pytest.raises(WarehouseLocked) as raised:
                read()
            message = str(raised.value)
            assert message.startswith(f"the warehouse {warehouse} is open read-write in process {pid} (")
            assert "nothing was changed. Close that session" in message and "-readonly" in message


@pytest.mark.parametrize("keep", [(), ("national_series",)], ids=["new build", "keeping tables"])
def test_publish_refuses_while_another_process_holds_the_published_file_read_write(warehouse, keep):
    before = sha256(warehouse)
    frames = {name: frame for name, frame in build("run-2", ww_january=1.0).items() if name not in keep}

    with held_read_write(warehouse) as pid:
        with pytest.raises(WarehouseLocked, match=f"open read-write in process {pid}"):
            publish(warehouse, frames, keep=keep)

    assert sha256(warehouse) == before
    assert [p.name for p in warehouse.parent.iterdir()] == [warehouse.name]  # no building file left
    assert published_build(warehouse)[0] == "run-1"


def without_table(frames, name):
    return {k: v for k, v in frames.items() if k != name}


def without_column(frames, name, column):
    return {**frames, name: frames[name].drop(column)}


def with_duplicate_key(frames, name):
    return {**frames, name: pl.concat([frames[name], frames[name].head(1)])}


def with_null(frames, name, column):
    return {**frames, name: frames[name].with_columns(pl.lit(None, dtype=frames[name][column].dtype).alias(column))}


# (break the frames, table named in the error, where the build fails): "arguments" fails in publish's
# check of the frame names, before any file is created, so for those cases the leftover assertions
# below hold trivially; "building" fails with the building file open, where they are the point.
BROKEN_BUILDS = {
    "missing table": (lambda f: without_table(f, "validation_results"), "validation_results", "arguments"),
    "unexpected table": (lambda f: {**f, "region_indicators": national()}, "region_indicators", "arguments"),
    "missing column": (lambda f: without_column(f, "national_series", "unit"), "national_series", "building"),
    "null in a NOT NULL column": (lambda f: with_null(f, "national_series", "unit"), "national_series", "building"),
    "duplicate key": (lambda f: with_duplicate_key(f, "national_series"), "national_series", "building"),
    "duplicate source table": (lambda f: with_duplicate_key(f, "source_tables"), "source_tables", "building"),
    "duplicate key of the last table": (lambda f: with_duplicate_key(f, "validation_results"), "validation_results", "building"),
}


@pytest.mark.parametrize("case", list(BROKEN_BUILDS))
def test_a_failed_build_leaves_the_published_file_byte_for_byte_unchanged(warehouse, monkeypatch, case):
    break_build, table_named, stage = BROKEN_BUILDS[case]
    before = sha256(warehouse)
    opened = []
    connect = duckdb.connect

    def recording_connect(database=":memory:", *args, **kwargs):
        opened.append(Path(database).name)
        return connect(database, *args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", recording_connect)

    with pytest.raises(WarehouseError) as raised:
        publish(warehouse, break_build(build("run-2", ww_january=1.0)))

    building = [name for name in opened if name.startswith(".werkregio.duckdb.building-")]
    assert len(building) == (1 if stage == "building" else 0), opened
    assert table_named in str(raised.value)
    assert str(warehouse) in str(raised.value)
    assert sha256(warehouse) == before
    assert sorted(p.name for p in warehouse.parent.iterdir()) == ["werkregio.duckdb"]
    assert list(warehouse.parent.glob(".werkregio.duckdb.building-*")) == []
    assert query(warehouse, "SELECT run_id FROM build_info")["run_id"].to_list() == ["run-1"]


def test_duplicate_key_error_names_the_key_and_the_duplicated_values(warehouse):
    frames = with_duplicate_key(build("run-2"), "national_series")
    first = frames["national_series"].row(0, named=True)
    with pytest.raises(WarehouseError, match=r"national_series violates its key \('series', 'frequency', 'period_start'\)") as raised:
        publish(warehouse, frames)
    assert f"'series': '{first['series']}'" in str(raised.value), "the duplicated key is named"


def test_a_null_in_a_not_null_column_is_named(warehouse):
    frames = build("run-2")
    frames["national_series"] = frames["national_series"].with_columns(pl.lit(None, dtype=pl.String).alias("unit"))
    with pytest.raises(WarehouseError, match=r"national_series violates a NOT NULL column"):
        publish(warehouse, frames)


def test_publish_replaces_a_previous_build_completely(warehouse):
    publish(warehouse, {**build("run-2", ww_january=500.0), "national_series": national(500.0).head(2)})

    assert query(warehouse, "SELECT run_id FROM build_info")["run_id"].to_list() == ["run-2"]
    assert table_counts(warehouse)["national_series"] == 2
    assert sorted(p.name for p in warehouse.parent.iterdir()) == ["werkregio.duckdb"]


def test_open_reader_keeps_the_old_build_and_a_new_connection_sees_the_new_one(warehouse):
    january_ww = "SELECT value FROM national_series WHERE series = 'ww' AND period_key = '2024MM01'"
    with read_only(warehouse) as old:
        assert old.execute(january_ww).fetchone() == (449.0,)

        publish(warehouse, build("run-2", ww_january=500.0))

        assert old.execute(january_ww).fetchone() == (449.0,)
        assert old.execute("SELECT run_id FROM build_info").fetchone() == ("run-1",)
        # In the same process as the open reader: DuckDB would hand back the old file's cached instance.
        assert query(warehouse, january_ww)["value"].to_list() == [500.0]
        with read_only(warehouse) as new:
            assert new.execute("SELECT run_id FROM build_info").fetchone() == ("run-2",)
    assert query(warehouse, "SELECT run_id FROM build_info")["run_id"].to_list() == ["run-2"]


def test_a_plain_duckdb_reader_of_the_old_file_is_not_disturbed_by_publish(warehouse):
    old = duckdb.connect(str(warehouse), read_only=True)
    try:
        publish(warehouse, build("run-2", ww_january=500.0))
        assert old.execute("SELECT run_id FROM build_info").fetchone() == ("run-1",)
        assert old.execute("SELECT count(*) FROM national_series").fetchone() == (4,)
    finally:
        old.close()
    assert query(warehouse, "SELECT run_id FROM build_info")["run_id"].to_list() == ["run-2"]


def test_markdown_mentions_every_table_and_column():
    text = schema.markdown()

    for table in schema.TABLES:
        assert f"## `{table.name}`" in text
        assert f"Key: `({', '.join(table.key)})`" in text
        for column in table.columns:
            cell = column.comment.replace("|", "\\|")
            assert f"| `{column.name}` | {column.type} | {'yes' if column.nullable else 'no'} | {cell} |" in text


def test_the_series_comments_name_every_series_the_catalog_maps():
    from sources.cbs import catalog

    national = {name for table in catalog.national_tables() for name in table.series}
    regional = {name for table in catalog.regional_tables() for name in table.series}
    comment = {t.name: next(c.comment for c in t.columns if c.name == "series") for t in (schema.NATIONAL_SERIES, schema.REGIONAL_SERIES)}
    named = {table: set(re.findall(r"\b[a-z_]+(?= =)", text)) for table, text in comment.items()}

    assert named == {"national_series": national, "regional_series": regional}


def test_docs_warehouse_md_is_the_generated_reference():
    docs = REPO / "docs" / "warehouse.md"

    assert docs.read_text(encoding="utf-8") == schema.markdown() + "\n", (
        "docs/warehouse.md is stale: run `python -m warehouse.docs` and commit the result"
    )


def test_comments_with_quotes_are_escaped_in_the_ddl(tmp_path):
    table = schema.Table(
        "notes",
        "CBS's notes",
        (schema.Column("id", "INTEGER", "the note's id", False), schema.Column("text", "VARCHAR", "it's text")),
        ("id",),
    )
    path = tmp_path / "notes.duckdb"

    publish(path, {"notes": pl.DataFrame({"id": [1, 2], "text": ["a", None]})}, tables=(table,))

    with read_only(path) as con:
        assert con.execute("SELECT comment FROM duckdb_tables()").fetchone() == ("CBS's notes",)
        assert con.execute("SELECT column_name, comment FROM duckdb_columns() WHERE table_name = 'notes'").fetchall() == [
            ("id", "the note's id"),
            ("text", "it's text"),
        ]


def test_a_building_file_left_by_a_killed_build_is_removed_by_the_next_publish(warehouse):
    stale = warehouse.with_name(f".{warehouse.name}.building-deadbeef0000")
    stale.write_bytes(b"half a database")
    publish(warehouse, build("run-3"))
    assert not stale.exists()
    assert query(warehouse, "SELECT run_id FROM build_info")["run_id"].to_list() == ["run-3"]


def test_a_spill_directory_left_by_a_killed_build_is_removed_by_the_next_publish(warehouse):
    # DuckDB spills to <database>.tmp/ beside the building file; a killed build leaves it behind
    spill = warehouse.with_name(f".{warehouse.name}.building-deadbeef0000.tmp")
    spill.mkdir()
    (spill / "duckdb_temp_storage-0.tmp").write_bytes(b"spilled blocks")

    publish(warehouse, build("run-3"))

    assert sorted(p.name for p in warehouse.parent.iterdir()) == ["werkregio.duckdb"]
    assert query(warehouse, "SELECT run_id FROM build_info")["run_id"].to_list() == ["run-3"]


def test_a_write_ahead_log_left_beside_the_published_file_does_not_break_the_next_build(warehouse):
    # a user opened the published file read-write and their session ended without a checkpoint
    con = duckdb.connect(str(warehouse))
    con.execute("PRAGMA disable_checkpoint_on_shutdown")
    con.execute("SET checkpoint_threshold = '1TB'")
    con.execute("UPDATE build_info SET run_id = 'edited by hand'")
    con.close()
    assert sorted(p.name for p in warehouse.parent.iterdir()) == ["werkregio.duckdb", "werkregio.duckdb.wal"]

    publish(warehouse, build("run-2"))

    assert sorted(p.name for p in warehouse.parent.iterdir()) == ["werkregio.duckdb"]
    assert query(warehouse, "SELECT run_id FROM build_info")["run_id"].to_list() == ["run-2"]


def test_an_export_that_fails_part_way_leaves_the_previous_export_as_it_was(warehouse, tmp_path):
    output = tmp_path / "export"
    written = export_parquet(warehouse, output)
    before = {p.name: sha256(p) for p in written}
    publish(warehouse, build("run-2", ww_january=500.0))
    with duckdb.connect(str(warehouse)) as con:  # a view that fails when read, after the others (by name)
        con.execute("CREATE VIEW zz_unreadable AS SELECT error('No space left on device') AS x")

    with pytest.raises(WarehouseError, match=rf"{warehouse}: exporting zz_unreadable into {output} failed: .*No space left"):
        export_parquet(warehouse, output)

    assert {p.name: sha256(p) for p in output.iterdir()} == before  # no file of run-2, no leftover


def test_export_refuses_an_output_path_that_is_a_file(warehouse, tmp_path):
    output = tmp_path / "export.parquet"
    output.write_bytes(b"not a folder")

    with pytest.raises(WarehouseError, match=rf"cannot export into {output}: it is a file, not a folder"):
        export_parquet(warehouse, output)
    assert output.read_bytes() == b"not a folder"


KEPT = ("national_series", "regional_series", "validation_results")


def test_publish_can_keep_tables_of_the_published_file_and_rebuild_the_rest(warehouse):
    before = sha256(warehouse)
    with read_only(warehouse) as con:
        kept_before = {name: con.sql(f"SELECT * FROM {name}").pl() for name in KEPT}
    frames = {name: frame for name, frame in build("run-2", ww_january=500.0).items() if name not in KEPT}

    result = publish(warehouse, frames, keep=KEPT)

    assert sha256(warehouse) != before
    assert result.row_counts == {t.name: (kept_before[t.name] if t.name in KEPT else frames[t.name]).height for t in schema.TABLES}
    assert query(warehouse, "SELECT run_id FROM build_info")["run_id"].to_list() == ["run-2"]
    for name, frame in kept_before.items():
        assert_frame_equal(query(warehouse, f"SELECT * FROM {name}"), frame)  # national_series still has 449, not 500
    with read_only(warehouse) as con:
        tables = dict(con.execute("SELECT table_name, comment FROM duckdb_tables()").fetchall())
        views = {row[0] for row in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert tables == {t.name: t.comment for t in schema.TABLES}
    assert views == {v.name for v in schema.VIEWS}
    assert sorted(p.name for p in warehouse.parent.iterdir()) == ["werkregio.duckdb"]


def test_keeping_a_table_the_published_file_lacks_fails_and_leaves_it_unchanged(warehouse):
    with duckdb.connect(str(warehouse)) as con:  # an older warehouse without validation_results
        con.execute("DROP TABLE validation_results")
    before = sha256(warehouse)
    frames = {name: frame for name, frame in build("run-2").items() if name not in KEPT}

    with pytest.raises(WarehouseError, match=r"validation_results cannot be kept: the published file has columns none"):
        publish(warehouse, frames, keep=KEPT)

    assert sha256(warehouse) == before
    assert sorted(p.name for p in warehouse.parent.iterdir()) == ["werkregio.duckdb"]


def test_keeping_needs_a_published_file_and_exactly_the_other_tables(tmp_path, warehouse):
    frames = {name: frame for name, frame in build("run-2").items() if name not in KEPT}
    with pytest.raises(WarehouseError, match="no published warehouse to keep"):
        publish(tmp_path / "none.duckdb", frames, keep=KEPT)
    with pytest.raises(WarehouseError, match=r"unexpected \['national_series'\]"):
        publish(warehouse, {**frames, "national_series": national()}, keep=KEPT)
