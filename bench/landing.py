"""Landing one large table in a process of its own: ``python -m bench.landing MIRROR TABLE`` prints one JSON line.

``land_table`` fetches the table page by page (CBS's 10,000 rows), types each page and writes it to the
landing's data file, then the dimension tables, the metadata and the manifest. The pages come from the Parquet
twin that ``bench.generate`` writes beside a generated table's ``TypedDataSet.json``, read one page at a time
(:class:`StreamedTwin`), not over HTTP: a mirror serving 82015NED at 100x would first parse its 1.7 GB of JSON,
in gigabytes of its own, and the extraction benchmark times the HTTP path up to 10x. So the process holds what the
landing holds, plus one page of the source and the interpreter with Polars and pyarrow.

Output: ``rows`` landed, ``seconds`` (the landing), ``cpu_seconds`` (its CPU time, all threads), ``peak_rss_mb`` (this process's peak) and ``baseline_rss_mb``
(its memory once the imports are done, before the landing).
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from sources.cbs.client import RecordedCbs
from sources.cbs.landing import land_table


class StreamedTwin(RecordedCbs):
    """The mirror folder without HTTP; data pages read one at a time from the table's Parquet twin."""

    def data_pages(self, table_id: str) -> Iterator[list[dict[str, Any]]]:
        twin = self.root / table_id / "TypedDataSet.parquet"
        if not twin.is_file():
            yield from super().data_pages(table_id)
            return
        for batch in pq.ParquetFile(twin).iter_batches(batch_size=self.page_size):
            yield batch.to_pylist()


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(mirror: Path, table_id: str) -> dict[str, Any]:
    baseline = _rss_mb()
    with tempfile.TemporaryDirectory(prefix="werkregio-bench-landing-") as raw:
        start, cpu = time.perf_counter(), time.process_time()
        landing = land_table(StreamedTwin(mirror), table_id, Path(raw)).landing
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "table": table_id,
        "rows": landing.rows,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "baseline_rss_mb": baseline,
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), sys.argv[2])), flush=True)
