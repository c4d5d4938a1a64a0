"""Landed CBS tables plus the helper columns their expectation suites check.

GX checks one column at a time, so every rule that needs several columns or rows (a key made of
dimensions, a code valid in the year of its figure, a part against its whole, a change against
the previous period) is first turned into one column here. ``validation_frame`` returns the
landed TypedDataSet unchanged (one row per CBS row, raw padded keys) with these columns added:

``_key:<dims>``
    the stripped dimension keys joined by ``|`` (``'GM0363|2023MM01'``): unique per table.
``_stripped:<dim>``
    a dimension whose total category must be present, keys stripped.
``_gm_code_not_valid:<area column>``
    ``'GM9999/2023'`` for a municipality code that is not valid on 1 January of its figure's
    geography year, null otherwise. A row with only null figures is a structural null (CBS lists
    every code for every period, with nulls outside a municipality's lifetime) and is not
    flagged; nor are years the reference list does not cover. A malformed GM code always is.
``_region_code_not_valid:<area column>``
    the same for labour-market region codes (``AMxx``) against the region membership of the
    year; only when region codes are given.
``_total:<dim>:<topic>``
    the topic's value in the total category of ``dim`` for the same other keys: a breakdown
    category cannot exceed it.
``_excess:<part>+<part>-<whole>``
    sum of a breakdown's parts minus the whole (null when any of them is null; only for
    numeric topics).
``_change_ratio:<topic>``
    (numeric series topics) value / value of the previous period (month, quarter or year) of the same area and
    categories, where the previous value is > 0 and the larger of the two is at least
    ``min_base`` units; null otherwise.

A helper whose source columns are missing is left out, so that the suite reports the missing
column instead of this function failing. The geography year of a figure is the table's fixed
``geography_year`` (labour-force and bijstand editions, Gebieden tables) or the year of its
period (CBS publishes each period on the municipalities of 1 January of its year).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import polars as pl

from transforms.geography import normalise_gm_code

PERIOD_KEY_PATTERN = r"^\d{4}(?:MM(?:0[1-9]|1[0-2])|KW0[1-4]|JJ00)\s*$"
"""A CBS month, quarter or year key, as ``transforms.periods`` parses it (padding allowed)."""

REVISION_PERIOD_KEY_PATTERN = r"^\d{4}(?:MM(?:0[1-9]|1[0-2])|KW0[1-4]|JJ0[0-2])\s*$"
"""Also the year keys ``YYYYJJ01``/``YYYYJJ02`` that mark a figure before/after a revision
(71761ned: '2001 voor/na revisie'). ``transforms.periods`` rejects them, so only tables whose
periods the pipeline never parses may use this pattern."""

GM_CODE_PATTERN = r"^GM\d{4}$"
REGION_CODE_PATTERN = r"^AM\d{2}$"


@dataclass(frozen=True)
class TableLayout:
    """What the suite and the helper columns need to know about one landed CBS table.

    ``dimensions``: every dimension key column (time and area included). ``area_column``: the
    column whose GM/AM codes are checked against the reference (the region dimension; for a
    Gebieden table the municipality code topic). ``figures``: every topic column (a row with
    only nulls there is a structural null). ``numbers``: numeric topics that must be >= 0;
    ``signed``: numeric topics that may be negative (balancing items). ``series``: the topics
    the pipeline turns into facts (change and total-category checks). ``parts``: (part, whole)
    topic pairs where the part can never exceed the whole. ``partitions``: (whole, parts) where
    the parts are meant to add up to the whole. ``percentages``: topics in % (at most 100).
    ``rounding``: the unit CBS rounds figures to (10 for counts in 'aantal'), used as slack
    when parts are summed. ``min_base``: smallest value a change ratio is computed from.
    """

    table_id: str
    dimensions: tuple[str, ...]
    time_dimension: str | None = None
    area_column: str | None = None
    figures: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    signed: tuple[str, ...] = ()
    series: tuple[str, ...] = ()
    totals: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    parts: tuple[tuple[str, str], ...] = ()
    partitions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    percentages: tuple[str, ...] = ()
    geography_year: int | None = None
    period_pattern: str = PERIOD_KEY_PATTERN
    rounding: float = 1.0
    min_base: float = 100.0

    def __post_init__(self) -> None:
        for name in ("dimensions", "figures", "numbers", "signed", "series", "percentages"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "totals", MappingProxyType(dict(self.totals)))
        object.__setattr__(self, "parts", tuple((p, w) for p, w in self.parts))
        object.__setattr__(self, "partitions", tuple((w, tuple(ps)) for w, ps in self.partitions))


def key_column(dimensions: Sequence[str]) -> str:
    return "_key:" + "|".join(dimensions)


def stripped_column(dimension: str) -> str:
    return f"_stripped:{dimension}"


def gm_code_column(area_column: str) -> str:
    return f"_gm_code_not_valid:{area_column}"


def region_code_column(area_column: str) -> str:
    return f"_region_code_not_valid:{area_column}"


def total_column(dimension: str, topic: str) -> str:
    return f"_total:{dimension}:{topic}"


def excess_column(whole: str, parts: Sequence[str]) -> str:
    return f"_excess:{'+'.join(parts)}-{whole}"


def change_ratio_column(topic: str) -> str:
    return f"_change_ratio:{topic}"


def geography_years(data: pl.DataFrame | pl.LazyFrame, layout: TableLayout) -> list[int]:
    """The years whose municipality (and region) lists the rows of ``data`` (a frame or a scan) are checked against."""
    if layout.geography_year is not None:
        return [layout.geography_year]
    if layout.time_dimension is None or layout.time_dimension not in data.collect_schema().names():
        return []
    keys = data.lazy().select(pl.col(layout.time_dimension).unique()).collect()  # few keys: parse those, not every row
    years = keys.select(_period_year(layout.time_dimension).unique().drop_nulls())
    return sorted(years.to_series().to_list())


def validation_frame(
    data: pl.DataFrame,
    layout: TableLayout,
    *,
    valid_codes: Mapping[int, Collection[str]] | None = None,
    region_codes: Mapping[int, Collection[str]] | None = None,
) -> pl.DataFrame:
    """``data`` (a landed TypedDataSet, not modified) with the helper columns of the module docstring.

    ``valid_codes``: year -> municipality codes valid on 1 January (``'0363'`` or ``'GM0363'``);
    ``region_codes``: year -> labour-market region codes (``'AM01'``). Without ``valid_codes``
    no ``_gm_code_not_valid`` column is made; likewise for regions.
    """
    columns = set(data.columns)
    frame = data.with_row_index("_row")
    dims = [d for d in layout.dimensions if d in columns]
    if len(dims) == len(layout.dimensions):
        frame = frame.with_columns(_joined_keys(dims).alias(key_column(layout.dimensions)))
    frame = frame.with_columns(
        _stripped(d).alias(stripped_column(d)) for d in layout.totals if d in columns
    )
    frame = _code_checks(frame, layout, valid_codes, region_codes)
    frame = _total_categories(frame, layout)
    numeric = {c for c in columns if data.schema[c].is_numeric()}
    frame = frame.with_columns(
        _excess(whole, parts).alias(excess_column(whole, parts))
        for whole, parts in layout.partitions
        if {whole, *parts} <= numeric
    )
    frame = _change_ratios(frame, layout)
    return frame.sort("_row").drop("_row")


def piece_dimension(layout: TableLayout, columns: Collection[str]) -> str | None:
    """A dimension to split a large table along, so that its validation frame can be made piece by piece.

    Every helper that relates rows groups them by a set of dimensions: the key by all of them,
    the total categories by all but the totals dimension, the change ratios by all but the time
    dimension. A dimension that is neither the time dimension nor a totals dimension is in every
    such group, so rows that one helper relates never fall in different pieces. The area column
    is preferred; None when no dimension qualifies or one is missing from ``columns``.
    """
    if not set(layout.dimensions) <= set(columns):
        return None
    candidates = [d for d in layout.dimensions if d != layout.time_dimension and d not in layout.totals]
    if layout.area_column in candidates:
        return layout.area_column
    return candidates[0] if candidates else None


def piece_keys(data: pl.DataFrame | pl.LazyFrame, dimension: str, rows_per_piece: int) -> list[list[str | None]]:
    """The raw keys of ``dimension`` in each piece, for splitting ``data`` into pieces of rows.

    Rows whose keys strip to the same text share a piece; consecutive stripped keys (in sorted
    order, null last) are packed into a piece while it stays within ``rows_per_piece`` rows (a
    key with more rows gets a piece of its own). Only the distinct keys are stripped and packed,
    so this costs little memory however many rows ``data`` has.
    """
    if rows_per_piece < 1:
        raise ValueError(f"rows_per_piece must be at least 1, got {rows_per_piece}")
    # the streaming engine counts without materialising the hash partitions of every row
    raw = data.lazy().group_by(pl.col(dimension).alias("_raw")).len().collect(engine="streaming")
    raw = raw.with_columns(_stripped("_raw").alias("_key"))
    counts = raw.group_by("_key").agg(pl.col("len").sum(), pl.col("_raw").sort()).sort("_key", nulls_last=True)
    pieces: list[list[str | None]] = []
    size = 0
    for count, keys in counts.select("len", "_raw").iter_rows():
        if not pieces or (size and size + count > rows_per_piece):
            pieces.append([])
            size = 0
        pieces[-1].extend(keys)
        size += count
    return pieces


def validation_pieces(
    data: pl.DataFrame | pl.LazyFrame,
    layout: TableLayout,
    dimension: str,
    pieces: Sequence[Sequence[str | None]],
    *,
    valid_codes: Mapping[int, Collection[str]] | None = None,
    region_codes: Mapping[int, Collection[str]] | None = None,
) -> Iterator[pl.DataFrame]:
    """The validation frame of ``data`` piece by piece: ``validation_frame`` of the rows of each piece.

    ``data``: a frame, or a scan of a file (each piece is then read from it on its own, so that no
    more than one piece is held at a time). ``pieces``: :func:`piece_keys` of ``data`` along
    ``dimension``. Together the frames hold every
    row once, with the same helper values as ``validation_frame(data, ...)``; within a piece rows
    keep their order. ``valid_codes`` and ``region_codes`` are used as given for every piece (pass
    those for the years of the whole table, as ``expectations.cbs_tables.suite_and_frame`` does).
    """
    for keys in pieces:
        rows = pl.col(dimension).is_in([k for k in keys if k is not None])
        if None in keys:
            rows = rows | pl.col(dimension).is_null()
        yield validation_frame(data.lazy().filter(rows).collect(), layout, valid_codes=valid_codes, region_codes=region_codes)


def region_codes_by_year(membership: pl.DataFrame) -> dict[int, frozenset[str]]:
    """Year -> labour-market region codes, from a ``region_membership`` frame (key year, gm_code)."""
    return {
        int(year): frozenset(group["region_code"])
        for (year,), group in membership.group_by("year")
    }


def _joined_keys(dimensions: Iterable[str]) -> pl.Expr:
    keys = [_stripped(d) for d in dimensions]
    return pl.concat_str(keys, separator="|") if keys else pl.lit("")


def _stripped(column: str) -> pl.Expr:
    """Keys as text without CBS's padding (a key landed as a number still yields its text)."""
    return pl.col(column).cast(pl.String).str.strip_chars()


def _period_year(time_dimension: str) -> pl.Expr:
    return _stripped(time_dimension).str.slice(0, 4).cast(pl.Int32, strict=False)


def _geography_year(layout: TableLayout, columns: Collection[str]) -> pl.Expr:
    if layout.geography_year is not None:
        return pl.lit(layout.geography_year, pl.Int32)
    if layout.time_dimension is not None and layout.time_dimension in columns:
        return _period_year(layout.time_dimension)
    return pl.lit(None, pl.Int32)


def _code_checks(
    frame: pl.DataFrame,
    layout: TableLayout,
    valid_codes: Mapping[int, Collection[str]] | None,
    region_codes: Mapping[int, Collection[str]] | None,
) -> pl.DataFrame:
    area = layout.area_column
    if area is None or area not in frame.columns:
        return frame
    figures = [c for c in layout.figures if c in frame.columns]
    has_figure = pl.any_horizontal(pl.col(c).is_not_null() for c in figures) if figures else pl.lit(True)
    frame = frame.with_columns(
        _stripped(area).alias("_code"),
        _geography_year(layout, frame.columns).alias("_year"),
        has_figure.alias("_has_figure"),
    )
    checks = []
    if valid_codes is not None:
        pairs = [(int(y), "GM" + normalise_gm_code(c)) for y, codes in valid_codes.items() for c in codes]
        checks.append((gm_code_column(area), "GM", GM_CODE_PATTERN, pairs))
    if region_codes is not None:
        pairs = [(int(y), str(c).strip()) for y, codes in region_codes.items() for c in codes]
        checks.append((region_code_column(area), "AM", REGION_CODE_PATTERN, pairs))
    for name, prefix, pattern, pairs in checks:
        valid = pl.DataFrame(pairs, schema={"_year": pl.Int32, "_code": pl.String}, orient="row").unique()
        listed = sorted({year for year, _ in pairs})
        frame = frame.join(valid.with_columns(pl.lit(True).alias("_valid")), on=["_year", "_code"], how="left")
        is_ours = pl.col("_code").str.starts_with(prefix)
        malformed = is_ours & ~pl.col("_code").str.contains(pattern)
        unknown = is_ours & pl.col("_has_figure") & pl.col("_year").is_in(listed) & pl.col("_valid").is_null()
        frame = frame.with_columns(
            pl.when(malformed | unknown)
            .then(pl.concat_str(pl.col("_code"), pl.lit("/"), pl.col("_year").cast(pl.String).fill_null("?")))
            .alias(name)
        ).drop("_valid")
    return frame.drop("_code", "_year", "_has_figure")


def _total_categories(frame: pl.DataFrame, layout: TableLayout) -> pl.DataFrame:
    if not set(layout.dimensions) <= set(frame.columns):
        return frame
    for dimension, total in layout.totals.items():
        others = [d for d in layout.dimensions if d != dimension]
        series = [s for s in layout.series if s in frame.columns]
        if not series:
            continue
        frame = frame.with_columns(_joined_keys(others).alias("_others"))
        totals = (
            frame.filter(_stripped(dimension) == total)
            .select("_others", *(pl.col(s).alias(total_column(dimension, s)) for s in series))
            .unique("_others", keep="first")
        )
        frame = frame.join(totals, on="_others", how="left").drop("_others")
    return frame


def _excess(whole: str, parts: Sequence[str]) -> pl.Expr:
    complete = pl.all_horizontal(pl.col(c).is_not_null() for c in (whole, *parts))
    return pl.when(complete).then(pl.sum_horizontal(parts) - pl.col(whole))


def _change_ratios(frame: pl.DataFrame, layout: TableLayout) -> pl.DataFrame:
    time = layout.time_dimension
    series = [s for s in layout.series if s in frame.columns and frame.schema[s].is_numeric()]
    if time is None or not series or not set(layout.dimensions) <= set(frame.columns):
        return frame
    key = _stripped(time)
    kind = key.str.slice(4, 2)
    number = key.str.slice(6, 2).cast(pl.Int32, strict=False)
    year = key.str.slice(0, 4).cast(pl.Int32, strict=False)
    step = (
        pl.when(kind == "MM")
        .then(year * 12 + number - 1)
        .when(kind == "KW")
        .then(year * 4 + number - 1)
        .when(kind == "JJ")
        .then(year)
    )
    frame = frame.with_columns(
        _joined_keys([d for d in layout.dimensions if d != time]).alias("_group"),
        kind.alias("_kind"),
        pl.when(key.str.contains(PERIOD_KEY_PATTERN)).then(step).alias("_step"),
    )
    previous = (
        frame.filter(pl.col("_step").is_not_null())
        .select(
            "_group", "_kind", (pl.col("_step") + 1).alias("_step"), *(pl.col(s).alias(f"_prev:{s}") for s in series)
        )
        .unique(["_group", "_kind", "_step"], keep="first")
    )
    frame = frame.join(previous, on=["_group", "_kind", "_step"], how="left")
    ratios = []
    for s in series:
        current, before = pl.col(s).cast(pl.Float64), pl.col(f"_prev:{s}").cast(pl.Float64)
        usable = (before > 0) & current.is_not_null() & (pl.max_horizontal(current, before) >= layout.min_base)
        ratios.append(pl.when(usable).then(current / before).alias(change_ratio_column(s)))
    return frame.with_columns(ratios).drop("_group", "_kind", "_step", *(f"_prev:{s}" for s in series))
