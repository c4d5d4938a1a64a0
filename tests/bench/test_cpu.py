"""bench/cpu.py: the CPU time of a run's process tree, per role, including processes that outlive their parent."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from bench.cpu import TreeSampler, tree_cpu

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")

# use a fixed amount of CPU time (not of wall time), then wait SLEEP seconds (seen by a last sample): the amount is what the tests check
BURN = "import sys, time\nwhile time.process_time() < float(sys.argv[1]): pass\ntime.sleep(float(sys.argv[2]))\n"


def _busy(seconds: float, marker: str, sleep: float = 0.0) -> list[str]:
    """A Python process that uses ``seconds`` of CPU; ``marker`` on its command line names its role."""
    return [sys.executable, "-c", BURN, str(seconds), str(sleep), marker]


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 60
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)


def test_every_process_of_the_tree_is_counted_under_its_role(tmp_path):
    server_pid = tmp_path / "server.pid"
    parent = textwrap.dedent(f"""
        import subprocess, time
        worker = subprocess.Popen({_busy(0.6, "multiprocessing.spawn", sleep=0.3)!r})
        server = subprocess.Popen({_busy(0.4, "uvicorn", sleep=0.3)!r}, start_new_session=True)
        open({str(server_pid)!r}, "w").write(str(server.pid))
        while time.process_time() < 0.3: pass
        worker.wait()
    """)  # the server outlives this process, as the temporary server outlives the command
    root = subprocess.Popen([sys.executable, "-c", parent])
    sampler = TreeSampler(root.pid)
    root.wait()
    _wait_gone(int(server_pid.read_text()))
    sampler.stop()
    cpu = sampler.by_role()
    # a process is counted up to its last sample (at most bench.cpu.PERIOD before it ended, in ticks of 10 ms); none twice
    assert 0.2 <= cpu["build"] <= 1.0
    assert 0.55 <= cpu["workers"] <= 1.2
    assert 0.35 <= cpu["server"] <= 1.0, "the process that outlived its parent is counted to its end"
    assert cpu["other"] == 0
    assert cpu["processes"] == 3


def test_tree_cpu_adds_up_the_processes_alive_in_a_tree():
    parent = f"import subprocess\nsubprocess.run({_busy(0.5, 'child', sleep=30)!r})\n"
    root = subprocess.Popen([sys.executable, "-c", parent])
    try:
        deadline = time.monotonic() + 60
        while tree_cpu(root.pid) < 0.5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tree_cpu(root.pid) >= 0.5, "the child's CPU counted with its parent's"
        assert tree_cpu(root.pid) < 1.5
    finally:
        root.kill()
        root.wait()
