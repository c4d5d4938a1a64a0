"""Frames that describe a build: which source versions it used, how they were validated, the runs behind it."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import polars as pl


def source_tables(
    landings: Iterable[Mapping[str, Any]], catalog: Mapping[str, Mapping[str, str]], synthetic: Collection[str] = ()
) -> pl.DataFrame:
    """One row per landed CBS table used by a build. Key: table_id.

    ``landings`` are manifest records (table_id, modified, fetched_at, rows, sha256,
    source_url, path); ``catalog`` maps table id to its ``title`` and ``family``; ``synthetic``
    holds the ids of the tables whose values were generated (the demo's sample), not published by CBS.
    """
    rows = [
        {
            "table_id": landing["table_id"],
            "title": catalog[landing["table_id"]]["title"],
            "family": catalog[landing["table_id"]]["family"],
            "synthetic": landing["table_id"] in synthetic,
            "modified": landing["modified"],
            "fetched_at": datetime.fromisoformat(landing["fetched_at"]),
            "rows": landing["rows"],
            "sha256": landing["sha256"],
            "source_url": landing["source_url"],
            "raw_path": landing["path"],
        }
        for landing in landings
    ]
    schema = {
        "table_id": pl.String,
        "title": pl.String,
        "family": pl.String,
        "synthetic": pl.Boolean,
        "modified": pl.String,
        "fetched_at": pl.Datetime("us", "UTC"),
        "rows": pl.Int64,
        "sha256": pl.String,
        "source_url": pl.String,
        "raw_path": pl.String,
    }
    return pl.DataFrame(rows, schema=schema).sort("table_id")


def validation_results(run_id: str, records: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """One row per expectation per validated batch. Key: (run_id, dataset, batch, check_index).

    ``records`` are the runner's result rows (``ValidationReport.to_rows``) in suite order per
    (dataset, batch). Observed values come as JSON text and are stored as they are; samples are
    stored as JSON text too, so any shape survives.
    """
    rows = []
    position: dict[tuple[str, str], int] = {}
    for record in records:
        batch_key = (record["dataset"], record["batch"])
        position[batch_key] = position.get(batch_key, -1) + 1
        rows.append(
            {
                "run_id": run_id,
                "dataset": record["dataset"],
                "batch": record["batch"],
                "check_index": position[batch_key],
                "expectation": record["expectation"],
                "column_name": record.get("column"),
                "severity": record["severity"],
                "success": bool(record["success"]),
                "observed_value": record.get("observed_value"),  # JSON text already: encoded once
                "element_count": record.get("element_count"),
                "unexpected_count": record.get("unexpected_count"),
                "unexpected_sample": json.dumps(list(record.get("unexpected_sample") or []), default=str),
                "message": record["message"],
            }
        )
    schema = {
        "run_id": pl.String,
        "dataset": pl.String,
        "batch": pl.String,
        "check_index": pl.Int32,
        "expectation": pl.String,
        "column_name": pl.String,
        "severity": pl.String,
        "success": pl.Boolean,
        "observed_value": pl.String,
        "element_count": pl.Int64,
        "unexpected_count": pl.Int64,
        "unexpected_sample": pl.String,
        "message": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def build_info(
    run_id: str,
    flow: str,
    built_at: datetime,
    cbs_url: str,
    version: str,
    inputs_sha256: str | None = None,
    *,
    schema_version: str,
) -> pl.DataFrame:
    """The single row of ``build_info``; ``schema_version``: the views' contract the build writes (``warehouse.schema``)."""
    row = {"run_id": run_id, "flow": flow, "built_at": built_at, "cbs_url": cbs_url, "werkregio_version": version}
    return pl.DataFrame(
        [{**row, "schema_version": schema_version, "inputs_sha256": inputs_sha256}],
        schema={
            "run_id": pl.String,
            "flow": pl.String,
            "built_at": pl.Datetime("us", "UTC"),
            "cbs_url": pl.String,
            "werkregio_version": pl.String,
            "schema_version": pl.String,
            "inputs_sha256": pl.String,
        },
    )


LOAD_HISTORY_SCHEMA = {
    "run_id": pl.String,
    "attempt": pl.Int32,
    "flow": pl.String,
    "parameters": pl.String,
    "started_at": pl.Datetime("us", "UTC"),
    "ended_at": pl.Datetime("us", "UTC"),
    "outcome": pl.String,
    "tables_fetched": pl.Int32,
    "tables_unchanged": pl.Int32,
    "rows_fetched": pl.Int64,
    "uwv_files_accepted": pl.Int32,
    "uwv_files_rejected": pl.Int32,
    "reference_years": pl.String,
    "error": pl.String,
}


def reference_years(indicators: pl.DataFrame) -> list[int]:
    """The reference years of the harmonised indicators in an indicator mart, ascending."""
    harmonised = indicators.filter(pl.col("view") == "harmonised")["geography_year"]
    return sorted(int(year) for year in harmonised.unique())


def indicator_scenarios(indicators: pl.DataFrame) -> pl.DataFrame:
    """What an indicator mart holds, one row per view and reference year.

    Columns: ``view``; ``reference_year`` (harmonised: the boundaries every year is shown on; as
    published: null, each year on its own boundaries); ``first_year``, ``last_year``; ``indicators``
    (distinct); ``rows``. Harmonised first, by reference year.
    """
    return (
        indicators.with_columns(
            pl.when(pl.col("view") == "harmonised").then(pl.col("geography_year")).otherwise(None).cast(pl.Int64).alias("reference_year")
        )
        .group_by("view", "reference_year")
        .agg(
            pl.col("year").min().cast(pl.Int64).alias("first_year"),
            pl.col("year").max().cast(pl.Int64).alias("last_year"),
            pl.col("indicator").n_unique().alias("indicators"),
            pl.len().alias("rows"),
        )
        .sort(pl.col("view") != "harmonised", "reference_year", nulls_last=True)
    )


def load_history(
    previous: pl.DataFrame | None,
    logged: Sequence[Mapping[str, Any]],
    record: Mapping[str, Any],
    built_at: datetime,
    years: Sequence[int],
) -> pl.DataFrame:
    """``load_history`` of a build: the runs behind it, in the order they started. Key: (run_id, attempt).

    ``previous``: the published file's ``load_history`` (None: no file, or one without it); its rows
    are kept as they are. ``logged``: the run log's runs (``flows.runlog.Run`` as dicts), oldest first;
    every run attempt there that ``previous`` lacks is added after them, in the log's order, with the
    outcome the log gives it. As the caller holds the pipeline lock, a run the log gives no end (other
    than this one) was killed. ``record``: this run (run_id, flow, tables, uwv_files), whose latest
    attempt in ``logged`` is this build's: it is ``published``, ended at ``built_at``, with the
    harmonised reference ``years`` it computed.
    """
    attempts = [run for run in logged if run["run_id"] == record["run_id"]]
    if not attempts:
        raise ValueError(f"run {record['run_id']} has no 'started' line in the run log: the build's own run must be logged")
    own = (attempts[-1]["run_id"], attempts[-1]["attempt"])
    kept = None if previous is None else previous.filter(~((pl.col("run_id") == own[0]) & (pl.col("attempt") == own[1])))
    known = set(kept.select("run_id", "attempt").iter_rows()) if kept is not None else set()
    rows = []
    for run in logged:
        key = (run["run_id"], run["attempt"])
        if key == own:
            this = {**run, **{k: record[k] for k in ("flow", "tables", "uwv_files")}}
            rows.append(_history_row(this, "published", built_at, years))
        elif key not in known:
            rows.append(_history_row(run, _outcome(run), _ended(run), None))
    history = pl.DataFrame(rows, schema=LOAD_HISTORY_SCHEMA)
    return history if kept is None else pl.concat([kept.select(list(LOAD_HISTORY_SCHEMA)).cast(LOAD_HISTORY_SCHEMA), history])


def _outcome(run: Mapping[str, Any]) -> str:
    if run["status"] == "failed":
        return "failed"
    if run["status"] != "finished":
        return "killed"
    published = run.get("published")
    return "published" if published and published.get("rebuilt", True) else "unchanged"


def _ended(run: Mapping[str, Any]) -> datetime | None:
    return datetime.fromisoformat(run["finished_at"]) if run.get("finished_at") else None


def _history_row(run: Mapping[str, Any], outcome: str, ended_at: datetime | None, years: Sequence[int] | None) -> dict[str, Any]:
    """One row of ``load_history``; counts are None where the run log does not say them."""
    tables = run.get("tables") or []
    uwv = run.get("uwv_files") or []
    # a killed run logged nothing but its start; a refresh that failed while fetching logged no tables
    # (some may have landed): neither says what it fetched
    recorded = outcome != "killed"
    fetch_recorded = recorded and (run["flow"] != "refresh" or bool(tables) or outcome != "failed")
    downloaded = [t for t in tables if t.get("action") == "downloaded"]
    return {
        "run_id": run["run_id"],
        "attempt": run["attempt"],
        "flow": run["flow"],
        "parameters": json.dumps(run.get("parameters") or {}, sort_keys=True, default=str),
        "started_at": datetime.fromisoformat(run["started_at"]),
        "ended_at": ended_at,
        "outcome": outcome,
        "tables_fetched": len(downloaded) if fetch_recorded else None,
        "tables_unchanged": sum(t.get("action") in ("unchanged", "identical") for t in tables) if fetch_recorded else None,
        "rows_fetched": sum(int(t.get("rows") or 0) for t in downloaded) if fetch_recorded else None,
        "uwv_files_accepted": sum(f.get("status") == "accepted" for f in uwv) if recorded else None,
        "uwv_files_rejected": sum(f.get("status") == "rejected" for f in uwv) if recorded else None,
        "reference_years": ", ".join(str(year) for year in years) if years else None,
        "error": run.get("error"),
    }
