"""flows.settings (typed WERKREGIO_* settings) and sources.cbs.catalog (the one place CBS table ids live)."""

from __future__ import annotations

import json
import os
from importlib.metadata import version
from pathlib import Path

import pytest

from sources.cbs import catalog
from flows.settings import (
    DEFAULT_CBS_URL,
    DEFAULT_CBS_V4_URL,
    QUIET_ENVIRONMENT,
    Settings,
    SettingsError,
    apply_quiet_environment,
)


def test_defaults_without_any_variable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    settings = Settings.from_env({})

    assert settings == Settings(home=tmp_path / "data")
    assert (settings.cbs_url, settings.timeout, settings.retries, settings.backoff, settings.concurrency) == (
        "https://opendata.cbs.nl", 30.0, 5, 1.0, 4,
    )
    assert (settings.task_runner, settings.workers, settings.dask_address) == ("threads", 2, None)
    assert settings.raw_dir == tmp_path / "data" / "raw"
    assert settings.warehouse_path == tmp_path / "data" / "warehouse" / "werkregio.duckdb"
    assert settings.run_log_path == tmp_path / "data" / "runs.jsonl"


def test_every_variable_is_read(tmp_path):
    env = {
        "WERKREGIO_HOME": str(tmp_path / "home"),
        "WERKREGIO_CBS_URL": "http://127.0.0.1:8123/",
        "WERKREGIO_TIMEOUT": "2.5",
        "WERKREGIO_RETRIES": "0",
        "WERKREGIO_BACKOFF": "0.05",
        "WERKREGIO_CONCURRENCY": "64",
        "WERKREGIO_CBS_API": "v4",
        "WERKREGIO_CBS_V4_URL": "http://127.0.0.1:8123/odata/v1/",
        "WERKREGIO_CONTACT": "data@example.org",
        "WERKREGIO_TASK_RUNNER": "processes",
        "WERKREGIO_WORKERS": "3",
    }

    assert Settings.from_env(env) == Settings(
        home=tmp_path / "home", cbs_url="http://127.0.0.1:8123", timeout=2.5, retries=0, backoff=0.05, concurrency=64,
        cbs_api="v4", cbs_v4_url="http://127.0.0.1:8123/odata/v1", contact="data@example.org", task_runner="processes", workers=3,
    )  # fmt: skip


def test_the_cbs_api_chooses_the_service_and_the_client(tmp_path):
    from flows.tasks import live_source
    from sources.cbs.client import LiveCbs
    from sources.cbs.v4 import V4Cbs

    v3 = Settings.from_env({"WERKREGIO_HOME": str(tmp_path)})
    v4 = Settings.from_env({"WERKREGIO_HOME": str(tmp_path), "WERKREGIO_CBS_API": "v4", "WERKREGIO_CONTACT": "ops@example.org"})

    assert (v3.cbs_api, v3.cbs_service_url, v4.cbs_service_url) == ("v3", DEFAULT_CBS_URL, DEFAULT_CBS_V4_URL)
    assert DEFAULT_CBS_V4_URL == "https://datasets.cbs.nl/odata/v1"
    assert type(live_source(v3)) is LiveCbs and type(live_source(v4)) is V4Cbs
    assert live_source(v4).source_url == DEFAULT_CBS_V4_URL
    assert live_source(v4).agent == f"werkregio/{version('werkregio')} (+ops@example.org)"
    assert live_source(v3).agent == f"werkregio/{version('werkregio')}"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WERKREGIO_DASK_ADDRESS": "tcp://10.0.0.5:8786"}, ("dask", 2, "tcp://10.0.0.5:8786")),
        ({"WERKREGIO_TASK_RUNNER": "DASK", "WERKREGIO_DASK_ADDRESS": "tls://sched:8786"}, ("dask", 2, "tls://sched:8786")),
        ({"WERKREGIO_TASK_RUNNER": "threads", "WERKREGIO_WORKERS": "1"}, ("threads", 1, None)),
        # the setting of the validation worker processes this replaced: 0 was 'in the flow's process'
        ({"WERKREGIO_VALIDATION_WORKERS": "0"}, ("threads", 2, None)),
        ({"WERKREGIO_VALIDATION_WORKERS": "3"}, ("processes", 3, None)),
        ({"WERKREGIO_VALIDATION_WORKERS": "3", "WERKREGIO_TASK_RUNNER": "threads"}, ("threads", 3, None)),
        ({"WERKREGIO_VALIDATION_WORKERS": "3", "WERKREGIO_WORKERS": "4"}, ("processes", 4, None)),
    ],
)
def test_the_task_runner_settings(env, expected):
    settings = Settings.from_env(env)

    assert (settings.task_runner, settings.workers, settings.dask_address) == expected


def test_home_is_made_absolute_and_expands_the_user(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "me"))

    assert Settings.from_env({"WERKREGIO_HOME": "rel/dir"}).home == tmp_path / "rel" / "dir"
    assert Settings.from_env({"WERKREGIO_HOME": "~/werkregio"}).home == tmp_path / "me" / "werkregio"


def test_empty_values_take_the_defaults(tmp_path, monkeypatch):
    settings = Settings.from_env({"WERKREGIO_TIMEOUT": "", "WERKREGIO_RETRIES": "  ", "WERKREGIO_HOME": "/srv/w"})

    assert (settings.timeout, settings.retries, settings.home) == (30.0, 5, Path("/srv/w"))

    monkeypatch.chdir(tmp_path)
    blank = Settings.from_env({"WERKREGIO_HOME": "", "WERKREGIO_CBS_URL": " "})
    assert (blank.home, blank.cbs_url) == (tmp_path / "data", "https://opendata.cbs.nl")  # not the current folder


def test_without_an_env_argument_the_process_environment_is_read(monkeypatch, tmp_path):
    monkeypatch.setenv("WERKREGIO_HOME", str(tmp_path))
    monkeypatch.setenv("WERKREGIO_CONCURRENCY", "7")

    settings = Settings.from_env()

    assert (settings.home, settings.concurrency) == (tmp_path, 7)


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("WERKREGIO_TIMEOUT", "soon", "is not a valid float"),
        ("WERKREGIO_TIMEOUT", "0", "must be a positive number"),
        ("WERKREGIO_TIMEOUT", "-3", "must be a positive number"),
        ("WERKREGIO_RETRIES", "-1", "must be 0 or more"),
        ("WERKREGIO_RETRIES", "2.5", "is not a valid int"),
        ("WERKREGIO_BACKOFF", "-0.5", "must be 0 or more"),
        ("WERKREGIO_BACKOFF", "fast", "is not a valid float"),
        ("WERKREGIO_CONCURRENCY", "0", "between 1 and 64"),
        ("WERKREGIO_CONCURRENCY", "100", "between 1 and 64"),
        ("WERKREGIO_CONCURRENCY", "four", "is not a valid int"),
        ("WERKREGIO_TASK_RUNNER", "forks", "must be one of threads, processes, dask"),
        ("WERKREGIO_TASK_RUNNER", "dask", "needs WERKREGIO_DASK_ADDRESS"),
        ("WERKREGIO_WORKERS", "0", "between 1 and 64"),
        ("WERKREGIO_WORKERS", "two", "is not a valid int"),
        ("WERKREGIO_DASK_ADDRESS", "10.0.0.5:8786", "is not the address of a Dask scheduler such as 'tcp://host:8786'"),
        ("WERKREGIO_VALIDATION_WORKERS", "-1", "must be 0 or more"),
        ("WERKREGIO_CBS_URL", "ftp://opendata.cbs.nl", "is not an http(s) URL"),
        ("WERKREGIO_CBS_URL", "opendata.cbs.nl", "is not an http(s) URL"),
        ("WERKREGIO_CBS_URL", "https://", "is not an http(s) URL"),
        ("WERKREGIO_CBS_V4_URL", "datasets.cbs.nl/odata/v1", "is not an http(s) URL"),
        ("WERKREGIO_CBS_API", "v5", "must be one of v3, v4"),
        ("WERKREGIO_CBS_API", "V4", "must be one of v3, v4"),
        ("WERKREGIO_REFERENCE_YEAR", "2200", "must be a year from 2009 to 2100"),
        ("WERKREGIO_REFERENCE_YEAR", "2008", "must be a year from 2009 to 2100"),
    ],
)
def test_an_invalid_value_raises_naming_the_variable(variable, value, complaint):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({variable: value})

    message = str(raised.value)
    assert message.startswith(f"{variable}=")
    assert complaint in message


def test_settings_error_is_a_value_error():
    assert issubclass(SettingsError, ValueError)


def test_quiet_environment_turns_telemetry_off_without_overriding_the_user():
    env = {"DO_NOT_TRACK": "0", "PATH": "/bin"}

    apply_quiet_environment(env)

    assert env == {**QUIET_ENVIRONMENT, "DO_NOT_TRACK": "0", "PATH": "/bin"}
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert env["GX_ANALYTICS_ENABLED"] == "false"


def test_quiet_environment_defaults_to_the_process_environment(monkeypatch):
    monkeypatch.delenv("GX_ANALYTICS_ENABLED", raising=False)
    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "999")

    apply_quiet_environment()

    assert os.environ["GX_ANALYTICS_ENABLED"] == "false"
    assert os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] == "999"


def test_table_ids_are_unique_ignoring_case():
    ids = [t.table_id.lower() for t in catalog.TABLES]

    assert len(ids) == len(set(ids))


def test_every_family_is_used_and_every_table_has_a_known_family():
    assert {t.family for t in catalog.TABLES} == set(catalog.FAMILIES)


def test_entries_are_consistent():
    for t in catalog.TABLES:
        assert t.frequency in {"month", "quarter", "year"}, t.table_id
        assert t.last_year is None or t.first_year <= t.last_year, t.table_id
        assert t.unit and t.title, t.table_id
    regions = catalog.family(catalog.REGIONS)
    assert all(t.geography_year == t.first_year == t.last_year for t in regions)
    assert len({t.geography_year for t in regions}) == len(regions)


def test_an_unknown_family_is_refused():
    with pytest.raises(ValueError, match="99999NED: unknown family 'jobs'"):
        catalog.SourceTable("99999NED", "jobs", "t", "year", "aantal", 2020, None)


def test_series_mapping_is_read_only():
    with pytest.raises(TypeError):
        catalog.national_benefits().series["ww"] = "Seizoengecorrigeerd_9"


def test_select_everything_by_default():
    assert catalog.select() == catalog.TABLES
    assert catalog.select([]) == catalog.TABLES


def test_select_by_id_ignores_case():
    assert [t.table_id for t in catalog.select(["37789KSZ"])] == ["37789ksz"]
    assert [t.table_id for t in catalog.select(["82015ned", "70059NED"])] == ["82015NED", "70059ned"]
    assert catalog.table("86059ned") is catalog.table("86059NED")


def test_select_by_family_and_without_duplicates():
    regions = catalog.select([catalog.REGIONS])
    assert len(regions) == 12 and {t.family for t in regions} == {catalog.REGIONS}

    mixed = catalog.select(["37789ksz", catalog.NATIONAL_BENEFITS, "82496ned", catalog.REGIONS])
    assert [t.table_id for t in mixed] == ["37789ksz"] + [t.table_id for t in regions]


def test_national_benefits_is_37789ksz_with_ww_and_wwb():
    entry = catalog.national_benefits()

    assert entry.table_id == "37789ksz"
    assert dict(entry.series) == {"ww": "NietSeizoengecorrigeerd_8", "wwb": "TotaalBijstandsuitkeringen_11"}


def test_an_unknown_id_raises_naming_the_catalog_file():
    with pytest.raises(catalog.UnknownTableError) as raised:
        catalog.select(["37789ksz", "12345NED"])

    message = str(raised.value)
    assert "'12345NED'" in message
    assert "sources/cbs/catalog.py" in message
    assert "37789ksz" in message
    assert isinstance(raised.value, KeyError)


@pytest.mark.mirror
def test_every_catalog_table_and_series_topic_is_in_the_statline_mirror(statline_root):
    folders = {p.name.lower(): p for p in statline_root.iterdir() if p.is_dir() and not p.name.startswith("_")}
    problems = []
    for entry in catalog.TABLES:
        folder = folders.get(entry.table_id.lower())
        if folder is None:
            problems.append(f"{entry.table_id}: no folder in {statline_root}")
            continue
        properties = json.loads((folder / "DataProperties.json").read_text(encoding="utf-8"))["value"]
        topics = {p["Key"] for p in properties if p.get("Type") == "Topic"}
        problems += [
            f"{entry.table_id}: series {name} -> {column} is not a topic in DataProperties.json"
            for name, column in entry.series.items()
            if column not in topics
        ]

    assert not problems, "\n".join(problems)
