"""The ``werkregio`` command line: help, settings errors, ``status`` on empty and published homes."""

from __future__ import annotations

import datetime as dt
import json
from importlib.metadata import version
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from sources.cbs import catalog

from tests.frames import geography_frames, mart_frames

from flows import runlog
from flows.cli import main
from flows.settings import Settings
from transforms.metadata import build_info, source_tables, validation_results
from transforms.series import SERIES_SCHEMA
from warehouse import schema
from warehouse.store import publish, query

REPO = Path(__file__).resolve().parents[2]
_SCRIPT = Path(sys.executable).with_name("werkregio")
WERKREGIO = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "flows.cli"]
BATCH = "37789ksz@2025-04-23T02:00:00"


def run_werkregio(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess:
    """The installed console script, in a child process, with WERKREGIO_HOME set to ``home``."""
    return subprocess.run(
        [*WERKREGIO, *args],
        env={**os.environ, "WERKREGIO_HOME": str(home), **env},
        cwd=home.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("WERKREGIO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def fake_flows(prefect_server, monkeypatch) -> list:
    """Stand-ins for the two flows (real Prefect flows with their parameters, on the session's Prefect API) that
    record each call as ``(flow, parameters, heartbeat frequency)`` in the returned list; a test may set
    ``fake_flows.effect`` to a function of the parameters that runs in the flow."""
    from prefect import flow
    from prefect.settings import get_current_settings

    import flows.indicators
    import flows.refresh

    calls = Calls()

    def record(name: str, parameters: dict) -> dict:
        calls.append((name, parameters, get_current_settings().flows.heartbeat_frequency))
        return calls.effect(parameters) if calls.effect else {}

    @flow(name="refresh")
    def refresh(tables: list[str] | None = None, force: bool = False, offline: bool = False):
        return record("refresh", {"tables": tables, "force": force, "offline": offline})

    @flow(name="recalculate_indicators")
    def recalculate_indicators(reference_year: int | None = None, view: str = "harmonised"):
        return record("indicators", {"reference_year": reference_year, "view": view})

    monkeypatch.setattr(flows.refresh, "refresh", refresh)
    monkeypatch.setattr(flows.indicators, "recalculate_indicators", recalculate_indicators)
    return calls


class Calls(list):
    effect = None


def test_top_level_help_lists_every_command(tmp_path):
    done = run_werkregio("--help", home=tmp_path / "home")

    assert done.returncode == 0, done.stderr
    for command in ("refresh", "status", "report"):
        assert command in done.stdout
    assert "docs" not in done.stdout  # a developer task: python -m warehouse.docs
    assert "WERKREGIO_" in done.stdout


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("refresh", ["--table ID_OR_FAMILY", "--force", "--offline", "Modified"]),
        ("status", ["--runs N", "--json", "run log"]),
        ("report", ["--reference-year YEAR", "--out FILE", "werkregio-report.html", "docs/report.md"]),
    ],
)
def test_command_help_describes_its_options(tmp_path, command, options):
    done = run_werkregio(command, "--help", home=tmp_path / "home")

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: werkregio {command}")
    for option in options:
        assert option in done.stdout


def test_force_and_offline_together_ask_for_a_rebuild_from_the_landings(home, fake_flows):
    assert main(["refresh", "--offline", "--force"]) == 0

    assert [(name, parameters) for name, parameters, _ in fake_flows] == [
        ("refresh", {"tables": None, "force": True, "offline": True})
    ]


def test_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    assert exited.value.code == 0
    assert capsys.readouterr().out == f"werkregio {version('werkregio')}\n"


def test_a_command_is_required(home, capsys):
    with pytest.raises(SystemExit) as exited:
        main([])

    assert exited.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["refresh"], ["refresh", "--offline"], ["status"], ["status", "--json"]])
def test_an_invalid_setting_stops_any_command_with_exit_2(home, monkeypatch, capsys, tmp_path, argv):
    monkeypatch.setenv("WERKREGIO_TIMEOUT", "soon")
    monkeypatch.chdir(tmp_path)

    assert main(argv) == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("werkregio: WERKREGIO_TIMEOUT='soon'")
    assert not home.exists()


def test_the_console_script_exits_2_on_an_invalid_setting(tmp_path):
    done = run_werkregio("status", home=tmp_path / "home", WERKREGIO_CONCURRENCY="100")

    assert done.returncode == 2
    assert "WERKREGIO_CONCURRENCY=100" in done.stderr


def test_status_on_an_empty_home_says_there_is_nothing_yet(home, capsys):
    assert main(["status"]) == 0

    out = capsys.readouterr().out
    assert f"werkregio data dir: {home}" in out
    assert "Recent runs (newest first):\n  none yet" in out
    assert "Published warehouse: none" in out
    assert "werkregio refresh" in out
    assert not home.exists()


def test_status_json_on_an_empty_home(home, capsys):
    assert main(["status", "--json"]) == 0

    report = json.loads(capsys.readouterr().out)
    assert report["home"] == str(home)
    assert report["warehouse"] == str(Settings.from_env().warehouse_path)
    assert report["runs"] == []
    assert report["published"] is None
    assert "no warehouse at" in report["published_error"]


def series_rows() -> pl.DataFrame:
    return pl.DataFrame(
        [
            ("ww", "month", dt.date(2025, 1, 1), "2025MM01", 222.0, "x 1 000", True, "37789ksz"),
            ("wwb", "month", dt.date(2025, 1, 1), "2025MM01", 421.0, "x 1 000", True, "37789ksz"),
        ],
        schema=SERIES_SCHEMA,
        orient="row",
    )


def landing(table_id: str, modified: str, rows: int) -> dict:
    return {
        "table_id": table_id,
        "modified": modified,
        "fetched_at": "2025-04-23T03:00:00+00:00",
        "rows": rows,
        "sha256": "0" * 64,
        "source_url": f"https://opendata.cbs.nl/ODataFeed/odata/{table_id}/",
        "path": f"raw/{table_id}/{modified}",
    }


CHECKS = [
    {"dataset": "cbs_national_benefits", "batch": BATCH, "expectation": "expect_column_to_exist",
     "column": "Perioden", "severity": "critical", "success": True, "message": "column Perioden exists"},
    {"dataset": "cbs_national_benefits", "batch": BATCH, "expectation": "expect_column_values_to_be_between",
     "column": "NietSeizoengecorrigeerd_8", "severity": "warning", "success": False, "unexpected_count": 1,
     "unexpected_sample": [812.0], "message": "NietSeizoengecorrigeerd_8: 1 value above 800"},
]
FAILURE = "RefreshFailed: 1 of 2 table(s) failed:\n  HTTPError: 503 Server Error for 82496NED"


@pytest.fixture
def published_home(home) -> Path:
    """A home with a published build (run-ok) and a later run that failed (run-bad)."""
    settings = Settings.from_env()
    publish(
        settings.warehouse_path,
        {
            "build_info": build_info("run-ok", "refresh", dt.datetime(2025, 4, 23, 3, 5, tzinfo=dt.UTC),
                                     "https://opendata.cbs.nl", "0.1.0", schema_version="1.0.0"),
            "source_tables": source_tables(
                [landing("37789ksz", "2025-04-23T02:00:00", 352), landing("82496NED", "2024-01-10T02:00:00", 2901)],
                {"37789ksz": {"title": "Sociale zekerheid", "family": "national_benefits"},
                 "82496NED": {"title": "Gebieden in Nederland 2014", "family": "regions"}},
            ),
            "national_series": series_rows(),
            **geography_frames(),
        **mart_frames(),
            "validation_results": validation_results("run-ok", CHECKS),
        },
    )
    log = settings.run_log_path
    runlog.append(log, {"run_id": "run-ok", "flow": "refresh", "event": "started", "parameters": {}})
    runlog.append(log, {"run_id": "run-ok", "flow": "refresh", "event": "finished",
                        "tables": [{"table_id": "37789ksz", "action": "downloaded"},
                                   {"table_id": "82496NED", "action": "downloaded"}],
                        "validation": CHECKS, "published": {"path": str(settings.warehouse_path)}})
    runlog.append(log, {"run_id": "run-bad", "flow": "refresh", "event": "started", "parameters": {"force": True}})
    runlog.append(log, {"run_id": "run-bad", "flow": "refresh", "event": "failed",
                        "tables": [], "validation": [], "published": None, "error": FAILURE})
    return home


def run_blocks(out: str) -> dict[str, str]:
    """The 'Recent runs' section of ``werkregio status``, one text block per run id, in printed order."""
    section = out[out.index("Recent runs"):out.index("Published warehouse")].splitlines()[1:]
    blocks: dict[str, list[str]] = {}
    for line in section:
        if line.startswith("  ") and not line.startswith("   "):
            current = blocks.setdefault(line.rsplit(" run ", 1)[1], [])
        current.append(line)
    return {run_id: "\n".join(lines) for run_id, lines in blocks.items()}


def test_status_names_the_failed_run_its_error_and_what_a_rerun_does(published_home, capsys):
    assert main(["status"]) == 0

    blocks = run_blocks(capsys.readouterr().out)
    assert list(blocks) == ["run-bad", "run-ok"]
    failed = blocks["run-bad"]
    assert " failed " in failed.splitlines()[0]
    assert "error: RefreshFailed: 1 of 2 table(s) failed:" in failed
    assert "HTTPError: 503 Server Error for 82496NED" in failed
    shown = ", ".join(catalog.ids()[:8])
    more = len(catalog.TABLES) - 8
    assert f"a rerun (`werkregio refresh --force`) downloads {len(catalog.TABLES)} table(s) ({shown}, ... and {more} more)" in failed
    assert "catalogue" not in failed  # --force asks CBS nothing before downloading
    finished = blocks["run-ok"]
    assert " finished " in finished.splitlines()[0]
    assert "tables: 2 downloaded" in finished
    assert "validation: 2 checks, 0 critical failures, 1 warnings" in finished
    assert "error" not in finished and "rerun" not in finished


def test_status_says_what_a_rerun_does_for_each_kind_of_failed_run(published_home, capsys):
    log = published_home / "runs.jsonl"
    runlog.append(log, {"run_id": "run-ind", "flow": "indicators", "event": "started", "parameters": {"reference_year": 2016}})
    runlog.append(log, {"run_id": "run-ind", "flow": "indicators", "event": "failed", "error": "WarehouseError: x"})
    runlog.append(log, {"run_id": "run-off", "flow": "refresh", "event": "started", "parameters": {"offline": True}})
    runlog.append(log, {"run_id": "run-off", "flow": "refresh", "event": "failed", "error": "ValidationFailed: y"})
    runlog.append(log, {"run_id": "run-bad", "flow": "refresh", "event": "started", "parameters": {}})  # retried in Prefect
    runlog.append(log, {"run_id": "run-bad", "flow": "refresh", "event": "finished"})

    assert main(["status", "--runs", "10"]) == 0

    out = capsys.readouterr().out
    blocks = run_blocks(out)
    assert "(`werkregio indicators --reference-year 2016`) recomputes the indicators from the published facts, downloads nothing" in blocks["run-ind"]
    assert "(`werkregio refresh --offline`) downloads nothing, rebuilds from the landed tables" in blocks["run-off"]
    assert "downloads" not in blocks["run-off"].replace("downloads nothing", "")
    assert "run run-bad (attempt 2)" in out and " failed " in blocks["run-bad"]  # the first attempt's failure stays


def test_status_names_a_damaged_landing_manifest_instead_of_failing(published_home, capsys):
    manifest = published_home / "raw" / "37789ksz" / "2025-04-23T020000_0123456789ab" / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("{")

    assert main(["status"]) == 0

    failed = run_blocks(capsys.readouterr().out)["run-bad"]
    assert f"a rerun (`werkregio refresh --force`) cannot be planned: landing manifest {manifest} is not readable JSON" in failed


def test_status_lists_the_published_tables_and_validation(published_home, capsys):
    assert main(["status"]) == 0

    out = capsys.readouterr().out
    published = out[out.index("Published warehouse"):]
    assert f"Published warehouse {Settings.from_env().warehouse_path}" in published
    assert "by run run-ok" in published
    lines = published.splitlines()
    national = next(line for line in lines if "37789ksz" in line)
    assert "national_benefits" in national and "Modified 2025-04-23T02:00:00" in national and "352 rows" in national
    regions = next(line for line in lines if "82496NED" in line)
    assert "regions" in regions and "2901 rows" in regions
    assert f"cbs_national_benefits {BATCH}: 1 critical checks passed" in published
    assert f"cbs_national_benefits {BATCH}: 1 warning checks FAILED" in published
    assert "! warning: NietSeizoengecorrigeerd_8: 1 value above 800" in published


def test_status_json_with_a_published_warehouse(published_home, capsys):
    assert main(["status", "--json", "--runs", "1"]) == 0

    report = json.loads(capsys.readouterr().out)
    assert [(r["run_id"], r["status"], r["error"]) for r in report["runs"]] == [("run-bad", "failed", FAILURE)]
    assert report["published"]["build"]["run_id"] == "run-ok"
    assert [(t["table_id"], t["rows"]) for t in report["published"]["tables"]] == [("37789ksz", 352), ("82496NED", 2901)]
    assert report["published"]["failed_checks"] == [
        {"dataset": "cbs_national_benefits", "batch": BATCH, "severity": "warning",
         "message": "NietSeizoengecorrigeerd_8: 1 value above 800"}
    ]


def test_export_writes_one_parquet_file_per_view(published_home, tmp_path, capsys):
    output = tmp_path / "exports" / "today"

    assert main(["export", str(output)]) == 0

    out = capsys.readouterr().out
    names = sorted(f"{view.name}.parquet" for view in schema.VIEWS)
    assert sorted(p.name for p in output.iterdir()) == names  # and no temporary folder left
    assert out.splitlines() == [f"wrote {output / name}" for name in names]
    national = pl.read_parquet(output / "v_national_series.parquet")
    assert national.columns == schema.NATIONAL_SERIES.column_names and national.height == 2


def test_export_into_a_path_that_is_a_file_fails_in_one_line(published_home, tmp_path, capsys):
    output = tmp_path / "export"
    output.write_text("a file")

    assert main(["export", str(output)]) == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"werkregio: cannot export into {output}: it is a file, not a folder\n"


@pytest.mark.parametrize("command", [["export", ""], ["export", "  "], ["export", "--tables", ""], ["report", "--out", ""]])
def test_an_empty_path_is_refused_not_taken_for_the_current_folder(published_home, tmp_path, monkeypatch, capsys, command):
    """Issue 22: `werkregio export ''` wrote into the current folder."""
    current = tmp_path / "current"
    current.mkdir()
    monkeypatch.chdir(current)

    with pytest.raises(SystemExit) as exited:
        main(command)

    assert exited.value.code == 2
    assert "an empty path: name a file or folder (use . for the current folder)" in capsys.readouterr().err
    assert list(current.iterdir()) == []


@pytest.mark.parametrize("publishes", [False, True])
def test_a_failed_run_says_whether_the_published_warehouse_changed(published_home, fake_flows, capsys, publishes):
    """A run can fail after it published (e.g. writing the run log failed): the command must not say 'not changed'."""
    settings = Settings.from_env()

    def effect(parameters):
        if publishes:
            frames = {name: query(settings.warehouse_path, f"SELECT * FROM {name}") for name in schema.BY_NAME}
            frames["build_info"] = build_info("run-new", "refresh", dt.datetime(2025, 4, 24, tzinfo=dt.UTC), "https://opendata.cbs.nl", "0.1.0", schema_version="1.0.0")
            publish(settings.warehouse_path, frames)
        raise OSError(28, "No space left on device")

    fake_flows.effect = effect

    assert main(["refresh"]) == 1

    err = capsys.readouterr().err
    assert "werkregio refresh failed: [Errno 28] No space left on device" in err
    if publishes:
        assert f"The published warehouse {settings.warehouse_path} now holds build run-new (it changed during the run)." in err
        assert "not changed" not in err
    else:
        assert "The published warehouse was not changed. `werkregio status` shows the run." in err


@pytest.mark.usefixtures("prefect_server")
@pytest.mark.parametrize("command", ["refresh", "indicators"])
def test_a_run_refused_because_another_holds_the_lock_says_nothing_was_run(home, monkeypatch, capsys, command):
    with runlog.exclusive(home, "refresh run other"):
        assert main([command]) == 1

    err = capsys.readouterr().err
    assert f"werkregio {command} failed: another pipeline run is busy on {home} (refresh run other, pid" in err
    assert err.endswith("Nothing was run; the published warehouse was not changed.\n")
    assert "werkregio status" not in err  # the refused run is in no run log
    assert runlog.runs(home / "runs.jsonl") == []


def damage(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.truncate(100)


def test_status_and_export_on_a_damaged_warehouse_say_so_in_one_line(published_home, tmp_path, capsys):
    warehouse = Settings.from_env().warehouse_path
    damage(warehouse)

    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert f"Published warehouse: none (cannot open the warehouse {warehouse}: IO Error:" in out
    assert "werkregio refresh" in out
    assert list(run_blocks(out)) == ["run-bad", "run-ok"]  # the run log is still shown

    assert main(["export", str(tmp_path / "export")]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"werkregio: cannot open the warehouse {warehouse}: IO Error:")
    assert len(err.splitlines()) == 1


def test_status_runs_0_shows_no_run_and_a_negative_count_is_refused(published_home, capsys):
    assert main(["status", "--json", "--runs", "0"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["runs"] == [] and report["published"]["build"]["run_id"] == "run-ok"

    assert main(["status", "--runs", "0"]) == 0
    assert "Recent runs (newest first):\n  none yet" in capsys.readouterr().out

    with pytest.raises(SystemExit) as exited:
        main(["status", "--runs", "-1"])
    assert exited.value.code == 2
    assert "argument --runs: must be 0 or more, not -1" in capsys.readouterr().err


def test_status_shows_what_a_warehouse_lacking_a_table_holds_and_names_the_table(published_home, capsys):
    import duckdb

    with duckdb.connect(str(Settings.from_env().warehouse_path)) as con:  # e.g. an older or damaged file
        con.execute("DROP TABLE validation_results")

    assert main(["status"]) == 0
    out = capsys.readouterr().out
    published = out[out.index("Published warehouse"):]
    assert "by run run-ok" in published and "37789ksz" in published and "82496NED" in published
    assert "validation:" not in published
    assert "missing or unreadable in this file: validation_results" in published

    assert main(["status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["published"]
    assert (report["validation"], report["failed_checks"], report["missing"]) == (None, None, ["validation_results"])
    assert [t["table_id"] for t in report["tables"]] == ["37789ksz", "82496NED"]


def test_status_reads_the_published_warehouse_through_one_connection(published_home, monkeypatch, capsys):
    """One connection sees one build: a publish between separate reads could mix two builds."""
    import warehouse.store

    opened = []
    read_only = warehouse.store.read_only

    def counted(path):
        opened.append(path)
        return read_only(path)

    monkeypatch.setattr(warehouse.store, "read_only", counted)

    assert main(["status", "--json"]) == 0

    assert opened == [Settings.from_env().warehouse_path]
    assert json.loads(capsys.readouterr().out)["published"]["build"]["run_id"] == "run-ok"


def test_the_flows_import_neither_gx_nor_pandas_until_a_build_validates():
    """An unchanged nightly refresh, a recalculation and `status` never pay GX's 3 s import."""
    heavy = "sorted(m for m in ('great_expectations', 'pandas', 'scipy') if m in sys.modules)"
    code = (
        "import sys; import flows.refresh, flows.indicators, flows.status, flows.tasks, flows.build, sources.uwv.intake, flows.validation; "
        f"print({heavy}); "
        "from expectations.national_benefits import national_benefits_suite; national_benefits_suite(['x']); "
        f"print({heavy})"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    before, after = done.stdout.strip().splitlines()
    assert before == "[]"
    assert after == "['great_expectations', 'pandas', 'scipy']"  # a build's suites bring them in


@pytest.mark.parametrize("argv", [["refresh", "--offline"], ["indicators"]])
def test_a_flow_run_the_command_starts_sends_no_heartbeats(home, fake_flows, argv):
    from prefect.settings import get_current_settings

    assert main(argv) == 0
    assert [heartbeats for _, _, heartbeats in fake_flows] == [None]
    assert get_current_settings().flows.heartbeat_frequency == 180  # Prefect's default outside the command


def test_a_heartbeat_frequency_the_user_set_wins(home, fake_flows):
    from prefect.settings import temporary_settings

    # as Prefect reads PREFECT_FLOWS_HEARTBEAT_FREQUENCY from the environment or a profile at start-up
    with temporary_settings(updates={"flows.heartbeat_frequency": 60}):
        assert main(["refresh", "--offline"]) == 0
    assert [heartbeats for _, _, heartbeats in fake_flows] == [60]


def test_prefect_reads_a_heartbeat_frequency_from_the_environment_as_set():
    """What the test above stands in for: Prefect's settings from PREFECT_FLOWS_HEARTBEAT_FREQUENCY."""
    code = (
        "from flows.cli import foreground_flow_run\n"
        "from prefect.settings import get_current_settings\n"
        "with foreground_flow_run():\n"
        "    print(get_current_settings().flows.heartbeat_frequency)\n"
    )
    found = {
        value: subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, **({"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": value} if value else {})},
            cwd=REPO, capture_output=True, text=True, check=True,
        ).stdout.strip()
        for value in ("", "60")
    }  # fmt: skip

    assert found == {"": "None", "60": "60"}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["refresh", "--offline"], ["flow"]),
        (["refresh"], ["flow"]),
        (["indicators"], ["flow"]),
        (["status"], []),
    ],
)
def test_only_the_run_commands_call_a_flow(home, fake_flows, capsys, argv, expected):
    assert main(argv) == 0
    assert ["flow" for _ in fake_flows] == expected


def test_a_table_not_in_the_catalog_stops_refresh_with_exit_2_before_prefect_starts(home, fake_flows, capsys):
    events = fake_flows

    assert main(["refresh", "--offline", "--table", "37789ksz", "--table", "nope"]) == 2

    err = capsys.readouterr().err
    assert err.startswith("werkregio: table 'nope' is not in the source catalog (sources/cbs/catalog.py)")
    assert "known tables: 37789ksz," in err and f"families: {', '.join(catalog.FAMILIES)}" in err
    assert events == [] and not home.exists()  # no run, nothing written

    assert main(["refresh", "--table", "37789KSZ", "--table", catalog.REGIONS]) == 0  # ids in any case, families
    assert [(name, parameters["tables"]) for name, parameters, _ in events] == [("refresh", ["37789KSZ", catalog.REGIONS])]


@pytest.fixture
def read_only_folder(tmp_path) -> Path:
    """An empty folder nothing can be written to: a read-only tmpfs mounted on it as root (root may write
    anywhere else), else the folder without write permission."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"root here cannot mount a read-only tmpfs: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("command", [["refresh", "--offline"], ["indicators"]])
def test_a_read_only_data_dir_fails_at_once_in_one_line_naming_it(read_only_folder, tmp_path, command):
    done = run_werkregio(*command, home=read_only_folder, PREFECT_HOME=str(tmp_path / "prefect"))

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"werkregio: cannot write to the data dir (WERKREGIO_HOME) {read_only_folder}: "
        + ("Read-only file system" if os.geteuid() == 0 else "Permission denied")
        + "; choose a folder you can write, or make this one writable"
    ]
    assert not (tmp_path / "prefect").exists()  # Prefect never started


def test_a_read_only_prefect_home_fails_at_once_in_one_line_naming_it(read_only_folder, tmp_path):
    done = run_werkregio("refresh", home=tmp_path / "home", PREFECT_HOME=str(read_only_folder / "prefect"))

    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"werkregio: cannot write to Prefect's home (PREFECT_HOME) {read_only_folder / 'prefect'}: "
        + ("Read-only file system" if os.geteuid() == 0 else "Permission denied")
        + "; choose a folder you can write, or make this one writable"
    ]
    assert runlog.runs(tmp_path / "home" / "runs.jsonl") == []
