"""Typed settings, read once from the environment and passed down.

Nothing here runs at import: call :func:`Settings.from_env` where a command starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_CBS_URL = "https://opendata.cbs.nl"

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
    """

    home: Path = Path("data")
    cbs_url: str = DEFAULT_CBS_URL
    timeout: float = 30.0
    table_timeout: float = 1800.0
    retries: int = 5
    backoff: float = 1.0
    concurrency: int = 4
    reference_year: int | None = None
    validation_workers: int = 2
    uwv_quiet_seconds: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``WERKREGIO_*`` variables; unset ones take the defaults above."""
        env = os.environ if env is None else env
        settings = cls(
            home=Path(_text(env, "WERKREGIO_HOME", "data")).expanduser().absolute(),
            cbs_url=_text(env, "WERKREGIO_CBS_URL", DEFAULT_CBS_URL).rstrip("/"),
            timeout=_number(env, "WERKREGIO_TIMEOUT", 30.0, float),
            table_timeout=_number(env, "WERKREGIO_TABLE_TIMEOUT", 1800.0, float),
            retries=_number(env, "WERKREGIO_RETRIES", 5, int),
            backoff=_number(env, "WERKREGIO_BACKOFF", 1.0, float),
            concurrency=_number(env, "WERKREGIO_CONCURRENCY", 4, int),
            reference_year=_number(env, "WERKREGIO_REFERENCE_YEAR", None, int),
            validation_workers=_number(env, "WERKREGIO_VALIDATION_WORKERS", 2, int),
            uwv_quiet_seconds=_number(env, "WERKREGIO_UWV_QUIET_SECONDS", 60.0, float),
        )
        settings.check()
        return settings

    def check(self) -> None:
        parts = urlsplit(self.cbs_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SettingsError(
                f"WERKREGIO_CBS_URL={self.cbs_url!r} is not an http(s) URL such as {DEFAULT_CBS_URL!r}"
            )
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
        if not 0 <= self.validation_workers <= 16:
            raise SettingsError(
                f"WERKREGIO_VALIDATION_WORKERS={self.validation_workers} must be between 0 (validate in the flow's process) and 16"
            )

    @property
    def raw_dir(self) -> Path:
        return self.home / "raw"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse" / "werkregio.duckdb"

    @property
    def run_log_path(self) -> Path:
        return self.home / "runs.jsonl"


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
