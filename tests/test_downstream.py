"""docs/downstream.md against a published file: every SQL and Python snippet in it runs, read from the page itself.

The warehouse is built once for this module by the refresh flow from the local StatLine mirror of
real CBS data (the tables the examples read). SQL snippets run on a read-only attachment of the file named
``werkregio``, as the DuckDB CLI names it, with dbt's ``{{ source('werkregio', 'v_x') }}`` resolved
as dbt-duckdb resolves it (``werkregio.main.v_x``); Python snippets run in order in one namespace
from the folder that holds ``data/``, as a reader in the project folder would run them.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
import yaml

from sources.cbs import catalog
from tests.statline_mirror import StatLineMirror

pytestmark = [pytest.mark.mirror, pytest.mark.usefixtures("prefect_server")]

PAGE = Path(__file__).resolve().parents[1] / "docs" / "downstream.md"
#: What the page's examples read: national benefits, every region composition, the WWB recipients per
#: municipality and region (2015-2017) and one labour-force edition.
TABLES = (catalog.NATIONAL_BENEFITS, catalog.REGIONS, "83450NED", "83747NED", "84066NED", "85230NED")
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)
SOURCE = re.compile(r"\{\{\s*source\('(\w+)',\s*'(\w+)'\)\s*\}\}")


def snippets(language: str) -> list[str]:
    return [code for lang, code in BLOCK.findall(PAGE.read_text(encoding="utf-8")) if lang == language]


@pytest.fixture(scope="module")
def published(tmp_path_factory, statline_root) -> Path:
    """The project folder of a reader: ``data/warehouse/werkregio.duckdb`` published by a refresh from the mirror."""
    folder = tmp_path_factory.mktemp("reader")
    with StatLineMirror(statline_root) as mirror, pytest.MonkeyPatch.context() as patch:
        patch.setenv("WERKREGIO_HOME", str(folder / "data"))
        patch.setenv("WERKREGIO_CBS_URL", mirror.base_url)
        from flows.refresh import refresh

        refresh(tables=list(TABLES))
    return folder


@pytest.fixture
def warehouse(published) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"ATTACH '{published / 'data' / 'warehouse' / 'werkregio.duckdb'}' AS werkregio (READ_ONLY)")
    con.execute("USE werkregio")
    yield con
    con.close()


def test_the_page_has_the_snippets_this_test_runs():
    assert len(snippets("sql")) >= 10 and len(snippets("python")) == 2 and len(snippets("yaml")) == 2
    assert {lang for lang, _ in BLOCK.findall(PAGE.read_text(encoding="utf-8"))} == {"sh", "sql", "python", "yaml"}


@pytest.mark.parametrize("index", range(len(snippets("sql"))))
def test_every_sql_snippet_runs_and_returns_rows_or_as_a_dbt_test_none(warehouse, index):
    sql = SOURCE.sub(lambda m: f"{m[1]}.main.{m[2]}", snippets("sql")[index])

    rows = warehouse.execute(sql).fetchall()

    if sql.startswith("-- tests/"):  # a dbt singular test: it passes when it returns no row
        assert rows == [], f"SQL snippet {index + 1}, a dbt test, fails on a published file:\n{sql}"
    else:
        assert rows, f"SQL snippet {index + 1} returned no rows:\n{sql}"


def test_the_region_check_snippet_finds_cbs_region_rows_equal_to_their_municipalities(warehouse):
    (sql,) = [s for s in snippets("sql") if "cbs_region_row" in s]
    rows = warehouse.execute(sql).fetchall()

    assert len(rows) == 105  # 35 regions x 2015-2017
    for year, statcode, name, municipalities, recomputed, cbs, difference, note in rows:
        assert None not in (name, recomputed, cbs) and difference == recomputed - cbs and note is None, (year, statcode)
        assert abs(difference) <= 5 * (municipalities + 1), (year, statcode)


def test_the_python_snippets_run_from_the_project_folder(published, monkeypatch):
    monkeypatch.chdir(published)
    namespace: dict = {}
    for number, code in enumerate(snippets("python"), 1):
        exec(compile(code, f"<docs/downstream.md, Python snippet {number}>", "exec"), namespace)  # noqa: S102 - the page's own examples

    assert namespace["version"].split(".")[0] == "1"
    assert namespace["regions"].height > 0 and set(namespace["regions"].columns) == {"statcode", "area_name", "year", "value"}
    assert len(namespace["membership"]) > 0 and "gm_statcode" in namespace["membership"].columns
    assert namespace["run_id"] and namespace["built_at"]


def test_the_dbt_sources_name_every_view_with_columns_it_has(warehouse):
    profiles, sources = (yaml.safe_load(code) for code in snippets("yaml"))
    (attached,) = profiles["werkregio_reports"]["outputs"]["dev"]["attach"]
    (source,) = sources["sources"]

    assert attached["read_only"] is True and attached["path"] == "data/warehouse/werkregio.duckdb"
    assert source["database"] == attached["alias"] and source["schema"] == "main"
    views = {
        name: {column for (column,) in warehouse.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND database_name = 'werkregio'", [name]
        ).fetchall()}
        for (name,) in warehouse.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal AND database_name = 'werkregio'").fetchall()
    }
    listed = {table["name"]: {c["name"] for c in table.get("columns", [])} for table in source["tables"]}
    assert set(listed) == set(views), "docs/downstream.md: sources.yml should list every v_* view (a new view: add it there)"
    for name, columns in listed.items():
        assert columns <= views[name], f"{name}: {sorted(columns - views[name])} are not columns of the view"
