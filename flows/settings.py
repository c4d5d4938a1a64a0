"""Typed settings, read once from the environment and passed down.

Nothing here runs at import: call :func:`Settings.from_env` where a command starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlsplit

DEFAULT_CBS_URL = "https://opendata.cbs.nl"
DEFAULT_CBS_V4_URL = "https://datasets.cbs.nl/odata/v1"
CBS_APIS = ("v3", "v4")
TASK_RUNNERS = ("threads", "processes", "dask")
"""Where per-table tasks (validation) run: ``flows.runners``."""
DASK_SCHEMES = ("tcp", "tls", "inproc", "ucx", "ws", "wss")
View = Literal["harmonised", "as_published"]
"""The two views of the indicators: on one reference year's boundaries, or each year's figures on their own."""
VIEWS: tuple[str, ...] = get_args(View)

#: Environment variables that keep Prefect (and GX) from talking to any host but CBS,
#: set as defaults (a value the user set wins) before Prefect is imported.
QUIET_ENVIRONMENT = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
}


class SettingsError(ValueError):
    """A setting has a value the pipeline cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Where the pipeline keeps its data and how it talks to CBS.

    ``home`` holds everything the pipeline writes: ``raw/`` (the landing zone),
    ``warehouse/werkregio.duckdb`` (the published warehouse) and ``runs.jsonl`` (the run log).
    ``cbs_api`` chooses the CBS service: OData v3 at ``cbs_url`` or v4 at ``cbs_v4_url``.
    ``contact`` (an e-mail address or URL) goes into the User-Agent of every request to CBS.
    """

    home: Path = Path("data")
    cbs_url: str = DEFAULT_CBS_URL
    cbs_api: str = "v3"
    cbs_v4_url: str = DEFAULT_CBS_V4_URL
    contact: str | None = None
    timeout: float = 30.0
    table_timeout: float = 1800.0
    retries: int = 5
    backoff: float = 1.0
    concurrency: int = 4
    reference_year: int | None = None
    task_runner: str = "threads"
    workers: int = 2
    dask_address: str | None = None
    uwv_quiet_seconds: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``WERKREGIO_*`` variables; unset ones take the defaults above."""
        env = os.environ if env is None else env
        task_runner, workers = _task_runner(env)
        settings = cls(
            home=Path(_text(env, "WERKREGIO_HOME", "data")).expanduser().absolute(),
            cbs_url=_text(env, "WERKREGIO_CBS_URL", DEFAULT_CBS_URL).rstrip("/"),
            cbs_api=_text(env, "WERKREGIO_CBS_API", "v3"),
            cbs_v4_url=_text(env, "WERKREGIO_CBS_V4_URL", DEFAULT_CBS_V4_URL).rstrip("/"),
            contact=_text(env, "WERKREGIO_CONTACT", "") or None,
            timeout=_number(env, "WERKREGIO_TIMEOUT", 30.0, float),
            table_timeout=_number(env, "WERKREGIO_TABLE_TIMEOUT", 1800.0, float),
            retries=_number(env, "WERKREGIO_RETRIES", 5, int),
            backoff=_number(env, "WERKREGIO_BACKOFF", 1.0, float),
            concurrency=_number(env, "WERKREGIO_CONCURRENCY", 4, int),
            reference_year=_number(env, "WERKREGIO_REFERENCE_YEAR", None, int),
            task_runner=task_runner,
            workers=workers,
            dask_address=_text(env, "WERKREGIO_DASK_ADDRESS", "") or None,
            uwv_quiet_seconds=_number(env, "WERKREGIO_UWV_QUIET_SECONDS", 60.0, float),
        )
        settings.check()
        return settings

    def check(self) -> None:
        for name, url, example in (
            ("WERKREGIO_CBS_URL", self.cbs_url, DEFAULT_CBS_URL),
            ("WERKREGIO_CBS_V4_URL", self.cbs_v4_url, DEFAULT_CBS_V4_URL),
        ):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise SettingsError(f"{name}={url!r} is not an http(s) URL such as {example!r}")
        if self.cbs_api not in CBS_APIS:
            raise SettingsError(f"WERKREGIO_CBS_API={self.cbs_api!r} must be one of {', '.join(CBS_APIS)}")
        if not self.timeout > 0 or self.timeout == float("inf"):
            raise SettingsError(f"WERKREGIO_TIMEOUT={self.timeout} must be a positive number of seconds")
        if not self.table_timeout > 0 or self.table_timeout == float("inf"):
            raise SettingsError(f"WERKREGIO_TABLE_TIMEOUT={self.table_timeout} must be a positive number of seconds")
        if self.retries < 0:
            raise SettingsError(f"WERKREGIO_RETRIES={self.retries} must be 0 or more")
        if not 0 <= self.backoff < float("inf"):
            raise SettingsError(f"WERKREGIO_BACKOFF={self.backoff} must be 0 or more seconds")
        if self.reference_year is not None and not 2009 <= self.reference_year <= 2100:
            raise SettingsError(f"WERKREGIO_REFERENCE_YEAR={self.reference_year} must be a year from 2009 to 2100")
        if not 1 <= self.concurrency <= 64:
            raise SettingsError(f"WERKREGIO_CONCURRENCY={self.concurrency} must be between 1 and 64")
        if not 0 <= self.uwv_quiet_seconds < float("inf"):
            raise SettingsError(f"WERKREGIO_UWV_QUIET_SECONDS={self.uwv_quiet_seconds} must be 0 or more seconds")
        if self.task_runner not in TASK_RUNNERS:
            raise SettingsError(f"WERKREGIO_TASK_RUNNER={self.task_runner!r} must be one of {', '.join(TASK_RUNNERS)}")
        if not 1 <= self.workers <= 64:
            raise SettingsError(f"WERKREGIO_WORKERS={self.workers} must be between 1 and 64")
        if self.dask_address is not None:
            if urlsplit(self.dask_address).scheme not in DASK_SCHEMES:
                raise SettingsError(
                    f"WERKREGIO_DASK_ADDRESS={self.dask_address!r} is not the address of a Dask scheduler such as 'tcp://host:8786'"
                )
            if self.task_runner != "dask":
                raise SettingsError(
                    f"WERKREGIO_DASK_ADDRESS is set, and WERKREGIO_TASK_RUNNER={self.task_runner!r}: "
                    "unset one of the two (the address alone runs the per-table tasks on that Dask cluster)"
                )
        elif self.task_runner == "dask":
            raise SettingsError("WERKREGIO_TASK_RUNNER='dask' needs WERKREGIO_DASK_ADDRESS, the scheduler's address such as 'tcp://host:8786'")

    @property
    def cbs_service_url(self) -> str:
        """The CBS service the pipeline talks to: ``cbs_v4_url`` with ``cbs_api`` v4, else ``cbs_url``."""
        return self.cbs_v4_url if self.cbs_api == "v4" else self.cbs_url

    @property
    def cbs_url_setting(self) -> str:
        """The setting that names that service, for messages: ``WERKREGIO_CBS_URL``, or ``WERKREGIO_CBS_V4_URL`` with v4."""
        return "WERKREGIO_CBS_V4_URL (with WERKREGIO_CBS_API=v4)" if self.cbs_api == "v4" else "WERKREGIO_CBS_URL"

    @property
    def raw_dir(self) -> Path:
        return self.home / "raw"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse" / "werkregio.duckdb"

    @property
    def run_log_path(self) -> Path:
        return self.home / "runs.jsonl"


def _task_runner(env: Mapping[str, str]) -> tuple[str, int]:
    """``WERKREGIO_TASK_RUNNER`` and ``WERKREGIO_WORKERS``; with only ``WERKREGIO_DASK_ADDRESS`` set, the runner is ``dask``.

    ``WERKREGIO_VALIDATION_WORKERS`` (the setting of the validation worker processes this
    replaced) still counts where the new ones are unset: 0 is ``threads`` (validation beside the
    flow in its own process), N is ``processes`` with N workers.
    """
    runner = _text(env, "WERKREGIO_TASK_RUNNER", "").lower()
    workers = _number(env, "WERKREGIO_WORKERS", None, int)
    old = _number(env, "WERKREGIO_VALIDATION_WORKERS", None, int)
    if old is not None and old < 0:
        raise SettingsError(f"WERKREGIO_VALIDATION_WORKERS={old} must be 0 or more (better: WERKREGIO_TASK_RUNNER and WERKREGIO_WORKERS)")
    if not runner:
        if _text(env, "WERKREGIO_DASK_ADDRESS", ""):
            runner = "dask"
        elif old is not None:
            runner = "threads" if old == 0 else "processes"
        else:
            runner = "threads"
    if workers is None:
        workers = old if old else 2
    return runner, workers


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    """The variable's value, or ``default`` when it is unset or blank (a blank home is no data dir)."""
    raw = env.get(name)
    return default if raw is None or raw.strip() == "" else raw.strip()


def _number(env: Mapping[str, str], name: str, default, kind):
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a valid {kind.__name__}") from None


def apply_quiet_environment(env: dict[str, str] | None = None) -> None:
    """Set the telemetry-off defaults in ``env`` (default: ``os.environ``) without overriding the user."""
    env = os.environ if env is None else env
    for name, value in QUIET_ENVIRONMENT.items():
        env.setdefault(name, value)
