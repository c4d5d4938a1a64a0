"""The ``recalculate_indicators`` flow: rebuild the marts from already-loaded facts, no download.

    read_published_tables (facts, previous marts, validation, load history: one connection) -> compute_marts (pure)
      -> publish_warehouse (a copy of the published file with new marts, build_info and load_history; atomic swap, like a refresh)
      -> write_indicator_report (the HTML report beside it)
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.states import State

from flows.artifacts import show_published
from flows.build import (
    FACT_TABLES,
    MissingSource,
    check_reference_year,
    compute_marts,
    default_reference_year,
    region_years,
    scenarios,
)
from flows.failures import EXPECTED, failed
from flows.refresh import recorded_run, run_metadata
from flows.settings import Settings, View
from flows.tasks import publish_warehouse, read_published_tables, write_indicator_report
from transforms.metadata import validation_results
from warehouse.store import WarehouseError


@flow(name="recalculate_indicators", description="Recompute the indicator marts for a reference year and view from loaded facts.")
def recalculate_indicators(
    reference_year: int | None = None, view: View = "harmonised"
) -> dict[str, Any] | State:
    """Add (or refresh) the indicators for ``reference_year`` and ``view``, keep the other scenarios.

    Reads the facts from the published warehouse, so nothing is downloaded or re-validated;
    the source tables and validation results of the build that loaded the facts are carried over
    (not the newest landings: a refresh may have landed a version and then failed), and so is the
    CBS service they came from (``build_info.cbs_url``, whatever ``WERKREGIO_CBS_URL`` says now). Default reference year:
    ``WERKREGIO_REFERENCE_YEAR``, else the latest year with a CBS region composition. ``view`` is
    checked by Prefect against its two values (the UI offers them). An expected failure
    (``flows.failures``) ends the run Failed with its message.
    """
    try:
        return recalculate(reference_year, view)
    except EXPECTED as err:
        return failed(err)


def recalculate(reference_year: int | None, view: str) -> dict[str, Any]:
    """The body of :func:`recalculate_indicators`, in its flow run."""
    settings = Settings.from_env()
    with recorded_run(settings, "indicators", {"reference_year": reference_year, "view": view}) as record:
        current = read_published_tables(settings, [*FACT_TABLES, "indicators", "validation_results", "load_history", "build_info"])
        facts = {name: current[name] for name in FACT_TABLES}
        missing = [name for name, frame in {**facts, "build_info": current["build_info"]}.items() if frame is None]
        if missing:
            raise WarehouseError(
                f"no published facts to recalculate from ({', '.join(missing)} missing in {settings.warehouse_path}): "
                "run `werkregio refresh` first"
            )
        composed = region_years(facts)
        default = default_reference_year(facts, settings)  # checked against the compositions already
        year = reference_year if reference_year is not None else default
        if year is None:
            raise MissingSource("no region composition in the warehouse: refresh the 'regions' family first")
        if reference_year is not None:
            check_reference_year(reference_year, composed, "reference_year")
        marts = compute_marts(facts, scenarios(default, current["indicators"], [(year, view)], composed=composed))
        # the facts, the source versions they came from and their validation results are taken over
        # from the published file as they are
        kept = (*FACT_TABLES, "source_tables", *(("validation_results",) if current["validation_results"] is not None else ()))
        frames = {
            **marts,
            # the facts came from the service the published build fetched them from, not from today's setting
            **run_metadata(settings, record, current["load_history"], marts["indicators"], cbs_url=current["build_info"]["cbs_url"][0]),
            **({} if "validation_results" in kept else {"validation_results": validation_results(record["run_id"], [])}),
        }
        published = publish_warehouse(settings, frames, keep=kept)
        record["published"] = {"path": str(published.path), "rows": published.row_counts}
        show_published(published.path, record["run_id"], marts["indicators"])
        record["published"]["report"] = write_indicator_report(settings)
        return record
