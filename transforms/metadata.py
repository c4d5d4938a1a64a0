"""Frames that describe a build: which source versions it used and how they were validated."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import polars as pl


def source_tables(landings: Iterable[Mapping[str, Any]], catalog: Mapping[str, Mapping[str, str]]) -> pl.DataFrame:
    """One row per landed CBS table used by a build. Key: table_id.

    ``landings`` are manifest records (table_id, modified, fetched_at, rows, sha256,
    source_url, path); ``catalog`` maps table id to its ``title`` and ``family``.
    """
    rows = [
        {
            "table_id": landing["table_id"],
            "title": catalog[landing["table_id"]]["title"],
            "family": catalog[landing["table_id"]]["family"],
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
    run_id: str, flow: str, built_at: datetime, cbs_url: str, version: str, inputs_sha256: str | None = None
) -> pl.DataFrame:
    """The single row of ``build_info``."""
    row = {"run_id": run_id, "flow": flow, "built_at": built_at, "cbs_url": cbs_url, "werkregio_version": version}
    return pl.DataFrame(
        [{**row, "inputs_sha256": inputs_sha256}],
        schema={
            "run_id": pl.String,
            "flow": pl.String,
            "built_at": pl.Datetime("us", "UTC"),
            "cbs_url": pl.String,
            "werkregio_version": pl.String,
            "inputs_sha256": pl.String,
        },
    )
