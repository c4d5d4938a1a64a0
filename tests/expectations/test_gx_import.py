"""expectations/gx.py: GX imported with scipy.stats loaded at its first use, and then complete."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from expectations.gx import gx

REPO = Path(__file__).resolve().parents[2]

# scipy.stats' own code has run once this submodule of it is imported
LOADED = "'scipy.stats._stats_py' in sys.modules"


def _run(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()


def test_gx_is_imported_without_running_scipy_stats_which_works_at_first_use():
    lines = _run(
        "import sys\n"
        "from expectations.gx import gx\n"
        f"print({LOADED}, 'great_expectations' in sys.modules, gx.__name__)\n"
        # the module object GX's KL-divergence check holds: loaded when the check would use it
        "from great_expectations.expectations.core import expect_column_kl_divergence_to_be_less_than as kl\n"
        f"print({LOADED})\n"
        "print(round(float(kl.stats.entropy([0.5, 0.5], [0.25, 0.75])), 6))\n"
        f"print({LOADED})\n"
        "import scipy.stats\n"
        "print(scipy.stats is kl.stats, scipy.stats.kstest([0.1, 0.5, 0.9], 'uniform').statistic > 0)\n"
    )
    assert lines == [
        "False True great_expectations",
        "False",
        "0.143841",  # 0.5 ln(0.5/0.25) + 0.5 ln(0.5/0.75)
        "True",
        "True True",
    ]


def test_a_scipy_stats_imported_before_is_left_as_it_is():
    lines = _run(
        "import sys, scipy.stats\n"
        "before = sys.modules['scipy.stats']\n"
        "from expectations.gx import gx\n"
        "print(sys.modules['scipy.stats'] is before, type(before).__name__)\n"
    )
    assert lines == ["True module"]


def test_every_gx_import_of_the_project_goes_through_expectations_gx():
    """A first ``import great_expectations`` elsewhere would run scipy.stats at once."""
    offenders = []
    for path in sorted([*REPO.glob("expectations/*.py"), *REPO.glob("flows/*.py"), *REPO.glob("transforms/*.py"),
                        *REPO.glob("warehouse/*.py"), *REPO.glob("bench/*.py")]):
        if path.name == "gx.py" and path.parent.name == "expectations":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.strip()
            imports_gx = code.startswith(("import great_expectations", "from great_expectations"))
            if imports_gx and not _under_type_checking(path, number) and not _after_expectations_gx(path, number):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {code}")
    assert offenders == []


def _after_expectations_gx(path: Path, number: int) -> bool:
    """Whether one of the few lines before line ``number``, at its indent, imports expectations.gx first."""
    lines = path.read_text(encoding="utf-8").splitlines()[:number]
    indent = len(lines[-1]) - len(lines[-1].lstrip())
    return any(
        line.strip() == "from expectations.gx import gx" and len(line) - len(line.lstrip()) == indent
        for line in lines[-4:-1]
    )


def _under_type_checking(path: Path, number: int) -> bool:
    """Whether line ``number`` sits in an ``if TYPE_CHECKING:`` block (never run)."""
    lines = path.read_text(encoding="utf-8").splitlines()[:number]
    indent = len(lines[-1]) - len(lines[-1].lstrip())
    for line in reversed(lines[:-1]):
        stripped = line.lstrip()
        if stripped and len(line) - len(stripped) < indent:
            if stripped.startswith("if TYPE_CHECKING"):
                return True
            indent = len(line) - len(stripped)
            if indent == 0:
                return False
    return False


def _bad_ww_frame():
    """80794ned in small with a negative count and a tripled figure: failures with offending values."""
    from tests.expectations.test_cbs_tables import BIJSTAND, WW_COL, set_value, ww_frame

    return set_value(set_value(ww_frame(), BIJSTAND, 6, -40), WW_COL, 7, 45_000)


def test_the_reports_are_those_of_gx_unchanged(monkeypatch):
    """Without the fingerprint and with configurations built once, every check's outcome is as GX's own."""
    import expectations.gx as module
    from tests.expectations.test_cbs_tables import WW, failed, run

    ours = run(WW, _bad_ww_frame())
    monkeypatch.setattr(module._pandas_engine, "HASH_THRESHOLD", 1e9)
    monkeypatch.setattr(module._Expectation, "configuration", property(module._build_configuration))
    plain = run(WW, _bad_ww_frame())

    assert len(failed(ours)) == 2  # a critical failure and a warning, with their offending values
    assert ours == plain


def test_a_configuration_is_built_once_per_expectation_inside_the_block_only():
    from expectations.gx import configurations_once

    expectation = gx.expectations.ExpectColumnValuesToNotBeNull(column="RegioS")
    assert expectation.configuration is not expectation.configuration  # GX's way: a new one each time
    with configurations_once():
        first = expectation.configuration
        assert expectation.configuration is first
        other = gx.expectations.ExpectColumnValuesToNotBeNull(column="RegioS")
        assert other.configuration is not first and other.configuration == first  # per object
        with configurations_once():  # nested: the same memory
            assert expectation.configuration is first
        assert expectation.configuration is first
    assert expectation.configuration is not first and expectation.configuration == first


def test_gx_puts_no_fingerprint_of_a_pandas_batch_in_its_markers():
    import pandas as pd

    from expectations.runner import _batch_definition

    batch = _batch_definition().get_batch(batch_parameters={"dataframe": pd.DataFrame({"a": [1, 2, 3]})})
    assert "pandas_data_fingerprint" not in batch.batch_markers
