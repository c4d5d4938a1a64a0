"""Small schema-correct frames for warehouse tables, shared by tests that publish a warehouse."""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.geography import MUNICIPAL_CHANGES_SCHEMA
from transforms.regions import MEMBERSHIP_SCHEMA, MUNICIPALITIES_SCHEMA


def geography_frames() -> dict[str, pl.DataFrame]:
    """Weesp into Amsterdam (2023) as the whole geography: two municipalities, one change, one region."""
    return {
        "municipalities": pl.DataFrame(
            [
                {"gm_code": "0363", "name": "Amsterdam", "valid_from_year": 2009, "valid_to_year": None, "source": "test"},
                {"gm_code": "0457", "name": "Weesp", "valid_from_year": 2009, "valid_to_year": 2022, "source": "test"},
            ],
            schema=MUNICIPALITIES_SCHEMA,
        ),
        "municipal_changes": pl.DataFrame(
            [
                {"date": dt.date(2022, 3, 24), "boundary_year": 2023, "old_code": "0457", "old_name": "Weesp",
                 "new_code": "0363", "new_name": "Amsterdam", "kind": "merger", "share": 1.0,
                 "share_basis": "whole", "share_status": "exact", "source": "test"}
            ],
            schema=MUNICIPAL_CHANGES_SCHEMA,
        ),
        "region_membership": pl.DataFrame(
            [
                {"year": 2022, "gm_code": code, "gm_name": name, "region_code": "AM22", "region_name": "Groot Amsterdam",
                 "source_table": "85067NED"}
                for code, name in (("0363", "Amsterdam"), ("0457", "Weesp"))
            ],
            schema=MEMBERSHIP_SCHEMA,
        ),
    }


def mart_frames() -> dict[str, pl.DataFrame]:
    """Empty, schema-correct frames for the fact, mart and history tables a test does not care about."""
    from transforms.analyses import ANALYSIS_SCHEMA
    from transforms.indicators import INDICATOR_SCHEMA, SPREAD_SCHEMA
    from transforms.metadata import LOAD_HISTORY_SCHEMA
    from transforms.regional import REGIONAL_SERIES_SCHEMA
    from transforms.uwv import SCHEMAS

    return {
        **{name: pl.DataFrame(schema=schema) for name, schema in SCHEMAS.items()},
        "load_history": pl.DataFrame(schema=LOAD_HISTORY_SCHEMA),
        "regional_series": pl.DataFrame(schema=REGIONAL_SERIES_SCHEMA),
        "indicators": pl.DataFrame(schema=INDICATOR_SCHEMA),
        "indicator_spread": pl.DataFrame(schema=SPREAD_SCHEMA),
        "analyses": pl.DataFrame(schema=ANALYSIS_SCHEMA),
    }
