"""One measured run in a fresh process: ``python -m bench.child MODE``; prints one JSON line.

The data dir is ``WERKREGIO_HOME``; Prefect talks to ``PREFECT_API_URL`` when set, else to the
temporary server started at the child's first step. Flows run as the ``werkregio`` command runs them
(``flows.cli.foreground_flow_run``: no flow-run heartbeats). Modes:

* ``build``: ``refresh(offline=True)`` under Prefect. The validation cache and the published
  warehouse are removed first, so that every run validates every batch and computes the same
  scenarios (the first build of newly landed data). The validation workers are started at once,
  before Prefect is imported, as ``werkregio refresh --offline`` does (``flows.validation_workers.start_early``),
  and validate the build's planned jobs ahead of it (``flows.validation_workers``, 'Ahead of the build').
  ``validation`` is the seconds the tables took to validate (``flows.validation.Validated.seconds``:
  reading the landing, the suite, GX or the stored report), added up over the worker processes or,
  when the build validates in its own process, there; ``validated_in_workers`` says which;
  ``validation_peak_rss_mb`` this process's peak memory when the last table was validated;
* ``build-direct``: the same flow body with no Prefect at all: a stand-in for the few Prefect
  names the flows use (``bench/no_prefect.py``) is installed before the flows are imported, so
  that flows and tasks are plain calls and Prefect is never imported: the work alone;
* ``recalculate YEAR`` / ``recalculate-direct YEAR``: ``recalculate_indicators(reference_year=YEAR)``,
  the direct one also timing ``compute_marts`` and, within it, ``crosswalks`` (building every
  crosswalk: ``transforms.geography._crosswalk``; the change table is checked once, before);
* ``server``: Prefect's temporary server alone, started and stopped as the command does
  (:func:`server_alone`);
* ``refresh``: ``refresh()`` of the whole catalog from ``WERKREGIO_CBS_URL``; ``fetched`` is the
  time until every table is downloaded or found unchanged (the inputs are then compared with the
  published build's); ``rebuilt``: whether it built and published.

Every mode but the direct ones starts Prefect's temporary server at once when ``PREFECT_API_URL``
is unset, as the ``werkregio`` command does (``flows.prefect_server.start_early``).

Output: ``started_at``/``finished_at`` (epoch seconds, for the parent's startup and exit
times), ``server_wait`` (the seconds the flow call waited for that server: 0 without one),
``server_ready`` (seconds from its start to its first answer; only when one was started),
``import_prefect`` (``import prefect``), ``import_rest`` (the flows and what they
import: Polars, DuckDB, and for a build that validates in this process GX and pandas),
``import_gx`` (the GX part of it: imported up front, as before the workers, when the build will
validate in this process, i.e. a table is to be validated in pieces; a build in the workers, and
the other modes, import no GX here), ``run`` (the flow
call), ``peak_rss_mb`` (this process; a temporary Prefect server runs in a process of its own
and is not included), ``children_peak_rss_mb`` (the largest peak of a child process this one
waited for: the leader of the validation workers, whose forks hold about as much, most of it shared).
"""

from __future__ import annotations

import time

STARTED_AT = time.time()

import gc  # noqa: E402
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
    """Add up in ``timings["validation"]`` the seconds every batch took to validate, here or in a worker process."""
    import flows.validation
    import flows.validation_workers

    def counted(function: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            validated = function(*args, **kwargs)
            timings["validation"] = timings.get("validation", 0.0) + validated.seconds
            timings["validation_peak_rss_mb"] = _peak_rss_mb()
            timings["validated_in_workers"] = validated.worker is not None
            return validated

        return wrapper

    stack = ExitStack()
    stack.enter_context(mock.patch("flows.tasks.validate_landed", counted(flows.validation.validate_landed)))
    stack.enter_context(mock.patch.object(flows.validation_workers.ValidationWorkers, "run", counted(flows.validation_workers.ValidationWorkers.run)))
    return stack


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def server_alone() -> dict[str, Any]:
    """Mode ``server``: Prefect's temporary server as the command starts it, with nothing else running.

    ``server_ready``: seconds from its start to its first answer; ``server_cpu``: the CPU seconds its
    process had used by then (``/proc``; its start is CPU-bound, so about the same when alone).
    """
    import os
    from pathlib import Path

    from flows import prefect_server

    server = prefect_server.CommandServer()
    try:
        ready = server.wait_ready(120)
        fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    finally:
        server.stop()
    return {"mode": "server", "server_ready": ready, "server_cpu": cpu, "started_at": STARTED_AT, "finished_at": time.time()}


def main(mode: str, argument: str | None = None) -> dict[str, Any]:
    if mode == "server":
        return server_alone()
    server = None
    if not mode.endswith("-direct"):  # as the `werkregio` command does, before it imports Prefect
        from flows import prefect_server

        server = prefect_server.start_early()  # without PREFECT_API_URL only: Prefect's temporary server
    if mode.startswith("build"):  # as `werkregio refresh --offline` does, before it imports Prefect
        from flows.settings import Settings
        from flows.validation_workers import start_early

        early = Settings.from_env()
        # the first build of new data: every batch validated, nothing published yet
        shutil.rmtree(early.home / "validated", ignore_errors=True)
        (early.home / "warehouse" / "werkregio.duckdb").unlink(missing_ok=True)
        start_early(early.validation_workers, ahead=(early.raw_dir, early.home), unless_unchanged=True)  # nothing published: they build
    direct = mode.endswith("-direct")
    if direct:
        from bench import no_prefect

        no_prefect.install()
    from flows.startup import import_for_flow_runs, imports_without_collection

    begin_imports = time.perf_counter()
    with imports_without_collection():  # as the `werkregio` command imports Prefect and the flows
        import prefect  # noqa: F401  (timed on its own; the stand-in in a direct run)

        imported_prefect = time.perf_counter()
        import flows.cli
        import flows.indicators
        import flows.refresh
        import flows.tasks
        import transforms.geography
        import transforms.indicators
        from sources.cbs import catalog
        from sources.cbs.landing import current_landings
        from flows.settings import Settings
        from flows.validation import worker_count

        if not direct:
            import_for_flow_runs()  # as the command does

    imported_flows = time.perf_counter()
    settings = Settings.from_env()
    if mode.startswith("build") and not worker_count(settings.validation_workers, current_landings(settings.raw_dir, catalog.ids())):
        import expectations.gx  # noqa: F401  (timed on its own: this build validates in its own process)

    imported = time.perf_counter()
    timings: dict[str, float] = {}
    with ExitStack() as stack:
        if not direct:  # the flow run as the `werkregio` command starts it (the early server's API, no flow-run heartbeats)
            waiting = time.perf_counter()
            stack.enter_context(flows.cli.foreground_flow_run())
            timings["server_wait"] = time.perf_counter() - waiting
            if server is not None:
                timings["server_ready"] = server.ready_after or 0.0
        if mode == "recalculate-direct":
            stack.enter_context(_timed("flows.indicators.compute_marts", flows.indicators.compute_marts, timings, "compute_marts"))
            crosswalk = transforms.geography._crosswalk
            stack.enter_context(_timed("transforms.geography._crosswalk", crosswalk, timings, "crosswalks"))
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
        "import_gx": imported - imported_flows,
        "import_rest": imported - imported_prefect,
        "run": finished - begin,
        "peak_rss_mb": _peak_rss_mb(),
        "children_peak_rss_mb": _peak_rss_mb(resource.RUSAGE_CHILDREN),
        "published_rows": record["published"]["rows"],
        "actions": sorted({table["action"] for table in record["tables"]}),
        "rebuilt": record["published"].get("rebuilt", True),
    }
    if "build_started" in timings:
        timings["fetched"] = timings.pop("build_started") - begin
    return {**result, **timings, "started_at": STARTED_AT, "finished_at": time.time()}


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])), flush=True)
    gc.freeze()  # as the `werkregio` console script does (flows/cli.py, run): no collection at exit
