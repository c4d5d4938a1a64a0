"""Extraction: one large table through the mirror, in a process of its own, with 30 ms added to every request.

The table is downloaded by plain ``cbsodata.get_data`` (its metadata and every
page, one after another, a new connection per request) and by the pipeline's client
(``LiveCbs.table_meta`` plus every ``data_pages`` page, at several ``WERKREGIO_CONCURRENCY``
values), and landed by ``land_table`` (typed frames and Parquet included). Requests and the
mirror's CPU time are counted by the mirror, the client's CPU time with ``time.process_time``,
the most requests in flight at once by wrapping ``requests.Session.send``.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit

import cbsodata
import requests

from bench.mirror import MirrorProcess
from sources.cbs.client import LiveCbs
from sources.cbs.landing import land_table

LATENCY = 0.03
CONCURRENCIES = (1, 2, 4, 8)
TABLE = "82015NED"  # the generated table that grows with the scale


@contextmanager
def in_flight() -> Iterator[dict[str, int]]:
    """Track the most HTTP requests (``requests`` library) in flight at once in this process."""
    counts = {"now": 0, "max": 0}
    lock = threading.Lock()
    send = requests.Session.send

    def counted(self, *args, **kwargs):
        with lock:
            counts["now"] += 1
            counts["max"] = max(counts["max"], counts["now"])
        try:
            return send(self, *args, **kwargs)
        finally:
            with lock:
                counts["now"] -= 1

    with mock.patch.object(requests.Session, "send", counted):
        yield counts


def extraction(root: Path, table_id: str, reps: int, *, prerendered: bool = False) -> list[dict]:
    """Median wall time, requests, rows and peak in-flight requests per client, over ``reps`` rounds.

    ``prerendered``: against a mirror that serves repeated requests from memory
    (``bench.mirror.PrerenderedMirror``); every client fetches the table once, untimed, first, so
    that every response any client asks for is rendered before the timed rounds.
    """
    with MirrorProcess(root, LATENCY, prerendered=prerendered) as mirror:
        clients: dict[str, Callable[[], int]] = {"cbsodata.get_data": lambda: _cbsodata(mirror.base_url, table_id)}
        for concurrency in CONCURRENCIES:
            clients[f"LiveCbs, concurrency {concurrency}"] = lambda c=concurrency: _live(mirror.base_url, table_id, c)
        clients["land_table (LiveCbs, concurrency 4)"] = lambda: _land(mirror.base_url, table_id)
        _live(mirror.base_url, table_id, 4)  # the mirror parses a table on its first request: not timed
        if prerendered:
            for client in clients.values():
                client()
        mirror.take_log()
        runs: dict[str, list[dict]] = {name: [] for name in clients}
        for _ in range(reps):
            for name, client in clients.items():
                with in_flight() as counts:
                    start, cpu = time.perf_counter(), time.process_time()
                    rows = client()
                    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
                log = mirror.take_log()
                runs[name].append({"seconds": seconds, "client_cpu": cpu, "mirror_cpu": log["cpu"], "requests": len(log["requests"]),
                                   "rows": rows, "max_in_flight": counts["max"]})  # fmt: skip
    return [
        {
            "client": name,
            **{key: statistics.median(r[key] for r in results) for key in ("seconds", "client_cpu", "mirror_cpu")},
            **{key: max(r[key] for r in results) for key in ("requests", "rows", "max_in_flight")},
        }
        for name, results in runs.items()
    ]


def _cbsodata(base_url: str, table_id: str) -> int:
    cbsodata.options.use_https = False
    return len(cbsodata.get_data(table_id, catalog_url=urlsplit(base_url).netloc))


def _live(base_url: str, table_id: str, concurrency: int) -> int:
    source = LiveCbs(base_url, concurrency=concurrency)
    source.table_meta(table_id)
    return sum(len(page) for page in source.data_pages(table_id))


def _land(base_url: str, table_id: str) -> int:
    with tempfile.TemporaryDirectory(prefix="werkregio-bench-raw-") as raw:
        return land_table(LiveCbs(base_url, concurrency=4), table_id, Path(raw)).landing.rows
