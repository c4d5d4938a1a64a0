"""Shared test fixtures.

The environment is made quiet and isolated before anything imports Prefect: telemetry off,
a throw-away PREFECT_HOME, no WERKREGIO_* settings leaking in from the developer's shell.
"""

from __future__ import annotations

import os
import tempfile
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
