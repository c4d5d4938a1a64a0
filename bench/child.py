"""One measured run in a fresh process: ``python -m bench.child MODE``; prints one JSON line.

The data dir is ``WERKREGIO_HOME``; Prefect talks to ``PREFECT_API_URL`` when set, else to the
temporary server Prefect starts itself. Flows run as the ``werkregio`` command runs them
(``flows.cli.foreground_flow_run``: no flow-run heartbeats). Modes:

* ``build``: ``refresh(offline=True)`` under Prefect. The validation cache and the published
  warehouse are removed first, so that every run validates every batch and computes the same
  scenarios (the first build of newly landed data). ``validation`` is the seconds the tables took
  to validate in this process (``flows.validation.Validated.seconds``: reading the landing, the
  suite, GX or the stored report; tasks run in worker processes are not counted);
  ``validation_peak_rss_mb`` this process's peak memory when the last table was validated;
  ``task_runner`` where the per-table tasks ran (``flows.runners``);
* ``build-direct``: the same flow body with no Prefect at all: a stand-in for the few Prefect
  names the flows use (``bench/no_prefect.py``) is installed before the flows are imported, so
  that flows and tasks are plain calls and Prefect is never imported: the work alone;
* ``recalculate YEAR`` / ``recalculate-direct YEAR``: ``recalculate_indicators(reference_year=YEAR)``,
  the direct one also timing ``compute_marts`` and, within it, ``crosswalks`` (building every
  crosswalk: ``transforms.geography._crosswalk``; the change table is checked once, before);
  both direct modes time ``report``: writing the indicator report after the publish
  (``write_indicator_report``, with its imports of Altair and vl-convert);
* ``refresh``: ``refresh()`` of the whole catalog from ``WERKREGIO_CBS_URL``; ``fetched`` is the
  time until every table is downloaded or found unchanged (the inputs are then compared with the
  published build's); ``rebuilt``: whether it built and published.

Output: ``started_at``/``finished_at`` (epoch seconds, for the parent's startup and exit
times), ``import_prefect`` (``import prefect``), ``import_rest`` (the flows and what they
import: Polars, DuckDB), ``run`` (the flow call), ``peak_rss_mb`` (this process; a temporary
Prefect server runs in a process of its own and is not included), ``children_peak_rss_mb`` (the
largest peak of a child process this one waited for).
"""

from __future__ import annotations

import time

STARTED_AT = time.time()

import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from contextlib import ExitStack  # noqa: E402
from typing import Any  # noqa: E402
from unittest import mock  # noqa: E402


def _timed(target: str, function: Callable, timings: dict[str, float], name: str, *, at_start: bool = False) -> Any:
    """Patch ``target`` to add its durations to ``timings[name]`` (or, ``at_start``, to record when it was first entered).

    Also records ``timings[name + "_peak_rss_mb"]``: this process's peak memory when the last call returned.
    """

    def wrapper(*args, **kwargs):
        begin = time.perf_counter()
        if at_start:
            timings.setdefault(name, begin)
        try:
            return function(*args, **kwargs)
        finally:
            if not at_start:
                timings[name] = timings.get(name, 0.0) + time.perf_counter() - begin
                timings[name + "_peak_rss_mb"] = _peak_rss_mb()

    return mock.patch(target, wrapper)


def _validation_seconds(timings: dict[str, float]) -> Any:
    """Add up in ``timings["validation"]`` the seconds every batch validated in this process took."""
    import flows.validation

    def counted(*args, **kwargs):
        validated = flows.validation.validate_landed(*args, **kwargs)
        timings["validation"] = timings.get("validation", 0.0) + validated.seconds
        timings["validation_peak_rss_mb"] = _peak_rss_mb()
        return validated

    return mock.patch("flows.tasks.validate_landed", counted)


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def main(mode: str, argument: str | None = None) -> dict[str, Any]:
    direct = mode.endswith("-direct")
    if mode.startswith("build"):
        from flows.settings import Settings

        early = Settings.from_env()
        # the first build of new data: every batch validated, nothing published yet
        shutil.rmtree(early.home / "validated", ignore_errors=True)
        (early.home / "warehouse" / "werkregio.duckdb").unlink(missing_ok=True)
    if direct:
        from bench import no_prefect

        no_prefect.install()

    begin_imports = time.perf_counter()
    import prefect  # noqa: F401  (timed on its own; the stand-in in a direct run)

    imported_prefect = time.perf_counter()
    import flows.cli
    import flows.indicators
    import flows.refresh
    import flows.tasks
    import transforms.geography
    import transforms.indicators

    imported = time.perf_counter()
    timings: dict[str, float] = {"validation": 0.0, "validation_peak_rss_mb": 0.0}
    with ExitStack() as stack:
        if not direct:  # the flow run as the `werkregio` command starts it (no flow-run heartbeats)
            stack.enter_context(flows.cli.foreground_flow_run())
        if mode == "recalculate-direct":
            stack.enter_context(_timed("flows.indicators.compute_marts", flows.indicators.compute_marts, timings, "compute_marts"))
            # a crosswalk is built by its first step and then advanced a year at a time (transforms.geography.crosswalks)
            for step in ("_start", "_advance"):
                function = getattr(transforms.geography, step)
                stack.enter_context(_timed(f"transforms.geography.{step}", function, timings, "crosswalks"))
        if direct:  # the indicator report written after the publish (issue 24), its imports (Altair, vl-convert) included
            module = flows.indicators if mode.startswith("recalculate") else flows.refresh
            target = f"{module.__name__}.write_indicator_report"
            stack.enter_context(_timed(target, module.write_indicator_report, timings, "report"))
        if mode.startswith("build"):
            stack.enter_context(_validation_seconds(timings))
        if mode == "refresh":
            stack.enter_context(_timed("flows.refresh.inputs_sha256", flows.refresh.inputs_sha256, timings, "build_started", at_start=True))
        flows_by_mode = {
            "build": lambda flow: flow(offline=True),
            "recalculate": lambda flow: flow(reference_year=int(argument)),
            "refresh": lambda flow: flow(),
        }
        flow = flows.indicators.recalculate_indicators if mode.startswith("recalculate") else flows.refresh.refresh
        begin = time.perf_counter()
        record = flows_by_mode[mode.removesuffix("-direct")](flow.fn if direct else flow)
        finished = time.perf_counter()
    if direct and (loaded := no_prefect.loaded_prefect()):
        raise RuntimeError(f"the direct run imported Prefect after all ({', '.join(loaded[:5])}): its figures would include Prefect's")
    result = {
        "mode": mode,
        "import_prefect": imported_prefect - begin_imports,
        "import_rest": imported - imported_prefect,
        "run": finished - begin,
        "peak_rss_mb": _peak_rss_mb(),
        "children_peak_rss_mb": _peak_rss_mb(resource.RUSAGE_CHILDREN),
        "published_rows": record["published"]["rows"],
        "actions": sorted({table["action"] for table in record["tables"]}),
        "rebuilt": record["published"].get("rebuilt", True),
        "task_runner": record.get("task_runner"),
    }
    if "build_started" in timings:
        timings["fetched"] = timings.pop("build_started") - begin
    return {**result, **timings, "started_at": STARTED_AT, "finished_at": time.time()}


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])), flush=True)
