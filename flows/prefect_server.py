"""Prefect's temporary server, started by the ``werkregio`` command at its first step.

Without ``PREFECT_API_URL``, Prefect starts a temporary API server (a ``uvicorn`` process, about
4 s of CPU alone, most of it importing Prefect's server modules; docs/benchmarks.md measures it) when
a flow first needs it, and stops it when the process exits. The command would then wait for that
start after it has imported Prefect and the flows. Instead, :func:`start_early` starts the same
server before the command imports Prefect, so that the start overlaps those imports and the start
of the validation workers; the flow runs talk to it through ``PREFECT_API_URL``
(:func:`api_for_flow_runs`), and Prefect starts no server of its own. At 1x, ``refresh --offline``
took 9.8 s instead of 12.6 s (docs/benchmarks.md).

The server is the one Prefect would start (Prefect 3.9's ``SubprocessASGIServer``): Prefect's
application (its factory ``create_app``, called with the garbage collector paused:
``flows/startup.py``) under ``uvicorn`` on 127.0.0.1, its UI off, in ephemeral mode (the services a
temporary server runs: task-run and event recording, no scheduler), on the SQLite database under
``PREFECT_HOME``. It runs as ``python -m flows.prefect_server PORT``, in a process group of its own
(Ctrl-C interrupts the command, whose run then still reports to the server). It ends when the
command ends: at exit, after Prefect's exit handlers have sent their last events and logs, the
command asks it to shut down gracefully (as Prefect stops its own, with SIGTERM) and exits without
waiting for it (a few tenths of a second, in which it writes its last events to Prefect's
database); when the command's process dies (``kill -9``), its stdin closes and it ends at once.

Nothing is started early when ``PREFECT_API_URL`` is set, when Prefect is already imported (the
process has made its own choices; tests), or when ``PREFECT_SERVER_ALLOW_EPHEMERAL_MODE`` is false.
A ``PREFECT_API_URL`` set only in a Prefect profile is seen after Prefect's import: the early server
is then stopped unused. If the server fails to start, the flow runs go on without it, and Prefect
starts its temporary server itself, as it would have.

This module imports only the standard library until :func:`api_for_flow_runs`.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

logger = logging.getLogger("werkregio.prefect_server")
logger.setLevel(logging.INFO)  # shown with Prefect's handlers (PREFECT_LOGGING_EXTRA_LOGGERS), outside any run

COMMAND = (sys.executable, "-m", "flows.prefect_server")
# What Prefect 3.9 sets for its temporary server (prefect/server/api/server.py, _run_uvicorn_command).
SERVER_ENVIRONMENT = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
STOP_TIMEOUT = 5.0  # seconds for a graceful stop, as Prefect gives its own
STOP = b"stop\n"  # on the server's stdin: shut down gracefully


_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 directly, whatever HTTP_PROXY says


class ServerStartError(RuntimeError):
    """The early server did not answer its health check."""


class CommandServer:
    """A Prefect API server process on a free local port, for this command's flow runs."""

    def __init__(self, command: tuple[str, ...] = COMMAND) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            [*command, str(self.port)],
            stdin=subprocess.PIPE,  # its end of this pipe closes when this process dies
            env={**os.environ, **SERVER_ENVIRONMENT},
            start_new_session=True,  # Ctrl-C stops the command's run, which still reports to the server, not the server
        )
        self.started = time.monotonic()
        self.ready_after: float | None = None  # seconds from the start to the first answer, once seen

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def wait_ready(self, timeout: float) -> float:
        """Wait until ``/api/health`` answers; return the seconds since the start.

        Raises :class:`ServerStartError`, naming the URL, when the process ended or ``timeout``
        seconds (from the start) passed first.
        """
        deadline = self.started + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise ServerStartError(f"Prefect's server for {self.api_url} exited with code {code} before it answered")
            try:
                with _LOCAL.open(f"{self.api_url}/health", timeout=1) as response:
                    if response.status == 200:
                        self.ready_after = time.monotonic() - self.started
                        return self.ready_after
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise ServerStartError(f"Prefect's server for {self.api_url} did not answer within {timeout:g} s")
            time.sleep(0.05)

    def stop(self, wait: bool = True) -> None:
        """Ask the server to shut down gracefully (``stop`` on its stdin, which it then closes); safe to call twice.

        ``wait``: until it has ended, killing it after :data:`STOP_TIMEOUT` seconds. Without, it
        finishes its shutdown on its own (its last events into Prefect's database, a few tenths of
        a second) and ends itself after :data:`STOP_TIMEOUT` seconds at most.
        """
        stdin = self.process.stdin
        if stdin is not None and not stdin.closed:
            try:
                stdin.write(STOP)
                stdin.close()
            except OSError:  # it has ended already
                pass
        if wait:
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_early: CommandServer | None = None


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the command should start a server early: no API URL set, Prefect not yet imported, ephemeral mode allowed."""
    environ = os.environ if environ is None else environ
    allowed = environ.get("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "true").strip().lower() not in {"0", "false", "no", "off"}
    return not environ.get("PREFECT_API_URL") and "prefect" not in sys.modules and allowed


def start_early() -> CommandServer | None:
    """Start the server now when :func:`wanted`; it is stopped at exit, after Prefect's own exit handlers."""
    global _early
    if _early is not None or not wanted():
        return _early
    _early = CommandServer()
    # registered before Prefect is imported, so it runs after Prefect's exit handlers (last in, first out),
    # which still send the run's events and logs to this server
    atexit.register(end_early, wait=False)
    return _early


def end_early(wait: bool = True) -> None:
    """Stop the server of :func:`start_early`, if any; at exit without waiting (:meth:`CommandServer.stop`)."""
    global _early
    server, _early = _early, None
    if server is not None:
        server.stop(wait=wait)


@contextmanager
def api_for_flow_runs() -> Iterator[str | None]:
    """Flow runs in the block talk to the early server (its API URL is yielded), or as Prefect decides (None).

    Waits for the server's health check. A ``PREFECT_API_URL`` that a Prefect profile sets wins,
    as does a profile that disallows ephemeral mode: the early server is then stopped unused.
    """
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_UI_URL,
        PREFECT_SERVER_ALLOW_EPHEMERAL_MODE,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    server = _early
    if server is None:
        yield None
        return
    if PREFECT_API_URL.value() or not PREFECT_SERVER_ALLOW_EPHEMERAL_MODE.value():
        logger.info("Prefect's settings name an API (or allow no temporary server): the early server is not used")
        end_early()
        yield None
        return
    try:
        seconds = server.wait_ready(float(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()))
    except ServerStartError as err:
        logger.warning("%s; Prefect starts its temporary server itself", err)
        end_early()
        yield None
        return
    logger.info("Prefect: temporary server %s, started with the command, answered after %.1f s", server.api_url, seconds)
    # no UI link in the run's log: the server serves no UI and ends with the command
    with temporary_settings(updates={PREFECT_API_URL: server.api_url, PREFECT_UI_URL: ""}):
        yield server.api_url


def _watch_stdin() -> None:
    """In the server process: ``stop`` on stdin: shut down gracefully, as on SIGTERM (uvicorn's handler),
    within :data:`STOP_TIMEOUT` seconds; stdin closed without it (the command died): end at once."""
    if sys.stdin.buffer.read().startswith(STOP):  # read() returns once the command's end is closed
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(STOP_TIMEOUT)
    os._exit(0)


def _serve_one_app(app: object) -> None:
    """In the server process: ``create_app()`` without arguments returns ``app`` at once from now on.

    Prefect's server-side API clients (the automations' actions service makes two at its start)
    each call ``create_app()`` for the application to talk to in-process. Prefect's function then
    returns its cached application, the same one, but only after it has turned all of Prefect's
    settings into environment variables twice (its cache key, and logging set up again): about
    0.1 s of CPU per call, in the event loop that answers the command. The settings of this
    process do not change after its start, so the answer cannot differ. Calls with arguments
    still go to Prefect's function.
    """
    import prefect.server.api.server as server_module

    create_app = server_module.create_app

    def create_app_once(*args: object, **kwargs: object) -> object:
        return create_app(*args, **kwargs) if args or kwargs else app

    server_module.create_app = create_app_once


def main(port: int) -> None:
    """The server process: Prefect's application under uvicorn on 127.0.0.1:``port``, as Prefect runs its own."""
    threading.Thread(target=_watch_stdin, daemon=True).start()
    from flows.startup import imports_without_collection

    with imports_without_collection():  # about a quarter less CPU time for Prefect's server modules
        import uvicorn
        from prefect.server.api.server import create_app

        app = create_app()  # what uvicorn's factory=True would call, with the same environment
    _serve_one_app(app)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="error",
        lifespan="on",
    )


if __name__ == "__main__":
    main(int(sys.argv[1]))
