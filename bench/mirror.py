"""The StatLine mirror (``tests/statline_mirror.py``) in a process of its own.

A remote CBS does not share the client's interpreter; a mirror in the same process would
(its page rendering would hold the client's GIL). ``python -m bench.mirror ROOT LATENCY``
prints the base URL, then answers every ``log`` line on stdin with one JSON line: the requests
served since the previous ``log`` (table, endpoint, rows) and the CPU seconds the mirror used
meanwhile. End of stdin stops it.

``python -m bench.mirror ROOT LATENCY --prerendered`` keeps every response body it renders and
serves a repeated request from memory (:class:`PrerenderedMirror`): rendering a 10,000-row page
costs the mirror about 10 ms of CPU (42 ms before it used orjson and sliced pages by index), which
on this machine is taken from the cores the client runs on, where a remote CBS renders on hardware
of its own. Latency, request log and paging are the same.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.statline_mirror import StatLineMirror


class PrerenderedMirror(StatLineMirror):
    """A StatLineMirror that renders each distinct response once and then serves it from memory.

    The key is everything a response depends on: table, endpoint, query and the ``Modified``
    the mirror announces. Injected faults and the latency still apply to every request.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._rendered: dict[tuple, object] = {}

    def _response(self, table_id, endpoint, query, modified):  # noqa: ANN001, ANN202 (StatLineMirror's)
        key = (table_id, endpoint, tuple(sorted(query.items())), modified)
        response = self._rendered.get(key)
        if response is None:
            response = self._rendered[key] = super()._response(table_id, endpoint, query, modified)
        return response


class MirrorProcess:
    """Context manager: a mirror of ``root`` with ``latency`` seconds added to every request."""

    def __init__(self, root: Path, latency: float, *, prerendered: bool = False) -> None:
        self.command = [sys.executable, "-m", "bench.mirror", str(root), str(latency), *(["--prerendered"] if prerendered else [])]

    def __enter__(self) -> MirrorProcess:
        self._process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.base_url = self._process.stdout.readline().strip()
        return self

    def take_log(self) -> dict:
        """``requests`` served and ``cpu`` seconds used since the previous call (the log is then cleared)."""
        self._process.stdin.write("log\n")
        self._process.stdin.flush()
        return json.loads(self._process.stdout.readline())

    def __exit__(self, *exc_info: object) -> None:
        self._process.stdin.close()
        self._process.wait(timeout=60)


def serve(root: Path, latency: float, prerendered: bool = False) -> None:
    with (PrerenderedMirror if prerendered else StatLineMirror)(root) as mirror:  # CBS's page size: 10,000 rows
        mirror.latency(latency)
        print(mirror.base_url, flush=True)
        cpu = time.process_time()
        for _ in sys.stdin:
            records = mirror.requests_for()
            mirror.reset_log()
            used, cpu = time.process_time() - cpu, time.process_time()
            requests = [{"table": r.table_id, "endpoint": r.endpoint, "rows": r.rows} for r in records]
            print(json.dumps({"requests": requests, "cpu": used}), flush=True)


if __name__ == "__main__":
    serve(Path(sys.argv[1]), float(sys.argv[2]), "--prerendered" in sys.argv[3:])
