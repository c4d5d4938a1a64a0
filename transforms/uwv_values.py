"""The cells of a UWV file read as values: counts, dates, yes/no, codes (docs/uwv-files.md, 'Values').

Pure Polars expressions over the working frame of ``transforms.uwv.uwv_table``: for a column
``name`` it holds ``text_<name>`` (the cell as text, stripped) and ``cell_<name>`` (the cell as
the file typed it: text from a CSV, a spreadsheet number, date or boolean). Each parser returns
the value and the problem (null when there is none) as two expressions.

Counts need the whole file: a number such as ``12,000`` or ``12.000`` reads as twelve thousand
in one convention and as twelve in the other, so each count is read both ways and
:func:`choose_number_convention` decides per file (:data:`CONVENTIONS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from transforms.geography import normalise_gm_code_expr

YES_VALUES = ("ja", "j", "yes", "y", "1", "true", "waar", "x")
NO_VALUES = ("nee", "n", "no", "0", "false", "onwaar")

MAX_DIGITS = 18
_ISO_DATE = r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00(?:\.0+)?)?)?$"
_DMY_DASH = r"^(\d{1,2})-(\d{1,2})-(\d{4})(?: 00:00(?::00)?)?$"
_DMY_SLASH = r"^(\d{1,2})/(\d{1,2})/(\d{4})(?: 00:00(?::00)?)?$"
SPACES = "[ \u00a0\u202f]"
REGION_CODE = r"^(?:AM)?\s*-?\s*0*(\d{1,2})$"


@dataclass(frozen=True)
class Convention:
    """How a file writes numbers: what separates thousands and what comes before decimals."""

    key: str
    name: str
    thousands: str
    decimal: str

    def describe(self) -> str:
        return f"{self.name}: '{self.thousands}' between thousands, '{self.decimal}' before decimals"

    def pattern(self) -> str:
        """Whole part (digits; or groups of three after the thousands mark or a space), then decimals."""
        t, d = f"\\{self.thousands}", f"\\{self.decimal}"
        return rf"^(\d{{1,3}}(?:{t}\d{{3}})+|\d{{1,3}}(?:{SPACES}\d{{3}})+|\d+)(?:{d}(\d+))?$"


DUTCH = Convention("nl", "Dutch", ".", ",")
ENGLISH = Convention("en", "English", ",", ".")
CONVENTIONS = (DUTCH, ENGLISH)
"""The two ways of writing numbers a UWV file may use; one file uses one of them."""


def as_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """A cell as text: strings as they are, spreadsheet numbers and dates in a parseable form."""
    col = pl.col(name)
    if dtype == pl.String:
        text = col
    elif dtype == pl.Boolean:
        text = pl.when(col).then(pl.lit("true")).when(col.not_()).then(pl.lit("false"))
    elif dtype.is_integer():
        text = col.cast(pl.String)
    elif dtype.is_float():
        whole = col.is_finite() & (col == col.floor()) & (col.abs() < 9e18)
        text = pl.when(whole).then(col.cast(pl.Int64, strict=False).cast(pl.String)).otherwise(col.cast(pl.String))
    elif dtype == pl.Date:
        text = col.dt.to_string("%Y-%m-%d")
    elif isinstance(dtype, pl.Datetime):
        text = col.dt.to_string("%Y-%m-%d %H:%M:%S").str.strip_suffix(" 00:00:00")
    else:
        text = col.cast(pl.String)
    return text.fill_null("").str.strip_chars()


def is_empty(name: str) -> pl.Expr:
    return pl.col(f"text_{name}") == ""


_EMPTY_COUNT = "empty: a count is required"
_NOT_A_NUMBER = "not a number: expected a whole number such as 1234, 1.234, 1,234 or 1 234"
_NOT_WHOLE = "not a whole number: counts are whole numbers"
_TOO_LARGE = f"too large: more than {MAX_DIGITS} digits"


def count_readings(name: str, dtype: pl.DataType) -> list[pl.Expr]:
    """A count read in each convention: ``<name>__nl``/``__en`` (value) and ``problem_<name>__nl``/``__en``.

    A problem is ``'empty'``, ``'form'`` (not a number in that convention), ``'fraction'`` (not
    whole) or ``'large'``. A spreadsheet number reads the same in both. Negative numbers parse
    (and are reported later).
    """
    if dtype.is_integer() or dtype.is_float():
        cell = pl.col(f"cell_{name}")
        whole = cell.is_not_null() if dtype.is_integer() else cell.is_finite() & (cell == cell.floor())
        large = cell.abs() >= 10**MAX_DIGITS
        value = pl.when(whole & large.not_()).then(cell.cast(pl.Int64, strict=False))
        problem = pl.when(cell.is_null()).then(pl.lit("empty")).when(whole.not_()).then(pl.lit("fraction")).when(large).then(pl.lit("large"))
        return [expr for c in CONVENTIONS for expr in (value.alias(f"{name}__{c.key}"), problem.alias(f"problem_{name}__{c.key}"))]
    text = pl.col(f"text_{name}")
    negative = text.str.contains(r"^[-\u2212]")
    body = text.str.replace(r"^[+\-\u2212]\s*", "")
    readings = []
    for convention in CONVENTIONS:
        pattern = convention.pattern()
        matched = body.str.contains(pattern)
        integer = body.str.extract(pattern, 1).str.replace_all(r"\D", "").str.replace(r"^0+(\d)", "${1}")
        fraction = body.str.extract(pattern, 2)
        whole = fraction.is_null() | fraction.str.contains(r"^0+$")
        large = integer.str.len_chars() > MAX_DIGITS
        magnitude = pl.when(matched & whole & large.not_()).then(integer.cast(pl.Int64, strict=False))
        problem = (
            pl.when(is_empty(name)).then(pl.lit("empty"))
            .when(matched.not_()).then(pl.lit("form"))
            .when(whole.not_()).then(pl.lit("fraction"))
            .when(large).then(pl.lit("large"))
        )  # fmt: skip
        readings += [
            pl.when(negative).then(-magnitude).otherwise(magnitude).alias(f"{name}__{convention.key}"),
            problem.alias(f"problem_{name}__{convention.key}"),
        ]
    return readings


@dataclass(frozen=True)
class NumberConvention:
    """What a file's counts show about its convention: the convention (None when they do not tell
    or contradict each other) and the cell that shows it, for messages and the file's report."""

    convention: Convention | None
    evidence: str | None = None

    def describe(self) -> str:
        if self.convention is None:
            return "no count shows a convention (none has a thousands or decimal mark that tells them apart)"
        return f"{self.convention.describe()} (shown by {self.evidence})"


def choose_number_convention(
    work: pl.DataFrame, counts: Sequence[str], header_of: dict[str, str]
) -> tuple[pl.DataFrame, NumberConvention]:
    """``work`` with ``<count>`` and ``error_<count>`` from the readings of :func:`count_readings`.

    A count that reads as a whole number in one convention only shows the file's convention:

    - counts show one convention: every count is read in it;
    - counts show both: the file mixes them; each count that shows the convention fewer counts
      show is a problem naming a count that shows the other (no count is read as a guess);
    - no count shows one (plain numbers, spaces between thousands, and numbers such as
      ``12,000`` or ``1.500`` that read whole both ways): a count that reads as two different
      numbers (``12,000``: twelve thousand with ',' between thousands, twelve with a decimal
      comma) is a problem naming both readings; the others read the same both ways.
    """
    if not counts:
        return work, NumberConvention(None)
    only: dict[str, list[pl.DataFrame]] = {c.key: [] for c in CONVENTIONS}
    for name in counts:
        for convention, other in (CONVENTIONS, CONVENTIONS[::-1]):
            shows = pl.col(f"problem_{name}__{convention.key}").is_null() & pl.col(f"problem_{name}__{other.key}").is_not_null()
            only[convention.key].append(
                work.filter(shows).select("row", column=pl.lit(header_of[name]), value=pl.col(f"text_{name}"))
            )
    shown = {key: pl.concat(frames).sort("row") for key, frames in only.items()}
    showing = [c for c in CONVENTIONS if shown[c.key].height]
    if len(showing) == 1:
        chosen = showing[0]
        first = shown[chosen.key].row(0, named=True)
        result = NumberConvention(chosen, _cell(first))
    else:
        chosen, result = None, NumberConvention(None)
    columns = []
    for name in counts:
        readings = {c.key: (pl.col(f"{name}__{c.key}"), pl.col(f"problem_{name}__{c.key}")) for c in CONVENTIONS}
        (nl_value, nl_problem), (en_value, en_problem) = readings[DUTCH.key], readings[ENGLISH.key]
        failed_both = _failure(nl_problem, en_problem)
        if chosen is not None:
            value, problem = readings[chosen.key]
            error = pl.when(problem.is_not_null()).then(failed_both)
        elif len(showing) == 2:
            minority, majority = sorted(CONVENTIONS, key=lambda c: (shown[c.key].height, c.key == DUTCH.key))
            example = _cell(shown[majority.key].row(0, named=True))
            value, problem = readings[majority.key]
            error = (
                pl.when(problem.is_not_null() & readings[minority.key][1].is_null())
                .then(pl.lit(
                    f"written in the {minority.describe()}, but {example} is written in the {majority.describe()}: "
                    "a file writes all its numbers one way"
                ))
                .when(problem.is_not_null())
                .then(failed_both)
                .when(nl_value != en_value)
                .then(_ambiguous(name))
            )
        else:
            value = nl_value
            error = pl.when(nl_problem.is_not_null()).then(failed_both).when(nl_value != en_value).then(_ambiguous(name))
        columns += [pl.when(error.is_null()).then(value).alias(name), error.alias(f"error_{name}")]
    return work.with_columns(columns), result


def _cell(row: dict) -> str:
    return f"row {row['row']} ({row['column']!r}) {row['value']!r}"


def _failure(nl_problem: pl.Expr, en_problem: pl.Expr) -> pl.Expr:
    """The problem of a count that reads in neither convention (the nearer miss of the two)."""
    either = [nl_problem, en_problem]
    return (
        pl.when(pl.any_horizontal(p == "empty" for p in either)).then(pl.lit(_EMPTY_COUNT))
        .when(pl.any_horizontal(p == "fraction" for p in either)).then(pl.lit(_NOT_WHOLE))
        .when(pl.any_horizontal(p == "large" for p in either)).then(pl.lit(_TOO_LARGE))
        .otherwise(pl.lit(_NOT_A_NUMBER))
    )  # fmt: skip


def _ambiguous(name: str) -> pl.Expr:
    return _ambiguous_message(pl.col(f"text_{name}"), pl.col(f"{name}__{ENGLISH.key}"), pl.col(f"{name}__{DUTCH.key}"))


def _ambiguous_message(text: pl.Expr, english: pl.Expr, dutch: pl.Expr) -> pl.Expr:
    """``'12,000' is 12000 if ',' separates thousands but 12 if it is a decimal mark``, and what to do.

    Such a count has one mark, followed by three digits: a ',' separates thousands in the English
    convention, a '.' in the Dutch one.
    """
    mark = text.str.extract(r"([.,])\d{3}$", 1)
    thousands = pl.when(mark == ",").then(english).otherwise(dutch)
    decimal = pl.when(mark == ",").then(dutch).otherwise(english)
    return pl.format(
        "ambiguous number: '{}' is {} if '{}' separates thousands but {} if it is a decimal mark, and no other count "
        "in this file shows which way it writes numbers; write counts without a thousands mark (as {}), or so that "
        "the mark tells (1.234.567 or 1.234,0 Dutch; 1,234,567 or 1,234.0 English)",
        text, thousands, mark, decimal, thousands,
    )


def parse_date(name: str, dtype: pl.DataType, required: bool = True) -> tuple[pl.Expr, pl.Expr]:
    """A date: a spreadsheet date, or text as 2015-12-31, 31-12-2015 or 31/12/2015 (day first)."""
    text = pl.col(f"text_{name}")
    empty = pl.lit("empty: a date is required") if required else pl.lit(None, pl.String)
    if dtype == pl.Date:
        value = pl.col(f"cell_{name}")
        return value.alias(name), pl.when(value.is_null()).then(empty).alias(f"error_{name}")
    if isinstance(dtype, pl.Datetime):
        cell = pl.col(f"cell_{name}")
        timed = cell != cell.dt.truncate("1d")
        error = (
            pl.when(cell.is_null())
            .then(empty)
            .when(timed)
            .then(pl.lit("a date with a time of day other than 00:00: a date may have at most a time of 00:00"))
        )
        return pl.when(timed.not_()).then(cell.dt.date()).alias(name), error.alias(f"error_{name}")

    def iso(year: int, month: int, day: int, pattern: str) -> pl.Expr:
        return pl.concat_str(
            text.str.extract(pattern, year),
            pl.lit("-"),
            text.str.extract(pattern, month).str.zfill(2),
            pl.lit("-"),
            text.str.extract(pattern, day).str.zfill(2),
        )

    normalised = (
        pl.when(text.str.contains(_ISO_DATE))
        .then(iso(1, 2, 3, _ISO_DATE))
        .when(text.str.contains(_DMY_DASH))
        .then(iso(3, 2, 1, _DMY_DASH))
        .when(text.str.contains(_DMY_SLASH))
        .then(iso(3, 2, 1, _DMY_SLASH))
    )
    value = normalised.str.to_date("%Y-%m-%d", strict=False)
    error = (
        pl.when(is_empty(name))
        .then(empty)
        .when(normalised.is_null())
        .then(pl.lit("not a date: expected e.g. 2015-12-31, 31-12-2015 or 31/12/2015"))
        .when(value.is_null())
        .then(pl.lit("not a valid calendar date"))
    )
    return value.alias(name), error.alias(f"error_{name}")


def parse_yes_no(name: str, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    """ja/nee, yes/no, j/n, 1/0, true/false, x; in a column that marks with 'x' alone, blank is no.

    A column marks with 'x' when every filled cell is an 'x': there a blank cell is the absence of
    a mark. In a column that writes 'ja' and 'nee' (also with a stray 'x'), a blank is a missing
    answer, not a no.
    """
    if dtype == pl.Boolean:
        value = pl.col(f"cell_{name}")
        error = pl.when(value.is_null()).then(pl.lit("empty: expected ja or nee"))
        return value.alias(name), error.alias(f"error_{name}")
    text = pl.col(f"text_{name}").str.to_lowercase()
    marks = ((text == "x") | (text == "")).all() & (text == "x").any()
    value = (
        pl.when(text.is_in(YES_VALUES))
        .then(True)
        .when(text.is_in(NO_VALUES) | ((text == "") & marks))
        .then(False)
    )
    error = (
        pl.when((text == "") & marks.not_())
        .then(pl.lit("empty: expected ja or nee (a blank means no only in a column that marks yes with x alone)"))
        .when(value.is_null())
        .then(pl.lit("not a yes/no value: expected ja/nee, yes/no, 1/0, true/false or x"))
    )
    return value.alias(name), error.alias(f"error_{name}")


def parse_gm_code() -> tuple[pl.Expr, pl.Expr]:
    text = pl.col("text_gm_code")
    value = normalise_gm_code_expr(text)
    error = (
        pl.when(text == "")
        .then(pl.lit("empty: every row needs a municipality code"))
        .when(value.str.contains(r"^\d{4}$").not_())
        .then(pl.lit("not a municipality code: expected e.g. GM0363, 0363 or 363"))
    )
    return value.alias("gm_code"), error.alias("error_gm_code")


def parse_region_form() -> tuple[pl.Expr, pl.Expr]:
    """A region written as a code ('AM01', 'AM1', '1'); names are resolved per year later."""
    text = pl.col("text_region_code")
    digits = text.str.to_uppercase().str.extract(REGION_CODE, 1)
    code = pl.when(digits.is_not_null()).then(pl.concat_str(pl.lit("AM"), digits.str.zfill(2)))
    error = pl.when(text == "").then(pl.lit("empty: every row needs a labour-market region"))
    return code.alias("region_code_form"), error.alias("error_region_code")
