"""The temporary Prefect server the ``werkregio`` command starts at its first step (flows/prefect_server.py)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from flows import prefect_server
from flows.prefect_server import CommandServer, ServerStartError

REPO = Path(__file__).resolve().parents[2]
STARTUP = 180.0  # seconds; a loaded CI machine may be slow to import Prefect's server


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory) -> Path:
    """One PREFECT_HOME for the servers of this module: Prefect creates its database once (about 10 s)."""
    return tmp_path_factory.mktemp("prefect-home")


def _environment(prefect_home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {**env, "PREFECT_HOME": str(prefect_home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", **extra}


def _python(code: str, env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, **kwargs)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                if handle.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, "True"),
        ({"PREFECT_API_URL": "http://127.0.0.1:4200/api"}, "False"),
        ({"PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "false"}, "False"),
        ({"PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true"}, "True"),
    ],
)
def test_the_command_wants_an_early_server_only_without_an_api_and_with_ephemeral_mode(prefect_home, extra, expected):
    found = _python("from flows import prefect_server; print(prefect_server.wanted())", _environment(prefect_home, **extra), check=True)
    assert found.stdout.strip() == expected


def test_no_early_server_once_prefect_is_imported(prefect_home):
    code = "import prefect\nfrom flows import prefect_server\nprint(prefect_server.wanted(), prefect_server.start_early())"
    assert _python(code, _environment(prefect_home), check=True).stdout.strip() == "False None"


def test_the_module_imports_only_the_standard_library(prefect_home):
    code = (
        "import sys\nfrom flows import prefect_server\n"
        "print(sorted(m for m in ('prefect', 'uvicorn', 'polars', 'great_expectations') if m in sys.modules))"
    )
    assert _python(code, _environment(prefect_home), check=True).stdout.strip() == "[]"


FLOW_RUN = """
from flows import prefect_server
server = prefect_server.start_early()  # before Prefect's import, as the command does
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL


@flow
def ping() -> int:
    return 7


with prefect_server.api_for_flow_runs() as url:
    assert url == server.api_url and PREFECT_API_URL.value() == url
    assert PREFECT_UI_URL.value() == ""  # no 'View at' link to a server that serves no UI and ends with the command
    assert ping() == 7
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
    print("RUNS", len(runs), runs[0].state.type.value)
print("SERVER", server.process.pid, url, flush=True)
"""


def test_flow_runs_use_the_early_server_which_ends_with_the_process(tmp_path, prefect_home):
    """A flow run after start_early is recorded by the early server; Prefect starts none; the server ends at exit."""
    script = tmp_path / "flow_run.py"
    script.write_text(FLOW_RUN, encoding="utf-8")
    # the first server of this module's PREFECT_HOME creates its database (about 10 s) before it
    # answers: on a loaded CI machine that went past Prefect's default wait of 20 s (CI, 2026-11-29)
    env = _environment(
        prefect_home,
        PREFECT_LOGGING_EXTRA_LOGGERS="werkregio",
        PYTHONPATH=str(REPO),
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=str(int(STARTUP)),
    )
    done = subprocess.run([sys.executable, str(script)], env=env, cwd=REPO, capture_output=True, text=True, timeout=STARTUP + 60)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert lines["RUNS"] == "1 COMPLETED"
    pid, url = lines["SERVER"].split()
    assert f"temporary server {url}, started with the command, answered after" in done.stderr
    assert "Starting temporary server" not in done.stderr  # Prefect's own
    assert _gone(int(pid), within=5.0), "the early server outlived the process"
    assert not _answers(url)


def test_a_server_that_does_not_start_leaves_the_choice_to_prefect(monkeypatch, caplog):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    failing = CommandServer(command=(sys.executable, "-c", "raise SystemExit(3)"))
    monkeypatch.setattr(prefect_server, "_early", failing)
    with temporary_settings(restore_defaults={PREFECT_API_URL}), caplog.at_level(logging.INFO, logger="werkregio.prefect_server"):
        with prefect_server.api_for_flow_runs() as url:
            assert url is None
            assert PREFECT_API_URL.value() is None  # Prefect starts its own temporary server
    assert f"Prefect's server for {failing.api_url} exited with code 3 before it answered" in caplog.text
    assert "Prefect starts its temporary server itself" in caplog.text
    assert prefect_server._early is None


def test_waiting_for_a_server_that_never_answers_times_out_naming_it():
    silent = CommandServer(command=(sys.executable, "-c", "import sys; sys.stdin.buffer.read()"))  # ends when asked to stop
    try:
        with pytest.raises(ServerStartError, match=rf"{silent.api_url} did not answer within 0.3 s"):
            silent.wait_ready(0.3)
    finally:
        silent.stop()
    assert silent.process.returncode == 0


def test_an_api_url_from_prefects_settings_wins_and_the_early_server_is_stopped(monkeypatch, caplog):
    """As when a Prefect profile names a server: seen only after Prefect's import."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    early = CommandServer(command=(sys.executable, "-c", "import sys; sys.stdin.buffer.read()"))
    monkeypatch.setattr(prefect_server, "_early", early)
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4299/api"}), caplog.at_level(logging.INFO, logger="werkregio.prefect_server"):
        with prefect_server.api_for_flow_runs() as url:
            assert url is None
            assert PREFECT_API_URL.value() == "http://127.0.0.1:4299/api"
    assert early.process.returncode is not None
    assert "the early server is not used" in caplog.text


def test_the_server_ends_when_the_command_is_killed(prefect_home):
    """kill -9 of the command alone (not its process group): the server sees its stdin close and exits."""
    code = (
        "import sys, time\nfrom flows import prefect_server\n"
        "server = prefect_server.start_early()\n"
        f"server.wait_ready({STARTUP})\n"
        "print(server.process.pid, server.api_url, flush=True)\n"
        "time.sleep(120)\n"
    )
    command = subprocess.Popen([sys.executable, "-c", code], env=_environment(prefect_home), cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        line = command.stdout.readline()
        assert line, "the early server did not start"
        pid, url = line.split()
        assert _answers(url)
        os.kill(command.pid, signal.SIGKILL)
        command.wait()
        assert _gone(int(pid), within=5.0), f"the server (pid {pid}) outlived the killed command"
    finally:
        command.kill()
        command.wait()
        command.stdout.close()


def test_asked_to_stop_the_server_shuts_down_gracefully(prefect_home, monkeypatch):
    """``stop`` on its stdin: uvicorn's own shutdown on SIGTERM, well before the kill after STOP_TIMEOUT.

    uvicorn raises the signal again once it has shut down, so the exit status is SIGTERM's; the
    stdin watcher's own ends (the command died, or the shutdown overran) exit with 0.
    """
    monkeypatch.setenv("PREFECT_HOME", str(prefect_home))
    server = CommandServer()
    try:
        server.wait_ready(STARTUP)
        began = time.monotonic()
        server.stop()
        assert time.monotonic() - began < prefect_server.STOP_TIMEOUT
    finally:
        server.process.kill()
        server.process.wait()
    assert server.process.returncode == -signal.SIGTERM
    assert not _answers(server.api_url)


def test_in_the_server_process_create_app_without_arguments_is_the_served_app(monkeypatch):
    """Prefect's server-side clients ask ``create_app()`` for the application; they get the served one at once."""
    import prefect.server.api.server as server_module

    calls = []
    monkeypatch.setattr(server_module, "create_app", lambda *args, **kwargs: calls.append((args, kwargs)) or "another app")
    served = object()

    prefect_server._serve_one_app(served)

    assert server_module.create_app() is served
    assert calls == []
    assert server_module.create_app(ephemeral=True) == "another app"  # with arguments: Prefect's own function
    assert calls == [((), {"ephemeral": True})]
