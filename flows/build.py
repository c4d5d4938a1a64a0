"""Steps shared by the flows: landed tables -> validated facts, facts -> indicator marts.

These functions run inside a flow and call tasks for every effect; the shaping of data is done
by the pure transforms they call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl
from prefect import get_run_logger
from prefect.futures import wait

from sources.cbs import catalog
from sources.cbs.client import time_dimension
from sources.cbs.landing import Landing, current_landings
from flows.failures import MissingSource, ValidationStopped, WouldPublishLess
from flows.settings import Settings
from flows.tasks import LandedTable, intake_uwv, read_landings, read_reference, read_uwv_archive, record_landing_checks, validate_batch
from flows.runners import choose_runner, task_runner
from flows.validation import WITHOUT_REGION_CHECK, ValidationJob, job_valid_codes
from transforms import uwv
from transforms.analyses import analyses
from transforms.indicators import indicator_tables
from transforms.periods import years_text
from transforms.regional import combine_regional, name_areas, regional_series
from transforms.regions import geography_tables, region_memberships, valid_codes_by_year
from transforms.validation_frames import region_codes_by_year
from transforms.series import national_series
from transforms.uwv_checks import municipality_names, national_bounds

FACT_TABLES = (
    "national_series",
    "regional_series",
    "municipalities",
    "municipal_changes",
    "region_membership",
    *uwv.DATASETS,
)


@dataclass
class Facts:
    """The fact tables of a build, the validation records behind them and the UWV files taken in.

    ``meanwhile``: what :func:`build_facts`'s ``meanwhile`` returned on these very tables, or
    None when it was not called or the UWV files taken in changed the tables since.
    ``task_runner``: where the per-table tasks ran (``flows.runners``), as logged.
    """

    tables: dict[str, pl.DataFrame]
    validation: list[dict[str, Any]]
    uwv_files: list[dict[str, Any]]
    meanwhile: Any = None
    task_runner: str | None = None


def build_facts(settings: Settings, run_id: str, meanwhile: Callable[[dict[str, pl.DataFrame]], Any] | None = None) -> Facts:
    """Every fact table from the current landings and the UWV archive, with the validation records.

    Every landed CBS batch is validated by a ``validate_batch`` task (reports are reused for
    unchanged batches) on the task runner of the settings (``flows.runners``), while this thread
    computes the CBS fact tables. Any critical failure stops the build with all failures listed,
    before the UWV inbox is touched, and marks the landing failed (run ``run_id``), so that the next
    refresh downloads it again. A UWV file that fails is quarantined and left out (its outcome
    is in ``uwv_files``).

    ``meanwhile`` (the refresh: its indicator marts) is called on the fact tables while the tasks
    still validate, with the UWV tables of the archive as it is; its result is kept in
    :attr:`Facts.meanwhile` unless the intake then accepts a UWV file (the tables change: the
    caller computes again). Its errors, like the transforms', come after the validation's failures.
    """
    landings = current_landings(settings.raw_dir, catalog.ids())
    national_entry = catalog.national_benefits()
    if national_entry.table_id not in {landing.table_id for landing in landings}:
        raise MissingSource(f"{national_entry.table_id} ({national_entry.title}) has never been landed: refresh it first")
    by_batch = {f"{landing.table_id}@{landing.modified}": landing for landing in landings}

    def validated(pending: list[Any]) -> list[dict[str, Any]]:
        return _validated(pending, by_batch, run_id)

    choice = choose_runner(settings, max(landing.rows for landing in landings))
    get_run_logger().info("validating %d landed table(s) on %s", len(landings), choice.description)
    with task_runner(choice) as runner:
        landed = {t.landing.table_id: t for t in read_landings(landings)}
        reference = read_reference()
        municipalities = reference["municipalities"]
        valid_codes = job_valid_codes(municipalities, date.today())

        def check(entry: catalog.SourceTable, region_codes: Mapping[int, frozenset[str]] | None) -> Any:
            job = ValidationJob(entry.table_id, landed[entry.table_id].landing, valid_codes, region_codes, settings.home)
            table = landed[entry.table_id]
            if not (choice.shares_memory and table.whole):  # another process, or the table's pieces: read from the landing
                table = None
            return runner.submit(validate_batch, {"job": job, "table": table})

        pending = [check(national_entry, None)]
        gebieden = [e for e in catalog.family(catalog.REGIONS) if e.table_id in landed]
        pending += [check(e, None) for e in gebieden]
        try:
            membership = region_memberships(
                {"year": e.geography_year, "table_id": e.table_id, "data": landed[e.table_id].data, "properties": landed[e.table_id].properties}
                for e in gebieden
            )
            region_codes = region_codes_by_year(membership)
            others = [e for e in catalog.TABLES if e.table_id in landed and e.family not in WITHOUT_REGION_CHECK]
            pending += [check(e, region_codes) for e in others]
            facts = {
                "national_series": pl.concat(
                    [_national(entry, landed[entry.table_id]) for entry in catalog.national_tables() if entry.table_id in landed]
                ),
                "regional_series": name_areas(
                    combine_regional(
                        [_regional(entry, landed[entry.table_id]) for entry in catalog.regional_tables() if entry.table_id in landed]
                    ),
                    membership,
                ),
                **geography_tables(reference["municipal_changes"], municipalities, membership),
            }
            early = None
            if meanwhile is not None:  # on this thread while the tasks validate
                archive = read_uwv_archive(settings)
                early = meanwhile({**facts, **archive})
        except Exception:
            validated(pending)  # the failed checks explain bad data better than a transform's error
            raise
        validation = validated(pending)

    intake = intake_uwv(
        settings,
        valid_codes,
        {y: dict(membership.filter(pl.col("year") == y).select("region_code", "region_name").unique().iter_rows()) for y in membership["year"].unique()},
        municipality_names(municipalities, membership, valid_codes),
        national_bounds(facts["national_series"]),
    )
    for result in intake:
        if result.status == "accepted" and result.validation is not None:
            validation += result.validation.to_rows()
    if early is not None and not any(result.status == "accepted" for result in intake):
        facts.update(archive)  # the archive as ``meanwhile`` saw it: only an accepted file changes it
    else:
        facts.update(read_uwv_archive(settings))
        early = None
    uwv_files = [
        {"file": r.file, "status": r.status, "dataset": r.dataset, "message": r.message, "report": str(r.report) if r.report else None}
        for r in intake
    ]
    return Facts(facts, validation, uwv_files, early, choice.description)


def _validated(pending: list[Any], landings: dict[str, Landing], run_id: str) -> list[dict[str, Any]]:
    """The validation records of every batch (futures of reports); raises :class:`ValidationStopped` on a critical failure.

    Each batch's outcome is recorded with its landing (``landings``: by batch), failed or not.
    """
    wait(pending)  # every batch ends before any error is raised
    reports = [p.result() for p in pending]
    record_landing_checks(landings, reports, run_id)
    validation = [row for report in reports for row in report.to_rows()]
    failed = [report for report in reports if not report.passed]
    if failed:
        raise ValidationStopped(failed, validation)
    return validation


def _national(entry: catalog.SourceTable, table: LandedTable) -> pl.DataFrame:
    dimension = time_dimension(table.properties)
    return national_series(
        table.data,
        table.dimensions[dimension],
        series=entry.series,
        unit=entry.unit,
        table_id=entry.table_id,
        time_dimension=dimension,
        totals=entry.totals,
    )


def _regional(entry: catalog.SourceTable, table: LandedTable) -> pl.DataFrame:
    times = [p["Key"] for p in table.properties if p.get("Type") == "TimeDimension"]
    dimension = times[0] if times else None
    return regional_series(
        table.data,
        series=entry.series,
        unit=entry.unit,
        table_id=entry.table_id,
        region_dimension=entry.region_dimension,
        totals=entry.totals,
        periods=table.dimensions[dimension] if dimension else None,
        time_dimension=dimension,
        period_year=None if dimension else entry.first_year,
        geography_year=entry.geography_year,
    )


def region_years(facts: Mapping[str, pl.DataFrame]) -> list[int]:
    """The years with a CBS region composition ('Gebieden in Nederland') among the facts, sorted."""
    return sorted(int(year) for year in facts["region_membership"]["year"].unique())


def check_reference_year(year: int, composed: Sequence[int], name: str) -> int:
    """``year`` if it has a region composition; else MissingSource naming ``name`` (where it came from) and the years that do."""
    if year not in composed:
        raise MissingSource(
            f"{name}={year}: no CBS region composition ('Gebieden in Nederland') of {year} is loaded, so there are no "
            f"regions to compute indicators for (compositions loaded: {years_text(composed)}); choose one of those years, "
            "or land that year's edition with `werkregio refresh --table regions` once sources/cbs/catalog.py lists it"
        )
    return year


def default_reference_year(facts: Mapping[str, pl.DataFrame], settings: Settings) -> int | None:
    """``WERKREGIO_REFERENCE_YEAR`` (which must have a region composition), else the latest year with one (None: none landed)."""
    composed = region_years(facts)
    if settings.reference_year is not None and composed:
        return check_reference_year(settings.reference_year, composed, "WERKREGIO_REFERENCE_YEAR")
    return composed[-1] if composed else None


def scenarios(
    default_year: int | None,
    previous: pl.DataFrame | None,
    extra: Iterable[tuple[int, str]] = (),
    composed: Sequence[int] | None = None,
) -> list[tuple[int, str]]:
    """The (reference year, view) pairs to compute: the default, those already published, and ``extra``.

    Without any region composition landed (``default_year`` None) there is nothing to compute. A
    harmonised reference year published before whose composition is not among ``composed`` (when
    given) is no longer computed: it would have no regions.
    """
    if default_year is None:
        return []
    chosen = {(default_year, "harmonised"), (default_year, "as_published")}
    if previous is not None and previous.height:
        harmonised = previous.filter(previous["view"] == "harmonised")
        years = {int(y) for y in harmonised["geography_year"].unique()}
        dropped = sorted(years - set(composed)) if composed is not None else []
        if dropped:
            get_run_logger().warning(
                "harmonised indicators published before for %s are no longer computed: no region composition of "
                "that year is loaded (loaded: %s)", years_text(dropped), years_text(composed or ()),
            )
        chosen |= {(year, "harmonised") for year in years if year not in dropped}
    chosen |= set(extra)
    return sorted(chosen)


def check_nothing_dropped(previous: Mapping[str, pl.DataFrame | None], frames: Mapping[str, pl.DataFrame], where: str, force: bool) -> None:
    """Raise :class:`WouldPublishLess` when ``frames`` lack what the ``previous`` published tables hold, unless ``force``.

    Compared: the harmonised reference years and the views of ``indicators`` (a year added with
    ``werkregio indicators --reference-year`` is computed again by every refresh, as long as its
    region composition is landed) and the CBS tables in ``source_tables`` (a table whose landings
    were removed). A published file that could not be read is not compared (``previous`` None).
    """
    dropped = []
    old, new = previous.get("indicators"), frames["indicators"]
    if old is not None and old.height:
        def harmonised(frame: pl.DataFrame) -> set[int]:
            return {int(y) for y in frame.filter(pl.col("view") == "harmonised")["geography_year"].unique()}

        if gone := sorted(harmonised(old) - harmonised(new)):
            dropped.append(f"the harmonised indicators of reference year(s) {years_text(gone)}")
        if views := sorted(set(old["view"].unique()) - set(new["view"].unique())):
            dropped.append(f"the {', '.join(views)} indicators")
    tables = previous.get("source_tables")
    if tables is not None and (gone_tables := sorted(set(tables["table_id"]) - set(frames["source_tables"]["table_id"]))):
        dropped.append(f"CBS table(s) {', '.join(gone_tables)} (no longer landed)")
    if dropped and not force:
        raise WouldPublishLess(
            f"this build lacks what the published warehouse {where} holds: {'; '.join(dropped)}. Nothing was published; "
            "`werkregio refresh --force` publishes it anyway"
        )


def compute_marts(facts: Mapping[str, pl.DataFrame], chosen: Iterable[tuple[int, str]]) -> dict[str, pl.DataFrame]:
    """Indicator mart and spread from the fact tables, for every (reference year, view), and the evaluation's analyses on them."""
    municipalities = facts["municipalities"]
    first = int(municipalities["valid_from_year"].min())
    last = max(int(municipalities["valid_from_year"].max()), int(facts["municipal_changes"]["boundary_year"].max()))
    chosen = list(chosen)
    if not chosen:
        get_run_logger().warning("no 'Gebieden in Nederland' table is landed: indicators need the 'regions' family")
    last = max([last, *(year for year, _ in chosen)])
    marts = indicator_tables(
        national=facts["national_series"],
        regional=facts["regional_series"],
        membership=facts["region_membership"],
        changes=facts["municipal_changes"],
        valid_codes=valid_codes_by_year(municipalities, range(first, last + 1)),
        scenarios=chosen,
        benefit_sources=catalog.BENEFIT_SOURCES,
        national_sources={series: entry.table_id for entry in catalog.national_tables() for series in entry.series},
        uwv={name: facts[name] for name in uwv.DATASETS},
    )
    return {**marts, "analyses": analyses(marts["indicators"], facts[uwv.PORTAL_CONNECTIONS])}
