"""End to end over CBS OData v4: a refresh with ``WERKREGIO_CBS_API=v4`` against the mirror's v4 service
publishes the warehouse a v3 refresh publishes from the same shared tables.

Every published table of the two builds is compared row for row, leaving out only what legitimately differs
between two builds of the same data from two services (``DIFFERS``). What the v4 source had to reconstruct
(padded keys, v3 topic keys, v3-style ``Modified``, nulls for empty cells) is thereby checked against v3.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from sources.cbs import catalog
from sources.cbs.client import user_agent
from tests.statline_mirror import StatLineMirror
from warehouse.schema import TABLES
from warehouse.store import query

pytestmark = [pytest.mark.mirror, pytest.mark.usefixtures("prefect_server")]

#: Columns that differ between a v3 and a v4 build of the same CBS data, and why.
DIFFERS = {
    # the run's id, the build time, the service it came from, and the fingerprint of its inputs, which covers
    # the landed metadata files (a v4 landing's DataProperties records its measure codes, its TableInfos.json
    # holds v4's Properties record)
    "build_info": ("run_id", "built_at", "cbs_url", "inputs_sha256"),
    # when and from where each table was fetched, and its landing folder; `sha256` is that of the landed data
    # file, equal for 24 of the 31 tables: see test_v4_landings_equal_v3_landings for the 7 that differ and why
    "source_tables": ("fetched_at", "raw_path", "source_url", "sha256"),
    "validation_results": ("run_id",),
    # the run that built the file, and when
    "load_history": ("run_id", "started_at", "ended_at"),
}
#: validation_results columns that name landed columns, compared without regard to letter case: the mirror's
#: topic titles are reconstructed in lower case ('Wao uitkeringen'), so 32 of the 901 topic keys the v4 source
#: derives from them differ from v3's in case only (`WaoUitkeringen_2`); keys the catalog or the validation
#: rules name keep v3's spelling (tests/sources/cbs/test_v4.py, test_v4_landings_equal_v3_landings). Real CBS
#: titles keep the acronyms' case ('WAO-uitkeringen': all 18 topic keys of 37789ksz derive exactly).
CASE_BLIND = {"validation_results": ("column_name", "message")}


@pytest.fixture
def mirror(statline_root):
    # a v4 page of 20,000 cells: every table of more than 20,000 cells (most) comes in several pages
    with StatLineMirror(statline_root, v4_page_size=20_000) as server:
        yield server


def build(home: Path, mirror: StatLineMirror, api: str) -> Path:
    from flows.refresh import refresh

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WERKREGIO_HOME", str(home))
        patch.setenv("WERKREGIO_CBS_API", api)
        patch.setenv("WERKREGIO_CBS_URL", mirror.base_url)
        patch.setenv("WERKREGIO_CBS_V4_URL", mirror.v4_url)
        patch.setenv("WERKREGIO_RETRIES", "0")
        result = refresh()
        return Path(result["published"]["path"])


def published(path: Path, table: str) -> pl.DataFrame:
    frame = query(path, f"SELECT * FROM {table}").drop(DIFFERS.get(table, ()))
    frame = frame.with_columns(pl.col(c).str.to_lowercase() for c in CASE_BLIND.get(table, ()))
    return frame.sort(frame.columns, nulls_last=True)


def test_a_v4_refresh_publishes_the_warehouse_of_a_v3_refresh(tmp_path, mirror):
    v3 = build(tmp_path / "v3", mirror, "v3")
    v3_requests = mirror.requests_for()
    mirror.reset_log()
    v4 = build(tmp_path / "v4", mirror, "v4")
    v4_requests = mirror.requests_for()

    assert {r.api for r in v3_requests} == {"v3"} and {r.api for r in v4_requests} == {"v4"}
    assert {r.user_agent for r in v4_requests} == {user_agent()} == {f"werkregio/{version('werkregio')}"}
    observations = [r for r in v4_requests if r.endpoint == "Observations"]
    assert sum(r.rows for r in observations) > 2_000_000 and len(observations) > len(catalog.TABLES)  # paged

    for table in TABLES:
        expected, actual = published(v3, table.name), published(v4, table.name)
        assert expected.height > 0 or table.name.startswith("uwv_"), table.name
        try:
            assert_frame_equal(actual, expected, check_exact=True)
        except AssertionError as err:
            raise AssertionError(f"{table.name} differs between the v3 and the v4 build: {err}") from None
    assert query(v4, "SELECT cbs_url FROM build_info")["cbs_url"].to_list() == [mirror.v4_url]
    assert query(v4, "SELECT DISTINCT source_url FROM source_tables WHERE table_id = '37789ksz'")["source_url"].to_list() == [
        f"{mirror.v4_url}/CBS/37789ksz"
    ]

    mirror.reset_log()  # the unchanged nightly refresh over v4: two requests, reach_cbs (the service document) and the catalogue
    build(tmp_path / "v4", mirror, "v4")
    assert [(r.endpoint, r.api) for r in mirror.requests_for()] == [("", "v4"), ("Datasets", "v4")]
