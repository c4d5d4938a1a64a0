"""SIGTERM and Ctrl-C while tables download (issue 22, 6): requests stop, nothing more lands, the lock is held
until then, the command ends within seconds and the run log says what stopped it.

Before, the first SIGTERM logged ``failed: TerminationSignal:`` (empty), released ``.pipeline.lock`` at once,
and the process went on downloading for minutes, able to land a table after the lock was free.

``werkregio refresh`` runs as a child process against a slow mirror (every request 0.2 s late, pages of 25 rows:
``70059ned``'s 10,000 rows take 400 pages) and gets the signal once that table's pages are being read. From then on
the test polls the data dir's lock: when it is free, the process must have stopped writing and requesting.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows import runlog
from sources.cbs.landing import landings
from tests.reliability._checks import lock_is_free
from tests.reliability.conftest import NATIONAL, QUICK_RETRIES, warehouse_of
from tests.statline_mirror import StatLineMirror

pytestmark = [pytest.mark.mirror, pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]  # a command process each, about a minute

LARGE = "70059ned"
CONCURRENCY = 4
STOP_WITHIN = 60  # s after the signal: a bound that only a hang exceeds (the run ended in about 5 s here)
WERKREGIO = Path(sys.executable).with_name("werkregio")
# the command as a terminal starts it: SIGINT not ignored (a child of a background job would inherit SIG_IGN)
AS_IN_A_TERMINAL = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"




def raw_files(home: Path) -> set[str]:
    raw = home / "raw"
    return {str(path.relative_to(raw)) for path in raw.rglob("*")} if raw.is_dir() else set()


@pytest.mark.parametrize(("signum", "exit_code", "name"), [(signal.SIGTERM, -signal.SIGTERM, "SIGTERM"), (signal.SIGINT, 130, "SIGINT (Ctrl-C)")])
def test_a_signal_during_downloads_stops_them_and_holds_the_lock_until_they_stopped(statline_root, tmp_path, prefect_api_url, signum, exit_code, name):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WERKREGIO_")}
    with StatLineMirror(statline_root, page_size=25) as mirror:
        mirror.latency(0.2)
        env.update(QUICK_RETRIES, WERKREGIO_HOME=str(home), WERKREGIO_CBS_URL=mirror.base_url, PREFECT_API_URL=prefect_api_url,
                   WERKREGIO_CONCURRENCY=str(CONCURRENCY), WERKREGIO_TIMEOUT="10")  # fmt: skip
        process = subprocess.Popen(
            [sys.executable, "-c", AS_IN_A_TERMINAL, str(WERKREGIO), "refresh", "--table", LARGE, "--table", NATIONAL],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 240
            while mirror.count(LARGE, "TypedDataSet") < 3:
                assert process.poll() is None, process.communicate()[0][-3000:]
                assert time.monotonic() < deadline, "the download never started"
                time.sleep(0.05)
            asked = mirror.count(LARGE)
            process.send_signal(signum)
            signalled = time.monotonic()
            freed = None  # (requests to the mirror, files under raw/) when the lock was first free
            while process.poll() is None:
                if freed is None and lock_is_free(home):
                    freed = (mirror.count(LARGE), raw_files(home))
                if time.monotonic() - signalled > STOP_WITHIN:
                    pytest.fail(f"still running {STOP_WITHIN} s after {name}")
                time.sleep(0.05)
            out = process.communicate()[0]
            ended = (mirror.count(LARGE), raw_files(home))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert process.returncode == exit_code, out[-3000:]
    assert lock_is_free(home)
    if freed is not None:  # the lock was free before the process ended: by then it had stopped requesting and writing
        assert freed == ended, out[-3000:]
    assert ended[0] - asked <= 2 * CONCURRENCY  # the requests in flight, and none after them: not the 400 pages
    assert not [landing for landing in landings(home / "raw", LARGE)]  # the table being read did not land
    assert not [name for name in ended[1] if ".staging-" in name]
    assert not warehouse_of(home).exists()
    *_, run = runlog.runs(home / "runs.jsonl")
    assert run.status == "failed"
    assert run.error == (
        f"Stopped by {name} before it published anything: requests to CBS in flight were cancelled and nothing was "
        "landed after the signal"
    )
    assert "Traceback" not in out
    if signum == signal.SIGINT:
        assert "werkregio refresh stopped (Ctrl-C). The published warehouse was not changed." in out
