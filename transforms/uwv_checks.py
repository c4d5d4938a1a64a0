"""Checks of a UWV file's rows against what CBS says: codes valid that year, names that fit the
codes, and figures no municipality or region can have (docs/uwv-files.md, 'Values').

Pure functions over the working frame of ``transforms.uwv.uwv_table`` (columns ``row``,
``year``, ``reference_date``, the parsed code and ``text_<column>`` for each column); what CBS
says arrives as plain mappings from the caller.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping

import polars as pl

from transforms.geography import normalise_gm_code_expr
from transforms.periods import years_text
from transforms.uwv_values import REGION_CODE

def _name_key(expr: pl.Expr) -> pl.Expr:
    return expr.str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()


def _python_name_key(name: str) -> str:
    return " ".join(name.lower().split())


def _validity(valid: pl.DataFrame) -> tuple[pl.DataFrame, list[int]]:
    """(code, first_year, last_year) per code, and the years with a list."""
    spans = valid.group_by("code").agg(
        first_year=pl.col("year").min(), last_year=pl.col("year").max()
    )
    return spans, sorted(set(valid["year"].to_list()))


def _validity_message(code: pl.Expr, noun: str, years: list[int], no_list: str) -> pl.Expr:
    """Why ``code`` is not valid in ``year`` (null when it is); needs year, is_valid, first/last_year.

    ``no_list``: the message for a year without a list of codes, with ``{}`` for the year.
    """
    year = pl.col("year")
    date = pl.col("reference_date").dt.to_string("%Y-%m-%d")
    span = years_text(years)
    return (
        pl.when(pl.col("is_valid") | code.is_null() | year.is_null())
        .then(None)
        .when(year.is_in(years).not_())
        .then(pl.format(no_list, year))
        .when(pl.col("first_year").is_null())
        .then(pl.format(f"unknown {noun} code {{}}: not a {noun} in any year {span}", code))
        .when(year > pl.col("last_year"))
        .then(pl.format(
            f"{noun} code {{}} no longer existed on {{}}: last valid on 1 January {{}} (merged or renamed since)",
            code, date, pl.col("last_year"),
        ))
        .when(year < pl.col("first_year"))
        .then(pl.format(
            f"{noun} code {{}} did not exist yet on {{}}: first valid on 1 January {{}}",
            code, date, pl.col("first_year"),
        ))
        .otherwise(pl.format(f"{noun} code {{}} was not valid on 1 January {{}}", code, year))
    )


def check_municipalities(work: pl.DataFrame, valid_municipalities: Mapping[int, Collection[str]]) -> pl.DataFrame:
    valid = _code_year_frame(
        (year, code) for year, codes in valid_municipalities.items() for code in codes
    ).with_columns(code=normalise_gm_code_expr("code"))
    spans, years = _validity(valid)
    checked = (
        work.join(valid.with_columns(is_valid=pl.lit(True)), left_on=["gm_code", "year"],
                  right_on=["code", "year"], how="left", maintain_order="left")
        .join(spans, left_on="gm_code", right_on="code", how="left", maintain_order="left")
        .with_columns(pl.col("is_valid").fill_null(False))
    )
    usable = pl.col("error_gm_code").is_null() & pl.col("date_usable")
    return checked.with_columns(
        error_code_validity=pl.when(usable).then(_validity_message(
            pl.col("gm_code"), "municipality", years,
            f"no list of valid municipality codes for {{}} (the lists cover {years_text(years)}); check the date",
        ))
    )


def _code_year_frame(pairs: Iterable[tuple[int, str]]) -> pl.DataFrame:
    years, codes = [], []
    for year, code in pairs:
        years.append(int(year))
        codes.append(str(code))
    return pl.DataFrame({"year": years, "code": codes}, schema={"year": pl.Int64, "code": pl.String}).unique()


def resolve_regions(work: pl.DataFrame, regions: Mapping[int, Mapping[str, str]]) -> pl.DataFrame:
    """Region codes from the code form or, failing that, from the region's name in that year."""
    table = pl.DataFrame(
        [
            (int(year), normalise_region_code(code), _python_name_key(str(name)))
            for year, names in regions.items()
            for code, name in names.items()
        ],
        schema={"year": pl.Int64, "code": pl.String, "name_key": pl.String},
        orient="row",
    )
    spans, years = _validity(table.select("year", "code"))
    names = table.select("year", "name_key", code_by_name="code").unique(["year", "name_key"])
    known_names = table.group_by("name_key").agg(name_years=pl.col("year").unique().sort())
    resolved = (
        work.with_columns(name_key=_name_key(pl.col("text_region_code")))
        .join(names, on=["year", "name_key"], how="left", maintain_order="left")
        .join(known_names, on="name_key", how="left", maintain_order="left")
        .with_columns(
            region_code=pl.coalesce("region_code_form", "code_by_name", pl.col("text_region_code"))
        )
        .join(table.select("year", "code", is_valid=pl.lit(True)).unique(),
              left_on=["region_code", "year"], right_on=["code", "year"], how="left", maintain_order="left")
        .join(spans, left_on="region_code", right_on="code", how="left", maintain_order="left")
        .with_columns(pl.col("is_valid").fill_null(False))
    )
    text = pl.col("text_region_code")
    by_name = pl.col("region_code_form").is_null()
    no_regions = (
        "no 'Gebieden in Nederland' edition for {} is landed, so the labour-market regions of that year are not "
        f"known (editions landed: {years_text(years)}); land it with `werkregio refresh --table regions` (the "
        "editions are listed in sources/cbs/catalog.py)"
    )
    name_message = (
        pl.when(pl.col("year").is_null() | pl.col("code_by_name").is_not_null())
        .then(None)
        .when(pl.col("year").is_in(years).not_())
        .then(pl.format(no_regions, pl.col("year")))
        .when(pl.col("name_years").is_not_null())
        .then(pl.format(
            "labour-market region {} is not a region in {} (it is one in {})",
            text, pl.col("year"), pl.col("name_years").cast(pl.List(pl.String)).list.join(", "),
        ))
        .otherwise(pl.format(
            "unknown labour-market region '{}': not a region code (AM01, AM1 or 1) or the name of a region",
            text,
        ))
    )
    usable = pl.col("error_region_code").is_null() & pl.col("date_usable")
    return resolved.with_columns(
        error_code_validity=pl.when(usable).then(
            pl.when(by_name).then(name_message).otherwise(
                _validity_message(pl.col("region_code"), "labour-market region", years, no_regions)
            )
        )
    )


def normalise_region_code(code: str | int) -> str:
    """'AM01' for 'AM01', 'am1', 'AM 1', '01', '1' or 1; ValueError for anything else."""
    match = re.match(REGION_CODE, str(code).strip().upper())
    if match is None:
        raise ValueError(f"not a labour-market region code in the list of regions: {code!r} (expected e.g. 'AM01')")
    return f"AM{int(match.group(1)):02d}"



def place_key(expr: pl.Expr) -> pl.Expr:
    """A name as it is compared with CBS's: no accents, case, spaces or punctuation ('s-Gravenhage: sgravenhage).

    A name with a part in brackets (``Bergen (NH.)``) keeps it; :func:`check_names` compares a
    name without brackets with CBS's names without theirs, so ``Bergen`` fits Bergen (NH.).
    """
    return expr.str.normalize("NFKD").str.replace_all(r"\p{M}", "").str.to_lowercase().str.replace_all(r"[^0-9a-z]", "")


def _bare(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace(r"\s*\([^)]*\)\s*$", "")


def check_names(
    work: pl.DataFrame,
    *,
    code: str,
    name_column: str,
    names: Mapping[int, Mapping[str, Collection[str]]],
    noun: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(problems, warnings) for names that do not fit their row's code (columns row, code, name, message).

    ``names``: year -> code -> the names CBS gives that code that year. Only rows whose code is
    valid that year are looked at (``is_valid``). A name that is CBS's name of *another* code that
    year (GM0363 named 'Rotterdam') is a problem: the code or the name is wrong, and the figures
    would be published under the wrong place. A name that is no code's name that year ('Den Haag'
    for CBS's 's-Gravenhage) is a warning: spellings differ more than codes do.
    """
    table = pl.DataFrame(
        [(int(year), str(c), str(n)) for year, by_code in names.items() for c, all_names in by_code.items() for n in all_names],
        schema={"year": pl.Int64, "known": pl.String, "known_name": pl.String},
        orient="row",
    )
    keys = pl.concat([
        table.with_columns(key=place_key(pl.col("known_name"))),
        table.with_columns(key=place_key(_bare(pl.col("known_name")))),
    ]).unique(["year", "known", "key"])
    text = pl.col(f"text_{name_column}")
    rows = work.filter(pl.col("is_valid") & (text != "") & pl.col(code).is_not_null()).select(
        "row", "year", pl.col(code).alias("code"), text.alias("name"),
        key=pl.when(text.str.contains(r"\)\s*$")).then(place_key(text)).otherwise(place_key(_bare(text))),
    )
    if rows.is_empty() or table.is_empty():
        empty = pl.DataFrame(schema={"row": pl.Int64, "code": pl.String, "name": pl.String, "message": pl.String})
        return empty, empty
    official = table.group_by("year", "known").agg(official=pl.col("known_name").sort().str.join("' or '"))
    checked = (
        rows.join(keys.select("year", "known", own=pl.lit(True)).join(keys.select("year", "known", "key"), on=["year", "known"]).unique(),
                  left_on=["year", "code", "key"], right_on=["year", "known", "key"], how="left")
        .join(keys.select("year", "key", other="known").unique(), on=["year", "key"], how="left")
        .group_by("row", "year", "code", "name", maintain_order=True)
        .agg(own=pl.col("own").any(), others=pl.col("other").filter(pl.col("other") != pl.col("code")).unique().sort())
        .join(official, left_on=["year", "code"], right_on=["year", "known"], how="left")
        .filter(pl.col("own").not_() & pl.col("official").is_not_null())
    )
    other_names = checked.filter(pl.col("others").list.len() > 0)
    problems = other_names.select(
        "row", "code", "name",
        message=pl.format(
            f"'{{}}' is the name of {noun} {{}} in {{}} according to CBS, not of {{}} ('{{}}'): the code or the name in "
            "this row is wrong, and its figures would be published for the wrong place",
            pl.col("name"), pl.col("others").list.join(", "), pl.col("year"), pl.col("code"), pl.col("official"),
        ),
    )
    warnings = checked.filter(pl.col("others").list.len() == 0).select(
        "row", "code", "name",
        message=pl.format(
            f"'{{}}' is not CBS's name of {noun} {{}} in {{}} ('{{}}'), nor of any other {noun} that year: check that "
            "the row is about that place (a different spelling is fine)",
            pl.col("name"), pl.col("code"), pl.col("year"), pl.col("official"),
        ),
    )
    return problems, warnings


def municipality_names(municipalities: pl.DataFrame, membership: pl.DataFrame, years: Iterable[int]) -> dict[int, dict[str, set[str]]]:
    """Year -> code -> the names CBS gives the municipality that year, for :func:`check_names`.

    From the reference list (``MUNICIPALITIES_SCHEMA``: a name per run of years; an open end runs
    to the last of ``years``) and the landed 'Gebieden in Nederland' editions (``membership``:
    year, gm_code, gm_name); both spellings count.
    """
    last = max(years)
    names: dict[int, dict[str, set[str]]] = {}
    for code, name, first, until in municipalities.select("gm_code", "name", "valid_from_year", "valid_to_year").iter_rows():
        for year in range(int(first), int(until if until is not None else last) + 1):
            names.setdefault(year, {}).setdefault(str(code), set()).add(str(name))
    for year, code, name in membership.select("year", "gm_code", "gm_name").iter_rows():
        if name:
            names.setdefault(int(year), {}).setdefault(str(code), set()).add(str(name))
    return names


NationalBounds = Mapping[str, Mapping[int, tuple[int, str]]]
"""measure -> year -> (the national total of that measure's series that year, where it comes from)."""

NATIONAL_SERIES = {"wwb_recipients": "wwb", "open_vacancies": "open_vacancies"}
"""The national series (``national_series.series``) that bounds each UWV count: no municipality or
region can have more than the whole country."""

UNIT_FACTORS = {"aantal": 1, "x 1 000": 1_000, "x 1000": 1_000}


def national_bounds(national: pl.DataFrame) -> dict[str, dict[int, tuple[int, str]]]:
    """The bounds of :data:`NATIONAL_SERIES` from the ``national_series`` fact table.

    Per year, the largest figure of the series in that year (months, quarters or the annual
    figure), in persons or vacancies (``x 1 000`` multiplied out); a unit not in
    :data:`UNIT_FACTORS` gives no bound.
    """
    bounds: dict[str, dict[int, tuple[int, str]]] = {}
    for measure, series in NATIONAL_SERIES.items():
        rows = national.filter((pl.col("series") == series) & pl.col("value").is_not_null() & pl.col("unit").is_in(list(UNIT_FACTORS)))
        if rows.is_empty():
            continue
        yearly = (
            rows.with_columns(year=pl.col("period_start").dt.year(), total=pl.col("value") * pl.col("unit").replace_strict(UNIT_FACTORS, return_dtype=pl.Float64))
            .sort("total", descending=True)
            .group_by("year", maintain_order=True)
            .first()
        )
        bounds[measure] = {
            int(year): (int(round(total)), f"CBS {table} '{series}', {key} {int(round(total)):,}")
            for year, total, table, key in yearly.select("year", "total", "source_table", "period_key").iter_rows()
        }
    return bounds


def check_magnitudes(
    work: pl.DataFrame, measure: str, header: str, bounds: Mapping[int, tuple[int, str]], noun: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(problems, warnings) for counts of ``measure`` above the national total (PROBLEM_SCHEMA columns).

    A row above the national total of its year is a problem; so is one above the largest national
    total of any year, for a year without one (the current month, before CBS publishes it). The
    rows of one reference date that together exceed it are a warning: the file may count a little
    differently from CBS, but more than the country in all points to a wrong unit or column.
    """
    if not bounds:
        empty = pl.DataFrame(schema={"row": pl.Int64, "column": pl.String, "value": pl.String, "message": pl.String})
        return empty, empty
    largest_year = max(bounds, key=lambda year: bounds[year][0])
    frame = pl.DataFrame(
        [(year, total, source) for year, (total, source) in bounds.items()],
        schema={"year": pl.Int64, "bound": pl.Int64, "bound_source": pl.String},
        orient="row",
    )
    fallback = bounds[largest_year]
    joined = work.join(frame, on="year", how="left", maintain_order="left").with_columns(
        fallback=pl.col("bound").is_null(),
        bound=pl.col("bound").fill_null(fallback[0]),
        bound_source=pl.col("bound_source").fill_null(f"{fallback[1]}, the largest of any year"),
    )
    problems = joined.filter((pl.col(measure) > pl.col("bound")).fill_null(False)).select(
        "row", column=pl.lit(header), value=pl.col(f"text_{measure}"),
        message=pl.format(
            f"{{}} is more than the whole country had ({{}}): no {noun} can have that many; check the unit and the column",
            pl.col(measure), pl.col("bound_source"),
        ),
    )
    totals = (
        joined.filter(pl.col("reference_date").is_not_null())
        .group_by("reference_date", maintain_order=True)
        .agg(pl.col(measure).sum().alias("sum"), pl.len().alias("rows"), pl.col("bound").first(), pl.col("bound_source").first())
        .filter(pl.col("sum") > pl.col("bound"))
    )
    warnings = totals.select(
        row=pl.lit(None, pl.Int64), column=pl.lit(header), value=pl.col("sum").cast(pl.String),
        message=pl.format(
            "the {} rows dated {} add up to {}, more than the whole country ({}): check the unit and the column",
            pl.col("rows"), pl.col("reference_date").dt.to_string("%Y-%m-%d"), pl.col("sum"), pl.col("bound_source"),
        ),
    )
    return problems, warnings
