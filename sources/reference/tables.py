"""The project's checked-in reference tables (``sources/reference/*.csv``, sources in its README).

Read by a build (the ``read_reference`` task).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from transforms.geography import MUNICIPAL_CHANGES_SCHEMA
from transforms.regions import MUNICIPALITIES_SCHEMA

REFERENCE_DIR = Path(__file__).parent


def reference_tables() -> dict[str, pl.DataFrame]:
    """``municipal_changes`` and ``municipalities``, typed."""
    return {
        "municipal_changes": pl.read_csv(REFERENCE_DIR / "municipal_changes.csv", schema=MUNICIPAL_CHANGES_SCHEMA),
        "municipalities": pl.read_csv(REFERENCE_DIR / "municipalities.csv", schema=MUNICIPALITIES_SCHEMA),
    }
