"""Municipalities per year, labour-market region membership per year, and region totals.

A labour-market region (arbeidsmarktregio, ``AMxx``) is the set of municipalities CBS assigns
to it in a given year ('Gebieden in Nederland'). Codes such as AM36, AM37, AM38 and AM99
appear over time and municipalities move between regions, so membership is always per year.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from transforms.geography import (
    CHANGE_TABLE_PATH,
    UnmappedMunicipalityError,
    check_municipal_changes,
    municipality_crosswalk,
    normalise_gm_code_expr,
)

MUNICIPALITIES_FILE = "sources/reference/municipalities.csv"

#: 'Niet in te delen' (2019-2020): municipalities CBS had not yet assigned to a labour-market region.
#: Not one of the regions: it is kept as published, but left out of comparisons across regions.
UNASSIGNED_REGION = "AM99"

MUNICIPALITIES_SCHEMA = {
    "gm_code": pl.String,
    "name": pl.String,
    "valid_from_year": pl.Int32,
    "valid_to_year": pl.Int32,
    "source": pl.String,
}

MEMBERSHIP_SCHEMA = {
    "year": pl.Int32,
    "gm_code": pl.String,
    "gm_name": pl.String,
    "region_code": pl.String,
    "region_name": pl.String,
    "source_table": pl.String,
}

VIEWS = ("harmonised", "as_published")


class MunicipalListMismatch(ValueError):
    """CBS's list of municipalities for a year differs from the project's reference."""


class GebiedenLayoutError(ValueError):
    """A 'Gebieden in Nederland' table does not have the expected topic groups."""


def municipalities_in_year(municipalities: pl.DataFrame, year: int) -> pl.DataFrame:
    """The municipalities valid on 1 January ``year``: columns gm_code, name; one row per code.

    ``municipalities`` holds validity periods (``MUNICIPALITIES_SCHEMA``; ``valid_to_year`` null
    = still valid). Years before the first year the reference covers raise ValueError.
    """
    first = municipalities["valid_from_year"].min()
    if first is None or year < first:
        raise ValueError(f"the municipality reference ({MUNICIPALITIES_FILE}) starts in {first}; no list for {year}")
    return (
        municipalities.filter(
            (pl.col("valid_from_year") <= year) & (pl.col("valid_to_year").is_null() | (pl.col("valid_to_year") >= year))
        )
        .select("gm_code", "name")
        .sort("gm_code")
    )


def valid_codes_by_year(municipalities: pl.DataFrame, years: Iterable[int]) -> dict[int, frozenset[str]]:
    """Year -> codes valid on 1 January, for ``municipality_crosswalk(valid_codes=...)``."""
    return {year: frozenset(municipalities_in_year(municipalities, year)["gm_code"]) for year in years}


def topic_group_columns(properties: Sequence[Mapping[str, Any]], group_title: str, *, table_id: str) -> tuple[str, str]:
    """The (code, name) topic keys under the topic group titled ``group_title``.

    'Gebieden in Nederland' tables hold one Code/Naam pair per classification, each under a
    TopicGroup ('Gemeente', "Arbeidsmarktregio's", ...); the column numbers shift between
    editions, so they are looked up by group title rather than hard-coded.
    """
    groups = [p for p in properties if p.get("Type") == "TopicGroup" and str(p.get("Title", "")).strip() == group_title]
    if len(groups) != 1:
        raise GebiedenLayoutError(
            f"{table_id}: expected one topic group titled {group_title!r}, found {[g.get('Title') for g in groups]}"
        )
    members = [p["Key"] for p in properties if p.get("Type") == "Topic" and p.get("ParentID") == groups[0]["ID"]]
    codes = [k for k in members if k.startswith("Code")]
    names = [k for k in members if k.startswith("Naam")]
    if len(codes) != 1 or len(names) != 1:
        raise GebiedenLayoutError(f"{table_id}: topic group {group_title!r} has no single Code/Naam pair: {members}")
    return codes[0], names[0]


def region_membership(
    gebieden: pl.DataFrame,
    *,
    year: int,
    table_id: str,
    municipality_columns: tuple[str, str],
    region_columns: tuple[str, str],
) -> pl.DataFrame:
    """One row per municipality valid on 1 January ``year`` with the labour-market region CBS assigns it.

    Key (year, gm_code). ``gebieden`` is the landed TypedDataSet of a 'Gebieden in Nederland'
    edition (one row per municipality, codes padded as CBS sends them). A municipality without
    a region code raises ValueError listing it.
    """
    gm_code_col, gm_name_col = municipality_columns
    region_code_col, region_name_col = region_columns
    frame = gebieden.select(
        pl.lit(year, pl.Int32).alias("year"),
        normalise_gm_code_expr(pl.col(gm_code_col).str.strip_chars()).alias("gm_code"),
        pl.col(gm_name_col).str.strip_chars().alias("gm_name"),
        pl.col(region_code_col).str.strip_chars().alias("region_code"),
        pl.col(region_name_col).str.strip_chars().alias("region_name"),
        pl.lit(table_id).alias("source_table"),
    )
    missing = frame.filter(pl.col("region_code").is_null() | ~pl.col("region_code").str.starts_with("AM"))
    if missing.height:
        listed = ", ".join(f"{r['gm_code']} {r['gm_name']} ({r['region_code']!r})" for r in missing.head(10).to_dicts())
        raise ValueError(f"{table_id}: {missing.height} municipalities without a labour-market region code in {year}: {listed}")
    duplicated = frame.filter(pl.col("gm_code").is_duplicated())["gm_code"].unique().sort().to_list()
    if duplicated:
        raise ValueError(f"{table_id}: municipalities listed more than once in {year}: {duplicated}")
    return frame.cast(MEMBERSHIP_SCHEMA).sort("gm_code")


def check_municipal_lists(municipalities: pl.DataFrame, membership: pl.DataFrame) -> None:
    """Every year in ``membership`` (CBS's lists) must list exactly the reference's municipalities.

    Raises MunicipalListMismatch naming, per year that differs, the codes only CBS lists and the
    codes only the reference lists, and the files to edit.
    """
    problems = []
    for year in sorted(membership["year"].unique().to_list()):
        cbs = set(membership.filter(pl.col("year") == year)["gm_code"])
        reference = set(municipalities_in_year(municipalities, year)["gm_code"])
        if cbs != reference:
            problems.append(
                f"{year}: only in CBS's list {sorted(cbs - reference)}, only in the reference {sorted(reference - cbs)}"
            )
    if problems:
        raise MunicipalListMismatch(
            "CBS's municipality lists disagree with the project reference; check "
            f"{MUNICIPALITIES_FILE} and {CHANGE_TABLE_PATH}:\n  " + "\n  ".join(problems)
        )


def region_totals(
    series: pl.DataFrame,
    membership: pl.DataFrame,
    *,
    view: str,
    geography_year: int,
    code_col: str = "gm_code",
    value_col: str = "value",
    by: Sequence[str] = (),
) -> pl.DataFrame:
    """Sum a municipal count series to labour-market regions using the composition of ``geography_year``.

    ``series``: one row per municipality (per ``by`` keys) on the boundaries of ``geography_year``
    (harmonised there, or published there). Output: one row per region per ``by`` keys with
    ``value`` (sum of the municipalities that have a figure; null when none has), ``municipalities`` (in the region
    that year), ``reporting`` (with a non-null figure), ``complete`` (every municipality
    reported: only then is ``value`` the region total), ``approximate`` (an approximate share
    contributed to a figure that was summed, when the series carries that flag), ``view`` and ``geography_year``.
    Every region of that year appears, also when no municipality reported. A code that is not a
    municipality of ``geography_year`` raises UnmappedMunicipalityError.
    """
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, not {view!r}")
    members = membership.filter(pl.col("year") == geography_year).select("gm_code", "region_code", "region_name")
    if members.height == 0:
        raise ValueError(f"no region membership for {geography_year}: land its 'Gebieden in Nederland' table")
    unknown = sorted(set(series[code_col].unique().drop_nulls()) - set(members["gm_code"]))
    if unknown:
        raise UnmappedMunicipalityError(
            unknown, f"are not municipalities of {geography_year} (harmonise the series to {geography_year} first)"
        )
    approximate = (
        pl.col("approximate").filter(pl.col(value_col).is_not_null()).any() if "approximate" in series.columns else pl.lit(False)
    )
    keys = list(by)
    grid = members.join(series.select(keys).unique(), how="cross") if keys else members
    joined = grid.join(series.rename({code_col: "gm_code"}), on=["gm_code", *keys], how="left")
    return (
        joined.group_by("region_code", "region_name", *keys)
        .agg(
            pl.col(value_col).sum().cast(pl.Float64).alias("value"),
            pl.len().cast(pl.Int32).alias("municipalities"),
            pl.col(value_col).is_not_null().sum().cast(pl.Int32).alias("reporting"),
            approximate.fill_null(False).alias("approximate"),
        )
        .with_columns(
            pl.when(pl.col("reporting") > 0).then(pl.col("value")).alias("value"),
            (pl.col("reporting") == pl.col("municipalities")).alias("complete"),
            pl.lit(view).alias("view"),
            pl.lit(geography_year, pl.Int32).alias("geography_year"),
        )
        .sort("region_code", *keys)
    )


def region_memberships(editions: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Region membership for every landed 'Gebieden in Nederland' edition. Key (year, gm_code).

    Each edition is a mapping with ``year``, ``table_id``, ``data`` (landed TypedDataSet) and
    ``properties`` (its DataProperties records).
    """
    frames = [
        region_membership(
            edition["data"],
            year=edition["year"],
            table_id=edition["table_id"],
            municipality_columns=topic_group_columns(edition["properties"], "Gemeente", table_id=edition["table_id"]),
            region_columns=topic_group_columns(edition["properties"], "Arbeidsmarktregio's", table_id=edition["table_id"]),
        )
        for edition in editions
    ]
    return pl.concat(frames).sort("year", "gm_code") if frames else pl.DataFrame(schema=MEMBERSHIP_SCHEMA)


def geography_tables(
    changes: pl.DataFrame, municipalities: pl.DataFrame, membership: pl.DataFrame
) -> dict[str, pl.DataFrame]:
    """Check the three geography sources against each other and return them as warehouse frames.

    The change table must be sound on its own (``check_municipal_changes``), must turn each
    year's reference list into the next year's (a crosswalk over the whole reference period with
    the reference lists as valid codes), and CBS's list for every landed year must equal the
    reference list. Any disagreement raises with the codes, the year and the file to edit.
    """
    check_municipal_changes(changes)
    first = int(municipalities["valid_from_year"].min())
    last = max(
        int(municipalities["valid_from_year"].max()),
        int(municipalities["valid_to_year"].max() or first) + 1,
        int(changes["boundary_year"].max()),
    )
    municipality_crosswalk(changes, first, last, valid_codes=valid_codes_by_year(municipalities, range(first, last + 1)))
    check_municipal_lists(municipalities, membership)
    return {
        "municipalities": municipalities.cast(MUNICIPALITIES_SCHEMA).sort("gm_code", "valid_from_year"),
        "municipal_changes": changes.sort("boundary_year", "old_code", "new_code"),
        "region_membership": membership.cast(MEMBERSHIP_SCHEMA),
    }
