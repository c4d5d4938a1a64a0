"""The indicator report: one self-contained HTML page built from the published warehouse (docs/report.md)."""

from __future__ import annotations

import os
from pathlib import Path

from report.data import ReportError, read_report_data
from report.page import Page

__all__ = ["ReportError", "report_path", "write_report"]


def report_path(warehouse: Path, reference_year: int | None = None) -> Path:
    """Where the report goes by default: next to the warehouse file, ``werkregio-report.html``
    (``werkregio-report-<year>.html`` for a reference year chosen explicitly)."""
    suffix = "" if reference_year is None else f"-{reference_year}"
    return warehouse.with_name(f"werkregio-report{suffix}.html")


def write_report(warehouse: Path, out: Path, reference_year: int | None = None) -> Path:
    """Build the report on ``reference_year`` (default: the latest in the file) from the warehouse at
    ``warehouse`` (read-only) and write it to ``out`` atomically: a reader never sees half a page."""
    data = read_report_data(warehouse, reference_year)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    try:
        partial.write_text(Page(data).html(), encoding="utf-8")
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out
