"""flows/startup.py: imports with the cyclic garbage collector paused, then frozen."""

from __future__ import annotations

import gc
import subprocess
import sys

from flows.startup import FLOW_RUN_IMPORTS, import_for_flow_runs, imports_without_collection


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


def test_after_the_flow_run_imports_a_flow_call_imports_no_more_for_its_parameters():
    code = (
        "import sys\n"
        "from flows.startup import import_for_flow_runs\n"
        "import prefect\n"
        "import_for_flow_runs()\n"
        "flow = prefect.flow(lambda tables=None, offline=False: None, name='probe')  # as the flows' modules define theirs\n"
        "imported = set(sys.modules)\n"
        "assert flow.serialize_parameters({'tables': ['80794ned'], 'offline': True}) == {'tables': ['80794ned'], 'offline': True}\n"
        "print(sorted(set(sys.modules) - imported))\n"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_a_flow_run_import_prefect_lacks_is_skipped(monkeypatch):
    monkeypatch.setattr("flows.startup.FLOW_RUN_IMPORTS", ("json", "no_such_module_of_prefect", *FLOW_RUN_IMPORTS))

    import_for_flow_runs()

    assert all(name in sys.modules for name in FLOW_RUN_IMPORTS)
