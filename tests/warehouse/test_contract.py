"""The v_* views as a versioned contract: the snapshot per schema_version, the bump rules, statcodes."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import polars as pl
import pytest

from tests.warehouse.test_store import build
from transforms.indicators import INDICATOR_SCHEMA
from transforms.regional import REGIONAL_SERIES_SCHEMA
from warehouse import docs, schema
from warehouse.store import publish, read_only

VIEWS = {"v_a": [["code", "VARCHAR"], ["value", "DOUBLE"]]}
LOG = (("1.1.0", "added v_a.year"), ("1.0.0", "first"))


def published_views(path) -> dict:
    with read_only(path) as con:
        return docs.view_columns(con)


def test_the_published_views_are_the_contract_recorded_for_this_schema_version(tmp_path):
    path = tmp_path / "werkregio.duckdb"
    publish(path, build())

    problems = docs.contract_problems(published_views(path), docs.load_snapshot())

    assert problems == [], "\n".join(problems)
    assert published_views(path) == docs.declared_view_columns()
    with read_only(path) as con:
        assert con.execute("SELECT schema_version FROM v_build_info").fetchone() == (schema.SCHEMA_VERSION,)


def test_a_view_changed_without_a_new_version_fails_saying_how_to_update_snapshot_version_and_changelog():
    recorded = docs.load_snapshot()
    current = json.loads(json.dumps(recorded[schema.SCHEMA_VERSION]))
    current["v_regional_series"].append(["region_statcode", "VARCHAR"])
    current["v_national_series"] = [c if c[0] != "value" else ["value", "BIGINT"] for c in current["v_national_series"]]

    (problem,) = docs.contract_problems(current, recorded)

    assert f"the views differ from what warehouse/contract.json records for schema_version {schema.SCHEMA_VERSION}" in problem
    assert "v_national_series.value retyped DOUBLE -> BIGINT" in problem
    assert "v_regional_series.region_statcode added" in problem
    for step in ("raise SCHEMA_VERSION in warehouse/schema.py", "CHANGELOG", "`python -m warehouse.docs`"):
        assert step in problem


@pytest.mark.parametrize(
    ("newer", "change", "expected"),
    [
        ("1.1.0", lambda v: {"v_a": v["v_a"][:1]}, "1.0.0 -> 1.1.0 is not a major version, but breaks the views: v_a.value removed"),
        ("1.1.0", lambda v: {"v_a": [["code", "VARCHAR"], ["value", "BIGINT"]]}, "breaks the views: v_a.value retyped DOUBLE -> BIGINT"),
        ("1.1.0", lambda v: {}, "breaks the views: view v_a removed"),
        ("1.0.1", lambda v: {"v_a": [*v["v_a"], ["year", "INTEGER"]]}, "1.0.0 -> 1.0.1 is not a minor version, but adds to the views: v_a.year added"),
        ("1.0.1", lambda v: {**v, "v_b": v["v_a"]}, "adds to the views: view v_b added"),
        ("1.0.1", lambda v: {"v_a": v["v_a"][::-1]}, "adds to the views: v_a: columns in another order"),
    ],
)
def test_each_version_step_is_checked_against_what_changed(newer, change, expected):
    recorded = {"1.0.0": VIEWS, newer: change(VIEWS)}

    problems = docs.contract_problems(recorded[newer], recorded, newer, ((newer, "..."), ("1.0.0", "first")))

    assert len(problems) == 1 and problems[0].endswith(expected), problems


def test_a_major_or_minor_step_that_matches_the_change_passes():
    added = {"v_a": [*VIEWS["v_a"], ["year", "INTEGER"]]}
    assert docs.contract_problems(added, {"1.0.0": VIEWS, "1.1.0": added}, "1.1.0", LOG) == []
    removed = {"v_a": VIEWS["v_a"][:1]}
    assert docs.contract_problems(removed, {"1.0.0": VIEWS, "2.0.0": removed}, "2.0.0", (("2.0.0", "-"), ("1.0.0", "-"))) == []
    assert docs.contract_problems(VIEWS, {"1.0.0": VIEWS, "1.0.1": VIEWS}, "1.0.1", (("1.0.1", "-"), ("1.0.0", "-"))) == []


def test_every_recorded_version_needs_a_changelog_entry_and_the_version_must_be_recorded():
    added = {"v_a": [*VIEWS["v_a"], ["year", "INTEGER"]]}
    recorded = {"1.0.0": VIEWS, "1.1.0": added}

    assert docs.contract_problems(added, recorded, "1.1.0", LOG[1:]) == [
        "CHANGELOG in warehouse/schema.py lists ['1.0.0'], newest first; warehouse/contract.json records "
        "['1.1.0', '1.0.0']: add an entry for 1.1.0"
    ]
    assert docs.contract_problems(added, {"1.0.0": VIEWS}, "1.1.0", LOG[1:]) == [
        "schema_version 1.1.0 is not recorded in warehouse/contract.json: run `python -m warehouse.docs`"
    ]
    assert "is older than 1.1.0" in docs.contract_problems(VIEWS, recorded, "1.0.0", LOG)[-1]


def test_the_checked_in_snapshot_and_docs_are_what_the_developer_command_writes(tmp_path):
    contract, reference = tmp_path / "contract.json", tmp_path / "warehouse.md"
    shutil.copyfile(docs.CONTRACT, contract)

    assert docs.regenerate(reference, contract) == []

    assert contract.read_text(encoding="utf-8") == docs.CONTRACT.read_text(encoding="utf-8"), (
        "warehouse/contract.json is stale: run `python -m warehouse.docs` and commit the result"
    )
    assert reference.read_text(encoding="utf-8") == docs.DOCS.read_text(encoding="utf-8")


def test_the_developer_command_never_rewrites_a_recorded_version(tmp_path):
    contract, reference = tmp_path / "contract.json", tmp_path / "warehouse.md"
    snapshot = json.loads(docs.CONTRACT.read_text(encoding="utf-8"))
    del snapshot["versions"][schema.SCHEMA_VERSION]["v_build_info"]["schema_version"]  # as if it had been released without it
    contract.write_text(json.dumps(snapshot), encoding="utf-8")
    before = contract.read_bytes()

    problem, *against_older = docs.regenerate(reference, contract)  # once a version follows 1.0.0, the tampered record breaks it too

    assert all("breaks the views" in other for other in against_older)
    assert "view v_build_info added" not in problem and "v_build_info.schema_version added" in problem
    assert "raise SCHEMA_VERSION" in problem
    assert contract.read_bytes() == before
    assert not reference.exists()


def test_every_area_view_gives_the_cbs_statcode_next_to_area_code(tmp_path):
    def regional(area_type: str, code: str, name: str | None) -> dict:
        return {"series": "wwb_recipients", "area_type": area_type, "area_code": code, "area_name": name, "frequency": "year",
                "period_start": dt.date(2022, 1, 1), "period_key": "2022JJ00", "value": 10.0, "unit": "aantal",
                "provisional": False, "geography_year": 2022, "source_table": "T"}

    def indicator(area_type: str, code: str) -> dict:
        return {"indicator": "wwb_benefits", "area_type": area_type, "area_code": code, "area_name": "x", "year": 2022,
                "unit": "aantal", "view": "as_published", "geography_year": 2022, "complete": True, "approximate": False,
                "method": "m", "sources": "T"}

    areas = [("municipality", "0363", "GM0363"), ("region", "AM22", "AM22"), ("country", "NL01", "NL01")]
    frames = build()
    frames["regional_series"] = pl.DataFrame([regional(t, c, None) for t, c, _ in areas], schema=REGIONAL_SERIES_SCHEMA)
    frames["indicators"] = pl.DataFrame([indicator(t, c) for t, c, _ in areas], schema=INDICATOR_SCHEMA)
    path = tmp_path / "werkregio.duckdb"
    publish(path, frames)

    expected = {code: statcode for _, code, statcode in areas}
    with read_only(path) as con:
        for view in ("v_regional_series", "v_region_indicators", "v_municipality_indicators"):
            columns = [c for c, _ in published_views(path)[view]]
            assert columns[columns.index("area_code") + 1] == "statcode", view
            for code, statcode in con.execute(f"SELECT area_code, statcode FROM {view}").fetchall():
                assert statcode == expected[code], (view, code)
        assert con.execute("SELECT gm_code, gm_statcode, region_code FROM v_region_membership ORDER BY 1").fetchall() == [
            ("0363", "GM0363", "AM22"),
            ("0457", "GM0457", "AM22"),
        ]
