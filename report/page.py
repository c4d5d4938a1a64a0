"""The indicator report as one self-contained HTML page: sections of charts (inline SVG), each with
its numbers, its source tables and the build id, or a plain sentence saying why there is nothing to show.

No script, no stylesheet, font or image from elsewhere: the page opens without any network.

Every chart is a ``<figure class="chart" data-chart="ID">`` holding one ``<svg>`` and a numbers
table whose plotted cells carry ``data-series`` and the exact ``data-value``; a section without
data holds a ``<p class="missing">``. The browser test (tests/report/test_browser.py) reads both.

Why one module of about 700 lines: one method per section of the page, in the order the page shows
them, each a few dozen lines of chart, numbers and sentences; the charts themselves are in
``report.charts`` and the data in ``report.data``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any, NamedTuple

import altair as alt
import polars as pl

from report import charts
from report.data import ReportData
from transforms.analyses import CORRELATED, GROWTH_YEARS, MIN_MUNICIPALITIES, MIN_REGIONS
from transforms.indicators import PORTAL_BANDS, TENSION_BANDS
from transforms.report_tables import (
    COMPLETE,
    PERIODS,
    correlation_matrix,
    coverage,
    coverage_summary,
    latest_year,
    national_figure,
    portal_bands,
    region_figure,
    region_list,
    registered_share_range,
)

TITLES = {
    "ww_benefits": "WW benefits",
    "wwb_benefits": "WWB benefits",
    "ww_benefits_growth": "WW growth",
    "wwb_benefits_growth": "WWB growth",
    "benefits_per_vacancy": "benefits per UWV vacancy",
    "portal_share": "portal share",
    "wwb_registered_share": "WWB registered share",
    "labour_force": "labour force",
}
RATIO_BENEFITS = {"benefits_per_vacancy": "ww_wwb_benefits", "tension_ratio": "ww_benefits"}
"""The benefit count of each UWV ratio (``transforms.indicators``), which the ratio's ``sources`` call 'benefits'."""
UWV_ADVICE = (
    "UWV register files are not public: drop the files UWV delivers in $WERKREGIO_HOME/inbox/uwv/ and refresh "
    "(docs/uwv-files.md)."
)


class Sources(NamedTuple):
    """What a chart was read from, as HTML, and which of its CBS tables are synthetic (generated, not CBS figures)."""

    html: str
    synthetic: tuple[str, ...] = ()


@dataclass(frozen=True)
class Column:
    """A column of a numbers table: header, the row's field, how to print it, and the series it plots (if any)."""

    header: str
    field: str
    text: Callable[[Any], str] = str
    series: str | None = None


def _number(digits: int, sign: bool = False, suffix: str = "") -> Callable[[Any], str]:
    def text(value: Any) -> str:
        return "" if value is None else f"{value:{'+' if sign else ''},.{digits}f}{suffix}"

    return text


def _plain(value: Any) -> str:
    return "" if value is None else str(value)


def numbers_table(chart: str, columns: Sequence[Column], rows: Iterable[dict], key: str) -> str:
    """The numbers behind a chart; each row keyed (``data-key``), each plotted cell with ``data-series`` and ``data-value``."""
    head = "".join(f"<th>{escape(c.header)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c.field)
            attributes = ""
            if c.series is not None and value is not None:
                attributes = f' data-series="{escape(c.series)}" data-value="{value!r}"'
            cells.append(f"<td{attributes}>{escape(c.text(value))}</td>")
        body.append(f'<tr data-key="{escape(str(row.get(key)))}">{"".join(cells)}</tr>')
    return f'<table class="numbers" data-chart="{escape(chart)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _table_ids(sources: Iterable[str | None]) -> list[str]:
    """The distinct names in comma-separated ``sources`` values, sorted."""
    return sorted({part.strip() for text in sources if text for part in text.split(",") if part.strip()})


class Page:
    """Builds the sections of one report from :class:`ReportData`."""

    def __init__(self, data: ReportData) -> None:
        self.data = data
        self.year = data.reference_year
        self.build = str(data.build["run_id"])
        self.indicators = data.indicators
        self.regions = region_list(data.indicators, self.year)
        self.titles = dict(zip(data.sources["table_id"], data.sources["title"]))
        self.synthetic = sorted(data.sources.filter(pl.col("synthetic"))["table_id"])
        regions = data.indicators.filter(pl.col("area_type") == "region")
        self.ratio_tables = {
            ratio: _table_ids(regions.filter(pl.col("indicator") == count)["sources"]) for ratio, count in RATIO_BENEFITS.items()
        }

    def figure(self, chart: str, caption: str, svg: str, table: str, sources: Sources, note: str = "") -> str:
        note_html = f'<p class="note">{note}</p>' if note else ""
        return (
            f'<figure class="chart" id="chart-{escape(chart)}" data-chart="{escape(chart)}"{self.synthetic_attribute(sources)}>'
            f"<figcaption>{escape(caption)}</figcaption>{self.synthetic_label(sources)}{note_html}"
            f'<div class="svg">{svg}</div>'
            f'<p class="provenance">Source: {sources.html} &middot; build <code>{escape(self.build)}</code></p>'
            f"<details><summary>Numbers</summary>{table}</details></figure>"
        )

    def missing(self, text: str, table: str = "", sources: Sources | None = None) -> str:
        details = f"<details><summary>Regions and why</summary>{table}</details>" if table else ""
        provenance = ""
        if sources is not None:
            provenance = (
                f'{self.synthetic_label(sources)}<p class="provenance">Source: {sources.html} &middot; build <code>{escape(self.build)}</code></p>'
            )
        return f'<div class="missing-block"><p class="missing">{escape(text)}</p>{provenance}{details}</div>'

    @staticmethod
    def synthetic_attribute(sources: Sources) -> str:
        return f' data-synthetic="{escape(",".join(sources.synthetic))}"' if sources.synthetic else ""

    @staticmethod
    def synthetic_label(sources: Sources) -> str:
        if not sources.synthetic:
            return ""
        return (
            f'<p class="synthetic-label"><strong>Synthetic:</strong> drawn from generated tables '
            f"({escape(', '.join(sources.synthetic))}), not CBS figures.</p>"
        )

    def sources_text(self, query: str, tables: Iterable[str | None], indicator: str | None = None) -> Sources:
        """``query`` (the view and filter read), then each CBS table with its title, or 'UWV register files'.

        The tables behind 'benefits' (in a UWV ratio's sources) count as synthetic ones: those of ``indicator``'s
        benefit count, or of every ratio's.
        """
        ids = _table_ids(tables)
        named = []
        for table_id in ids:
            if table_id in self.titles:
                mark = " <strong>synthetic</strong>" if table_id in self.synthetic else ""
                named.append(f"CBS {escape(table_id)} ({escape(self.titles[table_id])}){mark}")
            elif table_id == "benefits":
                continue  # the benefits a UWV ratio divides by: their tables are named in the benefit sections
            else:
                named.append(escape(table_id))
        html = f"<code>{escape(query)}</code>" + (f"; {', '.join(named)}" if named else "")
        behind = set(ids)
        if "benefits" in ids:
            ratios = [indicator] if indicator in self.ratio_tables else list(self.ratio_tables)
            behind |= {table for ratio in ratios for table in self.ratio_tables[ratio]}
        return Sources(html, tuple(t for t in self.synthetic if t in behind))

    def region_query(self, indicator: str, year: int, base_year: int | None = None) -> str:
        base = f" AND base_year = {base_year}" if base_year is not None else ""
        return (
            f"v_region_indicators WHERE indicator = '{indicator}' AND view = 'harmonised' "
            f"AND geography_year = {self.year} AND year = {year}{base}"
        )

    def region_chart(
        self,
        chart: str,
        caption: str,
        indicator: str,
        year: int,
        value: Column,
        *,
        title: str,
        number_format: str,
        base_year: int | None = None,
        national: bool = False,
        what: str = "",
        needs: str = "",
        colour: alt.Color | None = None,
        thresholds: Sequence[float] = (),
        extra: Sequence[Column] = (),
    ) -> str:
        """A sorted region bar chart of one indicator, or the sentence saying why there is none."""
        figure = region_figure(self.indicators, self.regions, indicator, year, base_year)
        sources = self.sources_text(self.region_query(indicator, year, base_year), figure["sources"], indicator)
        table = numbers_table(
            chart,
            [Column("region", "area_code"), Column("name", "area_name", _plain), value, *extra,
             Column("status", "status"), Column("why not complete", "detail", _plain)],
            figure.to_dicts(),
            "area_code",
        )  # fmt: skip
        country = national_figure(self.indicators, indicator, year, base_year) if national else None
        complete = int((figure["status"] == COMPLETE).sum())
        with_rows = int(figure["detail"].ne_missing("no row in the warehouse").sum()) if figure.height else 0
        label = what or caption
        if figure.height == 0:
            return self.missing(f"{label}: no regions in the {self.year} composition.")
        if with_rows == 0:
            because = f" {needs}" if needs else ""
            return self.missing(f"{label}: the warehouse has no region figures.{because}{self.national_sentence(country, value)}")
        if complete == 0:
            return self.missing(
                f"{label}: none of the {figure.height} regions has a complete figure (each region's status and why "
                f"is listed below; see also Coverage).{self.national_sentence(country, value)}",
                table,
                sources,
            )
        note = ""
        if complete < figure.height:
            note = (
                f"{figure.height - complete} of {figure.height} regions have no complete figure: they are listed "
                "without a bar (their partial sums are not the region's figure)."
            )
        svg = charts.region_bars(
            figure, title=title, number_format=number_format, national=country, colour=colour, thresholds=thresholds
        )
        return self.figure(chart, caption, svg, table, sources, note)

    @staticmethod
    def national_sentence(country: float | None, value: Column) -> str:
        return "" if country is None else f" Nederland: {value.text(country)}."

    def header(self) -> str:
        b = self.data.build
        others = [y for y in self.data.harmonised_years if y != self.year]
        rows = [
            ("build (run id)", str(b["run_id"])),
            ("built by", str(b["flow"])),
            ("built at", str(b["built_at"])),
            ("CBS service", str(b["cbs_url"])),
            ("werkregio version", str(b["werkregio_version"])),
            ("warehouse", str(self.data.path)),
            ("reference year", f"{self.year} (harmonised: every year on the municipalities and regions of {self.year})"),
        ]
        if others:
            rows.append(("other reference years in the file", ", ".join(map(str, others)) + " (`werkregio report --reference-year Y`)"))
        table = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
        return (
            f'<header><h1>Regional labour-market indicators, {self.year} regions</h1>'
            "<p>The indicators of the 2015 SUWI evaluation recomputed by werkregio for the labour-market regions. "
            "A region's figure is drawn only where it is <em>complete</em>: every municipality of the region reported "
            "(for a yearly figure, every month). Other regions are listed without a bar, with the reason.</p>"
            f'<table class="build">{table}</table>{self.synthetic_banner()}</header>'
        )

    def synthetic_banner(self) -> str:
        """Above everything, when the build holds generated tables: which, and that charts drawn from them say so."""
        if not self.synthetic:
            return ""
        tables = ", ".join(f"{escape(t)} ({escape(self.titles[t])})" for t in self.synthetic)
        return (
            f'<div class="synthetic-banner" role="note" data-synthetic="{escape(",".join(self.synthetic))}">'
            f"<p><strong>Synthetic figures.</strong> This build holds generated tables, not CBS figures: {tables} "
            "(<code>synthetic</code> in <code>v_source_tables</code>). Their values were made up on the real municipality "
            "codes, to show what the pipeline computes; every chart drawn from them is marked <em>synthetic</em>. "
            "Only werkregio's sample makes such tables (<code>werkregio demo</code>), and its UWV register files are "
            "generated too: the UWV-based figures of this build are no UWV figures either.</p></div>"
        )

    def coverage_section(self) -> str:
        names = ["ww_benefits", "wwb_benefits", "labour_force"]
        grid = coverage(self.indicators, self.regions, names)
        if grid.height == 0:
            body = self.missing("The warehouse has no region figures of WW, WWB or labour force on these boundaries.")
        else:
            summary = coverage_summary(grid)
            table = numbers_table(
                "coverage",
                [Column("indicator", "indicator"), Column("year", "year"), Column("regions", "regions"),
                 Column("complete", "complete", series="complete"), Column("not complete, and why", "not_complete", _plain)],
                summary.with_columns((pl.col("indicator") + " " + pl.col("year").cast(pl.String)).alias("key")).to_dicts(),
                "key",
            )  # fmt: skip
            svg = charts.coverage_grid(grid, {n: TITLES[n] for n in names})
            sources = self.sources_text(
                f"v_region_indicators WHERE indicator IN ({', '.join(repr(n) for n in names)}) AND view = 'harmonised' "
                f"AND geography_year = {self.year}",
                self.indicators.filter(pl.col("indicator").is_in(names))["sources"],
            )
            absent = [TITLES[n] for n in names if n not in set(grid["indicator"])]
            note = f"No region figures at all of {', '.join(absent)} in this warehouse." if absent else ""
            body = self.figure("coverage", "Complete region figures per year", svg, table, sources, note)
        return self.section(
            "coverage",
            "Coverage: which regions and years are complete",
            "A region-year is complete when every municipality of the region has a figure for every month; "
            "otherwise the region has no figure in the charts below. The table says, per year, which regions are "
            "not complete and why (how many municipalities reported).",
            body,
        )

    def national_section(self) -> str:
        national = self.data.national
        if national.height == 0:
            body = self.missing("The warehouse has no national WW or WWB series per month (CBS 37789ksz not loaded).")
        else:
            wide = national.pivot(on="series", index=["period_start", "period_key"], values="value").sort("period_start")
            for name in ("ww", "wwb"):
                if name not in wide.columns:
                    wide = wide.with_columns(pl.lit(None, pl.Float64).alias(name))
            table = numbers_table(
                "national",
                [Column("month", "period_key"), Column("WW (x 1,000)", "ww", _number(1), "ww"),
                 Column("WWB (x 1,000)", "wwb", _number(1), "wwb")],
                wide.to_dicts(),
                "period_key",
            )  # fmt: skip
            sources = self.sources_text(
                "v_national_series WHERE frequency = 'month' AND series IN ('ww', 'wwb') AND period_start >= '2007-01-01'",
                national["source_table"],
            )
            body = self.figure(
                "national",
                "WW and WWB benefits per month, Nederland (x 1,000), with the evaluation's periods",
                charts.national_lines(national, PERIODS),
                table,
                sources,
            )
        return self.section(
            "national",
            "National WW and WWB benefits per month",
            "WW: unemployment-insurance benefits; WWB: social-assistance (bijstand) benefits, as CBS publishes them "
            "(not seasonally adjusted). The shaded spans and the bars beneath mark the evaluation's periods.",
            body,
        )

    def growth_section(self) -> str:
        parts = []
        for base, year in PERIODS:
            for series, name in (("ww", "WW"), ("wwb", "WWB")):
                indicator = f"{series}_benefits_growth"
                levels = self.indicators.filter((pl.col("indicator") == f"{series}_benefits") & (pl.col("area_type") == "region"))
                if levels.height == 0:
                    needs = f"No regional {name} figures were loaded (see Coverage)."
                elif base < (first := int(levels["year"].min())):
                    needs = f"Regional {name} figures on these boundaries start in {first}."
                else:
                    needs = ""
                parts.append(
                    self.region_chart(
                        f"growth-{series}-{base}-{year}",
                        f"{name} benefits: growth {base}-{year} per region (%), dashed: Nederland",
                        indicator,
                        year,
                        Column(f"growth {base}-{year} (%)", "value", _number(1, sign=True, suffix="%"), "value"),
                        title=f"growth of the monthly average {base} to {year} (%)",
                        number_format="+.0f",
                        base_year=base,
                        national=True,
                        what=f"{name} growth {base}-{year}",
                        needs=needs,
                    )
                )
        return self.section(
            "growth",
            "Benefit growth per region in the evaluation's periods",
            "Growth of the yearly average of monthly benefits from the first to the last year of each period, both "
            f"years on the {self.year} boundaries, sorted from highest to lowest; the dashed line is the national figure.",
            "".join(parts),
        )

    def latest_year_chart(self, chart: str, indicator: str, missing: str, heading: str, column: str, title: str, what: str) -> str:
        """The region chart of a count ``indicator`` in its latest year with figures on these boundaries, or ``missing``;
        ``heading``, ``column``, ``title`` and ``what`` are formatted with that ``year``."""
        year = latest_year(self.indicators, indicator, self.year)
        if year is None:
            return self.missing(missing)
        return self.region_chart(
            chart,
            heading.format(year=year),
            indicator,
            year,
            Column(column.format(year=year), "value", _number(0), "value"),
            title=title.format(year=year),
            number_format=",.0f",
            what=what.format(year=year),
        )

    def labour_section(self) -> str:
        labour = self.latest_year_chart(
            "labour-force",
            "labour_force",
            "Labour force: the warehouse has no regional labour-force figures (CBS 'Arbeidsdeelname; regionale indeling').",
            "Labour force per region, {year} (persons)",
            "labour force {year}",
            "labour force {year} (persons)",
            "Labour force {year}",
        )
        municipalities = self.region_chart(
            "municipalities",
            f"Municipalities per region, {self.year}",
            "municipalities",
            self.year,
            Column(f"municipalities {self.year}", "value", _number(0), "value"),
            title=f"municipalities on 1 January {self.year}",
            number_format=".0f",
            what=f"Municipalities {self.year}",
        )
        return self.section(
            "labour-force",
            "Labour force and municipalities per region",
            "Labour force from CBS's regional editions (the latest year with figures on these boundaries); "
            "municipalities as CBS assigns them to the region on 1 January.",
            labour + municipalities,
        )

    def recipients_section(self) -> str:
        body = self.latest_year_chart(
            "wwb-recipients",
            "wwb_recipients",
            "WWB recipients: the warehouse has no regional figures (CBS 'bijstand, re-integratie en WSW, gemeenten').",
            "Persons with bijstand (WWB) per region, {year}",
            "persons {year}",
            "persons with bijstand {year}",
            "WWB recipients {year}",
        )
        return self.section(
            "wwb-recipients",
            "WWB recipients per region",
            "Persons with bijstand: CBS's one figure per year per municipality ('bijstand, re-integratie en WSW, "
            "gemeenten', 2015-2017), summed on these boundaries; the latest year with figures. CBS's own region "
            "figures stand beside them in the warehouse (wwb_recipients_cbs, on each year's own composition).",
            body,
        )

    def uwv_missing(self, what: str) -> str | None:
        """The sentence for a UWV-based section when the reference year has no UWV figure, else None."""
        present = self.indicators.filter(
            pl.col("indicator").is_in(["uwv_vacancies", "portal_share", "wwb_registered_share"])
            & (pl.col("area_type") == "region")
            & (pl.col("year") == self.year)
            & pl.col("value").is_not_null()
        )
        if present.height:
            return None
        elsewhere = [y for y in self.data.uwv_years if y != self.year]
        if elsewhere:
            years = ", ".join(map(str, elsewhere))
            advice = (
                f"UWV figures exist for {years} (on that year's boundaries): `werkregio indicators --reference-year Y` "
                "then `werkregio report --reference-year Y` shows them."
            )
        else:
            advice = UWV_ADVICE
        return f"{what}: no UWV register file with a reference date in {self.year} was loaded. {advice}"

    def vacancy_section(self) -> str:
        intro = (
            "(WW + WWB benefits, monthly average) per open vacancy registered at UWV (average of the January and "
            "December reference dates), and UWV's tension bands: UWV vacancies per WW recipient. UWV's own "
            "indicator counts WW recipients of less than 6 months, which CBS does not publish per region: with all WW "
            "recipients the ratio is lower, so the band is indicative."
        )
        absent = self.uwv_missing("Benefits per UWV vacancy and tension")
        if absent:
            return self.section("vacancies", "Benefits per UWV vacancy and tension", intro, self.missing(absent))
        bands = [label for _, label in TENSION_BANDS]
        per_vacancy = self.region_chart(
            "benefits-per-vacancy",
            f"Benefits (WW + WWB) per UWV vacancy, {self.year}",
            "benefits_per_vacancy",
            self.year,
            Column("benefits per vacancy", "value", _number(2), "value"),
            title="benefits per UWV vacancy",
            number_format=".1f",
            what=f"Benefits per UWV vacancy {self.year}",
            needs="It needs the region's WW and WWB benefits and its UWV vacancies (see Coverage).",
        )
        tension = self.region_chart(
            "tension",
            f"Tension: UWV vacancies per WW recipient, {self.year}, coloured by band",
            "tension_ratio",
            self.year,
            Column("vacancies per WW recipient", "value", _number(2), "value"),
            title="UWV vacancies per WW recipient (dotted: band limits)",
            number_format=".2f",
            what=f"Tension {self.year}",
            needs="It needs the region's WW benefits and its UWV vacancies (see Coverage).",
            colour=alt.Color(
                "category:N", title="band", scale=alt.Scale(domain=bands, range=list(charts.TENSION_COLOURS)), legend=alt.Legend(orient="bottom")
            ),
            thresholds=[upper for upper, _ in TENSION_BANDS[:-1]],
            extra=[Column("band", "category", _plain)],
        )
        return self.section("vacancies", "Benefits per UWV vacancy and tension", intro, per_vacancy + tension)

    def portal_section(self) -> str:
        intro = (
            "Share of each region's municipalities connected to the UWV portal (Sonar/WBS) on the year's latest "
            "reference date, and the number of regions per band: the evaluation's table 1."
        )
        absent = self.uwv_missing("Portal share")
        if absent:
            return self.section("portal", "Portal share", intro, self.missing(absent))
        bands = portal_bands(self.indicators, self.year, PORTAL_BANDS)
        table = numbers_table(
            "portal-bands",
            [Column("portal share", "band"), Column("regions", "regions", _number(0), "regions"), Column("complete", "complete")],
            bands.to_dicts(),
            "band",
        )
        query = (
            f"v_region_indicators WHERE indicator = 'regions_by_portal_share' AND view = 'harmonised' "
            f"AND geography_year = {self.year} AND year = {self.year}"
        )
        if bands.height == 0:
            table_one = self.missing(f"Regions per portal-share band {self.year}: the warehouse has no figures.")
        else:
            incomplete = "" if bands["complete"].all() else (
                "Some regions' portal share is not over all their municipalities (a municipality missing from the UWV file): "
                "the counts are of the shares as computed, see the table below."
            )  # fmt: skip
            table_one = self.figure(
                "portal-bands",
                f"Regions per portal-share band, {self.year} (the evaluation's table 1)",
                charts.band_bars(bands),
                table,
                self.sources_text(query, ["UWV register file"]),
                incomplete,
            )
        per_region = self.region_chart(
            "portal-share",
            f"Share of municipalities connected to the UWV portal per region, {self.year} (%)",
            "portal_share",
            self.year,
            Column("portal share (%)", "value", _number(1), "value"),
            title="municipalities connected to the UWV portal (%)",
            number_format=".0f",
            what=f"Portal share {self.year}",
            extra=[Column("band", "category", _plain)],
        )
        return self.section("portal", "Portal share", intro, table_one + per_region)

    def registered_section(self) -> str:
        intro = (
            "Share of WWB recipients registered as job seeker at UWV per region (registered over recipients, summed over "
            "the region's municipalities), with the lowest and highest municipal share in the region."
        )
        absent = self.uwv_missing("WWB registered share")
        if absent:
            return self.section("registered", "WWB recipients registered at UWV", intro, self.missing(absent))
        frame = registered_share_range(self.indicators, self.regions, self.year)
        chart = "registered-share"
        table = numbers_table(
            chart,
            [Column("region", "area_code"), Column("name", "area_name", _plain),
             Column("share (%)", "value", _number(1), "value"), Column("lowest (%)", "low", _number(1), "low"),
             Column("at", "low_at", _plain), Column("highest (%)", "high", _number(1), "high"), Column("at", "high_at", _plain),
             Column("status", "status"), Column("why not complete", "detail", _plain)],
            frame.to_dicts(),
            "area_code",
        )  # fmt: skip
        sources = self.sources_text(
            f"v_region_indicators WHERE indicator IN ('wwb_registered_share', 'wwb_registered_share_min', "
            f"'wwb_registered_share_max') AND view = 'harmonised' AND geography_year = {self.year} AND year = {self.year}",
            ["UWV register file"],
        )
        if int((frame["status"] == COMPLETE).sum()) == 0:
            body = self.missing(f"WWB registered share {self.year}: no region has a complete figure.", table, sources)
        else:
            body = self.figure(
                chart, f"WWB recipients registered at UWV per region, {self.year} (%), with the municipal range",
                charts.registered_ranges(frame), table, sources,
            )  # fmt: skip
        return self.section("registered", "WWB recipients registered at UWV", intro, body)

    def analyses_section(self) -> str:
        rows = self.data.analyses.filter(pl.col("year") == self.year)
        intro = (
            f"Computed in every build into v_analyses. Correlation: Pearson's r between region indicators over the "
            f"regions with complete figures of both, benefit growth over the {GROWTH_YEARS} years up to {self.year}; "
            f"not computed below {MIN_REGIONS} regions. Registered share by portal connection: unweighted mean "
            f"municipal shares and Welch's t-test (two-sided); not computed below {MIN_MUNICIPALITIES} municipalities "
            "in a group. The evaluation found 63% (connected) against 59%."
        )
        query = f"v_analyses WHERE view = 'harmonised' AND geography_year = {self.year} AND year = {self.year}"
        correlation = rows.filter(pl.col("analysis") == "correlation")
        table = numbers_table(
            "correlation",
            [Column("x", "x"), Column("y", "y"), Column("r", "value", _number(3), "r"), Column("n", "n", _plain, "n"),
             Column("p", "p_value", _number(4)), Column("regions", "population", _plain), Column("why not computed", "reason", _plain)],
            correlation.with_columns((pl.col("x") + " " + pl.col("y")).alias("key")).to_dicts(),
            "key",
        )  # fmt: skip
        sources = self.sources_text(query, self.indicators.filter(pl.col("indicator").is_in(CORRELATED))["sources"])
        if correlation.height == 0:
            body = self.missing(f"No correlations for {self.year} in the warehouse.")
        elif correlation["value"].is_null().all():
            body = self.missing(
                f"No correlation between region indicators could be computed for {self.year}: too few regions with "
                "complete figures, or no UWV file (the reason per pair is listed below).",
                table,
                sources,
            )
        else:
            matrix = correlation_matrix(correlation, CORRELATED)
            body = self.figure(
                "correlation",
                f"Correlation between region indicators, {self.year} (Pearson's r, n regions)",
                charts.correlation_grid(matrix, CORRELATED, TITLES),
                table,
                sources,
                "A '-' cell was not computed; the table gives the reason.",
            )
        body += self.portal_test(rows.filter(pl.col("analysis") == "registered_share_by_portal"), query)
        return self.section("analyses", "The evaluation's analyses", intro, body)

    def portal_test(self, rows: pl.DataFrame, query: str) -> str:
        if rows.height == 0:
            return self.missing(f"Registered share by portal connection: no row for {self.year} in the warehouse.")
        row = rows.row(0, named=True)
        groups = pl.DataFrame(
            {
                "group": ["connected", "not connected"],
                "key": ["connected", "not_connected"],
                "mean": [row["mean_x"], row["mean_y"]],
                "n": [row["n_x"], row["n_y"]],
            },
            schema={"group": pl.String, "key": pl.String, "mean": pl.Float64, "n": pl.Int32},
        )
        table = numbers_table(
            "registered-by-portal",
            [Column("municipalities", "group"), Column("mean share (%)", "mean", _number(1), "mean"), Column("n", "n", _plain, "n")],
            groups.to_dicts(),
            "key",
        )
        if row["value"] is None or row["p_value"] is None:
            return self.missing(
                f"Registered share by portal connection, {self.year}: not computed: {row['reason']}.", table, self.sources_text(query, ["UWV register file"])
            )
        summary = (
            f"difference {row['value']:+.1f} percentage points, Welch's t = {row['statistic']:.2f}, "
            f"df = {row['df']:.1f}, p = {row['p_value']:.4f}, n = {row['n']} municipalities"
        )
        return self.figure(
            "registered-by-portal",
            f"WWB registered share: municipalities connected to the UWV portal against not connected, {self.year}",
            charts.two_means(groups.with_columns(pl.format("{}% (n={})", pl.col("mean").round(1), pl.col("n")).alias("label"))),
            table,
            self.sources_text(query, ["UWV register file"]),
            escape(summary),
        )

    def sources_section(self) -> str:
        sources = self.data.sources
        rows = "".join(
            f"<tr><td>{escape(r['table_id'])}</td><td>{escape(r['title'])}</td><td>{escape(str(r['modified']))}</td>"
            f"<td>{'<strong>synthetic</strong> (generated, not CBS figures)' if r['synthetic'] else 'CBS'}</td></tr>"
            for r in sources.to_dicts()
        )
        return self.section(
            "sources",
            "Sources",
            "CBS StatLine tables in this build (source_tables) with the version used; UWV figures come from the UWV "
            "register files taken in (uwv_* tables).",
            f'<table class="sources"><thead><tr><th>table</th><th>title</th><th>Modified</th><th>values</th></tr></thead><tbody>{rows}</tbody></table>',
        )

    @staticmethod
    def section(section_id: str, title: str, intro: str, body: str) -> str:
        return f'<section id="{section_id}"><h2>{escape(title)}</h2><p class="intro">{escape(intro)}</p>{body}</section>'

    def html(self) -> str:
        sections = [
            self.coverage_section(),
            self.national_section(),
            self.growth_section(),
            self.labour_section(),
            self.recipients_section(),
            self.vacancy_section(),
            self.portal_section(),
            self.registered_section(),
            self.analyses_section(),
            self.sources_section(),
        ]
        contents = "".join(
            f'<li><a href="#{sid}">{escape(title)}</a></li>'
            for sid, title in (
                ("coverage", "Coverage"), ("national", "National benefits"), ("growth", "Growth per region"),
                ("labour-force", "Labour force and municipalities"), ("wwb-recipients", "WWB recipients"), ("vacancies", "Benefits per vacancy and tension"),
                ("portal", "Portal share"), ("registered", "Registered share"), ("analyses", "Analyses"), ("sources", "Sources"),
            )
        )  # fmt: skip
        return (
            "<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><title>werkregio report {self.year} ({escape(self.build)})</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>'
            f'<body data-build="{escape(self.build)}" data-reference-year="{self.year}">{self.header()}'
            f'<nav><ol>{contents}</ol></nav>{"".join(sections)}</body></html>\n'
        )


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; margin: 0 auto;
       max-width: 1000px; padding: 1rem 1.5rem 4rem; color: #1a202c; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.3rem; border-bottom: 1px solid #cbd5e0; padding-bottom: .2rem; margin-top: 2.5rem; }
section { padding-top: .5rem; }
figure { margin: 1.5rem 0; } figcaption { font-weight: 600; margin-bottom: .4rem; }
.svg { overflow-x: auto; } .svg svg { max-width: 100%; height: auto; }
.provenance, .note { font-size: .85rem; color: #4a5568; } .note { font-style: italic; }
.missing { background: #fffaf0; border-left: 4px solid #dd6b20; padding: .6rem .8rem; }
table { border-collapse: collapse; font-size: .85rem; margin: .4rem 0; }
th, td { border-bottom: 1px solid #e2e8f0; padding: .2rem .5rem; text-align: left; vertical-align: top; }
td[data-value] { text-align: right; font-variant-numeric: tabular-nums; }
table.build th { font-weight: 600; padding-right: 1rem; }
summary { cursor: pointer; color: #2b6cb0; font-size: .9rem; }
code { font-size: .8rem; background: #f7fafc; padding: 0 .2rem; }
nav ol { columns: 2; font-size: .9rem; }
.synthetic-banner { background: #fff5f5; border-left: 6px solid #c53030; padding: .2rem 1rem; margin: 1rem 0; }
.synthetic-label { font-size: .85rem; color: #9b2c2c; margin: .2rem 0; }
"""
