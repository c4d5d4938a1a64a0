"""The demo's CBS tables, served without any network: the bundled excerpt of real tables and the generated ones.

:class:`SampleCbs` is one more implementation of the client's interface
(:class:`sources.cbs.client.CbsSource`), next to the live and the recorded one, so the sample is
landed by the pipeline's own ``land_table`` into an ordinary landing zone, and a ``refresh
--offline`` builds from it as from anything CBS served.

A generated table's ``TableInfos`` record says what it is: its title ends in "(synthetic)", its
``Source`` names the generator and it carries ``"Synthetic": true``, a key CBS never sends. The
build reads that key (:func:`sources.sample.is_synthetic`) into ``source_tables.synthetic``, and
the report marks every chart drawn from such a table.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import polars as pl

from sources.cbs.client import NON_DIMENSION_SETS, CbsNotFound, TableMeta
from sources.sample import SYNTHETIC, benefits
from sources.sample.excerpt import EXCERPT_DIR, excerpt, read_recorded


class SampleCbs:
    """The sample's tables: the excerpt of real CBS tables (``sources/sample/statline``) and the generated benefit tables.

    Data pages are cut at ``page_size`` rows, as CBS pages. Generated rows are made once per
    instance (about a second per table).
    """

    api = "v3"  # the excerpt is in the v3 layout of the offline mirror

    def __init__(self, page_size: int = 10_000) -> None:
        self.page_size = page_size
        self.source_url = EXCERPT_DIR.as_uri()
        self._generated = {entry.table_id: entry for entry in benefits.TABLES}
        self._rows_made: dict[str, pl.DataFrame] = {}

    def table_ids(self) -> list[str]:
        """Every table of the sample: the excerpt's, then the generated ones."""
        return [*excerpt(), *self._generated]

    def check_reachable(self) -> None:
        """Always reachable: the sample is part of the package."""

    def cancel(self) -> None:
        """Nothing to stop: the sample is read at once."""

    def table_url(self, table_id: str) -> str:
        """The table's folder in the excerpt (a generated table's holds only its metadata)."""
        return f"{self.source_url}/{self._known(table_id)}/"

    def table_info(self, table_id: str) -> dict[str, Any]:
        (info,) = read_recorded(self._known(table_id), "TableInfos")
        if table_id not in self._generated:
            return info
        return {
            **info,
            "Title": f"{info['Title']} (synthetic)",
            "ShortTitle": f"{info['ShortTitle']} (synthetic)",
            "Summary": "Generated values on the real municipality codes, not CBS figures (werkregio's sample).",
            "Period": f"{benefits.FIRST_YEAR} januari - {benefits.LAST_YEAR} december",
            "Source": "werkregio, sources/sample/benefits.py (generated)",
            "Modified": benefits.MODIFIED,
            "MetaDataModified": benefits.MODIFIED,
            SYNTHETIC: True,
        }

    def versions(self, table_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``Modified`` and ``MetaDataModified`` of each sample table of ``table_ids`` (others left out)."""
        info = {table_id: self.table_info(table_id) for table_id in table_ids if table_id in self.table_ids()}
        return {table_id: {key: i[key] for key in ("Modified", "MetaDataModified") if key in i} for table_id, i in info.items()}

    def table_meta(self, table_id: str) -> TableMeta:
        info = self.table_info(table_id)
        if table_id in self._generated:
            entry = self._generated[table_id]
            return TableMeta(table_id, info, benefits.properties(entry), benefits.dimensions(entry, self._rows(table_id)))
        names = [entry["name"] for entry in read_recorded(table_id, "")]
        dimensions = {name: read_recorded(table_id, name) for name in names if name not in NON_DIMENSION_SETS}
        return TableMeta(table_id, info, read_recorded(table_id, "DataProperties"), dimensions)

    def data_pages(self, table_id: str) -> Iterator[list[dict[str, Any]]]:
        if table_id in self._generated:
            for page in self._rows(table_id).iter_slices(self.page_size):
                yield page.to_dicts()
            return
        rows = read_recorded(self._known(table_id), "TypedDataSet")
        for start in range(0, max(len(rows), 1), self.page_size):
            yield rows[start : start + self.page_size]

    def _known(self, table_id: str) -> str:
        if table_id not in self.table_ids():
            raise CbsNotFound(f"{table_id}: not in the sample (it has {', '.join(self.table_ids())})")
        return table_id

    def _rows(self, table_id: str) -> pl.DataFrame:
        if table_id not in self._rows_made:
            self._rows_made[table_id] = benefits.rows(self._generated[table_id])
        return self._rows_made[table_id]
