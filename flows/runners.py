"""The Prefect task runner that runs a build's per-table tasks (validation), chosen by the settings.

``WERKREGIO_TASK_RUNNER``:

* ``threads``: Prefect's ``ThreadPoolTaskRunner`` with ``WERKREGIO_WORKERS`` threads, in the flow's
  own process. Great Expectations runs one check at a time per process (``expectations.runner``),
  so the tables are validated one after another, beside the flow computing the facts; a task is
  handed the frames the flow read, with no second copy.
* ``processes``: Prefect's ``ProcessPoolTaskRunner`` with ``WERKREGIO_WORKERS`` processes on this
  machine (started with ``spawn``: each imports Prefect and GX once, about 3 to 4 s of CPU). A task
  reads its landing itself.
* ``dask`` (``WERKREGIO_DASK_ADDRESS=tcp://host:8786``): prefect-dask's ``DaskTaskRunner`` on that
  existing cluster; a task reads its landing itself, so the data dir must be at the same path on
  every Dask worker (a shared filesystem), and the Prefect API must be one they reach
  (``PREFECT_API_URL``: a ``prefect server start``, docs/scheduling.md).

A build with a landed table of more than :data:`~expectations.runner.ROWS_PER_PIECE` rows
validates on one thread in the flow's process whatever the setting (but Dask): such a table is
validated piece by piece from its file, one piece in memory at a time, and every worker process
would add its own GX and pandas (some hundreds of MB) to a build kept under 1 GB this way.

Downloads (``fetch_table``) stay on the flow's own thread pool whatever the setting: they wait on
the network, share one client and its ``WERKREGIO_CONCURRENCY`` limit, and land into this
machine's data dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from expectations.runner import ROWS_PER_PIECE
from flows.settings import Settings


@dataclass(frozen=True)
class RunnerChoice:
    """Which task runner, with how many workers, and a line for the run's log saying so.

    ``shares_memory``: tasks run in the flow's process and may be handed its frames.
    """

    kind: str
    workers: int
    description: str
    address: str | None = None

    @property
    def shares_memory(self) -> bool:
        return self.kind == "threads"


def choose_runner(settings: Settings, largest_rows: int) -> RunnerChoice:
    """The runner for a build whose largest landed table has ``largest_rows`` rows."""
    if settings.dask_address is not None:
        address = settings.dask_address
        return RunnerChoice("dask", 0, f"the Dask cluster at {address} (prefect-dask DaskTaskRunner)", address)
    if largest_rows > ROWS_PER_PIECE:
        return RunnerChoice(
            "threads", 1,
            f"one thread in the flow's process (ThreadPoolTaskRunner): a table of {largest_rows:,} rows is validated "
            f"in pieces from its file, and worker processes would each add their own GX and pandas to the memory",
        )  # fmt: skip
    if settings.task_runner == "processes":
        return RunnerChoice("processes", settings.workers, f"{settings.workers} worker processes (ProcessPoolTaskRunner)")
    return RunnerChoice("threads", settings.workers, f"{settings.workers} threads in the flow's process (ThreadPoolTaskRunner)")


@contextmanager
def task_runner(choice: RunnerChoice) -> Iterator[Any]:
    """The started task runner of ``choice``; ``runner.submit(task, parameters)`` gives a Prefect future."""
    if choice.kind == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        with ThreadPoolTaskRunner(max_workers=choice.workers) as runner:
            yield runner
        return
    if choice.kind == "processes":
        from prefect.task_runners import ProcessPoolTaskRunner

        runner = ProcessPoolTaskRunner(max_workers=choice.workers)
    else:
        from prefect_dask import DaskTaskRunner

        runner = DaskTaskRunner(address=choice.address)
    with _api_for_other_processes(), runner:
        yield runner


@contextmanager
def _api_for_other_processes() -> Iterator[None]:
    """Tasks run in other processes talk to the Prefect API this flow run talks to.

    Without ``PREFECT_API_URL``, Prefect (3.9) runs a temporary server for this process, and a task
    runner's worker process without that setting starts a temporary server of its own (found: one
    per worker, all on one SQLite database, 'database is locked'). So the URL of this run's API
    (``get_client().api_url``) is set for the block (``temporary_settings``), from which the
    process-pool and Dask runners pass Prefect's settings to their workers.
    """
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if PREFECT_API_URL.value():
        yield
        return
    with get_client(sync_client=True) as client:
        url = str(client.api_url)
    with temporary_settings(updates={PREFECT_API_URL: url}):
        yield
