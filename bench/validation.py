"""GX validation of one landed batch: one call per check (the pipeline before) against suite runs (now).

``expectations.runner.validate`` runs a batch's checks as ``gx.ExpectationSuite``s, one per group
of checks with columns in common from ``GROUPED_FROM_ROWS`` rows on, each in one ``batch.validate``
call; GX then loads (and hashes) the pandas frame once per suite and computes the metrics that
its checks share once. Here the same checks also run one ``batch.validate`` per check, as the
pipeline did before, and both ways must agree on every check.

``python -m bench.validation TABLE`` (``WERKREGIO_HOME`` with TABLE landed) prints one JSON line:
``rows``, ``checks``, ``per_check`` and ``one_call`` (the pipeline) seconds. The suite is the
table's family suite without the region-code check (that needs the region membership of a build).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date

from expectations import runner
from expectations.cbs_tables import suite_and_frame
from sources.cbs import catalog
from sources.cbs.landing import latest_landing
from flows.settings import Settings
from flows.tasks import load_landing, read_reference
from transforms.regions import valid_codes_by_year


def main(table_id: str) -> dict:
    table = load_landing(latest_landing(Settings.from_env().raw_dir, table_id))
    if not table.whole:
        raise SystemExit(f"{table_id}: {table.landing.rows:,} rows are validated in pieces from the file; this compares runs on one frame")
    municipalities = read_reference.fn()["municipalities"]
    valid = valid_codes_by_year(municipalities, range(int(municipalities["valid_from_year"].min()), date.today().year + 1))
    suite, frame = suite_and_frame(catalog.table(table_id), table.data, valid_codes=valid, region_codes=None, properties=table.properties)
    runner._batch_definition()  # the GX context, built once per process in the pipeline too: not timed

    start = time.perf_counter()
    batch = runner._batch_definition().get_batch(batch_parameters={"dataframe": runner._to_pandas(frame)})
    results = [batch.validate(check.expectation, result_format=dict(runner._RESULT_FORMAT)) for check in suite.checks]
    per_check = time.perf_counter() - start

    start = time.perf_counter()
    report = runner.validate(frame, suite, table_id)
    one_call = time.perf_counter() - start

    outcomes = [(r.expectation_config.type, r.success) for r in results]
    assert outcomes == [(r.expectation, r.success) for r in report.records], "the two ways disagree"
    return {"table": table_id, "rows": frame.height, "checks": len(suite.checks), "per_check": per_check, "one_call": one_call}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
