"""A reader process for test_readers.py: queries the published warehouse in a loop, as downstream tools do.

Every query opens a new read-only connection (``--mode attach``: ``warehouse.store.read_only``, an in-memory
DuckDB that ATTACHes the file READ_ONLY; ``--mode connect``: ``duckdb.connect(path, read_only=True)``), and
in ONE transaction reads ``build_info.run_id`` and the checksums of ``validation_results`` and ``indicators``.
One line per query goes to ``--out``: ``run_id<TAB>checksums as JSON``, or ``ERROR<TAB>message``. The loop
ends when ``--stop`` exists, or after ``--max-seconds``.

    python -m tests.reliability._reader --path W --out F --stop S --mode attach
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import duckdb

from tests.reliability._checks import table_hash_sql
from warehouse.store import read_only


def checksums(con: duckdb.DuckDBPyConnection) -> tuple[str, list]:
    """(run_id, [validation_results (rows, hash), indicators (rows, hash)]) in one transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        (run_id,) = con.execute("SELECT run_id FROM build_info").fetchone()
        sums = [list(con.execute(table_hash_sql(name)).fetchone()) for name in ("validation_results", "indicators")]
    finally:
        con.execute("COMMIT")
    return run_id, sums


@contextmanager
def opened(path: Path, mode: str):
    if mode == "attach":
        with read_only(path) as con:
            yield con
    else:
        con = duckdb.connect(str(path), read_only=True)
        try:
            yield con
        finally:
            con.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--stop", type=Path, required=True)
    parser.add_argument("--mode", choices=("attach", "connect"), default="attach")
    parser.add_argument("--pause", type=float, default=0.01)
    parser.add_argument("--max-seconds", type=float, default=900)
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.max_seconds
    with args.out.open("a", encoding="utf-8") as out:
        while not args.stop.exists() and time.monotonic() < deadline:
            try:
                with opened(args.path, args.mode) as con:
                    run_id, sums = checksums(con)
                out.write(f"{run_id}\t{json.dumps(sums)}\n")
            except Exception as err:  # noqa: BLE001 - every error is reported to the test
                out.write(f"ERROR\t{type(err).__name__}: {err}".replace("\n", " ") + "\n")
            out.flush()
            time.sleep(args.pause)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
