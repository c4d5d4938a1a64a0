"""bench/no_prefect.py: the direct benchmark runs the flows with no Prefect imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from bench import no_prefect

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WERKREGIO_")} | {"WERKREGIO_HOME": str(tmp_path / "home")}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_the_flows_run_on_the_stand_in_without_importing_prefect(tmp_path):
    """Every flow module the direct runs import loads on the stand-in; a refresh runs as far as the
    missing landings (find_landed, inputs_sha256, published_with_inputs, read_published_tables,
    the run id), and no module of Prefect's own was loaded."""
    result = _python(
        """
        import json, sys
        from bench import no_prefect
        no_prefect.install()
        import flows.cli, flows.indicators, flows.refresh, flows.tasks, flows.build
        state = flows.refresh.refresh.fn(offline=True)  # an expected failure (MissingSource) ends the run Failed
        outcome = f"{state.name}: {state.message}" if hasattr(state, "name") else f"no failed state: {state!r}"
        print(json.dumps({"outcome": outcome, "real_prefect": no_prefect.loaded_prefect()}))
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["real_prefect"] == []
    assert found["outcome"].startswith("Failed: 37789ksz"), found["outcome"]  # the national table, checked first
    log = (tmp_path / "home" / "runs.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["event"] for line in log] == ["started", "failed"]


def test_install_refuses_once_prefect_is_imported(tmp_path):
    result = _python(
        """
        import prefect
        from bench import no_prefect
        try:
            no_prefect.install()
        except RuntimeError as err:
            print("refused:", err)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "refused: Prefect is imported already" in result.stdout


def test_flows_and_tasks_are_plain_calls_and_submit_runs_beside():
    prefect = no_prefect.modules()["prefect"]

    @prefect.task(name="double", cache_policy=None)
    def double(x: int) -> int:
        return 2 * x

    @prefect.flow
    def total(values: list[int]) -> int:
        futures = [double.submit(v) for v in values]
        prefect.futures.wait(futures)
        return sum(f.result() for f in futures)

    assert double(4) == 8
    assert double.fn(5) == 10
    assert total([1, 2, 3]) == 12
    assert total.fn([1]) == 2
    assert total.__name__ == "total"
    assert prefect.runtime.flow_run.get_id() is None
    assert prefect.get_run_logger().name == "werkregio"
