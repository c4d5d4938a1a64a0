"""The README's main command path: `werkregio refresh` as a subprocess, Prefect on its own defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.statline_mirror import StatLineMirror
from warehouse.store import query

pytestmark = pytest.mark.mirror

WERKREGIO = Path(sys.executable).with_name("werkregio")


def test_refresh_command_with_prefect_defaults_then_status(statline_root, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "WERKREGIO_"))}  # every default
    env["WERKREGIO_HOME"] = str(tmp_path / "home")
    with StatLineMirror(statline_root) as mirror:
        env["WERKREGIO_CBS_URL"] = mirror.base_url
        done = subprocess.run(
            [str(WERKREGIO), "refresh", "--table", "37789ksz"], env=env, capture_output=True, text=True, timeout=400
        )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "werkregio refresh done" in done.stdout
    # without PREFECT_API_URL, Prefect starts its temporary server itself, and the run log names the task runner
    assert "Starting temporary server" in done.stderr
    assert "validating 1 landed table(s) on 2 threads in the flow's process (ThreadPoolTaskRunner)" in done.stderr
    assert (tmp_path / "home" / "prefect").is_dir()
    published = query(tmp_path / "home" / "warehouse" / "werkregio.duckdb", "SELECT count(*) AS n FROM national_series")
    assert published["n"][0] == 704
    status = subprocess.run([str(WERKREGIO), "status"], env=env, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0
    assert "finished" in status.stdout and "37789ksz" in status.stdout and "1 downloaded" in status.stdout
