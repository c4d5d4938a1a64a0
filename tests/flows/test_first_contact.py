"""A first contact that helps: the `werkregio` command as a new user meets it (issue 23, 5).

Each test runs the installed console script in a child process from a folder that is not the project (an empty
one), with ``WERKREGIO_HOME`` set and the session's Prefect API (``PREFECT_API_URL``), and reads what it prints.
Expected failures (CBS unreachable, the data dir busy, an unknown reference year, validation stopping the run)
print one message and exit 1, without a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flows import runlog
from tests.flows.test_refresh import corrupted_national
from tests.sources.cbs.test_cancel import refused_url
from tests.statline_mirror import StatLineMirror
from warehouse.store import published_build

pytestmark = [pytest.mark.mirror, pytest.mark.usefixtures("prefect_server")]

WERKREGIO = Path(sys.executable).with_name("werkregio")
SUBSET = ["37789ksz", "83287NED"]  # national benefits, Gebieden in Nederland 2016


@pytest.fixture(scope="module")
def api_url(prefect_server) -> str:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def werkregio(*args: str, home: Path, cwd: Path, api_url: str | None, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """The console script with ``args`` in ``cwd``; ``api_url`` None: no ``PREFECT_API_URL`` (Prefect's temporary server)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WERKREGIO_", "PREFECT_API_URL"))}
    base.update({"WERKREGIO_HOME": str(home), "WERKREGIO_RETRIES": "1", "WERKREGIO_BACKOFF": "0.05", **env})
    if api_url is not None:
        base["PREFECT_API_URL"] = api_url
    else:  # as the README runs it: Prefect's state under the data dir
        base.pop("PREFECT_HOME", None)
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run([str(WERKREGIO), *args], cwd=cwd, env=base, capture_output=True, text=True, timeout=timeout)


def output(done: subprocess.CompletedProcess) -> str:
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def built(statline_root, tmp_path_factory, api_url) -> Path:
    """A data dir with the subset landed and published by `werkregio refresh`, to be copied by the tests."""
    home = tmp_path_factory.mktemp("first-contact") / "home"
    with StatLineMirror(statline_root) as mirror:
        done = werkregio("refresh", *(f"--table={t}" for t in SUBSET), home=home, cwd=home.parent / "elsewhere",
                         api_url=api_url, WERKREGIO_CBS_URL=mirror.base_url)  # fmt: skip
    assert done.returncode == 0, output(done)[-3000:]
    return home


@pytest.fixture
def home(built, tmp_path) -> Path:
    return Path(shutil.copytree(built, tmp_path / "home"))


@pytest.mark.parametrize(
    ("api", "where", "setting", "problem"),
    [
        ("v3", "refused", "WERKREGIO_CBS_URL", "the connection was refused"),
        ("v3", "http://cbs.werkregio-test.invalid", "WERKREGIO_CBS_URL", "the host name 'cbs.werkregio-test.invalid' does not resolve"),
        ("v4", "refused", "WERKREGIO_CBS_V4_URL (with WERKREGIO_CBS_API=v4)", "the connection was refused"),
    ],
)
def test_an_unreachable_cbs_fails_the_refresh_at_once_in_one_message(tmp_path, api_url, api, where, setting, problem):
    url = refused_url() if where == "refused" else where
    variable = "WERKREGIO_CBS_V4_URL" if api == "v4" else "WERKREGIO_CBS_URL"
    home = tmp_path / "home"

    done = werkregio("refresh", home=home, cwd=tmp_path / "elsewhere", api_url=api_url, WERKREGIO_CBS_API=api, **{variable: url})

    message = (
        f"cannot reach CBS at {url}: {problem}; check {setting} (and the network), or build from the tables already "
        "landed with `werkregio refresh --offline`"
    )
    assert done.returncode == 1
    assert f"werkregio refresh failed: {message}\n" in done.stderr
    assert "Traceback" not in output(done)
    assert "Task run 'fetch" not in output(done)  # no table was tried: one request told
    assert len(output(done).splitlines()) < 15
    [run] = runlog.runs(home / "runs.jsonl")
    assert (run.status, run.error) == ("failed", f"CbsUnreachable: {message}")


def test_a_busy_data_dir_is_refused_in_one_message(home, tmp_path, api_url):
    with runlog.exclusive(home, "refresh run other"):
        done = werkregio("refresh", "--offline", home=home, cwd=tmp_path / "elsewhere", api_url=api_url)

    assert done.returncode == 1
    assert f"werkregio refresh failed: another pipeline run is busy on {home} (refresh run other, pid {os.getpid()}" in done.stderr
    assert done.stderr.rstrip().endswith("Nothing was run; the published warehouse was not changed.")
    assert "Traceback" not in output(done)


def test_an_unknown_reference_year_fails_in_one_message(home, tmp_path, api_url):
    before = published_build(home / "warehouse" / "werkregio.duckdb")

    done = werkregio("indicators", "--reference-year", "2010", home=home, cwd=tmp_path / "elsewhere", api_url=api_url)

    assert done.returncode == 1
    assert "werkregio indicators failed: reference_year=2010: no CBS region composition ('Gebieden in Nederland') of 2010" in done.stderr
    assert "compositions loaded: 2016" in done.stderr
    assert "Traceback" not in output(done)
    assert published_build(home / "warehouse" / "werkregio.duckdb") == before


def test_validation_stopping_the_run_fails_in_one_message(home, tmp_path, api_url, statline_root):
    before = published_build(home / "warehouse" / "werkregio.duckdb")
    with StatLineMirror(corrupted_national(statline_root, tmp_path / "corrupted")) as bad:
        done = werkregio("refresh", "--table", "37789ksz", home=home, cwd=tmp_path / "elsewhere", api_url=api_url,
                         WERKREGIO_CBS_URL=bad.base_url)  # fmt: skip

    assert done.returncode == 1
    assert "werkregio refresh failed: cbs_national_benefits (37789ksz@2026-01-01T02:00:00)" in done.stderr
    assert "TotaalBijstandsuitkeringen_11" in done.stderr and "-4.0" in done.stderr
    assert "Traceback" not in output(done)
    assert published_build(home / "warehouse" / "werkregio.duckdb") == before


def test_every_command_works_from_another_folder_and_a_refresh_with_nothing_to_do_says_so(home, tmp_path, api_url):
    elsewhere = tmp_path / "some" / "other" / "folder"
    build = published_build(home / "warehouse" / "werkregio.duckdb")[0]

    nothing = werkregio("refresh", "--offline", home=home, cwd=elsewhere, api_url=api_url)
    assert nothing.returncode == 0, output(nothing)[-3000:]
    assert f"nothing changed since build {build}: published nothing" in nothing.stdout
    assert "done" not in nothing.stdout
    assert published_build(home / "warehouse" / "werkregio.duckdb")[0] == build

    status = werkregio("status", home=home, cwd=elsewhere, api_url=api_url)
    assert status.returncode == 0, output(status)
    assert f"nothing changed since build {build}: published nothing" in status.stdout
    assert "harmonised    on the boundaries of 2016: " in status.stdout
    assert "as_published  each year on its own boundaries: " in status.stdout

    as_json = werkregio("status", "--json", home=home, cwd=elsewhere, api_url=api_url)
    assert as_json.returncode == 0, output(as_json)
    report = json.loads(as_json.stdout)
    assert [(s["view"], s["reference_year"]) for s in report["published"]["indicators"]] == [("harmonised", 2016), ("as_published", None)]
    assert {"table_id": "37789ksz", "modified": "2025-04-23T02:00:00"} in report["rerun"]["check_modified"]
    assert all(isinstance(table_id, str) for table_id in report["rerun"]["download"])

    export = werkregio("export", str(tmp_path / "parquet"), home=home, cwd=elsewhere, api_url=api_url)
    assert export.returncode == 0, output(export)
    assert (tmp_path / "parquet" / "v_region_indicators.parquet").is_file()

    report_file = tmp_path / "report.html"
    html = werkregio("report", "--out", str(report_file), home=home, cwd=elsewhere, api_url=api_url)
    assert html.returncode == 0, output(html)
    assert report_file.stat().st_size > 0

    recalculated = werkregio("indicators", "--view", "as_published", home=home, cwd=elsewhere, api_url=api_url)
    assert recalculated.returncode == 0, output(recalculated)[-3000:]
    assert f"werkregio indicators done: published {home / 'warehouse' / 'werkregio.duckdb'}" in recalculated.stdout
    assert list(elsewhere.iterdir()) == []  # nothing written where the commands ran


def test_refresh_offline_force_rebuilds_from_the_landings(home, tmp_path, api_url):
    build = published_build(home / "warehouse" / "werkregio.duckdb")[0]

    done = werkregio("refresh", "--offline", "--force", home=home, cwd=tmp_path / "elsewhere", api_url=api_url,
                     WERKREGIO_CBS_URL=refused_url())  # fmt: skip  - no CBS: nothing may be asked

    assert done.returncode == 0, output(done)[-3000:]
    assert "werkregio refresh done: published" in done.stdout
    rebuilt = published_build(home / "warehouse" / "werkregio.duckdb")[0]
    assert rebuilt != build
    [*_, run] = runlog.runs(home / "runs.jsonl")
    assert run.run_id == rebuilt and run.parameters == {"tables": None, "force": True, "offline": True}
    assert sorted(t["table_id"] for t in run.tables) == sorted(SUBSET) and {t["action"] for t in run.tables} == {"offline"}


def test_a_failed_run_on_prefects_temporary_server_ends_without_its_cancelled_writes(tmp_path, statline_root):
    """Every table failing at once ended the command while Prefect's temporary server still recorded the
    task runs; stopping it cancelled those writes, which it logged with CancelledError tracebacks.

    A race: without the command's wait (``flows.cli.wait_until_recorded``) 4 of 6 such runs showed them here,
    with it none of 3.
    """
    with StatLineMirror(statline_root) as mirror:
        mirror.add_fault("status", status=404, times=None)  # every table: not found, not retried
        done = werkregio("refresh", home=tmp_path / "home", cwd=tmp_path / "elsewhere", api_url=None, timeout=600,
                         WERKREGIO_CBS_URL=mirror.base_url)  # fmt: skip

    assert done.returncode == 1
    assert "werkregio refresh failed: 31 of 31 table(s) failed" in done.stderr
    assert "Starting temporary server" in output(done)  # Prefect's temporary server, as for a new user
    assert "CancelledError" not in output(done)
    assert "Error flushing" not in output(done)
