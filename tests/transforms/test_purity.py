"""Transforms are pure (STYLE.md principle 1): no module under transforms/ imports an orchestrator,
a database, a network client, a validation framework or a file/OS/socket module."""

from __future__ import annotations

import ast
from pathlib import Path

TRANSFORMS = Path(__file__).resolve().parents[2] / "transforms"

FORBIDDEN = {
    "prefect": "orchestration belongs in flows/",
    "duckdb": "only warehouse/ opens DuckDB",
    "requests": "network I/O",
    "httpx": "network I/O",
    "cbsodata": "network I/O (the CBS client lives in flows/)",
    "great_expectations": "validation belongs in expectations/",
    "os": "operating-system I/O",
    "pathlib": "file I/O",
    "io": "file I/O",
    "socket": "network I/O",
    "urllib": "network I/O",
}


def impure_imports(source: str) -> list[tuple[int, str]]:
    """Every forbidden top-level module imported anywhere in ``source`` (also inside functions)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        found += [(node.lineno, module) for module in modules if module.split(".")[0] in FORBIDDEN]
    return found


def test_the_scanner_flags_every_forbidden_form_of_import():
    source = "\n".join(
        [
            "import os",
            "import polars as pl",
            "import urllib.request",
            "from pathlib import Path",
            "from great_expectations.core import x",
            "from . import periods",
            "from transforms.periods import cbs_periods",
            "def f():",
            "    import duckdb as db",
            "    from prefect import task",
            "import osmnx",
        ]
    )

    assert impure_imports(source) == [
        (1, "os"),
        (3, "urllib.request"),
        (4, "pathlib"),
        (5, "great_expectations.core"),
        (9, "duckdb"),
        (10, "prefect"),
    ]


def test_no_transform_module_imports_io_or_orchestration():
    files = sorted(TRANSFORMS.rglob("*.py"))
    assert {"periods.py", "series.py", "metadata.py"} <= {f.name for f in files}

    offences = [
        f"{path.relative_to(TRANSFORMS.parent)}:{line} imports {module} ({FORBIDDEN[module.split('.')[0]]})"
        for path in files
        for line, module in impure_imports(path.read_text(encoding="utf-8"))
    ]

    assert not offences, "transforms/ must stay pure (STYLE.md principle 1):\n" + "\n".join(offences)
