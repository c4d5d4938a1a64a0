"""Expectations for every landed CBS source table family except the national benefits table.

Validated on the landed TypedDataSet (one row per CBS row; ``ID``, raw padded dimension keys,
typed topics) with the helper columns of ``transforms.validation_frames`` added; the flow calls
``suite_and_frame`` and validates the frame it returns with the suite it returns.

- ``ww_municipal``, ``wwb_municipal``, ``labour_force``: ``regional_suite``; one row per area
  (municipality GMxxxx, labour-market region AMxx, province, COROP, ...) per period (or per
  edition) per category of the other dimensions; counts in 'aantal' or 'x 1 000', rates in %.
- ``vacancies``: ``vacancies_suite``; one row per industry or size class per quarter (and
  year); vacancies in thousands.
- ``regions`` ('Gebieden in Nederland'): ``regions_suite``; one row per municipality valid on
  1 January of the edition's year with its codes in every regional classification.

Critical (stops the run before publishing): columns present, rows present, ID and dimension
keys present, text and unique, period keys parse, the totals the pipeline keeps exist, numbers
numeric and >= 0 (balancing items may be negative), percentages <= 100, a part not above its
whole, a breakdown category not above its total category, municipality and region codes valid
for the year of their figures. Warning (recorded and shown): parts that should add up to their
whole exceed it by more than rounding, and a change against the previous period outside
``CHANGE_BAND`` (CBS revises figures, and breakdowns need not add up to totals). See
``docs/validation.md``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

import great_expectations as gx
import polars as pl

from expectations.common import NUMERIC_DTYPES, columns_present, non_negative_numbers, row_count_at_least
from expectations.rules import RULES, FamilyRules
from expectations.runner import Check, Pieces, Suite
from sources.cbs import catalog
from transforms.regions import topic_group_columns
from transforms.validation_frames import (
    PERIOD_KEY_PATTERN,
    REVISION_PERIOD_KEY_PATTERN,
    TableLayout,
    change_ratio_column,
    excess_column,
    geography_years,
    gm_code_column,
    key_column,
    piece_dimension,
    piece_keys,
    region_code_column,
    stripped_column,
    total_column,
    validation_frame,
    validation_pieces,
)

TIME_DIMENSION = "Perioden"
"""CBS's name for the time dimension in every table of the catalog."""

GEO_DIMENSION = "RegioS"
"""CBS's name for the area dimension, used when the catalog declares no region dimension
(71761ned: national, provinces and the largest municipalities)."""

CHANGE_BAND = (0.5, 2.0)
"""A figure between half and twice the previous period's figure is plausible."""

MIN_BASE = 100.0
"""Change ratios only where the larger of the two figures is at least this many units of the
table (100 benefits; 100 thousand people or vacancies in 'x 1 000' tables): smaller figures
move by rounding and sampling noise alone."""

ROUNDING = {"aantal": 10.0, "x 1 000": 1.0}
"""The unit CBS rounds each published figure to, by table unit: counts of benefits and
recipients to tens, the labour-force counts in thousands to whole thousands."""

INTEGER_DTYPES = [t for t in NUMERIC_DTYPES if "int" in t.lower()]


def suite_and_frame(
    entry: catalog.SourceTable,
    data: pl.DataFrame | pl.LazyFrame,
    *,
    valid_codes: Mapping[int, Collection[str]],
    region_codes: Mapping[int, Collection[str]] | None,
    properties: Sequence[Mapping[str, Any]] | None = None,
    rows_per_piece: int | None = None,
) -> tuple[Suite, pl.DataFrame | Pieces]:
    """The suite for a landed table of ``entry`` and the frame to run it on.

    ``data``: the landed TypedDataSet, or a scan of it (``Landing.scan_data``) for a table too large
    to hold at once, whose pieces are then read from the file one at a time. ``valid_codes``: year
    -> municipality codes valid on 1 January (``transforms.regions.valid_codes_by_year``); years
    it lacks are not checked, so pass every year the reference covers. ``region_codes``: year ->
    labour-market region codes
    (``transforms.validation_frames.region_codes_by_year`` of the region membership), or None
    to skip the region check. ``properties``: the table's DataProperties records, which declare
    the dimensions that must be present; needed for the ``regions`` family (its code columns are
    found by topic group title). Without them the dimensions are read off ``data``.
    ``rows_per_piece``: a table with more rows than this is returned as
    :class:`~expectations.runner.Pieces`, split along a dimension
    (``transforms.validation_frames.piece_dimension``) into validation frames of about this many
    rows each, made one at a time while they are validated; None: always one frame.
    """
    layout = table_layout(entry, data.lazy().head(0).collect(), properties)  # the columns and their types
    years = set(geography_years(data, layout))
    codes = {year: valid_codes[year] for year in sorted(years) if year in valid_codes}
    regions = None if region_codes is None else {y: region_codes[y] for y in sorted(years) if y in region_codes}
    name = dataset_name(entry)
    if entry.family == catalog.REGIONS:
        region_column, _ = topic_group_columns(properties or (), "Arbeidsmarktregio's", table_id=entry.table_id)
        suite = regions_suite(name, layout, region_column=region_column, valid_codes=codes)
        return suite, _frame(data, layout, rows_per_piece, valid_codes=codes)
    if entry.family == catalog.VACANCIES:
        return vacancies_suite(name, layout), _frame(data, layout, rows_per_piece)
    if entry.family in (catalog.WW_MUNICIPAL, catalog.WWB_MUNICIPAL, catalog.LABOUR_FORCE):
        suite = regional_suite(name, layout, valid_codes=codes, region_codes=regions)
        return suite, _frame(data, layout, rows_per_piece, valid_codes=codes, region_codes=regions)
    raise ValueError(f"{entry.table_id}: no CBS table suite for family {entry.family!r} (see expectations/)")


def _frame(
    data: pl.DataFrame | pl.LazyFrame,
    layout: TableLayout,
    rows_per_piece: int | None,
    *,
    valid_codes: Mapping[int, Collection[str]] | None = None,
    region_codes: Mapping[int, Collection[str]] | None = None,
) -> pl.DataFrame | Pieces:
    """``validation_frame`` of ``data``, or for a table of more than ``rows_per_piece`` rows its pieces."""
    height = data.height if isinstance(data, pl.DataFrame) else data.select(pl.len()).collect().item()
    columns = data.collect_schema().names()
    dimension = None if rows_per_piece is None or height <= rows_per_piece else piece_dimension(layout, columns)
    if dimension is None:
        whole = data if isinstance(data, pl.DataFrame) else data.collect()
        return validation_frame(whole, layout, valid_codes=valid_codes, region_codes=region_codes)
    empty = validation_frame(data.lazy().head(0).collect(), layout, valid_codes=valid_codes, region_codes=region_codes)

    def frames() -> Iterator[pl.DataFrame]:  # made only when validated (not when a stored report is reused)
        pieces = piece_keys(data, dimension, rows_per_piece)
        return validation_pieces(data, layout, dimension, pieces, valid_codes=valid_codes, region_codes=region_codes)

    return Pieces(
        height=height,
        columns=tuple(empty.columns),
        frames=frames,
        # the key column is made of the stripped keys, the pieces of the stripped keys of `dimension`
        together=frozenset({dimension, key_column(layout.dimensions)}),
    )


def dataset_name(entry: catalog.SourceTable) -> str:
    """``cbs_<family>_<table id>``, the dataset name in reports."""
    return f"cbs_{entry.family}_{entry.table_id}"


def table_layout(
    entry: catalog.SourceTable, data: pl.DataFrame, properties: Sequence[Mapping[str, Any]] | None = None
) -> TableLayout:
    """The layout of a landed table: dimensions, topics and the rules of its family that apply.

    The dimensions are those ``properties`` (the table's DataProperties) declares, whether the
    data has them or not: a missing one fails the check that it is present. Without
    ``properties`` (outside the ``regions`` family) they are read off the data: landed topics are
    typed from DataProperties (Long/Double), so the text columns other than ``ID`` are exactly the
    dimension keys. A Gebieden table has text topics; its code columns come from ``properties``.
    """
    if entry.family == catalog.REGIONS:
        if not properties:
            raise ValueError(f"{entry.table_id}: the 'regions' suite needs the table's DataProperties")
        dimensions = _declared_dimensions(properties)
        municipality_column, _ = topic_group_columns(properties, "Gemeente", table_id=entry.table_id)
        figures = tuple(c for c in data.columns if c not in ("ID", *dimensions))
        return TableLayout(
            entry.table_id,
            dimensions,
            area_column=municipality_column,
            figures=figures,
            numbers=tuple(c for c in figures if data.schema[c] != pl.String),
            geography_year=entry.geography_year,
        )
    rules = RULES.get(entry.family, FamilyRules())
    if properties:  # the dimensions CBS declares, so that one missing from the data fails its column check
        dimensions = _declared_dimensions(properties)
    else:
        # a known dimension is one whatever its type, and a known topic is none even as text: a key
        # landed as a number or a topic landed as text is then reported by a type check
        named = {TIME_DIMENSION, GEO_DIMENSION, *entry.totals} | ({entry.region_dimension} - {None})
        topics = set(entry.series.values()) | rules.topics()
        dimensions = tuple(
            c for c in data.columns if c in named or (c != "ID" and c not in topics and data.schema[c] == pl.String)
        )
    figures = tuple(c for c in data.columns if c not in ("ID", *dimensions))
    present = set(figures)
    time = TIME_DIMENSION if TIME_DIMENSION in dimensions else None
    area = entry.region_dimension or (GEO_DIMENSION if GEO_DIMENSION in dimensions else None)
    geography_year = entry.geography_year
    if geography_year is None and time is None:
        geography_year = entry.first_year  # one year, as transforms.regional.regional_series reads it
    parsed = entry in catalog.regional_tables() or entry in catalog.national_tables()
    return TableLayout(
        entry.table_id,
        dimensions,
        time_dimension=time,
        area_column=area,
        figures=figures,
        numbers=figures,
        signed=tuple(c for c in rules.signed if c in present),
        series=tuple(entry.series.values()),
        totals=entry.totals,
        parts=tuple((p, w) for p, w in rules.parts if {p, w} <= present),
        partitions=tuple((w, ps) for w, ps in rules.partitions if {w, *ps} <= present),
        percentages=tuple(c for c in rules.percentages if c in present),
        geography_year=geography_year,
        # periods that transforms.periods never parses may carry CBS's revision year keys
        period_pattern=PERIOD_KEY_PATTERN if parsed else REVISION_PERIOD_KEY_PATTERN,
        rounding=ROUNDING.get(entry.unit, 0.0),
        min_base=MIN_BASE,
    )


def _declared_dimensions(properties: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The dimension keys of DataProperties (Type 'Dimension', 'TimeDimension', 'GeoDimension', ...)."""
    return tuple(p["Key"] for p in properties if str(p.get("Type", "")).endswith("Dimension"))


def regional_suite(
    dataset: str,
    layout: TableLayout,
    *,
    valid_codes: Mapping[int, Collection[str]],
    region_codes: Mapping[int, Collection[str]] | None = None,
) -> Suite:
    """Suite for a table with an area dimension (``ww_municipal``, ``wwb_municipal``, ``labour_force``).

    ``valid_codes``/``region_codes``: the code lists the frame was made with (only their
    digest goes into the suite, so that a changed reference changes the suite's fingerprint
    and a cached report is not reused).
    """
    checks = _table_checks(layout)
    if layout.area_column is not None:
        checks.append(_code_check(gm_code_column(layout.area_column), valid_codes, "a municipality"))
        if region_codes is not None:
            checks.append(_code_check(region_code_column(layout.area_column), region_codes, "a labour-market region"))
    return Suite(dataset, tuple(checks))


def vacancies_suite(dataset: str, layout: TableLayout) -> Suite:
    """Suite for the CBS vacancy table: national, by industry and size class, per quarter."""
    return Suite(dataset, tuple(_table_checks(layout)))


def regions_suite(
    dataset: str, layout: TableLayout, *, region_column: str, valid_codes: Mapping[int, Collection[str]]
) -> Suite:
    """Suite for a 'Gebieden in Nederland' edition.

    ``layout.area_column`` is the municipality code topic (``Code_1``, padded to 10), which
    ``transforms.regions.region_membership`` reads; ``region_column`` the labour-market region
    code topic. Whether the edition lists exactly the reference's municipalities is checked by
    ``transforms.regions.check_municipal_lists`` when the geography tables are built.
    """
    municipality = layout.area_column
    if municipality is None:
        raise ValueError(f"{layout.table_id}: a Gebieden layout needs its municipality code column")
    checks = _identity_checks(layout)
    checks += [
        *columns_present([municipality, region_column]),
        *_not_null_text(municipality, region_column),
        Check(
            gx.expectations.ExpectColumnValuesToMatchRegex(column=municipality, regex=r"^GM\d{4}\s*$"),
            "critical",
            f"{municipality} is a municipality code GMxxxx",
        ),
        Check(
            gx.expectations.ExpectColumnValuesToBeUnique(column=municipality),
            "critical",
            f"one row per municipality ({municipality})",
        ),
        Check(
            gx.expectations.ExpectColumnValuesToMatchRegex(column=region_column, regex=r"^AM\d{2}\s*$"),
            "critical",
            f"{region_column} is a labour-market region code AMxx",
        ),
        *non_negative_numbers(layout.numbers),
        _code_check(gm_code_column(municipality), valid_codes, "a municipality"),
    ]
    return Suite(dataset, tuple(checks))


def _identity_checks(layout: TableLayout) -> list[Check]:
    """Rows, ID, dimension keys present, text, not null and unique together."""
    return [
        *columns_present(["ID", *layout.dimensions]),
        row_count_at_least(1),
        Check(gx.expectations.ExpectColumnValuesToNotBeNull(column="ID"), "critical", "every row has an ID"),
        Check(
            gx.expectations.ExpectColumnValuesToBeInTypeList(column="ID", type_list=INTEGER_DTYPES),
            "critical",
            "ID is an integer",
        ),
        Check(gx.expectations.ExpectColumnValuesToBeUnique(column="ID"), "critical", "one row per ID"),
        *_not_null_text(*layout.dimensions),
        Check(
            gx.expectations.ExpectColumnValuesToBeUnique(column=key_column(layout.dimensions)),
            "critical",
            f"one row per ({', '.join(layout.dimensions)}), keys stripped",
        ),
    ]


def _table_checks(layout: TableLayout) -> list[Check]:
    checks = _identity_checks(layout)
    checks += columns_present(layout.series)
    time = layout.time_dimension
    if time is not None:
        checks.append(
            Check(
                gx.expectations.ExpectColumnValuesToMatchRegex(column=time, regex=layout.period_pattern),
                "critical",
                f"{time} keys are YYYYMMnn, YYYYKWnn or YYYYJJ00"
                + ("" if layout.period_pattern == PERIOD_KEY_PATTERN else " (or revision keys YYYYJJ01/02)"),
            )
        )
    for dimension, total in layout.totals.items():
        checks.append(
            Check(
                gx.expectations.ExpectColumnDistinctValuesToContainSet(
                    column=stripped_column(dimension), value_set=[total]
                ),
                "critical",
                f"{dimension} has the total category {total} the pipeline keeps",
            )
        )
    signed = set(layout.signed)
    checks += non_negative_numbers([c for c in layout.numbers if c not in signed])
    checks += [
        Check(
            gx.expectations.ExpectColumnValuesToBeInTypeList(column=c, type_list=list(NUMERIC_DTYPES)),
            "critical",
            f"{c} is numeric (a balancing item: may be negative)",
        )
        for c in layout.signed
    ]
    checks += [
        Check(
            gx.expectations.ExpectColumnValuesToBeBetween(column=c, max_value=100), "critical", f"{c} is at most 100 %"
        )
        for c in layout.percentages
    ]
    checks += [_at_most(part, whole, f"{part} is part of {whole}") for part, whole in layout.parts]
    checks += [
        _at_most(s, total_column(dimension, s), f"{s} of a {dimension} category is at most that of {total}")
        for dimension, total in layout.totals.items()
        for s in layout.series
    ]
    checks += [
        Check(
            gx.expectations.ExpectColumnValuesToBeBetween(
                column=excess_column(whole, parts), max_value=layout.rounding / 2 * (len(parts) + 1)
            ),
            "warning",
            f"{' + '.join(parts)} exceeds {whole} by no more than rounding to {layout.rounding:g}",
        )
        for whole, parts in layout.partitions
    ]
    if time is not None:
        low, high = CHANGE_BAND
        checks += [
            Check(
                gx.expectations.ExpectColumnValuesToBeBetween(
                    column=change_ratio_column(s), min_value=low, max_value=high
                ),
                "warning",
                f"{s} between {low:g} and {high:g} times the previous period's (figures >= {layout.min_base:g})",
            )
            for s in layout.series
        ]
    return checks


def _not_null_text(*columns: str) -> list[Check]:
    checks = []
    for column in columns:
        checks += [
            Check(
                gx.expectations.ExpectColumnValuesToNotBeNull(column=column), "critical", f"every row has a {column}"
            ),
            Check(
                gx.expectations.ExpectColumnValuesToBeInTypeList(column=column, type_list=["str"]),
                "critical",
                f"{column} is text",
            ),
        ]
    return checks


def _at_most(part: str, whole: str, description: str) -> Check:
    return Check(
        gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=whole, column_B=part, or_equal=True, ignore_row_if="either_value_is_missing"
        ),
        "critical",
        description,
    )


def _code_check(column: str, codes: Mapping[int, Collection[str]], what: str) -> Check:
    """Every code the helper column lists (``'GM9999/2023'``) is an error; the code lists the
    frame was checked against are named in ``meta`` by digest and years."""
    listing = {str(year): sorted(str(c).strip() for c in codes[year]) for year in sorted(codes)}
    digest = hashlib.sha256(json.dumps(listing, sort_keys=True).encode()).hexdigest()
    return Check(
        gx.expectations.ExpectColumnValuesToBeNull(
            column=column, meta={"code_lists_sha256": digest, "years": sorted(int(y) for y in codes)}
        ),
        "critical",
        f"every code with a figure is {what} on 1 January of its geography year (listed: code/year)",
    )
