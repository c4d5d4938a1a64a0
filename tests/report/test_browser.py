"""The report in a real browser: headless Chromium (Debian's ``chromium``) through Playwright.

For each report (reference year 2016 of the mirror, with UWV figures; 2025, without; and the report
``werkregio demo`` writes, where every chart has values): no console error, no request but the file
itself, every chart drawn at a sensible size, a screenshot per section, and the numbers behind every
chart equal to a query on the warehouse written here, independently of the report code. On the demo's
report also: the synthetic banner and a visible "Synthetic" line on exactly the charts drawn from
generated tables.

Screenshots: ``test-artifacts/report-screenshots/<year or demo>/<section>.png`` in the work tree (git
ignores it; each run replaces the folder), or under ``WERKREGIO_SCREENSHOTS`` when set (docs/report.md).
Not pytest's temporary folder: on a machine where several test runs share /tmp/pytest-of-<user>,
pytest's clean-up of all but the last three runs removes them within minutes. Chromium is installed by ``.ci/run``; without it this test skips
locally, saying so, and fails in CI (``CI`` set), where a skip would hide a missing browser.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import pytest

from report import write_report
from tests.conftest import DEMO_YEAR
from tests.report.conftest import UWV_YEAR
from warehouse.store import query

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SECTIONS = ["coverage", "national", "growth", "labour-force", "wwb-recipients", "vacancies", "portal", "registered", "analyses", "sources"]


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run installs Debian's chromium package before the tests")
        pytest.skip(f"{CHROMIUM} is not installed (Debian package 'chromium'; .ci/run installs it in CI)")
    return CHROMIUM


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "report-screenshots"


@pytest.fixture(scope="module")
def screenshots() -> Path:
    folder = Path(os.environ.get("WERKREGIO_SCREENSHOTS") or ARTIFACTS)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def expected_numbers(warehouse: Path, year: int) -> dict[str, dict[tuple[str, str], float]]:
    """chart id -> {(row key, series): value}: what each chart must plot, straight from the warehouse's views."""
    scenario = f"view = 'harmonised' AND geography_year = {year}"
    complete = "area_type = 'region' AND complete AND value IS NOT NULL"

    def latest(indicator: str) -> str:
        """The complete region figures of ``indicator`` in its latest year (up to ``year``) with any."""
        return (
            f"SELECT area_code AS key, 'value' AS series, value FROM v_region_indicators WHERE indicator = '{indicator}' "
            f"AND {scenario} AND {complete} AND year = (SELECT max(year) FROM v_region_indicators WHERE indicator = '{indicator}' "
            f"AND {scenario} AND {complete} AND year <= {year})"
        )

    statements = {
        "national": "SELECT period_key AS key, series, value FROM v_national_series WHERE frequency = 'month' "
        "AND series IN ('ww', 'wwb') AND period_start >= DATE '2007-01-01' AND value IS NOT NULL",
        "coverage": "SELECT indicator || ' ' || year AS key, 'complete' AS series, count(*) FILTER (WHERE complete AND value IS NOT NULL) AS value "
        f"FROM v_region_indicators WHERE indicator IN ('ww_benefits', 'wwb_benefits', 'labour_force') AND area_type = 'region' "
        f"AND base_year IS NULL AND {scenario} GROUP BY ALL",
        "labour-force": latest("labour_force"),
        "wwb-recipients": latest("wwb_recipients"),
        "portal-bands": "SELECT category AS key, 'regions' AS series, value FROM v_region_indicators "
        f"WHERE indicator = 'regions_by_portal_share' AND {scenario} AND year = {year}",
        "registered-share": "SELECT area_code AS key, CASE indicator WHEN 'wwb_registered_share' THEN 'value' "
        "WHEN 'wwb_registered_share_min' THEN 'low' ELSE 'high' END AS series, value FROM v_region_indicators "
        "WHERE indicator IN ('wwb_registered_share', 'wwb_registered_share_min', 'wwb_registered_share_max') "
        f"AND {scenario} AND {complete} AND year = {year}",
        "correlation": "SELECT x || ' ' || y AS key, unnest(['r', 'n']) AS series, unnest([value, n]) AS value FROM v_analyses "
        f"WHERE analysis = 'correlation' AND {scenario} AND year = {year}",
        "registered-by-portal": "SELECT unnest([x, y, x, y]) AS key, unnest(['mean', 'mean', 'n', 'n']) AS series, "
        f"unnest([mean_x, mean_y, n_x, n_y]) AS value FROM v_analyses WHERE analysis = 'registered_share_by_portal' "
        f"AND {scenario} AND year = {year}",
    }
    for chart, indicator in (("municipalities", "municipalities"), ("benefits-per-vacancy", "benefits_per_vacancy"),
                             ("tension", "tension_ratio"), ("portal-share", "portal_share")):  # fmt: skip
        statements[chart] = (
            f"SELECT area_code AS key, 'value' AS series, value FROM v_region_indicators WHERE indicator = '{indicator}' "
            f"AND {scenario} AND {complete} AND year = {year}"
        )
    for base, end in ((2008, 2009), (2010, 2011), (2012, 2014), (2009, 2014)):
        for series in ("ww", "wwb"):
            statements[f"growth-{series}-{base}-{end}"] = (
                f"SELECT area_code AS key, 'value' AS series, value FROM v_region_indicators WHERE indicator = "
                f"'{series}_benefits_growth' AND {scenario} AND {complete} AND year = {end} AND base_year = {base}"
            )
    out = {}
    for chart, sql in statements.items():
        frame = query(warehouse, sql)
        out[chart] = {(str(k), s): float(v) for k, s, v in frame.iter_rows() if v is not None}
    return out


def page_numbers(page) -> dict[str, dict[tuple[str, str], float]]:
    """chart id -> {(row key, series): value} as the page's numbers tables hold them."""
    cells = page.eval_on_selector_all(
        "table.numbers td[data-series]",
        """cells => cells.map(td => [td.closest('table').dataset.chart, td.closest('tr').dataset.key,
                                      td.dataset.series, td.dataset.value])""",
    )
    charts = page.eval_on_selector_all("table.numbers", "tables => tables.map(t => t.dataset.chart)")
    out: dict[str, dict[tuple[str, str], float]] = {chart: {} for chart in charts}
    for chart, key, series, value in cells:
        out[chart][(key, series)] = float(value)
    return out


def open_in_chromium(html: Path, chromium: Path, folder: Path, profile: Path) -> dict:
    """Open the report file in headless Chromium, screenshot each section into ``folder``; what the page showed."""
    from playwright.sync_api import sync_playwright

    url = html.resolve().as_uri()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    errors, requests = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(chromium), headless=True, args=FLAGS, viewport={"width": 1100, "height": 900}
        )
        try:
            page = browser.new_page()
            page.on("console", lambda message: errors.append(message.text) if message.type in ("error", "warning") else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(url, wait_until="load")
            page.wait_for_load_state("networkidle")

            charts = page.eval_on_selector_all(
                "figure.chart",
                """figures => figures.map(f => { const svg = f.querySelector(':scope > .svg > svg');
                   const box = svg ? svg.getBoundingClientRect() : null;
                   return [f.dataset.chart, box ? box.width : 0, box ? box.height : 0,
                           svg ? svg.querySelectorAll('path, rect, line, circle, text').length : 0]; })""",
            )
            for section in SECTIONS:
                page.locator(f"section#{section}").screenshot(path=str(folder / f"{section}.png"))
            shown = page_numbers(page)
            sections = page.eval_on_selector_all(
                "section", "sections => sections.map(s => [s.id, s.querySelectorAll('figure.chart, p.missing, table.sources').length])"
            )
            synthetic = page.eval_on_selector_all(
                "figure.chart[data-synthetic]",
                """figures => figures.map(f => { const label = f.querySelector(':scope > p.synthetic-label');
                   return [f.dataset.chart, f.dataset.synthetic, label ? label.getBoundingClientRect().height : 0]; })""",
            )
            banner = page.eval_on_selector_all(
                "header .synthetic-banner", "banners => banners.map(b => [b.dataset.synthetic, b.getBoundingClientRect().height])"
            )
            if banner:
                page.locator("header").screenshot(path=str(folder / "header.png"))
        finally:
            browser.close()
    return {"url": url, "errors": errors, "requests": requests, "charts": charts, "shown": shown, "sections": sections,
            "synthetic": synthetic, "banner": banner}  # fmt: skip


def check_page(result: dict, warehouse: Path, year: int, folder: Path) -> set[str]:
    """What every report must show in the browser; the charts drawn."""
    assert result["errors"] == []
    assert result["requests"] == [result["url"]], f"requests beyond the file itself: {sorted(set(result['requests']) - {result['url']})}"
    sections = result["sections"]
    assert [s for s, _ in sections] == SECTIONS and all(count > 0 for _, count in sections), sections
    for chart, width, height, marks in result["charts"]:
        assert width >= 200 and height >= 80 and marks > 20, (chart, width, height, marks)
    assert {p.name for p in folder.iterdir()} >= {f"{s}.png" for s in SECTIONS}

    expected = expected_numbers(warehouse, year)
    shown = result["shown"]
    assert set(shown) <= set(expected), f"charts without a check here: {set(shown) - set(expected)}"
    for chart, numbers in shown.items():
        want = expected[chart]
        assert numbers.keys() == want.keys(), chart
        assert all(math.isclose(numbers[k], want[k], rel_tol=1e-12, abs_tol=1e-12) for k in want), chart
    drawn = {chart for chart, *_ in result["charts"]}
    assert all(expected[chart] for chart in drawn if chart in expected), "a chart drawn without a complete number"
    return drawn


ALWAYS = {"coverage", "national", "municipalities", "labour-force"}
WITH_UWV = {"portal-bands", "portal-share", "registered-share", "correlation", "registered-by-portal"}
GROWTH = {f"growth-{series}-{base}-{end}" for base, end in ((2008, 2009), (2010, 2011), (2012, 2014), (2009, 2014)) for series in ("ww", "wwb")}


@pytest.mark.mirror
@pytest.mark.parametrize("year", [UWV_YEAR, 2025])
def test_report_in_chromium(published, chromium, screenshots, tmp_path, year):
    html = write_report(published.warehouse, tmp_path / f"report-{year}.html", year)
    result = open_in_chromium(html, chromium, screenshots / str(year), tmp_path / "profile")
    drawn = check_page(result, published.warehouse, year, screenshots / str(year))
    assert sorted((screenshots / str(year)).iterdir()) == sorted(screenshots / str(year) / f"{s}.png" for s in SECTIONS)
    assert ALWAYS | {"wwb-recipients"} | (WITH_UWV if year == UWV_YEAR else set()) <= drawn  # the mirror has CBS's recipients tables
    if year != UWV_YEAR:
        assert not drawn & WITH_UWV
    assert result["banner"] == [] and result["synthetic"] == []  # the mirror's tables are CBS's


def test_the_demos_report_in_chromium(demo, chromium, screenshots, tmp_path):
    """The report ``werkregio demo`` wrote, as a newcomer opens it: every chart drawn with its numbers, synthetic marked."""
    assert demo.done.returncode == 0, demo.done.stderr[-4000:]
    warehouse = demo.folder / "warehouse" / "werkregio.duckdb"
    result = open_in_chromium(demo.folder / "warehouse" / "werkregio-report.html", chromium, screenshots / "demo", tmp_path / "profile")
    drawn = check_page(result, warehouse, DEMO_YEAR, screenshots / "demo")
    assert ALWAYS | WITH_UWV | GROWTH | {"benefits-per-vacancy", "tension", "wwb-recipients"} == drawn  # the recipients: real CBS tables
    generated = "80724ned,80794ned,82015NED"
    ((tables, height),) = result["banner"]
    assert tables == generated and height > 40
    marked = {chart: tables for chart, tables, _ in result["synthetic"]}
    assert set(marked) == {"coverage", "benefits-per-vacancy", "tension", "correlation"} | GROWTH
    assert all(height > 10 for _, _, height in result["synthetic"]), "a synthetic chart without a visible label"
    assert marked["tension"] == marked["growth-ww-2008-2009"] == "80794ned"  # WW only
    assert marked["benefits-per-vacancy"] == marked["correlation"] == generated
