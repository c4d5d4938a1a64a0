"""Concurrent readers while refreshes publish (issue 6): zero errors, every query sees one consistent build.

Four reader processes (tests/reliability/_reader.py; two open the file the way ``warehouse.store.read_only``
does, two with ``duckdb.connect(path, read_only=True)``) query the published warehouse in a loop, a new
connection per query, reading ``build_info.run_id`` and checksums of ``validation_results`` and
``indicators`` in one transaction. Meanwhile the test publishes with offline refreshes (landed data, no
download) that alternate the reference year between 2016 and 2015, so consecutive builds differ in their
indicators and every build carries its own run id in ``validation_results``. After each publish the test
records the checksums of the new build under its run id and waits until every reader has seen it.
At the end every observation must be a recorded (run id, checksums) pair and no query may have failed.

Quick variant (default run): 3 publishes. Full variant (``-m slow``): 10 publishes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.reliability._reader import checksums
from tests.reliability.conftest import NATIONAL, QUICK_RETRIES, ROOT, environment, run_refresh, warehouse_of
from tests.statline_mirror import StatLineMirror
from warehouse.store import read_only

pytestmark = [pytest.mark.mirror, pytest.mark.usefixtures("prefect_server")]

GEBIEDEN = ["82949NED", "83287NED"]  # Gebieden in Nederland 2015 and 2016
READER_MODES = ["attach", "connect", "attach", "connect"]


def observations(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t", 1)) for line in lines if "\t" in line]


def wait_until_seen(outs: list[Path], run_id: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(any(run == run_id for run, _ in observations(out)) for out in outs):
            return
        time.sleep(0.1)
    raise AssertionError(f"not every reader saw build {run_id} within {timeout} s")


def publish_while_reading(statline_root: Path, tmp_path: Path, publishes: int) -> dict:
    home = tmp_path / "home"
    path = warehouse_of(home)
    with StatLineMirror(statline_root) as mirror, environment(
        WERKREGIO_HOME=str(home), WERKREGIO_CBS_URL=mirror.base_url, WERKREGIO_REFERENCE_YEAR="2016", **QUICK_RETRIES
    ):
        run_refresh(tables=[NATIONAL, *GEBIEDEN])
    expected: dict[str, str] = {}

    def record() -> str:
        with read_only(path) as con:
            run_id, sums = checksums(con)
        expected[run_id] = json.dumps(sums)
        return run_id

    first = record()
    stop = tmp_path / "stop"
    outs = [tmp_path / f"reader-{i}.tsv" for i in range(len(READER_MODES))]
    readers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.reliability._reader", "--path", str(path), "--out", str(out),
             "--stop", str(stop), "--mode", mode],
            cwd=ROOT,
        )
        for out, mode in zip(outs, READER_MODES)
    ]
    started = time.monotonic()
    try:
        wait_until_seen(outs, first)
        for index in range(publishes):
            year = ("2015", "2016")[index % 2]
            with environment(WERKREGIO_HOME=str(home), WERKREGIO_REFERENCE_YEAR=year):
                result = run_refresh(offline=True)
            run_id = record()
            assert run_id == result["run_id"]
            wait_until_seen(outs, run_id)
    finally:
        stop.touch()
        for reader in readers:
            try:
                reader.wait(timeout=60)
            except subprocess.TimeoutExpired:
                reader.kill()
                reader.wait()
    elapsed = time.monotonic() - started

    seen = [obs for out in outs for obs in observations(out)]
    errors = [text for run, text in seen if run == "ERROR"]
    inconsistent = [(run, sums) for run, sums in seen if run != "ERROR" and expected.get(run) != sums]
    per_reader = [len(observations(out)) for out in outs]
    builds = Counter(run for run, _ in seen if run != "ERROR")
    summary = {
        "publishes": publishes,
        "builds": len(expected),
        "distinct_checksums": len(set(expected.values())),
        "queries": len(seen),
        "queries_per_reader": per_reader,
        "errors": len(errors),
        "inconsistent": len(inconsistent),
        "builds_seen": len(builds),
        "seconds": round(elapsed, 1),
    }
    print(f"\nreaders during {publishes} publishes: {json.dumps(summary)}")
    assert [r.returncode for r in readers] == [0] * len(readers)
    assert errors == [], errors[:5]
    assert inconsistent == [], inconsistent[:5]
    assert len(builds) == publishes + 1 and all(n > 0 for n in per_reader)
    assert len(set(expected.values())) == len(expected), "builds must be distinguishable by their checksums"
    return summary


def test_four_readers_during_three_publishes(statline_root, tmp_path):
    publish_while_reading(statline_root, tmp_path, publishes=3)


@pytest.mark.slow
def test_four_readers_during_ten_publishes(statline_root, tmp_path):
    publish_while_reading(statline_root, tmp_path, publishes=10)
