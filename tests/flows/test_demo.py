"""``werkregio demo``: the whole pipeline offline on the bundled sample, as a newcomer runs it (issue 24, deliverable 3).

The command runs once per session (the ``demo`` fixture in tests/conftest.py: a new working
directory, the default folder ./demo, Prefect on its defaults, every socket contact logged), then
again into the same folder.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import DEMO_YEAR
from warehouse.store import query

REGIONS = 35  # in 'Gebieden in Nederland 2024'
PERIODS = ((2008, 2009), (2010, 2011), (2012, 2014), (2009, 2014))  # the evaluation's
SYNTHETIC = {"80794ned", "80724ned", "82015NED"}
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
CBS_REGION_ROWS = {"wwb_recipients_cbs", "wwb_recipients_cbs_difference"}


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def first(demo):
    assert demo.done.returncode == 0, demo.done.stderr[-4000:]
    return demo


@pytest.fixture(scope="module")
def indicators(first) -> pl.DataFrame:
    return query(
        first.folder / "warehouse" / "werkregio.duckdb",
        f"SELECT * FROM v_region_indicators WHERE view = 'harmonised' AND geography_year = {DEMO_YEAR} AND area_type = 'region'",
    )


def test_the_demo_ends_with_the_path_of_the_report_it_wrote(first):
    report = first.folder / "warehouse" / "werkregio-report.html"
    assert last_line(first.done.stdout) == f"report: {report}"
    assert report.is_file() and report.stat().st_size > 100_000
    assert f"in {first.folder}" in first.done.stdout.splitlines()[0]
    assert "10 landed now" in first.done.stdout
    for name in ("vacatures", "bijstand", "portaal"):  # each plausible against CBS's national totals too
        assert f"UWV file uwv-{name}-{DEMO_YEAR}-synthetisch.csv: accepted" in first.done.stderr
        assert f"uwv-{name}-{DEMO_YEAR}-synthetisch.csv accepted" in first.done.stdout
    assert first.done.stderr.count("(csv, utf-8, delimiter ;); 0 warning(s)") == 3
    # the data dir is the demo folder, Prefect's state too: nothing is written elsewhere
    assert {p.name for p in first.folder.iterdir()} >= {"raw", "warehouse", "archive", "prefect", "runs.jsonl"}


def check_complete(indicators: pl.DataFrame, indicator: str, year: int, base_year: int | None = None) -> None:
    rows = indicators.filter(
        (pl.col("indicator") == indicator) & (pl.col("year") == year)
        & (pl.col("base_year").is_null() if base_year is None else pl.col("base_year") == base_year)
    )  # fmt: skip
    assert rows.height == REGIONS, (indicator, year, base_year, rows.height)
    assert rows["complete"].all() and rows["value"].null_count() == 0, (indicator, year, rows.filter(~pl.col("complete")).head(3).to_dicts())
    assert rows["note"].null_count() == REGIONS


@pytest.mark.parametrize("series", ["ww", "wwb"])
@pytest.mark.parametrize("base_year, year", PERIODS)
def test_benefit_growth_is_complete_for_every_region_in_the_evaluations_periods(indicators, series, base_year, year):
    check_complete(indicators, f"{series}_benefits_growth", year, base_year)


@pytest.mark.parametrize("indicator", ["benefits_per_vacancy", "tension_ratio", "portal_share", "wwb_registered_share"])
def test_the_uwv_based_indicators_are_complete_for_every_region(indicators, indicator):
    check_complete(indicators, indicator, DEMO_YEAR)


@pytest.mark.parametrize("year, base_year", [(2015, None), (2016, None), (2017, None), (2016, 2015), (2017, 2016), (2017, 2015)])
def test_cbs_recipients_2015_2017_are_complete_for_every_region_on_2024_boundaries(indicators, year, base_year):
    """The excerpt's real CBS recipients tables (83450NED, 83747NED, 84066NED), each year's municipalities moved onto 2024."""
    check_complete(indicators, "wwb_recipients" if base_year is None else "wwb_recipients_growth", year, base_year)


def test_cbs_recipients_keep_cbs_totals_and_are_null_with_a_reason_where_the_sample_has_no_composition(first, indicators):
    levels = indicators.filter((pl.col("indicator") == "wwb_recipients") & pl.col("value").is_not_null())
    # every municipality's figure lands in one 2024 region: the sums of CBS's municipal figures, as on the whole mirror
    assert dict(levels.group_by("year").agg(pl.col("value").sum()).iter_rows()) == {2015: 496_250, 2016: 513_810, 2017: 508_460}
    # the sample's only region composition is 2024's: as published, 2015-2017 have no geography of their own, and 2024 no figure
    published = query(
        first.folder / "warehouse" / "werkregio.duckdb",
        "SELECT geography_year, year, value, note FROM v_region_indicators"
        " WHERE view = 'as_published' AND indicator = 'wwb_recipients' AND area_type = 'region'",
    )
    assert published.height == REGIONS and set(published["geography_year"]) == set(published["year"]) == {DEMO_YEAR}
    assert published["value"].null_count() == REGIONS and set(published["note"]) == {"no municipality has a figure for the year"}


def test_every_region_indicator_has_a_year_with_every_region_complete(indicators):
    """Every indicator the marts publish per region, not only those named in the issue, shows on the demo."""
    counts = (
        indicators.filter(pl.col("complete") & pl.col("value").is_not_null())
        .group_by("indicator", "year", "base_year", "category")
        .agg(pl.col("area_code").n_unique().alias("regions"))
    )
    # banded indicators (tension, portal share) put each region in one category: count over the categories
    best = counts.group_by("indicator", "year", "base_year").agg(pl.col("regions").sum()).group_by("indicator").agg(pl.col("regions").max())
    published = set(indicators["indicator"].unique())
    assert published >= {"ww_benefits", "wwb_benefits", "labour_force", "municipalities", "uwv_vacancies", "wwb_registered_share_min"}
    assert dict(best.iter_rows()) == dict.fromkeys(published - CBS_REGION_ROWS, REGIONS)
    # CBS's own region rows (2015-2017) are on their year's composition: harmonised, they stand only for the
    # reference year itself (docs/indicators.md), and 2024 has none; null with the reason, never a 2015 row on 2024's regions
    rows = indicators.filter(pl.col("indicator").is_in(CBS_REGION_ROWS))
    assert set(rows["indicator"]) == CBS_REGION_ROWS and set(rows["year"]) == {DEMO_YEAR} and rows["value"].null_count() == rows.height
    assert all("CBS publishes no figure for the region in the year" in note for note in rows["note"])


def test_the_analyses_are_computed_on_all_regions(first):
    rows = query(
        first.folder / "warehouse" / "werkregio.duckdb",
        f"SELECT analysis, n, p_value, reason FROM v_analyses WHERE view = 'harmonised' AND geography_year = {DEMO_YEAR} AND year = {DEMO_YEAR}",
    )
    correlations = rows.filter(pl.col("analysis") == "correlation")
    assert correlations.height == 10 and set(correlations["n"]) == {REGIONS} and correlations["p_value"].null_count() == 0
    (portal,) = rows.filter(pl.col("analysis") == "registered_share_by_portal").to_dicts()
    assert portal["n"] == 342 and portal["p_value"] is not None and portal["reason"] is None


def test_the_generated_tables_are_synthetic_in_the_warehouse_and_the_report(first):
    warehouse = first.folder / "warehouse" / "werkregio.duckdb"
    tables = dict(query(warehouse, "SELECT table_id, synthetic FROM v_source_tables").iter_rows())
    assert {t for t, synthetic in tables.items() if synthetic} == SYNTHETIC
    assert set(tables) == SYNTHETIC | {"37789ksz", "85755NED", "85230NED", "80472ned", "83450NED", "83747NED", "84066NED"}
    html = (first.folder / "warehouse" / "werkregio-report.html").read_text(encoding="utf-8")
    assert '<div class="synthetic-banner" role="note" data-synthetic="80724ned,80794ned,82015NED">' in html
    assert 'data-chart="growth-ww-2008-2009" data-synthetic="80794ned">' in html
    assert 'data-chart="tension" data-synthetic="80794ned">' in html  # via the WW benefits it divides by
    assert html.count("<strong>synthetic</strong> (generated, not CBS figures)") == 3  # the Sources table
    for name in ("uwv-vacatures", "uwv-bijstand", "uwv-portaal"):
        (kept,) = (first.folder / "archive" / "uwv").glob(f"*/*/{name}-{DEMO_YEAR}-synthetisch.csv")
        assert kept.read_text(encoding="utf-8").startswith("Synthetisch voorbeeld van werkregio")


def test_the_demo_contacts_no_host_but_the_local_prefect_server(first):
    contacts = first.network_log.read_text(encoding="utf-8").splitlines()
    assert any("socket.connect ('127.0.0.1'" in line for line in contacts)  # the log works: Prefect's API was reached
    for line in contacts:
        _, event, target = line.split(" ", 2)
        value = ast.literal_eval(target)
        host = value[0] if isinstance(value, tuple) else value
        assert isinstance(host, (str, bytes)), line
        local = host in LOOPBACK or event != "socket.getaddrinfo" and isinstance(value, (str, bytes))  # a Unix socket
        assert local, f"the demo contacted another host: {line}"


def test_a_second_demo_in_the_same_folder_publishes_nothing_new_and_says_so(first):
    warehouse = first.folder / "warehouse" / "werkregio.duckdb"
    (build,) = query(warehouse, "SELECT run_id FROM v_build_info")["run_id"]
    report = first.folder / "warehouse" / "werkregio-report.html"
    written = report.stat().st_mtime_ns
    again = subprocess.run(
        [str(Path(first.done.args[0])), "demo", str(first.folder)], env=first.env, capture_output=True, text=True, timeout=1200
    )
    assert again.returncode == 0, again.stderr[-4000:]
    assert "sample CBS tables in" in again.stdout and "all already landed, unchanged" in again.stdout
    assert "the sample UWV files are in the UWV archive already" in again.stdout
    assert f"nothing changed since build {build}" in again.stdout
    assert last_line(again.stdout) == f"report: {report}"
    assert query(warehouse, "SELECT run_id FROM v_build_info")["run_id"].to_list() == [build]
    assert report.stat().st_mtime_ns == written
    runs = [json.loads(line) for line in (first.folder / "runs.jsonl").read_text().splitlines()]
    assert [r["event"] for r in runs] == ["started", "finished", "started", "finished"]


def test_the_demo_refuses_a_folder_it_did_not_make(tmp_path, capsys, monkeypatch):
    """A real data dir (anything not empty without the demo's marker) is never mixed with synthetic tables."""
    from flows import demo

    for name in ("WERKREGIO_HOME", "WERKREGIO_REFERENCE_YEAR", "WERKREGIO_TASK_RUNNER", "WERKREGIO_UWV_QUIET_SECONDS"):  # the demo sets them: restored after
        monkeypatch.setenv(name, os.environ.get(name, ""))
    home = tmp_path / "data"
    (home / "raw").mkdir(parents=True)
    assert demo.main(home) == 2
    error = capsys.readouterr().err
    assert f"{home} is not empty and no earlier `werkregio demo` made it" in error and "choose a new or empty folder" in error
    assert sorted(p.name for p in home.iterdir()) == ["raw"]  # nothing written


def test_the_demos_folder_is_marked(first):
    assert "werkregio demo" in (first.folder / ".werkregio-demo").read_text(encoding="utf-8")
