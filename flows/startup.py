"""Importing the large libraries with Python's cyclic garbage collector paused (standard library only).

Importing Prefect, its server or Great Expectations creates a few hundred thousand objects
(classes, pydantic models, functions), nearly none of them garbage, and the collector walks them
again and again while they are made: with it paused, importing Prefect's server takes about a
quarter less time (by hand: 4.0 s to 3.2 s), Prefect with the flows about a seventh less
(2.1 s to 1.8 s), GX about a twelfth (3.6 s to 3.3 s). Those imports run at the command's start, side by
side on the same cores (Prefect's temporary server, the validation workers, the command itself;
docs/architecture.md), so the time saved is the command's.

What was imported stays for the life of the process, so it is then frozen (:func:`gc.freeze`):
later collections, which the work and a long flow run still need, no longer walk it, and a
process that forks afterwards (the validation workers) does not touch those pages again. A cycle
that became garbage while the collector was paused stays in memory until the process ends; an
import makes few.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def imports_without_collection() -> Iterator[None]:
    """Pause the cyclic collector for the imports inside; then freeze what exists and resume it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


FLOW_RUN_IMPORTS = ("prefect.flow_engine", "prefect.task_engine", "fastapi.encoders")
"""What Prefect (3.9) imports at a process's first flow call: its flow and task engines, and
FastAPI's JSON encoder for the flow run's parameters (about 0.25 s of CPU, most of it FastAPI)."""


def import_for_flow_runs() -> None:
    """Import :data:`FLOW_RUN_IMPORTS` now, with the command's other imports.

    The command imports them while Prefect's temporary server still starts (``flows/prefect_server.py``),
    instead of after it answered, when the flow call waits for them. A module this Prefect does
    not have is skipped: Prefect then imports what it needs itself, as before.
    """
    for name in FLOW_RUN_IMPORTS:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
