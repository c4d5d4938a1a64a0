"""End to end: the refresh flow under Prefect against the local StatLine mirror of real CBS data."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows import runlog
from sources.cbs import catalog
from sources.cbs.landing import latest_landing
from flows.settings import Settings
from tests.statline_mirror import StatLineMirror
from warehouse.store import query

pytestmark = [pytest.mark.mirror, pytest.mark.usefixtures("prefect_server")]

NATIONAL = catalog.national_benefits()


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("WERKREGIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WERKREGIO_BACKOFF", "0.05")
    monkeypatch.setenv("WERKREGIO_RETRIES", "3")
    return tmp_path / "home"


@pytest.fixture
def mirror(statline_root, monkeypatch):
    with StatLineMirror(statline_root, page_size=50) as server:
        monkeypatch.setenv("WERKREGIO_CBS_URL", server.base_url)
        yield server


def run_refresh(**kwargs):
    from flows.refresh import refresh

    return refresh(**kwargs)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_values(root: Path, column: str) -> dict[str, float | None]:
    rows = json.loads((root / NATIONAL.table_id / "TypedDataSet.json").read_text())["value"]
    return {row["Perioden"]: row[column] for row in rows if "MM" in row["Perioden"]}


def test_refresh_publishes_national_series_equal_to_cbs(home, mirror, statline_root):
    result = run_refresh(tables=[NATIONAL.table_id])
    warehouse = Settings.from_env().warehouse_path
    assert result["published"]["path"] == str(warehouse)
    for series, column in NATIONAL.series.items():
        published = query(
            warehouse,
            "SELECT period_key, value FROM national_series WHERE series = ? AND frequency = 'month'",
            [series],
        )
        expected = source_values(statline_root, column)
        assert dict(zip(published["period_key"], published["value"])) == expected
        assert published.height == len(expected) == 325
    sources = query(warehouse, "SELECT table_id, modified, rows FROM source_tables")
    assert sources.to_dicts() == [{"table_id": "37789ksz", "modified": "2025-04-23T02:00:00", "rows": 352}]
    checks = query(warehouse, "SELECT severity, success FROM validation_results")
    assert checks.height > 5 and checks["success"].all()
    provisional = query(warehouse, "SELECT period_key FROM national_series WHERE provisional AND series = 'ww' ORDER BY 1")
    assert provisional["period_key"].to_list() == ["2024JJ00", "2024MM11", "2024MM12", "2025MM01"]


def test_second_refresh_with_unchanged_modified_downloads_no_rows(home, mirror):
    run_refresh(tables=[NATIONAL.table_id, "82496NED"])
    mirror.reset_log()
    result = run_refresh(tables=[NATIONAL.table_id, "82496NED"])
    assert [t["action"] for t in result["tables"]] == ["unchanged", "unchanged"]
    assert mirror.data_rows_served() == 0
    # reach_cbs (the service's base URL, once, unretried), then the catalogue for both tables (--table: only those)
    reach, request = mirror.requests_for()
    assert (reach.table_id, reach.endpoint) == (None, None)  # the base URL: not a table, not the catalogue
    assert (request.table_id, request.endpoint) == (None, "Tables")
    assert request.query["$filter"] == "Identifier eq '37789ksz' or Identifier eq '82496NED'"

    mirror.reset_log()
    run_refresh(tables=[NATIONAL.table_id, "82496NED"], force=True)
    assert mirror.count(None, "Tables") == 0  # --force downloads whatever CBS says


def test_without_the_catalogue_each_table_is_asked_on_its_own_and_the_log_says_so(home, mirror, caplog):
    run_refresh(tables=[NATIONAL.table_id, "82496NED"])
    mirror.add_fault("status", status=500, endpoint="Tables", times=None)
    mirror.reset_log()
    with caplog.at_level(logging.WARNING):
        result = run_refresh(tables=[NATIONAL.table_id, "82496NED"])
    assert [t["action"] for t in result["tables"]] == ["unchanged", "unchanged"] and mirror.data_rows_served() == 0
    assert sorted((r.table_id, r.endpoint) for r in mirror.requests_for() if r.status == 200 and r.table_id is not None) == [
        ("37789ksz", "TableInfos"),
        ("82496NED", "TableInfos"),
    ]
    assert "the catalogue could not be read (ODataCatalog/Tables: " in caplog.text
    assert "asking each of 2 table(s) for its version instead" in caplog.text

    mirror.clear_faults()
    mirror.set_modified("82496NED", "2026-01-01T02:00:00")
    mirror.reset_log()
    result = run_refresh(tables=[NATIONAL.table_id, "82496NED"])
    assert [t["action"] for t in result["tables"]] == ["unchanged", "downloaded"]
    assert mirror.requests_for()[1].endpoint == "Tables" and mirror.count(NATIONAL.table_id) == 0  # after reach_cbs


def test_500_on_one_page_is_retried_and_the_run_succeeds(home, mirror):
    fault = mirror.add_fault("status", status=500, table=NATIONAL.table_id, endpoint="TypedDataSet", skip=100, times=1)
    result = run_refresh(tables=[NATIONAL.table_id])
    assert fault.hits == 1
    assert result["tables"][0]["rows"] == 352
    assert query(Settings.from_env().warehouse_path, "SELECT count(*) AS n FROM national_series")["n"][0] == 704


def test_permanent_404_fails_naming_the_table_and_leaves_the_warehouse_untouched(home, mirror):
    run_refresh(tables=[NATIONAL.table_id])
    warehouse = Settings.from_env().warehouse_path
    before = sha(warehouse)
    mirror.add_fault("status", status=404, table=NATIONAL.table_id, times=None)
    with pytest.raises(Exception) as caught:
        run_refresh(tables=[NATIONAL.table_id], force=True)
    assert "37789ksz" in str(caught.value) and "404" in str(caught.value)
    assert sha(warehouse) == before
    last = runlog.runs(Settings.from_env().run_log_path)[-1]
    assert last.status == "failed" and "37789ksz" in last.error


def corrupted_national(statline_root: Path, folder: Path) -> Path:
    """A mirror folder with the national table republished (new Modified) with one benefit count of -4.0."""
    shutil.copytree(statline_root / NATIONAL.table_id, folder / NATIONAL.table_id)
    data = json.loads((folder / NATIONAL.table_id / "TypedDataSet.json").read_text())
    data["value"][5]["TotaalBijstandsuitkeringen_11"] = -4.0
    (folder / NATIONAL.table_id / "TypedDataSet.json").write_text(json.dumps(data))
    info = json.loads((folder / NATIONAL.table_id / "TableInfos.json").read_text())
    info["value"][0]["Modified"] = "2026-01-01T02:00:00"
    (folder / NATIONAL.table_id / "TableInfos.json").write_text(json.dumps(info))
    return folder


def republished_national(statline_root: Path, folder: Path, glitch: bool) -> Path:
    """A mirror folder with the national table republished (Modified 2026-01-01); with ``glitch``, as a paging
    hiccup serves it: rows 50-99 replaced by rows 0-49 again (as many rows, periods repeated)."""
    shutil.copytree(statline_root / NATIONAL.table_id, folder / NATIONAL.table_id)
    if glitch:
        data = json.loads((folder / NATIONAL.table_id / "TypedDataSet.json").read_text())
        data["value"][50:100] = [dict(row) for row in data["value"][0:50]]
        (folder / NATIONAL.table_id / "TypedDataSet.json").write_text(json.dumps(data))
    info = json.loads((folder / NATIONAL.table_id / "TableInfos.json").read_text())
    info["value"][0]["Modified"] = "2026-01-01T02:00:00"
    (folder / NATIONAL.table_id / "TableInfos.json").write_text(json.dumps(info))
    return folder


def test_a_landing_that_failed_its_checks_is_downloaded_again_and_a_healthy_cbs_recovers_by_itself(home, mirror, statline_root, tmp_path):
    """Issue 22: a glitched first download of a new CBS version stayed 'the newest landing'; every later plain refresh
    said 'unchanged', built from it and failed again, until someone ran --force."""
    from flows.build import ValidationStopped
    from flows.status import render, rerun_plan, status_report
    from sources.cbs.landing import failed_checks

    run_refresh(tables=[NATIONAL.table_id])
    settings = Settings.from_env()
    glitched = republished_national(statline_root, tmp_path / "glitched", glitch=True)
    healthy = republished_national(statline_root, tmp_path / "healthy", glitch=False)

    with StatLineMirror(glitched, page_size=50) as cbs, pytest.MonkeyPatch.context() as patch:
        patch.setenv("WERKREGIO_CBS_URL", cbs.base_url)
        with pytest.raises(ValidationStopped):
            run_refresh(tables=[NATIONAL.table_id])
        bad = latest_landing(settings.raw_dir, NATIONAL.table_id)
        assert bad.modified == "2026-01-01T02:00:00" and failed_checks(bad) is not None
        assert rerun_plan(settings)["download_again"] == [NATIONAL.table_id]
        assert f"downloads again 1 whose newest landing failed its critical checks ({NATIONAL.table_id})" in render(status_report(settings))

        cbs.reset_log()  # CBS still serves the glitch: downloaded again, the same, and refused again
        with pytest.raises(ValidationStopped):
            run_refresh(tables=[NATIONAL.table_id])
        assert cbs.data_rows_served(NATIONAL.table_id) == 352
        assert cbs.count(None, "Tables") == 0  # not asked whether it changed: downloaded again whatever it says
        assert latest_landing(settings.raw_dir, NATIONAL.table_id) == bad

    with StatLineMirror(healthy, page_size=50) as cbs, pytest.MonkeyPatch.context() as patch:
        patch.setenv("WERKREGIO_CBS_URL", cbs.base_url)
        result = run_refresh(tables=[NATIONAL.table_id])  # a plain refresh, same Modified as the failed landing

    (table,) = result["tables"]
    assert table["action"] == "downloaded" and table["modified"] == "2026-01-01T02:00:00"
    good = latest_landing(settings.raw_dir, NATIONAL.table_id)
    assert good != bad and failed_checks(good) is None
    assert query(settings.warehouse_path, "SELECT run_id FROM build_info").item() == result["run_id"]
    assert rerun_plan(settings)["download_again"] == []


def stopped_by_the_negative_count(error: BaseException, warehouse: Path, before: str) -> runlog.Run:
    """Check that ``error`` names the -4.0 of :func:`corrupted_national`, nothing was published and the run log has it; the logged run."""
    message = str(error)
    assert "TotaalBijstandsuitkeringen_11" in message and "-4.0" in message and "37789ksz" in message
    assert sha(warehouse) == before
    last = runlog.runs(Settings.from_env().run_log_path)[-1]
    assert last.status == "failed"
    assert any(not c["success"] and c["column"] == "TotaalBijstandsuitkeringen_11" for c in last.validation)
    return last


def test_critical_validation_failure_stops_before_publishing(home, mirror, statline_root, tmp_path):
    run_refresh(tables=[NATIONAL.table_id])
    warehouse = Settings.from_env().warehouse_path
    before = sha(warehouse)
    corrupted = corrupted_national(statline_root, tmp_path / "corrupted")
    with StatLineMirror(corrupted) as bad, pytest.MonkeyPatch.context() as patch:
        patch.setenv("WERKREGIO_CBS_URL", bad.base_url)
        with pytest.raises(Exception) as caught:
            run_refresh(tables=[NATIONAL.table_id])
    last = stopped_by_the_negative_count(caught.value, warehouse, before)
    report = Path(last.report).read_text()
    assert "FAILED" in report and "TotaalBijstandsuitkeringen_11" in report and "-4.0" in report


def test_a_failed_gebieden_check_stops_a_build_with_the_failed_checks(home, statline_root, tmp_path, monkeypatch):
    """The membership transform then fails too (no region code), but the run fails with the checks."""
    from flows.build import ValidationStopped

    folder = tmp_path / "gebieden"
    for table_id in (NATIONAL.table_id, "82496NED"):
        shutil.copytree(statline_root / table_id, folder / table_id)
    data = json.loads((folder / "82496NED" / "TypedDataSet.json").read_text())
    data["value"][0]["Code_4"] = None  # the first municipality without its labour-market region
    (folder / "82496NED" / "TypedDataSet.json").write_text(json.dumps(data))
    with StatLineMirror(folder) as server, pytest.MonkeyPatch.context() as patch:
        patch.setenv("WERKREGIO_CBS_URL", server.base_url)
        with pytest.raises(ValidationStopped) as caught:
            run_refresh(tables=[NATIONAL.table_id, "82496NED"])
    assert "cbs_regions_82496NED" in str(caught.value) and "on column 'Code_4'" in str(caught.value)
    last = runlog.runs(Settings.from_env().run_log_path)[-1]
    assert last.status == "failed" and "ValidationStopped" in last.error
    assert any(not c["success"] and c["column"] == "Code_4" for c in last.validation)
    assert "FAILED" in Path(last.report).read_text()


def test_a_damaged_published_file_is_rebuilt_and_replaced(home, mirror):
    first = run_refresh(tables=[NATIONAL.table_id])
    warehouse = Settings.from_env().warehouse_path
    with warehouse.open("r+b") as handle:
        handle.truncate(100)
    warnings = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())
    logging.getLogger("prefect.task_runs").addHandler(handler)  # where get_run_logger() in a task logs
    try:
        second = run_refresh(tables=[NATIONAL.table_id], offline=True)
    finally:
        logging.getLogger("prefect.task_runs").removeHandler(handler)

    assert second["published"]["rows"] == {**first["published"]["rows"], "load_history": 2}
    assert query(warehouse, "SELECT run_id FROM build_info")["run_id"].to_list() == [second["run_id"]]
    # the damaged file's history is gone; the run log gives it back
    assert sorted(query(warehouse, "SELECT run_id, outcome FROM load_history").rows()) == sorted(
        [(first["run_id"], "published"), (second["run_id"], "published")]
    )
    assert runlog.runs(Settings.from_env().run_log_path)[-1].status == "finished"
    assert any(f"cannot open the warehouse {warehouse}" in w and "as if nothing were published" in w for w in warnings), warnings


def test_offline_rebuild_uses_landed_data_only(home, mirror):
    run_refresh(tables=[NATIONAL.table_id])
    first = query(Settings.from_env().warehouse_path, "SELECT * FROM national_series ORDER BY ALL")
    mirror.reset_log()
    run_refresh(tables=[NATIONAL.table_id], offline=True)
    assert mirror.requests_for() == []
    again = query(Settings.from_env().warehouse_path, "SELECT * FROM national_series ORDER BY ALL")
    assert again.equals(first)


def test_whole_catalog_lands_from_the_mirror(home, mirror):
    result = run_refresh()
    landed = {t["table_id"]: t for t in result["tables"]}
    assert set(landed) == {t.table_id for t in catalog.TABLES}
    assert landed["70059ned"]["rows"] == 10_000
    assert landed["82496NED"]["rows"] == 403
    sources = query(Settings.from_env().warehouse_path, "SELECT count(*) AS n FROM source_tables")
    assert sources["n"][0] == len(catalog.TABLES)
    assert isinstance(pl.read_parquet(Path(landed["83450NED"]["path"]) / "TypedDataSet.parquet"), pl.DataFrame)

    from flows.status import _rerun_text, rerun_of, rerun_plan

    plan = rerun_plan(Settings.from_env())  # what `werkregio status` says a rerun does, and what it does
    assert len(plan["check_modified"]) == len(catalog.TABLES) and plan["download"] == plan["download_again"] == []
    assert f"asks CBS's catalogue in one request for the Modified and MetaDataModified of {len(catalog.TABLES)} landed table(s)" in (
        _rerun_text(rerun_of({"flow": "refresh"}, plan))
    )
    mirror.reset_log()
    again = run_refresh()  # the unchanged nightly refresh
    assert {t["action"] for t in again["tables"]} == {"unchanged"} and again["published"]["rebuilt"] is False
    # two requests in all: reach_cbs (the base URL, unretried) and the catalogue
    assert [(r.table_id, r.endpoint) for r in mirror.requests_for()] == [(None, None), (None, "Tables")]


def test_refresh_publishes_municipalities_and_region_membership_per_year(home, mirror):
    run_refresh(tables=[NATIONAL.table_id, catalog.REGIONS])
    warehouse = Settings.from_env().warehouse_path
    counts = query(warehouse, "SELECT year, count(*) AS n FROM region_membership GROUP BY year ORDER BY year")
    assert dict(counts.iter_rows()) == {
        2014: 403, 2015: 393, 2016: 390, 2017: 388, 2018: 380, 2019: 355,
        2020: 355, 2021: 352, 2022: 345, 2023: 342, 2024: 342, 2025: 342,
    }
    valid_2009 = query(
        warehouse,
        "SELECT count(*) AS n FROM municipalities WHERE valid_from_year <= 2009 AND coalesce(valid_to_year, 9999) >= 2009",
    )
    assert valid_2009["n"][0] == 441
    assert query(warehouse, "SELECT count(*) AS n FROM municipal_changes")["n"][0] >= 152


def test_cbs_list_disagreeing_with_the_reference_fails_naming_code_and_year(home, mirror, statline_root, tmp_path):
    run_refresh(tables=[NATIONAL.table_id])
    warehouse = Settings.from_env().warehouse_path
    before = sha(warehouse)
    edited = tmp_path / "edited"
    shutil.copytree(statline_root / NATIONAL.table_id, edited / NATIONAL.table_id)
    shutil.copytree(statline_root / "85067NED", edited / "85067NED")
    data = json.loads((edited / "85067NED" / "TypedDataSet.json").read_text())
    data["value"] = [row for row in data["value"] if row["RegioS"].strip() != "GM0457"]
    (edited / "85067NED" / "TypedDataSet.json").write_text(json.dumps(data))
    with StatLineMirror(edited) as server, pytest.MonkeyPatch.context() as patch:
        patch.setenv("WERKREGIO_CBS_URL", server.base_url)
        with pytest.raises(Exception) as caught:
            run_refresh(tables=["85067NED"])
    message = str(caught.value)
    assert "2022: only in CBS's list [], only in the reference ['0457']" in message
    assert "sources/reference/municipalities.csv" in message
    assert sha(warehouse) == before


def test_refresh_computes_indicators_and_recalculation_adds_a_reference_year_without_downloading(home, mirror, tmp_path):
    run_refresh(tables=[NATIONAL.table_id, catalog.REGIONS, catalog.LABOUR_FORCE, catalog.WWB_MUNICIPAL])
    warehouse = Settings.from_env().warehouse_path
    growth = query(
        warehouse,
        "SELECT indicator, value FROM indicators WHERE area_code = 'NL01' AND view = 'harmonised' "
        "AND ((indicator = 'ww_benefits_growth' AND year = 2009 AND base_year = 2008) "
        "OR (indicator = 'wwb_benefits_growth' AND year = 2014 AND base_year = 2009))",
    )
    assert {k: round(v) for k, v in growth.iter_rows()} == {"ww_benefits_growth": 29, "wwb_benefits_growth": 35}
    assert set(query(warehouse, "SELECT DISTINCT geography_year FROM indicators WHERE view = 'harmonised'")["geography_year"]) == {2025}
    regions = query(
        warehouse,
        "SELECT count(*) AS n FROM v_region_indicators WHERE indicator = 'labour_force' AND area_type = 'region' "
        "AND view = 'harmonised' AND year = 2021",
    )
    assert regions["n"][0] == 35

    from flows.indicators import recalculate_indicators

    mirror.reset_log()
    recalculate_indicators(reference_year=2016, view="harmonised")
    assert mirror.requests_for() == []
    years = set(query(warehouse, "SELECT DISTINCT geography_year FROM indicators WHERE view = 'harmonised'")["geography_year"])
    assert years == {2016, 2025}
    per_region = query(
        warehouse,
        "SELECT count(DISTINCT area_code) AS n FROM indicators WHERE indicator = 'municipalities' AND geography_year = 2016 "
        "AND view = 'harmonised'",
    )
    assert per_region["n"][0] == 35
    last = runlog.runs(Settings.from_env().run_log_path)[-1]
    assert last.flow == "indicators" and last.status == "finished"

    # a later refresh keeps the 2016 scenario, computed from the new facts
    run_refresh(tables=[NATIONAL.table_id], offline=True)
    years = set(query(warehouse, "SELECT DISTINCT geography_year FROM indicators WHERE view = 'harmonised'")["geography_year"])
    assert years == {2016, 2025}

    from warehouse.store import export_parquet

    written = export_parquet(warehouse, tmp_path / "export")
    assert {p.name for p in written} >= {"v_region_indicators.parquet", "v_national_series.parquet"}
    exported = pl.read_parquet(tmp_path / "export" / "v_region_indicators.parquet")
    assert exported.height == query(warehouse, "SELECT count(*) AS n FROM v_region_indicators")["n"][0]

    # a reference year without a region composition is refused, naming the years that have one
    from flows.build import MissingSource

    published = hashlib.sha256(warehouse.read_bytes()).hexdigest()
    with pytest.raises(MissingSource, match=r"^reference_year=2010: no CBS region composition \('Gebieden in Nederland'\) of "
                       r"2010 is loaded, .* \(compositions loaded: 2014-2025\)"):
        recalculate_indicators(reference_year=2010)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WERKREGIO_REFERENCE_YEAR", "2013")
        with pytest.raises(MissingSource, match=r"^WERKREGIO_REFERENCE_YEAR=2013: no CBS region composition"):
            run_refresh(tables=[NATIONAL.table_id], offline=True, force=True)
    assert hashlib.sha256(warehouse.read_bytes()).hexdigest() == published

    # the file's load history: every run behind it, carried over from file to file, with the runs between
    # publishes that published nothing, taken from the run log at the next publish
    history = query(warehouse, "SELECT flow, outcome, reference_years, tables_fetched, error FROM v_load_history")
    assert history.select("flow", "outcome", "reference_years").rows() == [
        ("refresh", "published", "2025", ), ("indicators", "published", "2016, 2025"), ("refresh", "published", "2016, 2025"),
    ]
    assert history["tables_fetched"].to_list() == [len(catalog.select(["37789ksz", "regions", "labour_force", "wwb_municipal"])), 0, 0]
    assert run_refresh(tables=[NATIONAL.table_id], offline=True)["published"]["rebuilt"] is False
    record = recalculate_indicators(reference_year=2016)
    history = query(warehouse, "SELECT run_id, flow, outcome, ended_at, error FROM v_load_history")
    assert history.select("flow", "outcome").rows()[3:] == [
        ("indicators", "failed"), ("refresh", "failed"), ("refresh", "unchanged"), ("indicators", "published")
    ]
    assert history["error"][3].startswith("MissingSource: reference_year=2010")
    built = query(warehouse, "SELECT run_id, built_at FROM v_build_info").row(0)
    assert history.select("run_id", "ended_at").rows()[-1] == built == (record["run_id"], built[1])


def test_a_recalculation_after_a_failed_refresh_keeps_the_published_source_tables(home, mirror, statline_root, tmp_path):
    """A refresh that landed a new version and then failed must not leak that version into the published file."""
    run_refresh(tables=[NATIONAL.table_id, catalog.REGIONS])
    warehouse = Settings.from_env().warehouse_path
    sources = query(warehouse, "SELECT * FROM source_tables ORDER BY table_id")
    with StatLineMirror(corrupted_national(statline_root, tmp_path / "corrupted")) as bad, pytest.MonkeyPatch.context() as patch:
        patch.setenv("WERKREGIO_CBS_URL", bad.base_url)
        with pytest.raises(Exception, match="TotaalBijstandsuitkeringen_11"):
            run_refresh(tables=[NATIONAL.table_id])  # lands Modified 2026-01-01, then fails its validation
    assert latest_landing(Settings.from_env().raw_dir, NATIONAL.table_id).modified == "2026-01-01T02:00:00"

    from flows.indicators import recalculate_indicators

    record = recalculate_indicators(reference_year=2016, view="harmonised")

    assert_frame_equal(query(warehouse, "SELECT * FROM source_tables ORDER BY table_id"), sources)
    assert query(warehouse, "SELECT run_id, flow FROM build_info").row(0) == (record["run_id"], "indicators")


GEBIEDEN = {year: next(e.table_id for e in catalog.family(catalog.REGIONS) if e.geography_year == year) for year in (2015, 2016)}


def harmonised_years(warehouse: Path) -> set[int]:
    return set(query(warehouse, "SELECT DISTINCT geography_year FROM indicators WHERE view = 'harmonised'")["geography_year"])


def test_a_published_file_held_read_write_by_another_process_is_never_taken_for_nothing_published(home, mirror):
    """Issue 22: a `duckdb` session on the published file made the next refresh rebuild from scratch, dropping the
    reference years added with `werkregio indicators`, and `werkregio indicators` say 'no published facts'."""
    from flows.indicators import recalculate_indicators
    from tests.holders import held_read_write
    from warehouse.store import WarehouseLocked

    run_refresh(tables=[NATIONAL.table_id, *GEBIEDEN.values()])
    recalculate_indicators(reference_year=2015, view="harmonised")
    warehouse = Settings.from_env().warehouse_path
    assert harmonised_years(warehouse) == {2015, 2016}
    before = sha(warehouse)

    with held_read_write(warehouse) as pid:
        with pytest.raises(WarehouseLocked) as refreshing:
            run_refresh(tables=[NATIONAL.table_id], offline=True)
        with pytest.raises(WarehouseLocked) as recalculating:
            recalculate_indicators(reference_year=2015, view="harmonised")

    for raised in (refreshing, recalculating):
        assert f"the warehouse {warehouse} is open read-write in process {pid} (" in str(raised.value)
        assert "no published facts" not in str(raised.value)
    assert sha(warehouse) == before
    assert runlog.runs(Settings.from_env().run_log_path)[-1].status == "failed"

    run_refresh(tables=[NATIONAL.table_id], offline=True, force=True)  # the session closed: as if it had never been
    assert harmonised_years(warehouse) == {2015, 2016}


def test_a_build_that_would_publish_less_than_the_published_file_fails_unless_forced(home, mirror):
    from flows.build import WouldPublishLess
    from flows.indicators import recalculate_indicators

    run_refresh(tables=[NATIONAL.table_id, *GEBIEDEN.values()])
    recalculate_indicators(reference_year=2015, view="harmonised")
    warehouse = Settings.from_env().warehouse_path
    before = sha(warehouse)
    shutil.rmtree(Settings.from_env().raw_dir / GEBIEDEN[2015])  # its landings removed: no 2015 composition any more

    with pytest.raises(WouldPublishLess) as raised:
        run_refresh(tables=[NATIONAL.table_id], offline=True)

    message = str(raised.value)
    assert f"this build lacks what the published warehouse {warehouse} holds: the harmonised indicators of reference year(s) 2015" in message
    assert f"CBS table(s) {GEBIEDEN[2015]} (no longer landed)" in message and "`werkregio refresh --force` publishes it anyway" in message
    assert sha(warehouse) == before
    run_refresh(tables=[NATIONAL.table_id], offline=True, force=True)
    assert harmonised_years(warehouse) == {2016}


def published_tables(warehouse: Path) -> dict[str, pl.DataFrame]:
    names = ["national_series", "regional_series", "region_membership", "indicators", "indicator_spread", "analyses", "source_tables"]
    drop = {"source_tables": ["fetched_at", "raw_path"]}
    return {n: query(warehouse, f"SELECT * FROM {n} ORDER BY ALL").drop(drop.get(n, [])) for n in names}


def test_rerun_after_a_failed_run_resumes_and_equals_a_clean_run(home, mirror, tmp_path, monkeypatch):
    wanted = [NATIONAL.table_id, "82496NED", "85067NED"]
    mirror.add_fault("status", status=503, table="85067NED", endpoint="TypedDataSet", times=None)
    with pytest.raises(Exception, match="85067NED"):
        run_refresh(tables=wanted)
    failed = runlog.runs(Settings.from_env().run_log_path)[-1]
    assert failed.status == "failed"

    mirror.clear_faults()
    mirror.reset_log()
    result = run_refresh(tables=wanted)
    actions = {t["table_id"]: t["action"] for t in result["tables"]}
    assert actions == {"37789ksz": "unchanged", "82496NED": "unchanged", "85067NED": "downloaded"}
    assert mirror.data_rows_served("37789ksz") == 0 and mirror.data_rows_served("82496NED") == 0
    resumed = published_tables(Settings.from_env().warehouse_path)

    monkeypatch.setenv("WERKREGIO_HOME", str(tmp_path / "clean"))
    run_refresh(tables=wanted)
    clean = published_tables(Settings.from_env().warehouse_path)
    for name, frame in clean.items():
        assert resumed[name].equals(frame), name


def test_a_rerun_on_the_same_data_does_not_validate_again(home, mirror, monkeypatch):
    first = run_refresh(tables=[NATIONAL.table_id])
    assert len(list((home / "validated").rglob("*.json"))) == 1

    def must_not_run(*args, **kwargs):
        raise AssertionError("validated again")

    monkeypatch.setattr("flows.validation.validate", must_not_run)
    second = run_refresh(tables=[NATIONAL.table_id], offline=True, force=True)  # force: rebuild although nothing changed
    assert second["validation"] == first["validation"]


def test_a_rerun_with_nothing_changed_publishes_nothing_until_an_input_changes(home, mirror):
    warehouse = Settings.from_env().warehouse_path
    first = run_refresh(tables=[NATIONAL.table_id])
    built = query(warehouse, "SELECT run_id, inputs_sha256 FROM build_info").row(0)
    assert built[0] == first["run_id"] and len(built[1]) == 64
    before = sha(warehouse)

    second = run_refresh(tables=[NATIONAL.table_id])

    assert second["published"] == {"path": str(warehouse), "rows": first["published"]["rows"], "rebuilt": False, "build": first["run_id"]}
    assert second["validation"] == [] and sha(warehouse) == before
    assert runlog.runs(Settings.from_env().run_log_path)[-1].status == "finished"
    from flows.status import render, status_report

    assert f"nothing changed since build {first['run_id']}: published nothing" in render(status_report(Settings.from_env()))

    inbox = home / "inbox" / "uwv"  # made by the intake of the first run
    (inbox / "vacatures.csv").write_text("not,a,uwv,file\n1,2,3,4\n", encoding="utf-8")
    third = run_refresh(tables=[NATIONAL.table_id])  # a waiting UWV file: intake and a new build
    assert third["uwv_files"][0]["status"] == "rejected"
    assert query(warehouse, "SELECT run_id FROM build_info")["run_id"].to_list() == [third["run_id"]]

    assert run_refresh(tables=[NATIONAL.table_id])["published"]["rebuilt"] is False  # quarantined files are no input
    forced = run_refresh(tables=[NATIONAL.table_id], force=True)
    assert query(warehouse, "SELECT run_id FROM build_info")["run_id"].to_list() == [forced["run_id"]]


def test_a_metadata_only_republication_is_landed_and_published_though_nothing_else_changed(home, mirror, statline_root, tmp_path):
    """CBS declares 2024 November definitive: Perioden and MetaDataModified change, Modified and the data rows do not."""
    run_refresh(tables=[NATIONAL.table_id])
    warehouse = Settings.from_env().warehouse_path
    folder = tmp_path / "definitive"
    shutil.copytree(statline_root / NATIONAL.table_id, folder / NATIONAL.table_id)
    periods = json.loads((folder / NATIONAL.table_id / "Perioden.json").read_text())
    for period in periods["value"]:
        if period["Key"] == "2024MM11":
            period.update(Title="2024 november", Description="", Status="Definitief")
    (folder / NATIONAL.table_id / "Perioden.json").write_text(json.dumps(periods))
    info = json.loads((folder / NATIONAL.table_id / "TableInfos.json").read_text())
    info["value"][0]["MetaDataModified"] = "2025-05-01T02:00:00"
    (folder / NATIONAL.table_id / "TableInfos.json").write_text(json.dumps(info))

    with StatLineMirror(folder) as definitive, pytest.MonkeyPatch.context() as patch:
        patch.setenv("WERKREGIO_CBS_URL", definitive.base_url)
        result = run_refresh(tables=[NATIONAL.table_id])

    assert [t["action"] for t in result["tables"]] == ["downloaded"]
    assert query(warehouse, "SELECT run_id FROM build_info")["run_id"].to_list() == [result["run_id"]]
    provisional = query(warehouse, "SELECT period_key FROM national_series WHERE provisional AND series = 'ww' ORDER BY 1")
    assert provisional["period_key"].to_list() == ["2024JJ00", "2024MM12", "2025MM01"]


def test_inputs_fingerprint_follows_landings_reference_year_and_code(home, mirror, monkeypatch, tmp_path):
    from flows import inputs, tasks

    run_refresh(tables=[NATIONAL.table_id])
    settings = Settings.from_env()
    base = tasks.inputs_sha256.fn(settings)
    assert tasks.inputs_sha256.fn(settings) == base
    monkeypatch.setenv("WERKREGIO_REFERENCE_YEAR", "2015")
    assert tasks.inputs_sha256.fn(Settings.from_env()) != base
    monkeypatch.delenv("WERKREGIO_REFERENCE_YEAR")

    run_refresh(tables=["82496NED"])  # one more landing
    with_regions = tasks.inputs_sha256.fn(settings)
    assert with_regions != base

    code = tmp_path / "code"
    for package in inputs.CODE_PACKAGES:
        shutil.copytree(inputs.ROOT / package, code / package)
    monkeypatch.setattr(inputs, "ROOT", code)
    assert tasks.inputs_sha256.fn(settings) == with_regions
    (code / "transforms" / "indicators.py").write_text("# changed\n", encoding="utf-8")
    assert tasks.inputs_sha256.fn(settings) != with_regions


def test_a_large_table_is_validated_in_pieces_with_the_outcome_of_one_frame(home, mirror, monkeypatch):
    """A build that validates the mirror's 10,000-row WW and WWB tables in pieces of 1,000 rows, scanned from
    their files, and holds only their rows at the totals, publishes the same checks and the same figures."""
    from flows import validation

    tables = [NATIONAL.table_id, catalog.REGIONS, catalog.WW_MUNICIPAL, catalog.WWB_MUNICIPAL]
    checks = (
        "SELECT dataset, batch, check_index, expectation, column_name, severity, success, element_count, unexpected_count "
        "FROM validation_results ORDER BY ALL"
    )
    figures = ["SELECT * FROM regional_series ORDER BY ALL", "SELECT * EXCLUDE (note) FROM indicators ORDER BY ALL"]
    first = run_refresh(tables=tables)
    whole = query(Settings.from_env().warehouse_path, checks)
    whole_figures = [query(Settings.from_env().warehouse_path, sql) for sql in figures]
    counted = {e.table_id for e in (*catalog.family(catalog.WW_MUNICIPAL), *catalog.family(catalog.WWB_MUNICIPAL))}
    large = [t["table_id"] for t in first["tables"] if t["table_id"] in counted and t["rows"] > 1_000]
    assert any(catalog.table(t).totals for t in large)  # a table whose facts keep only its total category
    validated = []
    real = validation.validate

    def spy(frame, suite, batch, progress=None):
        validated.append((type(frame).__name__, progress is not None))
        return real(frame, suite, batch, progress=progress)

    monkeypatch.setattr("flows.validation.validate", spy)
    monkeypatch.setattr("flows.validation.ROWS_PER_PIECE", 1_000)  # the build reads only their rows at the totals
    shutil.rmtree(home / "validated")

    run_refresh(tables=tables, offline=True, force=True)

    assert len(large) >= 3 and validated.count(("Pieces", True)) == len(large)  # with progress logged per piece
    pieced = query(Settings.from_env().warehouse_path, checks)
    assert pieced.equals(whole)
    assert pieced["success"].any() and whole.height > 100
    for sql, before in zip(figures, whole_figures, strict=True):
        assert query(Settings.from_env().warehouse_path, sql).equals(before), sql
    assert whole_figures[0].height > 1_000


def test_scenarios_keep_the_published_reference_years_that_still_have_a_region_composition(monkeypatch):
    import flows.build

    warnings = []
    monkeypatch.setattr(flows.build, "get_run_logger", lambda: type("L", (), {"warning": lambda self, *a: warnings.append(a[0] % a[1:])})())
    previous = pl.DataFrame({"view": ["harmonised", "harmonised", "as_published", "harmonised"], "geography_year": [2010, 2016, 2013, 2025]})

    chosen = flows.build.scenarios(2025, previous, [(2018, "harmonised")], composed=list(range(2014, 2026)))

    assert chosen == [(2016, "harmonised"), (2018, "harmonised"), (2025, "as_published"), (2025, "harmonised")]
    assert warnings == [
        "harmonised indicators published before for 2010 are no longer computed: no region composition of that year "
        "is loaded (loaded: 2014-2025)"
    ]
    assert flows.build.scenarios(2025, previous) == [(2010, "harmonised"), (2016, "harmonised"), (2025, "as_published"),
                                                     (2025, "harmonised")]  # without composed: as before
