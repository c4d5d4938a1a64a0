"""Reading the pipeline's own Parquet files with errors that name them in full."""

from __future__ import annotations

from pathlib import Path

import polars as pl


def read_named(path: Path, error: type[Exception], what: str, advice: str, where: pl.Expr | None = None) -> pl.DataFrame:
    """``pl.read_parquet(path)``; a missing or damaged file raises ``error``: ``"<what> <path> cannot be read (...); <advice>"``.

    ``where``: only the rows it selects, filtered while the file is read (the other rows are never
    held in memory at once). Polars shortens long paths in its own messages
    (``...p/pytest-of-root/...``); this one names the file in full.
    """
    try:
        if where is not None:
            return pl.scan_parquet(path).filter(where).collect()
        return pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as err:
        raise error(f"{what} {path} cannot be read ({type(err).__name__}: {err}); {advice}") from err
