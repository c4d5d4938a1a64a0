"""Shared test fixtures.

The environment is made quiet and isolated before anything imports Prefect: telemetry off,
a throw-away PREFECT_HOME, no WERKREGIO_* settings leaking in from the developer's shell.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

_PREFECT_HOME = tempfile.mkdtemp(prefix="werkregio-test-prefect-")
for _name in [n for n in os.environ if n.startswith("WERKREGIO_") or n.startswith("PREFECT_")]:
    del os.environ[_name]
os.environ.update(
    {
        "PREFECT_HOME": _PREFECT_HOME,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "GX_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "PREFECT_LOGGING_EXTRA_LOGGERS": "werkregio",
        "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
        # builds validate on threads of the test process, where GX is imported once; worker processes
        # (the default) would import it again for every build. The tests of the runners, the README
        # command test and the kill trials set their own value.
        "WERKREGIO_TASK_RUNNER": "threads",
        # tests write a UWV file whole and take it in at once; the quiet time (default 60 s) has tests of its own
        "WERKREGIO_UWV_QUIET_SECONDS": "0",
    }
)

STATLINE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "statline"
REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "reference"


@pytest.fixture(scope="session")
def statline_root() -> Path:
    """The offline CBS StatLine mirror in ../shared; tests that need it skip when it is absent."""
    if not (STATLINE / "MANIFEST.md").is_file():
        pytest.skip(f"the StatLine mirror is not at {STATLINE} (it comes with ../shared)")
    return STATLINE


@pytest.fixture(scope="session")
def prefect_server():
    """One temporary Prefect API (SQLite under the test PREFECT_HOME) for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(autouse=True)
def _no_event_socket_during_hypothesis(request):
    """Close Prefect's event websocket before a Hypothesis test.

    Flow runs in the test process leave Prefect's events worker connected to the session's API.
    Its websocket sends a keepalive ping every 20 s, whose payload comes from the global ``random``
    module (``websockets``, ``Connection.ping``), in a background thread. Hypothesis reports a
    change of the global random state during a draw as a strategy using ``random``
    (HypothesisDeprecationWarning), whichever thread made it. The next flow run connects again.
    """
    import sys

    from hypothesis.internal.detection import is_hypothesis_test

    if is_hypothesis_test(request.function) and "prefect.events.worker" in sys.modules:
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all(timeout=30, at_exit=False)
    yield


DEMO_YEAR = 2024
"""The sample's year (sources.sample.excerpt.SAMPLE_YEAR), written out: the tests check the demo against it."""
_NETWORK_AUDIT = '''
import os, sys

_LOG = os.environ["WERKREGIO_TEST_NETWORK_LOG"]


def _audit(event, args):
    if event == "socket.connect" or event == "socket.sendto":
        target = args[1]
    elif event == "socket.getaddrinfo":
        target = args[0]
    else:
        return
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(f"{os.getpid()} {event} {target!r}\\n")


sys.addaudithook(_audit)
'''


@dataclass(frozen=True)
class DemoRun:
    """``werkregio demo`` run once as a newcomer would (a new folder, Prefect on its defaults), with every network contact logged."""

    folder: Path
    done: subprocess.CompletedProcess
    network_log: Path
    env: dict[str, str]


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> DemoRun:
    """``werkregio demo`` in a new working directory (the default folder ./demo), shared by the demo and report tests.

    Every Python process it starts (the command, Prefect's temporary server) imports a
    ``sitecustomize`` that logs each ``socket.connect``, ``sendto`` and ``getaddrinfo`` to a file.
    """
    work = tmp_path_factory.mktemp("demo-run")
    audit = work / "audit"
    audit.mkdir()
    (audit / "sitecustomize.py").write_text(_NETWORK_AUDIT, encoding="utf-8")
    log = work / "network.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "WERKREGIO_"))}  # every default
    env |= {
        "PYTHONPATH": str(audit),
        "WERKREGIO_TEST_NETWORK_LOG": str(log),
        # a user's setting the demo overrides: its own UWV files, written whole, are taken in at once
        "WERKREGIO_UWV_QUIET_SECONDS": "3600",
        # as for the rest of the suite: the temporary server may start slowly on a loaded machine
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    }
    werkregio = Path(sys.executable).with_name("werkregio")
    done = subprocess.run([str(werkregio), "demo"], cwd=work, env=env, capture_output=True, text=True, timeout=1200)
    return DemoRun(work / "demo", done, log, env)
