"""flows/startup.py: imports with the cyclic garbage collector paused, then frozen."""

from __future__ import annotations

import gc
import subprocess
import sys

from flows.startup import imports_without_collection


def test_the_collector_is_paused_inside_and_what_exists_is_frozen_after():
    frozen = gc.get_freeze_count()
    try:
        assert gc.isenabled()
        with imports_without_collection():
            assert not gc.isenabled()
            made = [[] for _ in range(1000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen + len(made)
    finally:
        gc.unfreeze()  # back into the collector's sight, for the tests that follow


def test_a_collector_paused_before_stays_paused_also_after_an_error():
    gc.disable()
    try:
        try:
            with imports_without_collection():
                raise ImportError("no such module")
        except ImportError:
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


def test_the_module_imports_only_the_standard_library():
    code = "import sys, flows.startup; print(sorted(m for m in sys.modules if m.split('.')[0] in {'prefect', 'polars', 'great_expectations', 'duckdb'}))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
