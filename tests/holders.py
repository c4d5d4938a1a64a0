"""Another process holding a DuckDB file open read-write, as the ``duckdb`` command does by default."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_HOLD = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])  # read-write: takes DuckDB's exclusive lock on the file
print("open", flush=True)
sys.stdin.read()  # until the test closes our stdin
con.close()
"""


@contextmanager
def held_read_write(path: Path) -> Iterator[int]:
    """A process that has ``path`` open read-write until the block ends; yields its pid."""
    process = subprocess.Popen([sys.executable, "-c", _HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.strip() == "open", f"the holder did not open {path}: {line!r}"
        yield process.pid
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
