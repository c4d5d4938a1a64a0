"""Validation of landed CBS tables: the suite of each, its report stored and reused.

A build validates every landed CBS table before anything is published. Validating costs Great
Expectations' import (about 2.5 s) and about 5 to 8 ms per check, whatever the size of a small
batch. A build hands each table to the ``validate_batch`` task as a :class:`ValidationJob`, on the
task runner the settings choose (``flows.runners``: threads, processes, or a Dask cluster), while
the flow's own thread computes the fact tables. Nothing is published before every report is in,
and a critical failure stops the build (``flows.build``).

A report is kept under ``$WERKREGIO_HOME/validated/<suite>/<key>.json`` (key: the suite's
fingerprint, the batch and the landing's sha256), by whichever process validated it, and a rerun
on the same data with the same suite reuses it. The fingerprint (:func:`suite_fingerprint`)
covers the checks, GX's version and the code that validates.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl

from expectations.runner import ROWS_PER_PIECE, CheckResult, Pieces, Suite, ValidationReport, validate
from sources.cbs import catalog
from sources.cbs.landing import Landing
from transforms.regions import valid_codes_by_year


@dataclass(frozen=True)
class ValidationJob:
    """One landed CBS table to validate.

    ``valid_codes``: year -> municipality codes valid on 1 January; ``region_codes``: year ->
    labour-market region codes, or None where the table's suite has no region check (the
    national table and the 'Gebieden in Nederland' tables, from which the regions come).
    ``home``: the data dir whose ``validated/`` keeps reports, or None to keep none.
    """

    table_id: str
    landing: Landing
    valid_codes: Mapping[int, frozenset[str]]
    region_codes: Mapping[int, frozenset[str]] | None
    home: Path | None

    @property
    def batch(self) -> str:
        return f"{self.table_id}@{self.landing.modified}"


@dataclass(frozen=True)
class Validated:
    """A job's report; ``reused``: read from ``validated/`` instead of run; ``seconds``: time taken."""

    report: ValidationReport
    reused: bool
    seconds: float


log = logging.getLogger("werkregio.validation")

WITHOUT_REGION_CHECK = (catalog.NATIONAL_BENEFITS, catalog.REGIONS)
"""Catalog families whose jobs carry no region codes: the national table, and the tables the regions come from."""


def job_valid_codes(municipalities: pl.DataFrame, today: date) -> dict[int, frozenset[str]]:
    """Year -> municipality codes valid on 1 January, from the first year of the reference to next year: a job's ``valid_codes``.

    Next year too, because CBS publishes a 'Gebieden in Nederland' edition before its year begins.
    """
    return valid_codes_by_year(municipalities, range(int(municipalities["valid_from_year"].min()), today.year + 2))


def validate_landed(
    job: ValidationJob,
    data: pl.DataFrame | None = None,
    properties: list[dict[str, Any]] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Validated:
    """Validate ``job``'s table with the suite of its catalog family, or reuse its stored report.

    ``data`` and ``properties``: the landing's data rows (all of them) and DataProperties when
    already read (read from the landing otherwise; a landing of more than
    :data:`~expectations.runner.ROWS_PER_PIECE` rows is then scanned, never read whole).
    ``progress(rows done, rows)`` is called per piece of a table validated in pieces. A report
    with a check that raised an error is not stored; a stored one that cannot be read is
    validated again and replaced.
    """
    started = time.perf_counter()
    if data is None:  # a table too large to hold whole is validated piece by piece from its file
        data = job.landing.read_data() if held_whole(job.landing) else job.landing.scan_data()
    if properties is None:
        properties = job.landing.read_properties()
    suite, frame = landed_suite(catalog.table(job.table_id), data, properties, job.valid_codes, job.region_codes)
    cache = report_path(job.home, suite, job.batch, job.landing.sha256)
    stored = read_report(cache) if cache is not None and cache.is_file() else None
    if stored is not None:
        return Validated(stored, True, time.perf_counter() - started)
    report = validate(frame, suite, job.batch, progress=progress)
    if cache is not None and not report.errors:  # an error may be a one-off (out of memory): the next build tries again
        write_report(cache, report)
    return Validated(report, False, time.perf_counter() - started)


def held_whole(landing: Landing) -> bool:
    """Whether a build holds ``landing``'s rows whole: at most :data:`~expectations.runner.ROWS_PER_PIECE`;
    a larger table is read for the facts at its totals only and validated piece by piece from its file."""
    return landing.rows <= ROWS_PER_PIECE


def landed_suite(
    entry: catalog.SourceTable,
    data: pl.DataFrame | pl.LazyFrame,
    properties: list[dict[str, Any]],
    valid_codes: Mapping[int, frozenset[str]],
    region_codes: Mapping[int, frozenset[str]] | None,
) -> tuple[Suite, pl.DataFrame | Pieces]:
    """The suite for a landed table of ``entry`` and the frame (or pieces) to run it on."""
    if entry.family == catalog.NATIONAL_BENEFITS:
        from expectations.national_benefits import national_benefits_suite

        return national_benefits_suite(list(entry.series.values())), data.lazy().collect()
    from expectations.cbs_tables import suite_and_frame

    return suite_and_frame(
        entry,
        data,
        valid_codes=valid_codes,
        region_codes=region_codes,
        properties=properties,
        rows_per_piece=ROWS_PER_PIECE,
    )


def suite_fingerprint(suite: Suite) -> str:
    """Changes whenever anything that decides the suite's report changes.

    That is a check, its parameters, severity or description, GX's version, and the code that
    makes the helper columns, the suites and the report (:func:`validation_code_sha256`): a
    stricter check in code must not reuse a report the old code passed.
    """
    import great_expectations as gx

    checks = [[c.expectation.configuration.to_json_dict(), c.severity, c.description] for c in suite.checks]
    identity = [suite.name, checks, gx.__version__, validation_code_sha256()]
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def validation_sources() -> list[Path]:
    """The source files that decide a report besides the suite's checks: ``expectations/*.py`` and the helper columns' transforms."""
    import expectations.runner
    import transforms.geography
    import transforms.validation_frames

    # transforms.geography: normalise_gm_code, with which the helper columns read municipality codes
    helpers = [Path(str(m.__file__)) for m in (transforms.validation_frames, transforms.geography)]
    return [*sorted(Path(str(expectations.runner.__file__)).parent.glob("*.py")), *helpers]


@cache
def validation_code_sha256() -> str:
    """sha256 of :func:`validation_sources`, read once per process (a fingerprint is made per batch)."""
    digest = hashlib.sha256()
    for path in validation_sources():
        digest.update(f"{path.parent.name}/{path.name}\n".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def report_path(home: Path | None, suite: Suite, batch: str, fingerprint: str | None) -> Path | None:
    """Where the report of ``suite`` on ``batch`` with data ``fingerprint`` is kept; None without a home or fingerprint."""
    if home is None or fingerprint is None:
        return None
    key = hashlib.sha256(f"{suite_fingerprint(suite)}|{batch}|{fingerprint}".encode()).hexdigest()
    return home / "validated" / suite.name / f"{key}.json"


def write_report(path: Path, report: ValidationReport) -> None:
    """Store ``report`` at ``path`` atomically: written to ``<key>.<pid>.partial`` beside it, fsynced, renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial")
    body = {"dataset": report.dataset, "batch": report.batch, "records": [asdict(r) for r in report.records]}
    with partial.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(body, default=str))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def read_report(path: Path) -> ValidationReport | None:
    """The report stored at ``path``; None, with a warning naming the file, when it cannot be read (damaged, or another version's format)."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        records = tuple(CheckResult(**{**r, "unexpected_sample": tuple(r["unexpected_sample"])}) for r in body["records"])
        return ValidationReport(dataset=body["dataset"], batch=body["batch"], records=records)
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.warning("stored validation report %s cannot be read (%s: %s): validating again and replacing it", path, type(err).__name__, err)
        return None
