"""Reading the pipeline's own Parquet files with errors that name them in full."""

from __future__ import annotations

from pathlib import Path

import polars as pl


def read_named(path: Path, error: type[Exception], what: str, advice: str) -> pl.DataFrame:
    """``pl.read_parquet(path)``; a missing or damaged file raises ``error``: ``"<what> <path> cannot be read (...); <advice>"``.

    Polars shortens long paths in its own messages (``...p/pytest-of-root/...``); this one names the file in full.
    """
    try:
        return pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as err:
        raise error(f"{what} {path} cannot be read ({type(err).__name__}: {err}); {advice}") from err
