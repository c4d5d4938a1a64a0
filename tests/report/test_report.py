"""End to end: a warehouse published from the offline mirror with generated UWV files -> analyses and the report."""

from __future__ import annotations

import re

import polars as pl
import pytest

from flows.cli import main
from report import report_path, write_report
from tests.report.conftest import UWV_YEAR
from transforms.analyses import MIN_MUNICIPALITIES, MIN_REGIONS
from warehouse.store import query

pytestmark = [pytest.mark.mirror]


def test_every_publish_writes_the_report_next_to_the_warehouse_naming_its_build(published):
    default = report_path(published.warehouse)
    assert published.refresh["published"]["report"] == str(default)
    assert published.recalculation["published"]["report"] == str(default)  # written again by the recalculation
    (build,) = query(published.warehouse, "SELECT run_id FROM build_info")["run_id"]
    assert build == published.recalculation["run_id"]
    html = default.read_text(encoding="utf-8")
    assert f'data-build="{build}"' in html
    assert 'data-reference-year="2025"' in html  # the latest composition: the refresh's default reference year


def test_the_report_is_self_contained(published):
    html = report_path(published.warehouse).read_text(encoding="utf-8")
    assert "<svg" in html
    for pattern in (r"<script", r"<link", r"<img", r"<iframe", r"@import", r"url\(", r"\b(src|href)\s*=\s*[\"'](?!#)"):
        assert not re.search(pattern, html, re.IGNORECASE), pattern


def test_without_a_uwv_file_for_the_reference_year_each_uwv_section_says_so_and_where_they_are(published):
    html = report_path(published.warehouse).read_text(encoding="utf-8")
    for section in ("vacancies", "portal", "registered"):
        body = re.search(rf'<section id="{section}">(.*?)</section>', html, re.S).group(1)
        assert "<figure" not in body
        assert "no UWV register file with a reference date in 2025 was loaded" in body
        assert f"UWV figures exist for {UWV_YEAR}" in body


def test_the_analyses_are_computed_where_the_data_allow_and_say_why_elsewhere(published):
    rows = query(published.warehouse, "SELECT * FROM v_analyses ORDER BY ALL")
    assert set(rows.select("view", "geography_year", "year").unique().rows()) == {
        ("harmonised", 2025, 2025),
        ("harmonised", UWV_YEAR, UWV_YEAR),
        ("as_published", UWV_YEAR, UWV_YEAR),
    }
    # every row either computed on enough units or null with a reason
    computed = rows.filter(pl.col("value").is_not_null())
    assert computed["reason"].null_count() == computed.height and computed["p_value"].null_count() == 0
    assert rows.filter(pl.col("value").is_null())["reason"].null_count() == 0
    correlations = computed.filter(pl.col("analysis") == "correlation")
    assert (correlations["n"] >= MIN_REGIONS).all()

    test = rows.filter(
        (pl.col("analysis") == "registered_share_by_portal") & (pl.col("view") == "harmonised") & (pl.col("year") == UWV_YEAR)
    ).row(0, named=True)
    assert test["n"] == published.municipalities and min(test["n_x"], test["n_y"]) >= MIN_MUNICIPALITIES
    shares = query(
        published.warehouse,
        "SELECT c.connected, avg(m.value) AS mean FROM v_municipality_indicators m JOIN uwv_portal_connections c "
        "ON c.gm_code = m.area_code AND year(c.reference_date) = m.year WHERE m.indicator = 'wwb_registered_share' "
        f"AND m.view = 'harmonised' AND m.geography_year = {UWV_YEAR} GROUP BY ALL",
    )
    means = dict(shares.iter_rows())
    assert test["mean_x"] == pytest.approx(means[True]) and test["mean_y"] == pytest.approx(means[False])
    portal_pair = rows.filter(
        (pl.col("x") == "portal_share") & (pl.col("y") == "wwb_registered_share") & (pl.col("view") == "harmonised")
    )
    assert portal_pair.filter(pl.col("year") == UWV_YEAR)["n"].to_list() == [35]  # the UWV files cover every region
    no_uwv = portal_pair.filter(pl.col("year") == 2025).row(0, named=True)
    assert no_uwv["value"] is None and "needs a UWV register file with a reference date in 2025" in no_uwv["reason"]


def test_report_command_writes_the_reference_year_asked_for(published, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("WERKREGIO_HOME", str(published.home))
    assert main(["report", "--reference-year", str(UWV_YEAR)]) == 0
    written = report_path(published.warehouse, UWV_YEAR)
    assert capsys.readouterr().out.strip() == f"wrote {written}"
    html = written.read_text(encoding="utf-8")
    assert f'data-reference-year="{UWV_YEAR}"' in html and 'data-chart="registered-by-portal"' in html

    out = tmp_path / "elsewhere" / "r.html"
    assert main(["report", "--reference-year", str(UWV_YEAR), "--out", str(out)]) == 0
    assert f'data-reference-year="{UWV_YEAR}"' in out.read_text(encoding="utf-8")

    assert main(["report", "--reference-year", "2012"]) == 1
    error = capsys.readouterr().err
    assert "no harmonised indicators for reference year 2012 (it has 2016, 2025)" in error
    assert "werkregio indicators --reference-year 2012" in error


def test_report_command_without_a_warehouse_says_what_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WERKREGIO_HOME", str(tmp_path))
    assert main(["report"]) == 1
    assert "run `werkregio refresh` first" in capsys.readouterr().err


def test_write_report_leaves_no_partial_file(published, tmp_path):
    out = write_report(published.warehouse, tmp_path / "r.html", UWV_YEAR)
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"] and out.stat().st_size > 10_000


def test_a_report_that_fails_leaves_the_run_finished_with_a_warning(published, monkeypatch, caplog):
    """Runs last here: it publishes a new build into the shared warehouse."""
    import report

    from flows.indicators import recalculate_indicators

    def broken(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setenv("WERKREGIO_HOME", str(published.home))
    monkeypatch.setattr(report, "write_report", broken)
    before = report_path(published.warehouse).read_text(encoding="utf-8")
    record = recalculate_indicators(reference_year=UWV_YEAR)
    assert record["published"]["report"] is None
    (build,) = query(published.warehouse, "SELECT run_id FROM build_info")["run_id"]
    assert build == record["run_id"]
    assert "the indicator report could not be written" in caplog.text and "No space left on device" in caplog.text
    assert report_path(published.warehouse).read_text(encoding="utf-8") == before  # the earlier build's, naming it
    assert f'data-build="{build}"' not in before
