"""Mirror folders with generated, complete municipal benefit tables, in the layout the StatLine mirror serves.

The generated tables are :mod:`sources.sample.benefits`' frames (every municipality code valid on 1
January of some year 2007-2024, every month; synthetic values): ``80794ned`` (WW) and ``82015NED``
(WWB, times ``scale`` categories of ``UitkeringenInRelatieMetDeAOW``: the total the catalog keeps
plus ``scale - 1`` invented breakdown categories, each at most the total; this is how 10x and 100x
reach neighbourhood-level row counts while every row still validates: neighbourhood codes (WK/BU)
are no municipalities and the pipeline would drop them unseen), and in :func:`complete_mirror`
also ``80724ned`` (WWB 2007-2012), so that WWB is complete from 2007 as WW is. Every other table
is copied from the real offline mirror, ``../shared/data/statline``, into the target folder, never
into the repository. Next to ``TypedDataSet.json`` a generated table has ``TypedDataSet.parquet``
with the same rows, so that builds can be landed without parsing gigabytes of JSON (the mirror
only serves the endpoints listed in ``_root.json``).

Two entry points, both importable:

* :func:`complete_mirror` ``(root)``: every municipality, every month, WW and WWB 2007-2024, plus
  the real tables a build needs (or the whole catalog): served by ``tests.statline_mirror.StatLineMirror``
  (or :mod:`bench.mirror`), a refresh publishes complete region figures. The integration test
  ``tests/flows/test_complete_indicators.py`` uses it; ``werkregio demo`` lands the same frames
  without a mirror (:mod:`sources.sample.cbs`).
* :func:`build_mirror` ``(scale, root)``: the benchmark's tables at a scale factor.

``python -m bench.generate SCALE MIRROR [--home HOME] [--whole-catalog] [--complete]`` writes the
folder (``--complete``: :func:`complete_mirror`'s tables, at SCALE) and, with HOME, lands every
table of it into ``HOME/raw`` with the pipeline's ``land_table``; it prints one JSON line of sizes.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from sources.cbs import catalog
from sources.cbs.client import RecordedCbs
from sources.cbs.landing import land_table
from sources.sample import benefits
from tests.statline_mirror import write_table

STATLINE = Path(__file__).resolve().parents[2] / "shared" / "data" / "statline"
GENERATED = (benefits.WW.table_id, benefits.WWB.table_id)
"""The benchmark's generated tables (its figures stay comparable from run to run)."""
COMPLETE = tuple(entry.table_id for entry in benefits.TABLES)
"""Complete WW and WWB for every municipality and month 2007-2024 (``complete_mirror``)."""
#: Real tables a build of the generated ones needs: national benefits and region composition.
BUILD_TABLES = (catalog.national_benefits().table_id, *catalog.ids(catalog.REGIONS))


def complete_mirror(root: Path, *, whole_catalog: bool = False, scale: int = 1) -> dict[str, int]:
    """Fill ``root`` with complete municipal WW and WWB tables and the real tables a build needs; rows per generated table.

    Complete: every municipality code valid on 1 January of each year 2007-2024 has a figure for
    every month of that year, in 80794ned (WW), 80724ned (WWB 2007-2012) and 82015NED (WWB
    2011-2024), so a refresh against a mirror of ``root`` publishes every region figure of those
    years complete. ``whole_catalog``: copy every other real catalog table too (truncated ones
    included, see the mirror's MANIFEST.md), else only 37789ksz and the 'Gebieden in Nederland'
    tables. ``scale``: as :func:`build_mirror` (82015NED only).
    """
    return build_mirror(scale, root, whole_catalog=whole_catalog, tables=COMPLETE)


def build_mirror(scale: int, root: Path, *, whole_catalog: bool = False, tables: Sequence[str] = GENERATED) -> dict[str, int]:
    """Fill ``root`` with the generated ``tables`` at ``scale`` and the real tables; return rows per generated table.

    ``whole_catalog``: copy every real catalog table (a nightly refresh asks for all of them),
    else only the ones a build needs (``BUILD_TABLES``).
    """
    root.mkdir(parents=True, exist_ok=True)
    real = [t for t in catalog.ids() if t not in tables] if whole_catalog else BUILD_TABLES
    for table_id in real:
        shutil.copytree(STATLINE / table_id, root / table_id, dirs_exist_ok=True)
    return {table_id: _write(root, catalog.table(table_id), scale) for table_id in tables}


def _write(root: Path, entry: catalog.SourceTable, scale: int = 1) -> int:
    """Write the generated table through ``write_table`` (metadata), then its rows as JSON and Parquet."""
    rows = benefits.rows(entry, scale)
    folder = write_table(
        root,
        entry.table_id,
        dimensions=benefits.dimensions(entry, rows, scale),
        topics=[p for p in benefits.properties(entry) if p["Type"] == "Topic"],
        rows=[],
        time_dimension="Perioden",
        geo_dimension="RegioS",
        modified=benefits.MODIFIED,
        title=entry.title,
    )
    envelope = json.loads((folder / "TypedDataSet.json").read_text(encoding="utf-8"))["odata.metadata"]
    with (folder / "TypedDataSet.json").open("wb") as handle:
        handle.write(b'{"odata.metadata":' + json.dumps(envelope).encode() + b',"value":')
        rows.write_json(handle)
        handle.write(b"}")
    rows.write_parquet(folder / "TypedDataSet.parquet")
    return rows.height


class TwinSource(RecordedCbs):
    """The mirror folder read without HTTP, data pages from the Parquet twin where a table has one."""

    def data_pages(self, table_id: str) -> Iterator[list[dict[str, Any]]]:
        twin = self.root / table_id / "TypedDataSet.parquet"
        if not twin.is_file():
            yield from super().data_pages(table_id)
            return
        for page in pl.read_parquet(twin).iter_slices(self.page_size):
            yield page.to_dicts()


def _size_mb(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths) / 1e6


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description="Write a mirror folder at a scale; optionally land it.")
    parser.add_argument("scale", type=int)
    parser.add_argument("mirror", type=Path)
    parser.add_argument("--home", type=Path, help="land every table of the folder into HOME/raw")
    parser.add_argument("--whole-catalog", action="store_true", help="copy every real catalog table, not only those a build needs")
    parser.add_argument("--complete", action="store_true", help="also 80724ned: complete WW and WWB 2007-2024 (complete_mirror)")
    args = parser.parse_args(argv)
    tables = COMPLETE if args.complete else GENERATED
    sizes: dict[str, Any] = {"rows": build_mirror(args.scale, args.mirror, whole_catalog=args.whole_catalog, tables=tables)}
    sizes["json_mb"] = {t: _size_mb([args.mirror / t / "TypedDataSet.json"]) for t in tables}
    if args.home:
        source = TwinSource(args.mirror)
        landed = [land_table(source, folder.name, args.home / "raw").landing for folder in sorted(args.mirror.iterdir())]
        sizes["landed_rows"] = sum(landing.rows for landing in landed)
        sizes["landed_mb"] = _size_mb([p for landing in landed for p in landing.folder.glob("*.parquet")])
    return sizes


if __name__ == "__main__":
    print(json.dumps(main()))
