"""A stand-in for Prefect, for the benchmarks' direct runs: the flows run with no Prefect imported.

The flows use a handful of Prefect's names (``flow``, ``task``, ``get_run_logger``,
``prefect.futures.wait``/``PrefectFuture``, ``prefect.runtime.flow_run``, ``prefect.cache_policies.NO_CACHE``,
``prefect.task_runners.ThreadPoolTaskRunner``, ``prefect.states``, ``prefect.exceptions.TerminationSignal``, and
the artifacts and event a run shows, which do nothing here).
:func:`install` puts modules with plain versions of exactly these into ``sys.modules`` before the
flows are imported: a flow or task is its function, ``.submit`` runs the function in a thread pool
(beside the flow, as Prefect's default task runner does) and returns its
:class:`concurrent.futures.Future`, loggers are the ``werkregio`` logger. A direct run is then the
same job with everything Prefect does left out, its import included, and orchestration is what a
Prefect run takes longer (``bench/report.py``). A name the flows start to import and this module
lacks fails the direct run with an ImportError.
"""

from __future__ import annotations

import logging
import sys
import types
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from typing import Any

_threads: ThreadPoolExecutor | None = None


class PlainCall:
    """A flow or task without Prefect: calling it calls the function; ``fn`` is the function, as in Prefect."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", "call")
        self.__doc__ = fn.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def with_options(self, **options: Any) -> PlainCall:
        """The same call: the options (retries, names) are Prefect's and ignored."""
        return self

    def submit(self, *args: Any, **kwargs: Any) -> Future:
        """Run in the thread pool, beside the caller."""
        global _threads
        if _threads is None:
            _threads = ThreadPoolExecutor(thread_name_prefix="no-prefect")
        return _threads.submit(self.fn, *args, **kwargs)


def _decorator(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """``@flow``/``@task`` and ``@flow(...)``/``@task(...)``: the options (names, caching, retries) are Prefect's and ignored."""
    if fn is None:
        return PlainCall
    return PlainCall(fn)


class ThreadPoolTaskRunner:
    """Prefect's thread-pool task runner without Prefect: ``submit(task, parameters)`` runs the task's function in a thread."""

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> ThreadPoolTaskRunner:
        self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="no-prefect-runner")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._pool is not None
        self._pool.shutdown(wait=True)

    def submit(self, task: PlainCall, parameters: dict[str, Any]) -> Future:
        assert self._pool is not None
        return self._pool.submit(task.fn, **parameters)


class _State:
    """A final state a flow or task returns (``Failed``, ``Cancelled``): its name and message."""

    def __init__(self, name: str, message: str | None) -> None:
        self.name, self.message = name, message


class TerminationSignal(BaseException):
    """Prefect's exception for SIGTERM during a flow run; never raised without Prefect."""


def _wait(futures: list[Future], timeout: float | None = None) -> Any:
    return wait_all(futures, timeout=timeout)


def modules() -> dict[str, types.ModuleType]:
    """The stand-in modules by name."""
    prefect = types.ModuleType("prefect", __doc__)
    prefect.flow = _decorator
    prefect.task = _decorator
    prefect.get_run_logger = lambda: logging.getLogger("werkregio")
    futures = types.ModuleType("prefect.futures")
    futures.wait = _wait
    runtime = types.ModuleType("prefect.runtime")
    runtime.flow_run = types.SimpleNamespace(get_id=lambda: None)  # no flow run: the flows make up a run id
    cache_policies = types.ModuleType("prefect.cache_policies")
    cache_policies.NO_CACHE = None
    task_runners = types.ModuleType("prefect.task_runners")
    task_runners.ThreadPoolTaskRunner = ThreadPoolTaskRunner  # the bench runs the default runner, threads
    futures.PrefectFuture = Future  # a type in annotations; .submit returns concurrent futures here
    states = types.ModuleType("prefect.states")
    states.State = _State
    states.Failed = lambda message=None, **details: _State("Failed", message)
    states.Cancelled = lambda message=None, **details: _State("Cancelled", message)
    exceptions = types.ModuleType("prefect.exceptions")
    exceptions.TerminationSignal = TerminationSignal
    artifacts = types.ModuleType("prefect.artifacts")  # no UI to show them: every artifact call does nothing
    for name in ("create_table_artifact", "create_markdown_artifact", "create_link_artifact", "create_progress_artifact",
                 "update_progress_artifact"):  # fmt: skip
        setattr(artifacts, name, lambda *args, **kwargs: None)
    events = types.ModuleType("prefect.events")
    events.emit_event = lambda *args, **kwargs: None  # no server to receive the event
    stand_ins = {"futures": futures, "runtime": runtime, "cache_policies": cache_policies, "task_runners": task_runners,
                 "states": states, "exceptions": exceptions, "artifacts": artifacts, "events": events}  # fmt: skip
    for name, module in stand_ins.items():
        setattr(prefect, name, module)
    return {"prefect": prefect, **{f"prefect.{name}": module for name, module in stand_ins.items()}}


def loaded_prefect() -> list[str]:
    """The modules of Prefect itself (not the stand-in's) imported in this process, sorted."""
    return sorted(n for n, m in list(sys.modules.items()) if n.split(".")[0] == "prefect" and getattr(m, "__file__", None) is not None)


def install() -> None:
    """Put the stand-in into ``sys.modules``; raises RuntimeError if Prefect itself is imported already."""
    if loaded_prefect():
        raise RuntimeError("Prefect is imported already: the stand-in must be installed before the flows are imported")
    sys.modules.update(modules())
