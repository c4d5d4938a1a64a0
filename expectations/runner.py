"""Run a dataset's expectations on a Polars frame and turn the GX results into our report.

A :class:`Suite` is a dataset name plus a tuple of :class:`Check` (a GX expectation and a
severity). :func:`validate` runs every check on one batch, in one GX suite run (metrics
that checks share are computed once), and returns a :class:`ValidationReport` with one
:class:`CheckResult` per check; a check that errors is rerun on its own, so its error is its
own. A batch too large for one pandas copy is given as :class:`Pieces` and validated piece by
piece, with the outcome of the whole batch. The flow stores
``report.to_rows()`` and calls ``report.raise_for_critical()`` before anything is published.

GX runs in one ephemeral context per process, built on first use: a pandas data source with
one whole-dataframe batch definition, fed ``frame.to_pandas()`` (GX 1.x cannot validate DuckDB
through SQLAlchemy). The context is configured with ``analytics_enabled=False``; GX 1.24 ships
no analytics client at all, and no GX code path used here opens a socket.

Why one module of about 700 lines: it is the one place that talks to GX. The report types, the
run of a suite, the validation in pieces (whose outcome must equal that of one run on the whole
batch) and the translation of GX's result objects into our records all read the same GX result
shapes; split up, each part would import the others' private helpers.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

# GX (2 to 3 s to import) and pandas are imported when a check is made or run, so
# that a refresh that finds nothing changed, a recalculation and the other commands never pay for
# them
if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.expectations import Expectation
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.core.expectation_validation_result import (
        ExpectationValidationResult,
    )
    from great_expectations.data_context import EphemeralDataContext

Severity = Literal["critical", "warning"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning")

SAMPLE_SIZE = 10
"""At most this many distinct offending values are kept per check."""

# Ask GX for more offending values than we keep, so that SAMPLE_SIZE distinct ones are found
# even when the first offenders repeat. BASIC has everything a CheckResult keeps (counts, observed
# value, the partial list of offending values) and never the full unexpected list; SUMMARY would
# add value counts and row indexes of the offenders, which cost GX about a quarter more time.
_RESULT_FORMAT: Mapping[str, Any] = {
    "result_format": "BASIC",
    "partial_unexpected_count": 200,
    "return_unexpected_index_query": False,
}

_GX_LOCK = threading.Lock()

ROWS_PER_PIECE = 250_000
"""A landed table with more rows is validated in pieces of about this many rows
(``expectations.cbs_tables.suite_and_frame``, :class:`Pieces`): GX works on a pandas copy with one
Python object per text cell, several times the size of the Polars frame, so one copy of a
neighbourhood-level table would take gigabytes."""


GROUPED_FROM_ROWS = 10_000
"""From this many rows a frame's checks run in groups by the columns they read (:func:`_run_by_columns`).
Measured 2026-12-06 (docs/benchmarks.md): on the 1x bench tables of 80,000-100,000 rows the
grouped runs took 0.9-1.4 s against 1.3-2.0 s for one run; on the region tables of 400 rows and
60 columns 0.2-0.3 s against 0.15-0.2 s."""


class ValidationFailed(Exception):
    """A critical check failed; the message has one line per failed critical check."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        super().__init__(
            "\n".join(
                f"{r.dataset} ({r.batch}): {r.message}" for r in report.critical_failures
            )
        )


@dataclass(frozen=True)
class Check:
    """One GX expectation with the consequence of its failure.

    ``critical`` failures stop the run before publishing; ``warning`` failures are reported
    and stored but let the run continue.
    """

    expectation: Expectation
    severity: Severity = "critical"
    description: str | None = None

    def __post_init__(self) -> None:
        import great_expectations as gx

        if not isinstance(self.expectation, gx.expectations.Expectation):
            raise TypeError(
                f"Check needs a GX expectation instance, got {type(self.expectation).__name__}"
            )
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"severity must be one of {SEVERITIES}, got {self.severity!r}"
            )

    @property
    def expectation_type(self) -> str:
        return self.expectation.expectation_type

    @property
    def column(self) -> str | None:
        column = getattr(self.expectation, "column", None)
        if column is not None:
            return str(column)
        column_list = getattr(self.expectation, "column_list", None)
        if column_list:
            return ", ".join(map(str, column_list))
        # column-pair expectations (expect_column_pair_values_*) name their columns A and B
        pair = [getattr(self.expectation, name, None) for name in ("column_A", "column_B")]
        if all(column is not None for column in pair):
            return ", ".join(map(str, pair))
        return None


@dataclass(frozen=True)
class Suite:
    """The checks for one dataset; ``name`` is the dataset name used in reports."""

    name: str
    checks: tuple[Check, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "checks", tuple(self.checks))


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one batch.

    ``observed_value`` is GX's observed value made JSON-able (None for per-row checks);
    ``unexpected_sample`` holds up to ten distinct offending values, as strings, in the order
    they occur; ``message`` is one line naming the check, column and example values, or the
    error GX raised. ``error``: that error (the check has no outcome), else None.
    """

    dataset: str
    batch: str
    expectation: str
    column: str | None
    severity: Severity
    success: bool
    observed_value: Any
    element_count: int
    unexpected_count: int | None
    unexpected_sample: tuple[str, ...]
    message: str
    description: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class ValidationReport:
    """All check results of one suite on one batch."""

    dataset: str
    batch: str
    records: tuple[CheckResult, ...]

    @property
    def critical_failures(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.records if not r.success and r.severity == "critical")

    @property
    def warnings(self) -> tuple[CheckResult, ...]:
        """Failed warning-level checks."""
        return tuple(r for r in self.records if not r.success and r.severity == "warning")

    @property
    def passed(self) -> bool:
        return not self.critical_failures

    @property
    def errors(self) -> tuple[CheckResult, ...]:
        """Checks that raised an error instead of reaching an outcome (a missing column, a batch that did not load, out of memory)."""
        return tuple(r for r in self.records if r.error is not None)

    def to_rows(self) -> list[dict[str, Any]]:
        """One flat dict per check, for a results table.

        ``observed_value`` is JSON text (its type varies per expectation);
        ``unexpected_sample`` is a list of strings.
        """
        rows = []
        for record in self.records:
            row = asdict(record)
            row["observed_value"] = (
                None if record.observed_value is None else json.dumps(record.observed_value)
            )
            row["unexpected_sample"] = list(record.unexpected_sample)
            rows.append(row)
        return rows

    def raise_for_critical(self) -> None:
        if self.critical_failures:
            raise ValidationFailed(self)


def validate(
    frame: pl.DataFrame | Pieces,
    suite: Suite,
    batch: str,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ValidationReport:
    """Run every check of ``suite`` on ``frame`` and report one result per check.

    ``batch`` identifies the data in the report, e.g. ``"37789ksz@2025-04-23T02:00:00"``.
    An error GX raises for a check (a missing column, a string where numbers are expected)
    becomes a failed result carrying the error text; it never passes and never aborts the
    other checks. ``frame`` is not modified. A batch given as :class:`Pieces` is validated piece
    by piece (see there); its report has the counts of the whole batch, and ``progress(rows
    done, rows in the batch)`` is called after each piece.
    """
    if isinstance(frame, Pieces):
        return _validate_pieces(frame, suite, batch, progress)
    outcomes = _run_by_columns(frame, suite.name, suite.checks)
    return _report(suite, batch, outcomes, frame.height, frame.columns)


def _run_by_columns(frame: pl.DataFrame, name: str, checks: Sequence[Check]) -> list[_Outcome]:
    """Every check on ``frame``, one GX suite run per group of checks that read common columns.

    GX copies the rows of the whole frame it is given for every column check (the check's domain),
    so a run gets only the columns its checks read: the cost per row then grows with the columns
    a check reads, not with the width of the table. Checks that read every column run together
    on all of them. A frame of fewer than :data:`GROUPED_FROM_ROWS` rows gets one run: there each
    run's fixed cost in GX outweighs the copies.
    """
    if frame.height < GROUPED_FROM_ROWS:
        return _run(_read_only(frame, checks), name, checks)
    outcomes: dict[int, _Outcome] = {}
    for group in _column_groups(checks):
        chosen = [checks[i] for i in group]
        outcomes.update(zip(group, _run(_read_only(frame, chosen), name, chosen), strict=True))
    return [outcomes[index] for index in range(len(checks))]


def _column_groups(checks: Sequence[Check]) -> list[list[int]]:
    """The indices of ``checks`` grouped so that checks with a column in common share a group (in
    order of first appearance); the checks that read every column form one group, and so do
    those that read no column (row counts)."""
    every = [i for i, check in enumerate(checks) if _reads_every_column(check)]
    groups: list[tuple[set[str], list[int]]] = []
    for index, check in enumerate(checks):
        if index in every:
            continue
        columns = set(_columns(check))
        joined = [group for group in groups if group[0] & columns] if columns else [g for g in groups if not g[0]]
        merged = (columns.union(*(g[0] for g in joined)), sorted(i for g in joined for i in g[1]) + [index])
        groups = [g for g in groups if all(g is not j for j in joined)]
        groups.append(merged)
    found = sorted((sorted(indices) for _, indices in groups), key=lambda g: g[0])
    return found + ([every] if every else [])


def _read_only(frame: pl.DataFrame, checks: Sequence[Check]) -> pd.DataFrame:
    """``frame`` as pandas with only the columns ``checks`` read (GX copies and hashes all it gets).

    Every column when a check may read more than it names (``_reads_every_column``: one on the
    table's columns, or one with a row condition); a row-count check needs only the rows.
    """
    if any(_reads_every_column(check) for check in checks):
        return _to_pandas(frame)
    read = [column for column in _read_columns(checks) if column in frame.columns]
    if not read:
        import pandas as pd

        return pd.DataFrame(index=pd.RangeIndex(frame.height))
    return _to_pandas(frame.select(read))


@dataclass(frozen=True)
class Pieces:
    """A batch too large for one pandas copy, as Polars frames of disjoint rows that together are the batch.

    ``frames()`` yields the pieces (it is called once; every piece has the batch's columns);
    ``height`` is the batch's row count and ``columns`` its columns. ``together``: columns whose
    equal values always fall in the same piece (the batch is split along them), so that
    uniqueness on them can be checked piece by piece.

    :func:`validate` runs the per-row checks (not null, type, range, set, pattern, column pairs,
    column present) and the uniqueness checks on a ``together`` column on one piece at a time,
    with only the columns they read, and adds up the counts; offending values are sampled piece
    by piece. Other uniqueness checks run on their columns gathered from the pieces and regrouped
    by a hash of the values (equal values meet in one group), one group at a time. The
    distinct-value checks run on the distinct values of every piece together, the row-count
    checks on the batch's row count, and any other check on its columns of the whole batch,
    gathered from the pieces. The outcome of every check is that of the whole batch; so are the
    counts, and the observed value and samples but for one thing: pandas holds an integer column
    with nulls as floats, so in a piece without nulls a sample reads ``-40`` where the whole batch
    would read ``-40.0``, and a passing type check observes each piece's dtype
    (``["float64", "int64"]``).
    """

    height: int
    columns: tuple[str, ...]
    frames: Callable[[], Iterator[pl.DataFrame]]
    together: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "together", frozenset(self.together))


_ROW_WISE = frozenset(
    {
        "ExpectColumnToExist",
        "ExpectColumnValuesToNotBeNull",
        "ExpectColumnValuesToBeNull",
        "ExpectColumnValuesToBeInTypeList",
        "ExpectColumnValuesToBeOfType",
        "ExpectColumnValuesToBeBetween",
        "ExpectColumnValuesToBeInSet",
        "ExpectColumnValuesToNotBeInSet",
        "ExpectColumnValuesToMatchRegex",
        "ExpectColumnValuesToNotMatchRegex",
        "ExpectColumnValueLengthsToBeBetween",
        "ExpectColumnPairValuesAToBeGreaterThanB",
        "ExpectColumnPairValuesToBeEqual",
    }
)
"""Checks whose outcome on a batch is the sum of their outcomes on its pieces."""

_UNIQUE = frozenset({"ExpectColumnValuesToBeUnique", "ExpectCompoundColumnsToBeUnique"})
_DISTINCT = frozenset(
    {
        "ExpectColumnDistinctValuesToContainSet",
        "ExpectColumnDistinctValuesToBeInSet",
        "ExpectColumnDistinctValuesToEqualSet",
    }
)
_ROW_COUNT = frozenset({"ExpectTableRowCountToBeBetween", "ExpectTableRowCountToEqual"})


@dataclass(frozen=True)
class _Outcome:
    """One check's GX result on one frame, before it becomes a :class:`CheckResult`."""

    success: bool
    observed: Any = None
    element_count: int | None = None
    unexpected_count: int | None = None
    offenders: tuple[Any, ...] = ()
    error: str | None = None


def _run(data: pd.DataFrame, name: str, checks: Sequence[Check]) -> list[_Outcome]:
    """Every check on one pandas frame, in one GX suite run; erroring checks rerun on their own."""
    with _GX_LOCK:
        try:
            gx_batch = _batch_definition().get_batch(batch_parameters={"dataframe": data})
        except Exception as exc:  # every check fails with the reason the batch could not load
            return [_Outcome(False, error=_describe(exc)) for _ in checks]
        results = _validate_together(gx_batch, name, checks)
        outcomes = []
        for index, check in enumerate(checks):
            result = results.get(index)
            if result is None or _gx_error(result.exception_info) is not None:
                # not attributable, or an error: run the check on its own, so that its error
                # (a missing column, a type) is its own and not one of a neighbour's metrics
                try:
                    result = gx_batch.validate(
                        check.expectation, result_format=dict(_RESULT_FORMAT)
                    )
                except Exception as exc:
                    outcomes.append(_Outcome(False, error=_describe(exc)))
                    continue
            outcomes.append(_outcome(result))
    return outcomes


def _outcome(result: ExpectationValidationResult) -> _Outcome:
    error = _gx_error(result.exception_info)
    if error is not None:
        return _Outcome(False, error=error)
    details = dict(result.result or {})
    element_count = details.get("element_count")
    unexpected_count = details.get("unexpected_count")
    return _Outcome(
        success=bool(result.success),
        observed=_jsonable(details.get("observed_value")),
        element_count=None if element_count is None else int(element_count),
        unexpected_count=None if unexpected_count is None else int(unexpected_count),
        offenders=tuple(_distinct(details.get("partial_unexpected_list") or ())),
    )


def _validate_pieces(
    pieces: Pieces, suite: Suite, batch: str, progress: Callable[[int, int], None] | None = None
) -> ValidationReport:
    checks = suite.checks
    kinds = [_kind(check, pieces.together) for check in checks]
    by_kind: dict[str, list[int]] = {}
    for index, kind in enumerate(kinds):
        by_kind.setdefault(kind, []).append(index)
    per_row = by_kind.get("piece", [])
    per_row_checks = [checks[i] for i in per_row]
    distinct_columns = _read_columns(checks[i] for i in by_kind.get("distinct", []))
    whole_columns = _read_columns(checks[i] for i in (*by_kind.get("whole", []), *by_kind.get("regroup", [])))
    if any(_reads_every_column(checks[i]) for i in by_kind.get("whole", [])):
        whole_columns = list(pieces.columns)  # a check on the table as a whole, or with a row condition
    piece_outcomes: dict[int, list[_Outcome]] = {index: [] for index in per_row}
    distinct_parts: dict[str, list[pl.Series]] = {}
    whole_parts: dict[str, list[pl.Series]] = {}
    rows = count = 0
    for piece in pieces.frames():
        rows += piece.height
        count += 1
        if per_row:
            for index, outcome in zip(per_row, _run_by_columns(piece, suite.name, per_row_checks)):
                piece_outcomes[index].append(outcome)
        for column in distinct_columns:
            if column in piece.columns:
                distinct_parts.setdefault(column, []).append(piece[column].unique(maintain_order=True))
        for column in whole_columns:
            if column in piece.columns:
                whole_parts.setdefault(column, []).append(piece[column])
        if progress is not None:
            progress(rows, pieces.height)
    if rows != pieces.height:
        raise ValueError(f"{suite.name} ({batch}): the pieces hold {rows} rows, the batch {pieces.height}")
    if not any(piece_outcomes.values()) and per_row:
        raise ValueError(f"{suite.name} ({batch}): no pieces to validate")

    outcomes: dict[int, _Outcome] = {index: _merge(found) for index, found in piece_outcomes.items()}
    for column in distinct_columns:
        indices = [i for i in by_kind["distinct"] if _columns(checks[i]) == (column,)]
        values = pl.DataFrame(
            [pl.concat(distinct_parts[column]).unique(maintain_order=True)] if column in distinct_parts else []
        )
        for index, outcome in zip(indices, _run(_to_pandas(values), suite.name, [checks[i] for i in indices])):
            outcomes[index] = replace(outcome, element_count=pieces.height) if outcome.error is None else outcome
    if "count" in by_kind:
        import pandas as pd

        counted = pd.DataFrame(index=pd.RangeIndex(pieces.height))
        for index, outcome in zip(by_kind["count"], _run(counted, suite.name, [checks[i] for i in by_kind["count"]])):
            outcomes[index] = outcome
    whole = pl.DataFrame([pl.concat(parts) for parts in whole_parts.values()])
    whole_parts.clear()
    for index in by_kind.get("regroup", []):
        # uniqueness across the pieces: regroup the rows by a hash of the checked values, so that
        # equal values meet in one group, and check the groups one at a time
        columns = [c for c in _columns(checks[index]) if c in whole.columns]
        if count <= 1 or len(columns) < len(_columns(checks[index])):
            groups = [whole.select(columns)]
        else:
            numbers = whole.select(pl.struct(columns).hash(seed=0) % count).to_series()
            groups = (whole.select(columns).filter(numbers == n) for n in range(count))
        found = [_run(_to_pandas(group), suite.name, [checks[index]])[0] for group in groups]
        outcomes[index] = _merge(found)
    if "whole" in by_kind:
        indices = by_kind["whole"]
        for index, outcome in zip(indices, _run(_to_pandas(whole), suite.name, [checks[i] for i in indices])):
            outcomes[index] = outcome
    return _report(suite, batch, [outcomes[index] for index in range(len(checks))], pieces.height, pieces.columns)


def _kind(check: Check, together: frozenset[str]) -> str:
    """How a check runs on a batch in pieces: ``piece``, ``regroup``, ``distinct``, ``count`` or ``whole``."""
    name = type(check.expectation).__name__
    mostly = getattr(check.expectation, "mostly", None)
    if mostly is not None and mostly < 1:
        return "whole"  # a share of the whole batch, not a sum of the pieces' outcomes
    if getattr(check.expectation, "row_condition", None) and name not in _ROW_WISE:
        return "whole"  # the rows it keeps are known only on the whole batch
    if name in _ROW_COUNT:
        return "count"
    if name in _ROW_WISE:
        return "piece"
    if name in _UNIQUE:
        return "piece" if together.intersection(_columns(check)) else "regroup"
    if name in _DISTINCT:
        return "distinct"
    return "whole"


def _columns(check: Check) -> tuple[str, ...]:
    """The columns a check reads."""
    expectation = check.expectation
    found = [getattr(expectation, "column", None)]
    found += list(getattr(expectation, "column_list", None) or ())
    found += [getattr(expectation, name, None) for name in ("column_A", "column_B")]
    return tuple(str(column) for column in found if column is not None)


def _reads_every_column(check: Check) -> bool:
    """Whether a check may read columns ``_columns`` does not name: one on the table's columns, or
    one with a row condition (a pandas query on any column). A row-count check reads none."""
    if getattr(check.expectation, "row_condition", None):
        return True
    return not _columns(check) and type(check.expectation).__name__ not in _ROW_COUNT


def _read_columns(checks: Iterable[Check]) -> list[str]:
    return list(dict.fromkeys(column for check in checks for column in _columns(check)))


def _merge(outcomes: Sequence[_Outcome]) -> _Outcome:
    """One check's outcome on the batch from its outcomes on the pieces."""
    for outcome in outcomes:
        if outcome.error is not None:
            return outcome
    failing = [o for o in outcomes if not o.success]
    counts = [o.element_count for o in outcomes if o.element_count is not None]
    unexpected = [o.unexpected_count for o in outcomes if o.unexpected_count is not None]
    if failing:
        observed = failing[0].observed
    else:  # one observed value where the pieces agree; a dtype can differ by piece (["float64", "int64"])
        distinct = [json.loads(text) for text in dict.fromkeys(json.dumps(o.observed, sort_keys=True) for o in outcomes)]
        observed = distinct[0] if len(distinct) == 1 else distinct
    return _Outcome(
        success=not failing,
        observed=observed,
        element_count=sum(counts) if counts else None,
        unexpected_count=sum(unexpected) if unexpected else None,
        offenders=tuple(_distinct(value for o in outcomes for value in o.offenders)),
    )


def _report(
    suite: Suite, batch: str, outcomes: Sequence[_Outcome], height: int, columns: Collection[str]
) -> ValidationReport:
    return ValidationReport(
        suite.name,
        batch,
        tuple(
            _record(suite.name, batch, check, outcome, height, columns)
            for check, outcome in zip(suite.checks, outcomes, strict=True)
        ),
    )


_CHECK_KEY = "werkregio_check"


def _validate_together(
    gx_batch: Any, name: str, checks: Sequence[Check]
) -> dict[int, ExpectationValidationResult]:
    """Every check in one GX suite run (GX resolves shared metrics once).

    Returns the result per check index. Each check runs as a copy tagged with its index in
    ``meta``, since GX reorders a suite's results (by column) and would drop equal
    expectations. Checks whose result cannot be told apart are missing from the answer and run
    on their own by :func:`_run`; so is everything when the suite run itself raises.
    """
    expectations = []
    for index, check in enumerate(checks):
        meta = dict(check.expectation.meta or {})
        meta[_CHECK_KEY] = index
        expectations.append(check.expectation.copy(update={"meta": meta, "id": None}))
    import great_expectations as gx

    try:
        gx_suite = gx.ExpectationSuite(name=f"werkregio-{name}", expectations=expectations)
        outcome = gx_batch.validate(gx_suite, result_format=dict(_RESULT_FORMAT))
    except Exception:
        return {}
    results: dict[int, ExpectationValidationResult] = {}
    for result in outcome.results:
        config = result.expectation_config
        index = (config.meta or {}).get(_CHECK_KEY) if config is not None else None
        if isinstance(index, int) and index not in results:
            results[index] = result
    return results


def build_context() -> EphemeralDataContext:
    """A fresh ephemeral GX context: in-memory stores, analytics and progress bars off."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    return gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        ),
    )


@cache
def _batch_definition() -> BatchDefinition:
    """The process-wide whole-dataframe batch definition (context built once; it is slow)."""
    context = build_context()
    asset = context.data_sources.add_pandas("polars_frames").add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole_frame")


def _to_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    """The frame as pandas, with text columns as ``object`` holding ``str``/``None``.

    On an ``object`` column GX checks types value by value, so a stray string in a numeric
    column is reported with its value instead of only as "dtype str".
    """
    import pandas as pd

    data = frame.to_pandas()
    for name, dtype in frame.schema.items():
        if dtype in (pl.String, pl.Categorical, pl.Enum):
            values = frame[name].cast(pl.String).to_list()
            data[name] = pd.Series(values, dtype=object, index=data.index)
    return data


def _record(
    dataset: str,
    batch: str,
    check: Check,
    outcome: _Outcome,
    height: int,
    columns: Collection[str],
) -> CheckResult:
    if outcome.error is not None:
        return _error_record(dataset, batch, check, height, columns, outcome.error)
    success = outcome.success
    observed = outcome.observed
    element_count = height if outcome.element_count is None else outcome.element_count
    unexpected_count = outcome.unexpected_count
    offenders = outcome.offenders
    examples = [_text(v) for v in offenders]
    column = check.column
    if success:
        message = f"{check.expectation_type} passed{_on(column)}"
    elif unexpected_count:
        shown = ", ".join(
            repr(raw) if isinstance(raw, str) else text for raw, text in zip(offenders, examples)
        )
        message = (
            f"{check.expectation_type} failed{_on(column)}: "
            f"{unexpected_count} unexpected of {element_count}, e.g. {shown}"
        )
    elif observed is not None:
        message = f"{check.expectation_type} failed{_on(column)}: observed {observed}"
    elif column is not None and column not in columns:
        message = f"{check.expectation_type} failed{_on(column)}: no such column in the frame"
    else:
        message = f"{check.expectation_type} failed{_on(column)}"
    return CheckResult(
        dataset=dataset,
        batch=batch,
        expectation=check.expectation_type,
        column=column,
        severity=check.severity,
        success=success,
        observed_value=observed,
        element_count=element_count,
        unexpected_count=unexpected_count,
        unexpected_sample=tuple(examples),
        message=message,
        description=check.description,
    )


def _error_record(
    dataset: str, batch: str, check: Check, height: int, columns: Collection[str], error: str
) -> CheckResult:
    column = check.column
    if column is not None and column not in columns:
        # GX's own error for a missing column can be as vague as "list index out of range"
        error = f"no such column in the frame (GX: {error})"
    return CheckResult(
        dataset=dataset,
        batch=batch,
        expectation=check.expectation_type,
        column=column,
        severity=check.severity,
        success=False,
        observed_value=None,
        element_count=height,
        unexpected_count=None,
        unexpected_sample=(),
        message=f"{check.expectation_type} failed{_on(column)}: error: {error}",
        description=check.description,
        error=error,
    )


def _gx_error(exception_info: Any) -> str | None:
    """The error text GX caught while validating, or None.

    GX reports either one ``{"raised_exception": ..., "exception_message": ...}`` dict or a
    dict of them keyed by the metric that failed.
    """
    if not isinstance(exception_info, Mapping):
        return None
    infos = [exception_info] if "raised_exception" in exception_info else exception_info.values()
    messages: list[str] = []
    for info in infos:
        if isinstance(info, Mapping) and info.get("raised_exception"):
            text = " ".join(str(info.get("exception_message") or "unknown error").split())
            if text not in messages:
                messages.append(text)
    return "; ".join(messages) or None


def _describe(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _on(column: str | None) -> str:
    return "" if column is None else f" on column {column!r}"


def _distinct(values: Iterable[Any]) -> list[Any]:
    seen: set[str] = set()
    kept: list[Any] = []
    for value in values:
        key = repr(value)
        if key not in seen:
            seen.add(key)
            kept.append(value)
            if len(kept) == SAMPLE_SIZE:
                break
    return kept


def _text(value: Any) -> str:
    """A value as it appears in a sample: text as is, anything else as JSON (-4.0, null)."""
    value = _jsonable(value)
    return value if isinstance(value, str) else json.dumps(value)


def _jsonable(value: Any) -> Any:
    """``value`` with numpy scalars unwrapped, NaN as None and unknown objects as text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return value if math.isfinite(value) else str(value)
    if hasattr(value, "item") and callable(value.item):
        try:
            return _jsonable(value.item())
        except (TypeError, ValueError):
            pass
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return str(value)
