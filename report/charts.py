"""The report's charts: Vega-Lite specifications built with Altair, rendered to SVG by vl-convert.

vl-convert runs Vega in its own embedded engine, with no browser and no network, so each chart is
a static ``<svg>`` element inlined in the page: the report needs no JavaScript at all (docs/report.md
says why this library). Every function takes a frame shaped by ``transforms.report_tables`` and
returns the SVG text.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import polars as pl
import vl_convert

from transforms.report_tables import COMPLETE, INCOMPLETE, NO_FIGURE

WIDTH = 560
ROW = 15
STATUS_COLOURS = {COMPLETE: "#2b6cb0", INCOMPLETE: "#f6ad55", NO_FIGURE: "#e2e8f0"}
SERIES_COLOURS = {"WW": "#2b6cb0", "WWB": "#c05621"}
TENSION_COLOURS = ("#2c7bb6", "#abd9e9", "#ffffbf", "#fdae61", "#d7191c")


def svg(chart: alt.TopLevelMixin) -> str:
    """The chart as an ``<svg>`` element (vl-convert's own Vega engine: offline, no browser)."""
    return vl_convert.vegalite_to_svg(chart.to_dict())


def region_bars(
    figure: pl.DataFrame,
    *,
    title: str,
    number_format: str,
    national: float | None = None,
    national_label: str = "Nederland",
    colour: alt.Color | None = None,
    thresholds: Sequence[float] = (),
) -> str:
    """Bars for the complete regions of a ``region_figure`` frame, in its order; the other regions
    keep their row with a grey label ('incomplete: not drawn', 'no figure') and no bar. ``national``:
    a dashed reference line; ``thresholds``: dotted lines (band limits)."""
    data = figure.select("label", "value", "status", "category").with_columns(
        pl.when(pl.col("status") == INCOMPLETE)
        .then(pl.lit("incomplete: not drawn"))
        .when(pl.col("status") == NO_FIGURE)
        .then(pl.lit("no figure"))
        .alias("mark")
    )
    y = alt.Y("label:N", sort=list(data["label"]), title=None, axis=alt.Axis(labelLimit=220))
    base = alt.Chart(data).encode(y=y)
    bars = base.transform_filter(alt.datum.status == COMPLETE).mark_bar(color=STATUS_COLOURS[COMPLETE]).encode(
        x=alt.X("value:Q", title=title, axis=alt.Axis(format=number_format)),
        **({"color": colour} if colour is not None else {}),
    )
    labels = base.transform_filter(alt.datum.status != COMPLETE).mark_text(
        align="left", dx=3, color="#718096", fontStyle="italic", fontSize=10
    ).encode(x=alt.datum(0), text="mark:N")
    layers = [bars, labels]
    lines = [{"x": national, "text": f"{national_label} {format(national, number_format.replace('~', ''))}"}] if national is not None else []
    if lines:
        rule = alt.Chart(pl.DataFrame(lines)).encode(x="x:Q")
        layers += [
            rule.mark_rule(color="#1a202c", strokeDash=[5, 3], strokeWidth=1.5),
            rule.mark_text(align="left", dx=4, dy=-4, fontSize=10, color="#1a202c").encode(y=alt.value(0), text="text:N"),
        ]
    if thresholds:
        layers.append(alt.Chart(pl.DataFrame({"x": list(thresholds)})).mark_rule(color="#a0aec0", strokeDash=[2, 2]).encode(x="x:Q"))
    return svg(alt.layer(*layers).properties(width=WIDTH, height=alt.Step(ROW)))


def national_lines(national: pl.DataFrame, periods: Sequence[tuple[int, int]]) -> str:
    """WW and WWB benefits per month (x 1,000), with the evaluation's periods as labelled bars beneath."""
    data = national.select(
        pl.col("period_start"),
        pl.col("series").replace({"ww": "WW", "wwb": "WWB"}).alias("series"),
        pl.col("value"),
    )
    lines = alt.Chart(data).mark_line(strokeWidth=1.8).encode(
        x=alt.X("period_start:T", title=None, axis=alt.Axis(format="%Y", tickCount="year")),
        y=alt.Y("value:Q", title="benefits (x 1,000)"),
        color=alt.Color(
            "series:N",
            title=None,
            scale=alt.Scale(domain=list(SERIES_COLOURS), range=list(SERIES_COLOURS.values())),
            legend=alt.Legend(orient="top-left"),
        ),
    )
    spans = pl.DataFrame(
        {
            "period": [f"{base}-{year}" for base, year in periods],
            "start": [f"{base}-01-01" for base, _ in periods],
            "end": [f"{year}-12-31" for _, year in periods],
        }
    )
    shade = alt.Chart(spans.head(3)).mark_rect(color="#edf2f7", opacity=0.7).encode(x="start:T", x2="end:T")
    strip = (
        alt.Chart(spans)
        .encode(
            x=alt.X("start:T", scale=alt.Scale(domain=[str(data["period_start"].min()), str(data["period_start"].max())]), title=None,
                    axis=alt.Axis(format="%Y", tickCount="year")),
            x2="end:T",
            y=alt.Y("period:N", sort=list(spans["period"]), title="evaluation period"),
        )
        .mark_bar(color="#718096", height=10)
        .properties(width=WIDTH, height=alt.Step(16))
    )  # fmt: skip
    top = alt.layer(shade, lines).properties(width=WIDTH, height=260)
    return svg(alt.vconcat(top, strip, spacing=6).resolve_scale(x="shared"))


def registered_ranges(frame: pl.DataFrame) -> str:
    """Per complete region: its WWB-registered share (dot) and the range of its municipalities' shares (line)."""
    data = frame.select("label", "value", "low", "high", "status").with_columns(
        pl.when(pl.col("status") == INCOMPLETE).then(pl.lit("incomplete: not drawn")).when(pl.col("status") == NO_FIGURE)
        .then(pl.lit("no figure")).alias("mark")
    )  # fmt: skip
    y = alt.Y("label:N", sort=list(data["label"]), title=None, axis=alt.Axis(labelLimit=220))
    base = alt.Chart(data).encode(y=y)
    complete = base.transform_filter(alt.datum.status == COMPLETE)
    scale = alt.Scale(domain=[0, 100])
    span = complete.mark_rule(color="#a0aec0", strokeWidth=2).encode(
        x=alt.X("low:Q", title="WWB recipients registered at UWV (%): region, and lowest to highest municipality", scale=scale),
        x2="high:Q",
    )
    dots = complete.mark_point(filled=True, size=45, color=STATUS_COLOURS[COMPLETE]).encode(x=alt.X("value:Q", scale=scale))
    labels = base.transform_filter(alt.datum.status != COMPLETE).mark_text(
        align="left", dx=3, color="#718096", fontStyle="italic", fontSize=10
    ).encode(x=alt.datum(0), text="mark:N")
    return svg(alt.layer(span, dots, labels).properties(width=WIDTH, height=alt.Step(ROW)))


def band_bars(bands: pl.DataFrame) -> str:
    """Regions per portal-share band (the evaluation's table 1)."""
    chart = alt.Chart(bands).mark_bar(color=STATUS_COLOURS[COMPLETE]).encode(
        x=alt.X("band:N", sort=list(bands["band"]), title="share of the region's municipalities connected to the UWV portal"),
        y=alt.Y("regions:Q", title="regions", axis=alt.Axis(tickMinStep=1)),
    )
    text = chart.mark_text(dy=-6).encode(text="regions:Q")
    return svg(alt.layer(chart, text).properties(width=360, height=200))


def coverage_grid(grid: pl.DataFrame, titles: dict[str, str]) -> str:
    """Region x year: complete, incomplete or no figure, one panel per indicator."""
    data = grid.with_columns(pl.col("indicator").replace(titles).alias("indicator"))
    labels = sorted(data["label"].unique())
    chart = alt.Chart(data).mark_rect(stroke="white", strokeWidth=0.5).encode(
        x=alt.X("year:O", title=None),
        y=alt.Y("label:N", sort=labels, title=None, axis=alt.Axis(labelLimit=200)),
        color=alt.Color(
            "status:N",
            title=None,
            scale=alt.Scale(domain=list(STATUS_COLOURS), range=list(STATUS_COLOURS.values())),
            legend=alt.Legend(orient="top"),
        ),
    ).properties(width=alt.Step(16), height=alt.Step(12))
    faceted = chart.facet(column=alt.Column("indicator:N", title=None, sort=list(titles.values())))
    return svg(faceted.resolve_scale(x="independent"))


def correlation_grid(matrix: pl.DataFrame, names: Sequence[str], titles: dict[str, str]) -> str:
    """Pearson's r between region indicators (colour, and the value with n and p), '-' where not computed."""
    data = matrix.with_columns(
        pl.col("x").replace(titles),
        pl.col("y").replace(titles),
        pl.when(pl.col("value").is_not_null())
        .then(pl.format("{} (n={}, p={})", pl.col("value").round(2), pl.col("n"), pl.col("p_value").round(3)))
        .otherwise(pl.lit("-"))
        .alias("text"),
    )
    order = [titles.get(name, name) for name in names]
    base = alt.Chart(data).encode(
        x=alt.X("x:N", sort=order, title=None, axis=alt.Axis(labelAngle=-30, labelLimit=180)),
        y=alt.Y("y:N", sort=order, title=None, axis=alt.Axis(labelLimit=180)),
    )
    cells = base.mark_rect(stroke="white").encode(
        color=alt.Color("value:Q", title="r", scale=alt.Scale(domain=[-1, 1], scheme="redblue"))
    )
    text = base.mark_text(fontSize=10).encode(text="text:N")
    return svg(alt.layer(cells, text).properties(width=alt.Step(130), height=alt.Step(34)))


def two_means(groups: pl.DataFrame) -> str:
    """Mean WWB-registered share of connected and not connected municipalities (group, mean, n)."""
    chart = alt.Chart(groups).mark_bar(color=STATUS_COLOURS[COMPLETE]).encode(
        x=alt.X("mean:Q", title="mean WWB-registered share of the municipalities (%)", scale=alt.Scale(domain=[0, 100])),
        y=alt.Y("group:N", title=None, sort=list(groups["group"])),
    )
    text = chart.mark_text(align="left", dx=4).encode(text="label:N")
    return svg(alt.layer(chart, text).properties(width=WIDTH, height=alt.Step(28)))
