"""Shared test data for the geography tests: the project's change table and the shared reference facts."""

from __future__ import annotations

import functools
from pathlib import Path

import polars as pl
import pytest

from transforms.geography import MUNICIPAL_CHANGES_SCHEMA

REPO = Path(__file__).resolve().parents[2]
CHANGE_TABLE = REPO / "sources" / "reference" / "municipal_changes.csv"
REFERENCE_README = REPO / "sources" / "reference" / "README.md"
SHARED_REFERENCE = REPO.parent / "shared" / "data" / "reference"


@functools.cache
def project_changes() -> pl.DataFrame:
    """The project's change table, read the way the flows read it."""
    return pl.read_csv(CHANGE_TABLE, schema=MUNICIPAL_CHANGES_SCHEMA)


def shared_csv(name: str, code_columns: tuple[str, ...]) -> pl.DataFrame:
    """A file of ../shared/data/reference with its code columns as text; skips when shared is absent."""
    path = SHARED_REFERENCE / name
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared reference facts (../shared next to the repo) are "
                    "needed to check the change table against its sources")
    return _read_shared(path, code_columns)


@functools.cache
def _read_shared(path: Path, code_columns: tuple[str, ...]) -> pl.DataFrame:
    return pl.read_csv(path, schema_overrides={column: pl.String for column in code_columns})


def shared_valid_codes() -> dict[int, set[str]]:
    """Codes valid on 1 January of each year 2009-2026, from the shared list (skips when absent)."""
    valid = shared_csv("gemeenten_valid_on_1_january_2009_2026.csv", ("gemeentecode",))
    return {year: set(codes) for year, codes in valid.group_by("year").agg(pl.col("gemeentecode")).iter_rows()}
