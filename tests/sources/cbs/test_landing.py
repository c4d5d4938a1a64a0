"""The raw landing zone: land once, skip unchanged, content-addressed, never half-written."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from sources.cbs.client import CbsBadResponse, CbsUnavailable, LiveCbs, RecordedCbs
from sources.cbs.landing import DATA_FILE, LandingUnreadable, land_table, landings, latest_landing
from tests.statline_mirror import StatLineMirror, write_table

TABLE = "90002TST"


def make_table(root: Path, modified: str = "2025-04-23T02:00:00", values=(1.5, 2.0, None), status: str = "Definitief") -> None:
    periods = [{"Key": f"2020MM0{i + 1}", "Title": f"2020 maand {i + 1}", "Status": status} for i in range(3)]
    write_table(
        root,
        TABLE,
        dimensions={"Perioden": periods},
        time_dimension="Perioden",
        topics=[
            {"Key": "Waarde_1", "Title": "Waarde", "Datatype": "Double", "Unit": "aantal", "Decimals": 1},
            {"Key": "Aantal_2", "Title": "Aantal", "Datatype": "Long", "Unit": "aantal", "Decimals": 0},
        ],
        rows=[{"Perioden": p["Key"], "Waarde_1": v, "Aantal_2": i} for i, (p, v) in enumerate(zip(periods, values))],
        modified=modified,
    )


def set_metadata_modified(root: Path, value: str) -> None:
    path = root / TABLE / "TableInfos.json"
    body = json.loads(path.read_text())
    body["value"][0]["MetaDataModified"] = value
    path.write_text(json.dumps(body))


def clock(second: int):
    return lambda: datetime(2026, 1, 1, 0, 0, second, tzinfo=UTC)


def test_land_writes_typed_parquet_dimensions_and_manifest(tmp_path):
    make_table(tmp_path / "src")
    result = land_table(RecordedCbs(tmp_path / "src"), TABLE, tmp_path / "raw", clock=clock(1))
    assert result.action == "downloaded"
    landing = result.landing
    data = landing.read_data()
    assert data.schema == pl.Schema({"ID": pl.Int64, "Perioden": pl.String, "Waarde_1": pl.Float64, "Aantal_2": pl.Int64})
    assert data["Waarde_1"].to_list() == [1.5, 2.0, None]
    assert landing.read_dimension("Perioden")["Key"].to_list() == ["2020MM01", "2020MM02", "2020MM03"]
    manifest = json.loads((landing.folder / "manifest.json").read_text())
    assert manifest["table_id"] == TABLE and manifest["rows"] == 3
    assert manifest["modified"] == "2025-04-23T02:00:00"
    assert manifest["fetched_at"] == "2026-01-01T00:00:01.000000+00:00"
    assert manifest["sha256"] == manifest["files"][DATA_FILE] and len(manifest["sha256"]) == 64
    assert landing.folder.name.startswith("2025-04-23T020000_")
    assert not list((tmp_path / "raw" / TABLE).glob(".staging-*"))


def test_unchanged_modified_costs_one_metadata_request_and_no_rows(tmp_path):
    make_table(tmp_path / "src")
    with StatLineMirror(tmp_path / "src") as mirror:
        cbs = LiveCbs(mirror.base_url, retries=0)
        first = land_table(cbs, TABLE, tmp_path / "raw")
        mirror.reset_log()
        second = land_table(cbs, TABLE, tmp_path / "raw")
        assert second.action == "unchanged"
        assert second.landing == first.landing
        assert [(r.endpoint, r.rows) for r in mirror.requests_for()] == [("TableInfos", 1)]
        assert mirror.data_rows_served() == 0


def test_force_with_identical_content_keeps_the_one_landing(tmp_path):
    make_table(tmp_path / "src")
    source = RecordedCbs(tmp_path / "src")
    first = land_table(source, TABLE, tmp_path / "raw", clock=clock(1))
    forced = land_table(source, TABLE, tmp_path / "raw", force=True, clock=clock(2))
    assert forced.action == "identical"
    assert forced.landing == first.landing
    assert len(landings(tmp_path / "raw", TABLE)) == 1


def test_new_modified_lands_a_new_version_and_keeps_the_old(tmp_path):
    make_table(tmp_path / "src")
    source = RecordedCbs(tmp_path / "src")
    old = land_table(source, TABLE, tmp_path / "raw", clock=clock(1)).landing
    make_table(tmp_path / "src", modified="2026-02-01T02:00:00", values=(1.5, 2.5, 3.0))
    new = land_table(source, TABLE, tmp_path / "raw", clock=clock(2))
    assert new.action == "downloaded"
    assert [landing.modified for landing in landings(tmp_path / "raw", TABLE)] == [old.modified, "2026-02-01T02:00:00"]
    assert latest_landing(tmp_path / "raw", TABLE) == new.landing
    assert old.read_data()["Waarde_1"].to_list() == [1.5, 2.0, None]


def test_content_cbs_serves_again_after_another_is_landed_again_as_the_newest_and_both_are_kept(tmp_path):
    make_table(tmp_path / "src")
    source = RecordedCbs(tmp_path / "src")
    first = land_table(source, TABLE, tmp_path / "raw", clock=clock(1)).landing
    make_table(tmp_path / "src", values=(9.9, 2.0, None))  # republished under the same Modified
    second = land_table(source, TABLE, tmp_path / "raw", force=True, clock=clock(2)).landing
    make_table(tmp_path / "src")  # and corrected back
    third = land_table(source, TABLE, tmp_path / "raw", force=True, clock=clock(3))
    assert third.action == "downloaded"
    assert latest_landing(tmp_path / "raw", TABLE) == third.landing
    assert third.landing.read_data()["Waarde_1"].to_list() == [1.5, 2.0, None]
    assert third.landing.folder == first.folder.with_name(f"{first.folder.name}_2")
    assert landings(tmp_path / "raw", TABLE) == [first, second, third.landing]


def test_a_modified_landed_before_but_not_the_newest_is_downloaded_and_becomes_the_newest(tmp_path):
    make_table(tmp_path / "src")
    source = RecordedCbs(tmp_path / "src")
    land_table(source, TABLE, tmp_path / "raw", clock=clock(1))
    make_table(tmp_path / "src", modified="2025-05-23T02:00:00", values=(9.9, 2.0, None))
    land_table(source, TABLE, tmp_path / "raw", clock=clock(2))
    make_table(tmp_path / "src")  # CBS withdrew the May version
    again = land_table(source, TABLE, tmp_path / "raw", clock=clock(3))
    assert again.action == "downloaded"
    assert latest_landing(tmp_path / "raw", TABLE) == again.landing
    assert again.landing.modified == "2025-04-23T02:00:00"
    assert again.landing.read_data()["Waarde_1"].to_list() == [1.5, 2.0, None]
    assert len(landings(tmp_path / "raw", TABLE)) == 3


def test_a_metadata_only_republication_lands_a_new_version_and_then_is_unchanged(tmp_path):
    make_table(tmp_path / "src", status="Voorlopig")
    source = RecordedCbs(tmp_path / "src")
    old = land_table(source, TABLE, tmp_path / "raw", clock=clock(1)).landing
    make_table(tmp_path / "src", status="Definitief")  # same Modified, same data rows
    set_metadata_modified(tmp_path / "src", "2025-06-01T02:00:00")
    new = land_table(source, TABLE, tmp_path / "raw", clock=clock(2))
    assert new.action == "downloaded"
    assert latest_landing(tmp_path / "raw", TABLE) == new.landing
    assert new.landing.read_dimension("Perioden")["Status"].to_list() == ["Definitief"] * 3
    assert new.landing.sha256 == old.sha256  # the data file, unchanged
    assert old.read_dimension("Perioden")["Status"].to_list() == ["Voorlopig"] * 3
    assert land_table(source, TABLE, tmp_path / "raw", clock=clock(3)).action == "unchanged"


def test_force_lands_changed_dimension_tables_even_under_the_same_modified_and_data(tmp_path):
    make_table(tmp_path / "src", status="Voorlopig")
    source = RecordedCbs(tmp_path / "src")
    land_table(source, TABLE, tmp_path / "raw", clock=clock(1))
    make_table(tmp_path / "src", status="Definitief")
    forced = land_table(source, TABLE, tmp_path / "raw", force=True, clock=clock(2))
    assert forced.action == "downloaded"
    assert latest_landing(tmp_path / "raw", TABLE).read_dimension("Perioden")["Status"].to_list() == ["Definitief"] * 3


def test_a_landing_named_by_its_data_sha256_alone_is_still_unchanged_and_identical(tmp_path):
    """Landings made before the folder name covered the metadata: read, not downloaded again."""
    make_table(tmp_path / "src")
    with StatLineMirror(tmp_path / "src") as mirror:
        cbs = LiveCbs(mirror.base_url, retries=0)
        landed = land_table(cbs, TABLE, tmp_path / "raw", clock=clock(1)).landing
        old_style = landed.folder.with_name(f"{landed.folder.name.split('_')[0]}_{landed.sha256[:12]}")
        if old_style != landed.folder:
            landed.folder.rename(old_style)
        mirror.reset_log()
        unchanged = land_table(cbs, TABLE, tmp_path / "raw", clock=clock(2))
        assert unchanged.action == "unchanged" and unchanged.landing.folder == old_style
        assert [(r.endpoint, r.rows) for r in mirror.requests_for()] == [("TableInfos", 1)]
        assert mirror.data_rows_served() == 0
        forced = land_table(cbs, TABLE, tmp_path / "raw", force=True, clock=clock(3))
        assert forced.action == "identical" and forced.landing.folder == old_style
    assert len(landings(tmp_path / "raw", TABLE)) == 1


def test_modified_changing_during_download_refetches_once(tmp_path):
    make_table(tmp_path / "src")
    with StatLineMirror(tmp_path / "src") as mirror:
        # the check after the first download sees the new Modified; the second download is consistent
        mirror.set_modified(TABLE, "2026-03-01T02:00:00", after_requests=4)
        result = land_table(LiveCbs(mirror.base_url, retries=0, concurrency=1), TABLE, tmp_path / "raw")
    assert result.landing.modified == "2026-03-01T02:00:00"
    assert len(landings(tmp_path / "raw", TABLE)) == 1


@pytest.mark.parametrize(
    ("column", "value", "declared"),
    [
        ("Aantal_2", "twee", "Int64"),
        ("Aantal_2", 12.7, "Int64"),  # Polars' strict DataFrame would land 12
        ("Aantal_2", "12", "Int64"),  # ... and 12
        ("Waarde_1", "1,5", "Float64"),
        ("Perioden", 202002, "String"),  # ... and "202002"
    ],
)
def test_a_value_that_does_not_fit_its_declared_type_fails_naming_table_column_row_and_value(tmp_path, column, value, declared):
    make_table(tmp_path / "src")
    path = tmp_path / "src" / TABLE / "TypedDataSet.json"
    body = json.loads(path.read_text())
    body["value"][1][column] = value
    path.write_text(json.dumps(body))
    with pytest.raises(CbsBadResponse) as raised:
        land_table(RecordedCbs(tmp_path / "src"), TABLE, tmp_path / "raw")
    assert str(raised.value).startswith(
        f"{TABLE}: TypedDataSet column '{column}' is declared {declared} by DataProperties, but row 2 (ID 1) holds {value!r}"
    )
    assert landings(tmp_path / "raw", TABLE) == []


def test_a_json_integer_in_a_decimal_column_lands_as_that_number(tmp_path):
    make_table(tmp_path / "src", values=(1.5, 2, None))
    landed = land_table(RecordedCbs(tmp_path / "src"), TABLE, tmp_path / "raw").landing
    assert landed.read_data()["Waarde_1"].to_list() == [1.5, 2.0, None]


def test_failed_download_leaves_no_partial_landing(tmp_path):
    make_table(tmp_path / "src")
    with StatLineMirror(tmp_path / "src") as mirror:
        mirror.add_fault("status", status=500, table=TABLE, endpoint="TypedDataSet", times=None)
        with pytest.raises(CbsUnavailable):
            land_table(LiveCbs(mirror.base_url, retries=1, backoff=0), TABLE, tmp_path / "raw")
    assert landings(tmp_path / "raw", TABLE) == []
    assert not any((tmp_path / "raw").rglob("*.parquet"))


def test_a_staging_folder_left_by_a_killed_download_is_removed(tmp_path):
    make_table(tmp_path / "src")
    stale = tmp_path / "raw" / TABLE / ".staging-killed"
    stale.mkdir(parents=True)
    (stale / DATA_FILE).write_bytes(b"partial")
    land_table(RecordedCbs(tmp_path / "src"), TABLE, tmp_path / "raw")
    assert not stale.exists()
    assert len(landings(tmp_path / "raw", TABLE)) == 1


def test_staging_folders_are_never_landings_and_a_damaged_manifest_is_named(tmp_path):
    make_table(tmp_path / "src")
    landed = land_table(RecordedCbs(tmp_path / "src"), TABLE, tmp_path / "raw").landing
    staging = tmp_path / "raw" / TABLE / ".staging-killed"
    staging.mkdir()
    (staging / "manifest.json").write_text("")
    assert landings(tmp_path / "raw", TABLE) == [landed]
    (landed.folder / "manifest.json").write_text("{")
    with pytest.raises(CbsBadResponse, match=r"manifest\.json is not readable JSON"):
        landings(tmp_path / "raw")


@pytest.mark.parametrize(
    "manifest",
    ['{"table_id": "90002TST"}', "[]", "null", "rows", "files", "extra", "latin-1"],
)
def test_a_manifest_without_its_keys_or_with_wrong_types_is_named_with_the_advice(tmp_path, manifest):
    make_table(tmp_path / "src")
    landed = land_table(RecordedCbs(tmp_path / "src"), TABLE, tmp_path / "raw").landing
    path = landed.folder / "manifest.json"
    record = json.loads(path.read_text())
    if manifest == "rows":
        record["rows"] = "3"
    elif manifest == "files":
        record["files"] = sorted(record["files"])
    elif manifest == "extra":
        record["note"] = "added by hand"
    if manifest == "latin-1":
        path.write_bytes(json.dumps({**record, "source_url": "café"}, ensure_ascii=False).encode("latin-1"))
    else:
        path.write_text(json.dumps(record) if manifest in ("rows", "files", "extra") else manifest)
    with pytest.raises(CbsBadResponse) as raised:
        landings(tmp_path / "raw")
    message = str(raised.value)
    assert message.startswith(f"landing manifest {path} ")
    assert "move that folder away and refresh again" in message


@pytest.mark.parametrize(
    ("damage", "name"),
    [("remove", DATA_FILE), ("garble", DATA_FILE), ("garble", "Perioden.parquet"), ("remove", "DataProperties.json"),
     ("garble", "DataProperties.json"), ("garble", "TableInfos.json")],
)
def test_a_damaged_landed_file_is_named_in_full_and_the_advice_lands_it_anew(tmp_path, damage, name):
    make_table(tmp_path / "src")
    landing = land_table(RecordedCbs(tmp_path / "src"), TABLE, tmp_path / "raw").landing
    path = landing.folder / name
    if damage == "remove":
        path.unlink()
    else:
        path.write_bytes(b"PAR1 not really" if name.endswith(".parquet") else b'[{"Key": "Waarde_1", "Ty')
    read = {DATA_FILE: landing.read_data, "Perioden.parquet": lambda: landing.read_dimension("Perioden"),
            "DataProperties.json": landing.read_properties, "TableInfos.json": landing.read_info}[name]

    with pytest.raises(LandingUnreadable) as raised:
        read()

    message = str(raised.value)
    assert message.startswith(f"{TABLE}: the landed file {path} cannot be read")  # the full path, not Polars' shortened one
    assert f"move {landing.folder} away and refresh {TABLE} again" in message
    # the advice, followed
    landing.folder.rename(tmp_path / "moved-away")
    again = land_table(RecordedCbs(tmp_path / "src"), TABLE, tmp_path / "raw")
    assert again.action == "downloaded"
    assert again.landing.read_data()["Waarde_1"].to_list() == [1.5, 2.0, None]
    assert again.landing.read_dimension("Perioden").height == 3


def test_a_landing_marked_failed_is_downloaded_again_even_with_the_same_modified(tmp_path):
    from sources.cbs.landing import clear_failed, failed_checks, mark_failed

    make_table(tmp_path / "src", values=(1.5, -2.0, None))  # say a check refuses the -2.0
    source = RecordedCbs(tmp_path / "src")
    bad = land_table(source, TABLE, tmp_path / "raw", clock=clock(1)).landing
    mark_failed(bad, "run-1", ["Waarde_1: 1 value below 0"], datetime(2026, 1, 1, tzinfo=UTC))
    assert failed_checks(bad) == {"run": "run-1", "at": "2026-01-01T00:00:00+00:00", "checks": ["Waarde_1: 1 value below 0"]}
    messages = []

    same = land_table(source, TABLE, tmp_path / "raw", clock=clock(2), progress=messages.append)  # CBS still serves it

    assert same.action == "identical" and same.landing == bad
    assert messages[0] == f"{TABLE}: the newest landing {bad.folder.name} failed its critical checks in run run-1; downloading the table again"
    make_table(tmp_path / "src", values=(1.5, 2.0, None))  # CBS healthy again, same Modified
    good = land_table(source, TABLE, tmp_path / "raw", clock=clock(3))
    assert good.action == "downloaded" and latest_landing(tmp_path / "raw", TABLE) == good.landing
    assert failed_checks(good.landing) is None and failed_checks(bad) is not None
    assert land_table(source, TABLE, tmp_path / "raw", clock=clock(4)).action == "unchanged"
    assert [landing.folder for landing in landings(tmp_path / "raw", TABLE)] == [bad.folder, good.landing.folder]  # a file beside them is no landing
    clear_failed(bad)
    assert failed_checks(bad) is None and not (tmp_path / "raw" / TABLE / "failed-checks.json").exists()
