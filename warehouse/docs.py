"""Developer command: regenerate ``docs/warehouse.md`` and the views' contract snapshot ``warehouse/contract.json``.

    python -m warehouse.docs

Run it after changing ``warehouse/schema.py``. The snapshot records, per ``SCHEMA_VERSION``, every
``v_*`` view's columns and types as DuckDB reports them. A version already recorded is never
rewritten: when the views differ from its record, the command stops and asks for a new version
(and a changelog entry) instead. ``tests/warehouse/test_contract.py`` checks the same rules on a
published file.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb

from warehouse.schema import CHANGELOG, SCHEMA_VERSION, TABLES, VIEWS, Table, View, markdown

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "warehouse.md"
CONTRACT = REPO / "warehouse" / "contract.json"
COMMAND = "python -m warehouse.docs"

ViewColumns = dict[str, list[list[str]]]
"""View name -> its [column, DuckDB type] pairs, in order."""

_ABOUT = (
    f"Columns and types of the v_* views per schema_version, as DuckDB reports them. Written by `{COMMAND}`; "
    "see docs/warehouse.md for the rules and the changelog."
)


def view_columns(con: duckdb.DuckDBPyConnection) -> ViewColumns:
    """Every (non-internal) view of the connection's current database with its columns and DuckDB types."""
    rows = con.execute(
        "SELECT c.table_name, c.column_name, c.data_type FROM duckdb_columns() c "
        "JOIN duckdb_views() v ON v.database_name = c.database_name AND v.schema_name = c.schema_name "
        "AND v.view_name = c.table_name "
        "WHERE NOT v.internal AND c.database_name = current_database() ORDER BY c.table_name, c.column_index"
    ).fetchall()
    views: ViewColumns = {}
    for view, column, data_type in rows:
        views.setdefault(view, []).append([column, data_type])
    return views


def declared_view_columns(tables: Sequence[Table] = TABLES, views: Sequence[View] = VIEWS) -> ViewColumns:
    """The views' columns as a build creates them: the declared DDL run in an empty in-memory database."""
    con = duckdb.connect()
    try:
        for table in tables:
            con.execute(table.ddl())
        for view in views:
            con.execute(view.ddl())
        return view_columns(con)
    finally:
        con.close()


def _semver(version: str) -> tuple[int, int, int]:
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"schema version {version!r} is not MAJOR.MINOR.PATCH")
    major, minor, patch = (int(p) for p in parts)
    return major, minor, patch


def changes(old: ViewColumns, new: ViewColumns) -> tuple[list[str], list[str]]:
    """(breaking, additive) differences between two snapshots, each a line naming the view and column.

    Breaking: a view or column removed (a rename is a removal and an addition) or retyped. Additive: a
    view or column added, or columns in another order.
    """
    breaking, additive = [], []
    for view, columns in old.items():
        if view not in new:
            breaking.append(f"view {view} removed")
            continue
        now = dict(map(tuple, new[view]))
        for name, data_type in columns:
            if name not in now:
                breaking.append(f"{view}.{name} removed")
            elif now[name] != data_type:
                breaking.append(f"{view}.{name} retyped {data_type} -> {now[name]}")
        before = {name for name, _ in columns}
        added = [name for name, _ in new[view] if name not in before]
        additive += [f"{view}.{name} added" for name in added]
        kept_order = [name for name, _ in new[view] if name in before]
        if kept_order != [name for name, _ in columns if name in now]:
            additive.append(f"{view}: columns in another order")
    additive += [f"view {view} added" for view in new if view not in old]
    return breaking, additive


def contract_problems(
    current: ViewColumns,
    recorded: Mapping[str, ViewColumns],
    version: str = SCHEMA_VERSION,
    changelog: Sequence[tuple[str, str]] = CHANGELOG,
) -> list[str]:
    """What is wrong between the views as built (``current``), the snapshot and the version; empty when all agree."""
    how = (
        f"raise SCHEMA_VERSION in warehouse/schema.py (major for a removed, renamed or retyped column or view; "
        f"minor for a new one), add its CHANGELOG entry there, then run `{COMMAND}` (it records the new version in "
        "warehouse/contract.json and regenerates docs/warehouse.md)"
    )
    problems = []
    if version not in recorded:
        problems.append(f"schema_version {version} is not recorded in warehouse/contract.json: run `{COMMAND}`")
    elif recorded[version] != current:
        breaking, additive = changes(recorded[version], current)
        problems.append(
            f"the views differ from what warehouse/contract.json records for schema_version {version} "
            f"({'; '.join(breaking + additive)}): {how}. A version that never reached main (two branches that "
            "each added one, say) may be recorded again instead: delete its entry from warehouse/contract.json "
            f"and run `{COMMAND}`"
        )
    ordered = sorted(recorded, key=_semver)
    if ordered and _semver(version) < _semver(ordered[-1]):
        problems.append(f"schema_version {version} is older than {ordered[-1]}, the newest in warehouse/contract.json")
    for older, newer in zip(ordered, ordered[1:]):
        breaking, additive = changes(recorded[older], recorded[newer])
        (a, b, _), (x, y, _) = _semver(older), _semver(newer)
        if breaking and x == a:
            problems.append(f"{older} -> {newer} is not a major version, but breaks the views: {'; '.join(breaking)}")
        elif additive and (x, y) == (a, b):
            problems.append(f"{older} -> {newer} is not a minor version, but adds to the views: {'; '.join(additive)}")
    logged = [v for v, _ in changelog]
    expected = ordered[::-1]
    if logged != expected:
        missing = [v for v in expected if v not in logged]
        problems.append(
            f"CHANGELOG in warehouse/schema.py lists {logged}, newest first; warehouse/contract.json records "
            f"{expected}" + (f": add an entry for {', '.join(missing)}" if missing else "")
        )
    return problems


def load_snapshot(path: Path = CONTRACT) -> dict[str, ViewColumns]:
    """The recorded versions (version -> views), empty when there is no snapshot yet.

    On disk each view maps its columns to their types in order (``{"v_x": {"column": "TYPE", ...}}``).
    """
    if not path.is_file():
        return {}
    versions = json.loads(path.read_text(encoding="utf-8"))["versions"]
    return {version: {view: [[c, t] for c, t in columns.items()] for view, columns in views.items()} for version, views in versions.items()}


def regenerate(docs: Path = DOCS, contract: Path = CONTRACT) -> list[str]:
    """Write ``docs`` and ``contract`` from the declarations; on any problem write nothing and return the problems."""
    current = declared_view_columns()
    recorded = load_snapshot(contract)
    if recorded.get(SCHEMA_VERSION, current) != current:
        return contract_problems(current, recorded)
    recorded = {**recorded, SCHEMA_VERSION: current}
    problems = contract_problems(current, recorded)
    if problems:
        return problems
    versions = {version: {view: dict(map(tuple, columns)) for view, columns in recorded[version].items()} for version in sorted(recorded, key=_semver)}
    snapshot = json.dumps({"about": _ABOUT, "versions": versions}, indent=2, ensure_ascii=False)
    contract.write_text(snapshot + "\n", encoding="utf-8")
    docs.write_text(markdown() + "\n", encoding="utf-8")
    return []


def main() -> int:
    problems = regenerate()
    if problems:
        print("\n".join(f"{COMMAND}: {p}" for p in problems), file=sys.stderr)
        return 1
    print(f"wrote {DOCS.relative_to(REPO)} and {CONTRACT.relative_to(REPO)} (schema_version {SCHEMA_VERSION})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
