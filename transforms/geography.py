"""Municipal boundaries over time: the change table, crosswalks between boundary years, harmonisation.

CBS publishes every municipal figure at the boundaries in force at that moment, and municipalities
merge almost every 1 January. A multi-year series is only comparable on one set of boundaries, so
counts published at the boundaries of ``from_year`` are converted to those of ``to_year`` through a
crosswalk built from the project's change table (``sources/reference/municipal_changes.csv``).

Conventions used throughout:

- Municipality codes are 4-digit text with leading zeros (``'0363'``). The transforms accept only
  that form; CBS keys such as ``'GM0363'`` or ``'GM0363    '`` go through ``normalise_gm_code`` /
  ``normalise_gm_code_expr`` first.
- The boundaries of year Y are the municipalities valid on 1 January Y (the CBS convention). A change
  dated D belongs to boundary year D.year when D is 1 January, else D.year + 1 (``boundary_year``).
- Crosswalks only run forward in time (``from_year <= to_year``): going backwards would split merged
  municipalities again, which needs weights we do not have.

Everything here is pure: frames and plain values in, frames out. The change table is read by the
flows and passed in; this module only names the file in its error messages.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache

import polars as pl

CHANGE_TABLE_PATH = "sources/reference/municipal_changes.csv"

MUNICIPAL_CHANGES_SCHEMA: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "boundary_year": pl.Int64(),
    "old_code": pl.String(),
    "old_name": pl.String(),
    "new_code": pl.String(),
    "new_name": pl.String(),
    "kind": pl.String(),
    "share": pl.Float64(),
    "share_basis": pl.String(),
    "share_status": pl.String(),
    "source": pl.String(),
}
"""Column types of the change table; pass as ``schema=`` when reading the CSV so codes stay text."""

CHANGE_KINDS = ("merger", "split", "partial_transfer", "rename")
SHARE_STATUSES = ("exact", "approximate")

CROSSWALK_SCHEMA: dict[str, pl.DataType] = {
    "from_code": pl.String(),
    "to_code": pl.String(),
    "share": pl.Float64(),
    "approximate": pl.Boolean(),
}

_REQUIRED_CHANGE_COLUMNS = ("boundary_year", "old_code", "new_code", "kind", "share", "share_status")
_CODE_PATTERN = r"^\d{4}$"
_GM_CODE = re.compile(r"^(?:GM)?(\d{1,4})$", re.IGNORECASE)
_SHARE_TOLERANCE = 1e-6


class UnmappedMunicipalityError(ValueError):
    """Municipality codes that the change table cannot account for.

    Raised when a series holds codes that are not municipalities of its ``from_year`` boundaries
    (not in the crosswalk), or when the change table disagrees with a list of valid codes. ``codes``
    holds the offending codes, sorted; the message lists them and names the file to edit.
    """

    def __init__(self, codes: Iterable[str | None], problem: str) -> None:
        self.codes: list[str] = sorted({"<null>" if code is None else str(code) for code in codes})
        hint = ""
        if any(code.upper().startswith("GM") or len(code) != 4 for code in self.codes):
            hint = (" Codes must be 4-digit text such as '0363'; convert CBS keys like 'GM0363' with"
                    " normalise_gm_code / normalise_gm_code_expr first.")
        super().__init__(
            f"{len(self.codes)} municipality code(s) {problem}: {', '.join(self.codes)}. "
            f"If a change of municipalities is missing, add it to {CHANGE_TABLE_PATH} "
            f"(one row per old -> new code, with its source); otherwise check that the series is at "
            f"the boundaries you passed as from_year.{hint}"
        )


def normalise_gm_code(code: str | int) -> str:
    """Return the 4-digit municipality code for 'GM0363', 'gm0363', '0363', '363', 'GM0363    ' or 363.

    Raises ValueError for anything else (region codes such as 'AM22', 'PV27', empty strings).
    """
    if isinstance(code, str) and len(code) == 4 and code.isdecimal():
        return code  # already the 4-digit form (the usual case): no need for the pattern
    if isinstance(code, int) and not isinstance(code, bool):
        code = str(code)
    match = _GM_CODE.match(code.strip()) if isinstance(code, str) else None
    if match is None:
        raise ValueError(f"not a municipality code: {code!r} (expected e.g. 'GM0363', '0363' or '363')")
    return match.group(1).zfill(4)


def normalise_gm_code_expr(column: str | pl.Expr) -> pl.Expr:
    """Expression form of ``normalise_gm_code`` for a whole column.

    Values that are not municipality codes are left as they are (as text), so that a later
    ``harmonise_counts`` reports them by their original spelling instead of losing them to null.
    """
    raw = (pl.col(column) if isinstance(column, str) else column).cast(pl.String)
    digits = raw.str.strip_chars().str.to_uppercase().str.strip_prefix("GM")
    return pl.when(digits.str.contains(r"^\d{1,4}$")).then(digits.str.zfill(4)).otherwise(raw)


def boundary_year(date: dt.date) -> int:
    """First year whose 1-January boundaries include a change dated ``date``.

    A change on 1 January Y is in the boundaries of Y; any later date in Y first shows in Y + 1
    (Rozenburg into Rotterdam on 2010-03-18 -> 2011; Weesp into Amsterdam on 2022-03-24 -> 2023).
    """
    return date.year if (date.month, date.day) == (1, 1) else date.year + 1


def _boundary_year_expr(column: str) -> pl.Expr:
    date = pl.col(column)
    is_new_year = (date.dt.month() == 1) & (date.dt.day() == 1)
    return pl.when(is_new_year).then(date.dt.year()).otherwise(date.dt.year() + 1).cast(pl.Int64)


def check_municipal_changes(changes: pl.DataFrame) -> None:
    """Raise ValueError listing every inconsistency in a change table; return None when it is sound.

    ``changes`` has one row per (boundary_year, old_code, new_code); see MUNICIPAL_CHANGES_SCHEMA.
    Checked: required columns; 4-digit codes; known ``kind`` and ``share_status``; shares in [0, 1];
    merger and rename shares of 1; no duplicate rows; the shares of each old code in a boundary year
    sum to 1; a partial transfer whose donor continues has a donor -> donor remainder row; and, when
    a ``date`` column is present, ``boundary_year`` follows the 1-January rule.
    """
    missing = [column for column in _REQUIRED_CHANGE_COLUMNS if column not in changes.columns]
    if missing:
        raise ValueError(f"change table lacks column(s) {missing}; see {CHANGE_TABLE_PATH}")

    problems: list[str] = []

    def report(description: str, offending: pl.DataFrame, columns: Sequence[str]) -> None:
        if offending.height:
            examples = offending.select(columns).unique(maintain_order=True).head(10).rows()
            problems.append(f"{description}: {examples}")

    report("codes that are not 4-digit text",
           changes.filter(~pl.col("old_code").str.contains(_CODE_PATTERN)
                          | ~pl.col("new_code").str.contains(_CODE_PATTERN)
                          | pl.col("old_code").is_null() | pl.col("new_code").is_null()),
           ["old_code", "new_code"])
    report(f"kind not one of {CHANGE_KINDS}",
           changes.filter(~pl.col("kind").is_in(CHANGE_KINDS) | pl.col("kind").is_null()),
           ["old_code", "kind"])
    report(f"share_status not one of {SHARE_STATUSES}",
           changes.filter(~pl.col("share_status").is_in(SHARE_STATUSES) | pl.col("share_status").is_null()),
           ["old_code", "share_status"])
    report("share missing or outside [0, 1]",
           changes.filter(pl.col("share").is_null() | (pl.col("share") < 0) | (pl.col("share") > 1)),
           ["old_code", "new_code", "share"])
    report("merger or rename with a share other than 1",
           changes.filter(pl.col("kind").is_in(["merger", "rename"]) & (pl.col("share") != 1.0)),
           ["old_code", "new_code", "share"])
    report("duplicate (boundary_year, old_code, new_code)",
           changes.filter(pl.struct("boundary_year", "old_code", "new_code").is_duplicated()),
           ["boundary_year", "old_code", "new_code"])

    per_old_code = changes.group_by("boundary_year", "old_code").agg(
        total=pl.col("share").sum(),
        continues=(pl.col("kind") == "partial_transfer").all(),
        keeps_remainder=(pl.col("new_code") == pl.col("old_code")).any(),
    )
    report("shares of an old code that do not sum to 1",
           per_old_code.filter((pl.col("total") - 1.0).abs() > _SHARE_TOLERANCE),
           ["boundary_year", "old_code", "total"])
    report("partial transfer without a donor -> donor remainder row",
           per_old_code.filter(pl.col("continues") & ~pl.col("keeps_remainder")),
           ["boundary_year", "old_code"])

    if "date" in changes.columns:
        report("boundary_year does not follow the 1-January rule (a change on 1 January Y is in Y, "
               "any other date in Y in Y + 1)",
               changes.filter(pl.col("boundary_year") != _boundary_year_expr("date")),
               ["date", "old_code", "boundary_year"])

    if problems:
        raise ValueError(f"change table is inconsistent; fix {CHANGE_TABLE_PATH}:\n- " + "\n- ".join(problems))


def _valid_codes_by_year(
    valid_codes: Mapping[int, Iterable[str]] | pl.DataFrame, years: range
) -> dict[int, frozenset[str]]:
    """Year -> normalised codes, for the ``years`` a crosswalk starts from or checks (others are skipped)."""
    if isinstance(valid_codes, pl.DataFrame):
        frame = _valid_frame(valid_codes).filter(pl.col("year").is_between(years.start, years.stop - 1))
        return {
            int(year): frozenset(codes)
            for year, codes in frame.group_by("year").agg(pl.col("code")).iter_rows()
        }
    return {
        int(year): frozenset(normalise_gm_code(code) for code in codes)
        for year, codes in valid_codes.items()
        if int(year) in years
    }


def _valid_frame(valid: pl.DataFrame) -> pl.DataFrame:
    """(year, code[, name]) from a list of valid municipalities with CBS or project column names."""
    code_column = next((c for c in ("code", "gm_code", "gemeentecode") if c in valid.columns), None)
    if "year" not in valid.columns or code_column is None:
        raise ValueError("valid municipalities need a 'year' column and one of 'code', 'gm_code', "
                         f"'gemeentecode'; got {valid.columns}")
    name_column = next((c for c in ("name", "gm_name", "gemeentenaam", "gemeentenaam_nlextract")
                        if c in valid.columns), None)
    columns = [pl.col("year").cast(pl.Int64), normalise_gm_code_expr(code_column).alias("code")]
    if name_column is not None:
        columns.append(pl.col(name_column).cast(pl.String).alias("name"))
    return valid.select(columns)


def municipalities_by_year(valid: pl.DataFrame) -> pl.DataFrame:
    """Validity periods of municipality codes, from a list of codes valid on each 1 January.

    ``valid``: one row per municipality per year, with ``year`` and a code column (``code``,
    ``gm_code`` or ``gemeentecode``, in any form ``normalise_gm_code`` accepts) and optionally a
    name column (``name``, ``gm_name``, ``gemeentenaam`` or ``gemeentenaam_nlextract``).

    Returns one row per code per unbroken run of years; key (code, valid_from_year). Columns: code,
    name (the name in the last year of the run; null without a name column), valid_from_year and
    valid_to_year, both inclusive years of 1-January boundaries. A code still valid in the last
    year of the input gets that year as valid_to_year: the input cannot say how long it lasts.
    """
    frame = _valid_frame(valid)
    if "name" not in frame.columns:
        frame = frame.with_columns(name=pl.lit(None, dtype=pl.String))
    return (
        frame.unique(["year", "code"], keep="last", maintain_order=True)
        .sort("code", "year")
        .with_columns(run=pl.col("year") - pl.int_range(pl.len()).over("code"))
        .group_by("code", "run")
        .agg(
            name=pl.col("name").last(),
            valid_from_year=pl.col("year").min(),
            valid_to_year=pl.col("year").max(),
        )
        .drop("run")
        .sort("code", "valid_from_year")
    )


def _codes_known_at(changes: pl.DataFrame, year: int) -> list[str]:
    """Codes the change table mentions that have not ended on or before 1 January ``year``."""
    mentioned = pl.concat([changes.select(code="old_code"), changes.select(code="new_code")]).unique()
    ended = changes.filter(
        (pl.col("boundary_year") <= year)
        & (pl.col("kind") != "partial_transfer")
        & (pl.col("old_code") != pl.col("new_code"))
    ).select(code="old_code")
    return sorted(mentioned.join(ended, on="code", how="anti")["code"].to_list())


def _yearly_steps(changes: pl.DataFrame, years: range) -> dict[int, pl.DataFrame]:
    """Boundary year -> its changes as (step_from, step_to, step_share, step_approximate).

    Only the ``years`` with a change of positive share get an entry: a year without one maps
    every code to itself and leaves a crosswalk as it is.
    """
    steps = changes.filter(pl.col("boundary_year").is_between(years.start, years.stop - 1) & (pl.col("share") > 0)).select(
        "boundary_year",
        step_from=pl.col("old_code"),
        step_to=pl.col("new_code"),
        step_share=pl.col("share").cast(pl.Float64),
        step_approximate=pl.col("share_status") == "approximate",
    )
    return {
        int(year): step.drop("boundary_year")
        for (year,), step in steps.partition_by("boundary_year", maintain_order=True, as_dict=True).items()
    }


def _apply_step(crosswalk: pl.DataFrame, step: pl.DataFrame) -> pl.DataFrame:
    """Compose a crosswalk with one year's changes; codes without a change map to themselves."""
    return (
        crosswalk.join(step, left_on="to_code", right_on="step_from", how="left")
        .select(
            "from_code",
            to_code=pl.coalesce("step_to", "to_code"),
            share=pl.col("share") * pl.col("step_share").fill_null(1.0),
            approximate=pl.col("approximate") | pl.col("step_approximate").fill_null(False),
        )
        .group_by("from_code", "to_code")
        .agg(pl.col("share").sum(), pl.col("approximate").any())
    )


def municipality_crosswalk(
    changes: pl.DataFrame,
    from_year: int,
    to_year: int,
    valid_codes: Mapping[int, Iterable[str]] | pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Crosswalk from the municipalities of ``from_year`` to those of ``to_year``.

    One row per (from_code, to_code) pair that shares territory; key (from_code, to_code).
    ``share`` (Float64) is the fraction of the from_code's count that lands in to_code; the
    shares of each from_code sum to 1. ``approximate`` is true when an approximate share (see
    ``share_status`` in the change table) lies on the path.

    Built by chaining the yearly steps from_year + 1 .. to_year of ``changes`` (the project's
    change table, see MUNICIPAL_CHANGES_SCHEMA): a merger sends a whole code on, a split or
    partial transfer divides it by its shares, a rename maps it, and codes without a change stay.
    Shares of 0 are dropped. ``from_year == to_year`` gives the identity.

    ``valid_codes`` (year -> codes, or a frame with ``year`` and a code column as in
    ``municipalities_by_year``) must include from_year; the crosswalk then starts from exactly the
    municipalities of from_year, and after each step whose year is listed the result is checked:
    codes produced but not valid that year, or valid but not produced, raise
    UnmappedMunicipalityError. Years outside from_year .. to_year are not looked at. Without
    ``valid_codes`` the start is inferred from the change table alone: every code it mentions that
    has not ended by from_year. That covers only municipalities touched by some change (codes such
    as 0344 Utrecht are absent and a series holding them is reported as unmapped) and may include
    codes created after from_year; flows should pass the valid codes.

    Raises ValueError when to_year < from_year: going back in time would split merged
    municipalities again, for which there are no weights.
    """
    if to_year < from_year:
        raise ValueError(
            f"cannot build a crosswalk backwards from {from_year} to {to_year}: that would split merged "
            "municipalities again, which needs weights we do not have. Harmonise to the later "
            "boundaries instead."
        )
    check_municipal_changes(changes)
    years = range(from_year, to_year + 1)
    valid = None if valid_codes is None else _valid_codes_by_year(valid_codes, years)
    return _crosswalk(changes, from_year, to_year, valid)


def crosswalks(
    changes: pl.DataFrame, valid_codes: Mapping[int, Iterable[str]] | pl.DataFrame | None = None
) -> Callable[[int, int], pl.DataFrame]:
    """``(from_year, to_year) -> municipality_crosswalk(changes, from_year, to_year, valid_codes)``, each pair built once.

    For many crosswalks from one change table: the table is checked (raising as
    ``municipality_crosswalk`` does) and the valid codes are normalised once, here, for all of them.
    """
    check_municipal_changes(changes)
    valid = None
    if valid_codes is not None:
        years = (
            _valid_frame(valid_codes)["year"].to_list() if isinstance(valid_codes, pl.DataFrame) else [int(y) for y in valid_codes]
        )
        valid = _valid_codes_by_year(valid_codes, range(min(years), max(years) + 1)) if years else {}

    boundary_years = changes["boundary_year"]
    steps = _yearly_steps(changes, range(int(boundary_years.min()), int(boundary_years.max()) + 1)) if changes.height else {}

    @cache
    def build(from_year: int, to_year: int) -> pl.DataFrame:
        if to_year < from_year:
            return municipality_crosswalk(changes, from_year, to_year)  # raises, with the reason
        if to_year == from_year:
            return _start(changes, from_year, valid)
        # one year further than a crosswalk built (and checked) already: the same as chaining every step again
        return _advance(build(from_year, to_year - 1), to_year, steps, valid)

    return build


def _start(changes: pl.DataFrame, from_year: int, valid: Mapping[int, frozenset[str]] | None) -> pl.DataFrame:
    """The identity crosswalk of the municipalities of ``from_year`` (None: inferred from the change table)."""
    if valid is None:
        start = _codes_known_at(changes, from_year)
    elif from_year in valid:
        start = sorted(valid[from_year])
    else:
        raise ValueError(f"valid_codes has no municipalities for from_year {from_year}")
    return pl.DataFrame(
        {"from_code": start, "to_code": start, "share": [1.0] * len(start), "approximate": [False] * len(start)},
        schema=CROSSWALK_SCHEMA,
    )


def _advance(
    crosswalk: pl.DataFrame, year: int, steps: Mapping[int, pl.DataFrame], valid: Mapping[int, frozenset[str]] | None
) -> pl.DataFrame:
    """``crosswalk`` (to the boundaries of ``year - 1``) moved on by the changes of ``year``, checked against its valid codes."""
    if year in steps:
        crosswalk = _apply_step(crosswalk, steps[year])
    if valid is not None and year in valid:
        produced = set(crosswalk["to_code"].to_list())
        if produced - valid[year]:
            raise UnmappedMunicipalityError(
                produced - valid[year],
                f"result from the changes up to {year} but are not valid on 1 January {year}",
            )
        if valid[year] - produced:
            raise UnmappedMunicipalityError(
                valid[year] - produced,
                f"are valid on 1 January {year} but no change up to {year} leads to them",
            )
    return crosswalk.sort("from_code", "to_code")


def _crosswalk(
    changes: pl.DataFrame, from_year: int, to_year: int, valid: Mapping[int, frozenset[str]] | None
) -> pl.DataFrame:
    """``municipality_crosswalk`` from a checked change table and normalised valid codes (None: infer the start)."""
    years = range(from_year, to_year + 1)
    crosswalk = _start(changes, from_year, valid)
    steps = _yearly_steps(changes, years)
    for year in years[1:]:
        crosswalk = _advance(crosswalk, year, steps, valid)
    return crosswalk


def _null_aware_sum(column: str) -> pl.Expr:
    return pl.when(pl.col(column).null_count() > 0).then(None).otherwise(pl.col(column).sum())


def harmonise_counts(
    series: pl.DataFrame,
    crosswalk: pl.DataFrame,
    *,
    code_col: str = "gm_code",
    value_col: str = "value",
    by: Sequence[str] = (),
    crosswalk_by: Sequence[str] = (),
) -> pl.DataFrame:
    """Convert a count series from the crosswalk's from_year boundaries to its to_year boundaries.

    ``series``: counts (people, benefits, jobs; anything that adds up over territory) with one row
    per (code_col, *by), codes as 4-digit text valid at from_year. ``crosswalk`` as returned by
    ``municipality_crosswalk``.

    Returns one row per (code_col, *by) at to_year boundaries with columns code_col, *by,
    value_col (Float64, same unit as the input) and ``approximate``, true where an approximate
    share contributed (or, when the series already has an ``approximate`` column, where a
    contributing row was already approximate). Each value is the sum over contributing codes of
    value * share. Other columns of the series are dropped; rows are sorted by (*by, code_col).

    Nulls: a null contributor makes its target null, so a missing figure is never silently read
    as zero (mergers of a reported and an unreported municipality stay unknown).

    Rates and shares must not be harmonised with this function: harmonise numerator and
    denominator as counts and divide afterwards (``harmonise_ratio`` does both).

    ``crosswalk_by``: columns of both the series and the crosswalk that say which crosswalk rows
    apply to which series rows, so that one call moves several batches, each with its own
    crosswalk: e.g. ``year``, for yearly figures each on the boundaries of its own year and the
    crosswalks from each year stacked with a ``year`` column. They are kept as ``by`` columns.

    Raises UnmappedMunicipalityError, listing the codes, when the series holds codes that are not
    in the crosswalk's from_codes.
    """
    keys = list(crosswalk_by)
    by = [*keys, *(column for column in by if column not in keys)]
    missing = [column for column in (code_col, value_col, *by) if column not in series.columns]
    if missing:
        raise ValueError(f"series lacks column(s) {missing}; has {series.columns}")
    carries_flag = "approximate" in series.columns and "approximate" not in (code_col, value_col, *by)

    unmapped = (
        series.select(pl.col(code_col).cast(pl.String), *keys).unique()
        .join(crosswalk.select(pl.col("from_code").alias(code_col), *keys), on=[code_col, *keys], how="anti", nulls_equal=False)
    )
    if unmapped.height:
        raise UnmappedMunicipalityError(
            unmapped[code_col].to_list(), "in the series are not municipalities of the crosswalk's from_year"
        )

    contributions = series.select(
        pl.col(code_col).cast(pl.String),
        *by,
        pl.col(value_col).cast(pl.Float64).alias("__value"),
        (pl.col("approximate") if carries_flag else pl.lit(False)).cast(pl.Boolean).alias("__flag"),
    ).join(
        crosswalk.select(
            pl.col("from_code").alias(code_col),
            *keys,
            pl.col("to_code").alias("__to"),
            pl.col("share").alias("__share"),
            pl.col("approximate").alias("__approximate"),
        ),
        on=[code_col, *keys],
        how="inner",
    )
    return (
        contributions.with_columns(__value=pl.col("__value") * pl.col("__share"))
        .group_by("__to", *by)
        .agg(
            _null_aware_sum("__value").alias(value_col),
            (pl.col("__approximate") | pl.col("__flag")).any().alias("approximate"),
        )
        .rename({"__to": code_col})
        .select(code_col, *by, value_col, "approximate")
        .sort(*by, code_col)
    )


def harmonise_ratio(
    series: pl.DataFrame,
    crosswalk: pl.DataFrame,
    *,
    numerator_col: str,
    denominator_col: str,
    code_col: str = "gm_code",
    by: Sequence[str] = (),
    ratio_col: str = "ratio",
    scale: float = 1.0,
) -> pl.DataFrame:
    """Harmonise a rate through its numerator and denominator, then divide.

    ``series`` holds both counts per (code_col, *by) at from_year boundaries, e.g. unemployed and
    labour force. Averaging rates across merged municipalities would weight small ones like large
    ones; summing the counts first gives the rate of the merged territory.

    Returns one row per (code_col, *by) at to_year boundaries with code_col, *by, numerator_col,
    denominator_col (Float64), ratio_col = scale * numerator / denominator (null where the
    denominator is null or 0; scale=100 for a percentage) and ``approximate``. Nulls and unmapped
    codes behave as in ``harmonise_counts``.
    """
    keys = [code_col, *by]
    numerator = harmonise_counts(series, crosswalk, code_col=code_col, value_col=numerator_col, by=by)
    denominator = harmonise_counts(series, crosswalk, code_col=code_col, value_col=denominator_col, by=by)
    return (
        numerator.join(denominator.drop("approximate"), on=keys, how="inner", nulls_equal=True)
        .with_columns(
            pl.when(pl.col(denominator_col) != 0)
            .then(scale * pl.col(numerator_col) / pl.col(denominator_col))
            .otherwise(None)
            .alias(ratio_col)
        )
        .select(*keys, numerator_col, denominator_col, ratio_col, "approximate")
        .sort(*by, code_col)
    )
