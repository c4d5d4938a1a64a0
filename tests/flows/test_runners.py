"""flows.runners: the per-table tasks on threads, on worker processes and on a Dask cluster publish the same warehouse."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from expectations.runner import ROWS_PER_PIECE
from flows import runlog
from flows.runners import choose_runner
from flows.settings import Settings
from tests.statline_mirror import StatLineMirror
from warehouse import schema
from warehouse.store import query_tables

# the national table, two region compositions and one municipal table: every kind of fact and indicator
TABLES = ["37789ksz", "82496NED", "82949NED", "83450NED"]
RUN_SPECIFIC = {
    "build_info": None,
    "validation_results": ["run_id"],
    "source_tables": ["raw_path"],
    "load_history": None,  # the run itself: its id, times, parameters (online or offline)
}


@pytest.mark.parametrize(
    ("env", "rows", "kind", "workers", "says"),
    [
        ({}, 1_000, "threads", 2, "2 threads in the flow's process (ThreadPoolTaskRunner)"),
        ({"WERKREGIO_TASK_RUNNER": "processes", "WERKREGIO_WORKERS": "3"}, 1_000, "processes", 3, "3 worker processes (ProcessPoolTaskRunner)"),
        ({"WERKREGIO_TASK_RUNNER": "processes"}, ROWS_PER_PIECE + 1, "threads", 1, "one thread in the flow's process"),
        ({"WERKREGIO_DASK_ADDRESS": "tcp://sched:8786"}, ROWS_PER_PIECE + 1, "dask", 0, "the Dask cluster at tcp://sched:8786"),
    ],
)
def test_the_runner_follows_the_settings_and_a_large_table_stays_in_the_flows_process(env, rows, kind, workers, says):
    choice = choose_runner(Settings.from_env(env), rows)

    assert (choice.kind, choice.workers) == (kind, workers)
    assert choice.description.startswith(says)
    assert choice.shares_memory == (kind == "threads")


def published(home: Path) -> dict[str, pl.DataFrame]:
    """Every table of the warehouse published in ``home``, less what names the run or the data dir."""
    frames = query_tables(home / "warehouse" / "werkregio.duckdb", list(schema.BY_NAME))
    return {
        name: frame.drop(RUN_SPECIFIC[name]) if RUN_SPECIFIC.get(name) else frame
        for name, frame in frames.items()
        if name not in RUN_SPECIFIC or RUN_SPECIFIC[name] is not None
    }


@pytest.fixture(scope="module")
def local_run(statline_root, prefect_server, tmp_path_factory) -> Path:
    """A refresh of :data:`TABLES` from the mirror on the default runner (threads): its data dir."""
    from flows.refresh import refresh

    home = tmp_path_factory.mktemp("local") / "home"
    with StatLineMirror(statline_root) as mirror, pytest.MonkeyPatch.context() as patch:
        patch.setenv("WERKREGIO_HOME", str(home))
        patch.setenv("WERKREGIO_CBS_URL", mirror.base_url)
        record = refresh(tables=TABLES)
    assert record["task_runner"] == "2 threads in the flow's process (ThreadPoolTaskRunner)"
    return home


def offline_build(local_run: Path, home: Path, monkeypatch, **env: str) -> dict:
    """``refresh(offline=True)`` in a new data dir holding the landings of ``local_run``."""
    from flows.refresh import refresh

    shutil.copytree(local_run / "raw", home / "raw")
    monkeypatch.setenv("WERKREGIO_HOME", str(home))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return refresh(offline=True)


@pytest.mark.mirror
def test_worker_processes_publish_the_tables_of_the_local_run(local_run, tmp_path, monkeypatch):
    record = offline_build(local_run, tmp_path / "home", monkeypatch, WERKREGIO_TASK_RUNNER="processes", WERKREGIO_WORKERS="2")

    assert record["task_runner"] == "2 worker processes (ProcessPoolTaskRunner)"
    assert runlog.runs(tmp_path / "home" / "runs.jsonl")[-1].status == "finished"
    expected, found = published(local_run), published(tmp_path / "home")
    assert expected.keys() == found.keys()
    for name in expected:
        assert_frame_equal(found[name], expected[name], check_row_order=False)
    assert found["validation_results"].height > 50


@pytest.mark.mirror
def test_a_dask_cluster_publishes_the_tables_of_the_local_run(local_run, tmp_path, monkeypatch):
    import distributed

    monkeypatch.delenv("WERKREGIO_TASK_RUNNER")  # the address alone chooses Dask
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        record = offline_build(local_run, tmp_path / "home", monkeypatch, WERKREGIO_DASK_ADDRESS=cluster.scheduler_address)
        with distributed.Client(cluster) as client:
            executed = client.run(lambda dask_worker: dask_worker.state.executed_count)

    assert record["task_runner"] == f"the Dask cluster at {cluster.scheduler_address} (prefect-dask DaskTaskRunner)"
    assert len(executed) == 2 and sum(executed.values()) == len(TABLES)  # one validate_batch per table, on the cluster
    expected, found = published(local_run), published(tmp_path / "home")
    assert expected.keys() == found.keys()
    for name in expected:
        assert_frame_equal(found[name], expected[name], check_row_order=False)
