"""UWV register files through the refresh flow: loaded into the warehouse and the indicators, or quarantined."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows import runlog
from sources.cbs import catalog
from flows.settings import Settings
from tests import uwv_files
from tests.statline_mirror import StatLineMirror
from transforms.uwv import PORTAL_CONNECTIONS, VACANCIES, WWB_REGISTRATIONS
from warehouse.store import query

pytestmark = [pytest.mark.mirror, pytest.mark.usefixtures("prefect_server")]

GEBIEDEN_2016 = "83287NED"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("WERKREGIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WERKREGIO_REFERENCE_YEAR", "2016")
    return tmp_path / "home"


@pytest.fixture
def mirror(statline_root, monkeypatch):
    with StatLineMirror(statline_root) as server:
        monkeypatch.setenv("WERKREGIO_CBS_URL", server.base_url)
        yield server


def members_2016(statline_root: Path) -> dict[str, tuple[str, str]]:
    rows = json.loads((statline_root / GEBIEDEN_2016 / "TypedDataSet.json").read_text())["value"]
    return {r["RegioS"].strip()[2:]: (r["Code_4"].strip(), r["Naam_5"].strip()) for r in rows}


def run_refresh(**kwargs):
    from flows.refresh import refresh

    return refresh(**kwargs)


def test_uwv_files_reach_the_warehouse_and_the_indicators_and_bad_ones_are_quarantined(home, mirror, statline_root):
    members = members_2016(statline_root)
    regions = {code: name for code, name in members.values()}
    inbox = home / "inbox" / "uwv"
    inbox.mkdir(parents=True)
    days = [dt.date(2016, 1, 1), dt.date(2016, 12, 1)]
    vacancy_rows = uwv_files.vacancies(days, regions)
    uwv_files.write_csv(inbox / "vacatures_2016.csv", VACANCIES, vacancy_rows)
    registration_rows = uwv_files.wwb_registrations([dt.date(2016, 6, 1)], sorted(members))
    uwv_files.write_xlsx(inbox / "bijstand_2016.xlsx", WWB_REGISTRATIONS, registration_rows)
    uwv_files.write_csv(inbox / "portaal_2016.csv", PORTAL_CONNECTIONS, uwv_files.portal_connections([dt.date(2016, 6, 1)], sorted(members)))
    bad = uwv_files.wwb_registrations([dt.date(2016, 6, 1)], ["0363"])
    bad[0]["registered_job_seekers"] = bad[0]["wwb_recipients"] + 5
    uwv_files.write_csv(inbox / "bijstand_fout.csv", WWB_REGISTRATIONS, bad)

    result = run_refresh(tables=[catalog.national_benefits().table_id, GEBIEDEN_2016])
    outcome = {item["file"]: item["status"] for item in result["uwv_files"]}
    assert outcome == {
        "vacatures_2016.csv": "accepted",
        "bijstand_2016.xlsx": "accepted",
        "portaal_2016.csv": "accepted",
        "bijstand_fout.csv": "rejected",
    }
    rejected = next(item for item in result["uwv_files"] if item["status"] == "rejected")
    assert "registered" in rejected["message"].lower()
    assert Path(rejected["report"]).is_file()
    assert list(inbox.iterdir()) == []

    warehouse = Settings.from_env().warehouse_path
    assert query(warehouse, "SELECT count(*) AS n FROM uwv_vacancies")["n"][0] == len(vacancy_rows)
    # the bad file's row for 0363 did not leak in: its key is in the good file too, so a leak would
    # replace that row's values rather than add a row, and only the values can show it
    registrations = query(warehouse, "SELECT * FROM uwv_wwb_registrations ORDER BY gm_code, reference_date")
    assert_frame_equal(registrations, uwv_files.expected_frame(WWB_REGISTRATIONS, registration_rows), check_dtypes=False)
    am = sorted(regions)[0]
    expected = sum(r["open_vacancies"] for r in vacancy_rows if r["region_code"] == am) / 2
    vacancies = query(
        warehouse,
        "SELECT value, complete FROM indicators WHERE indicator = 'uwv_vacancies' AND area_code = ? "
        "AND view = 'harmonised' AND geography_year = 2016 AND year = 2016",
        [am],
    ).to_dicts()
    assert vacancies == [{"value": expected, "complete": True}]
    bands = query(
        warehouse,
        "SELECT sum(value) AS n FROM indicators WHERE indicator = 'regions_by_portal_share' AND view = 'as_published' AND year = 2016",
    )
    assert bands["n"][0] == len(regions)
    shares = query(warehouse, "SELECT count(*) AS n FROM v_municipality_indicators WHERE indicator = 'wwb_registered_share'")
    assert shares["n"][0] >= len(members)

    # the build recorded its inputs with the files its intake accepted: with nothing changed since, nothing is rebuilt
    quiet = run_refresh(tables=[catalog.national_benefits().table_id], offline=True)
    assert quiet["published"].get("rebuilt") is False and quiet["published"]["build"] == result["run_id"], quiet["published"]

    # dropping the same file again is a no-op; the run log and status say what happened
    before = query(warehouse, "SELECT * FROM uwv_vacancies ORDER BY ALL")
    uwv_files.write_csv(inbox / "vacatures_2016_again.csv", VACANCIES, vacancy_rows)
    again = run_refresh(tables=[catalog.national_benefits().table_id], offline=True)
    assert [item["status"] for item in again["uwv_files"]] == ["duplicate"]
    assert query(warehouse, "SELECT * FROM uwv_vacancies ORDER BY ALL").equals(before)
    runs = runlog.runs(Settings.from_env().run_log_path)
    assert any(item["status"] == "rejected" for run in runs for item in run.uwv_files)


def test_a_refresh_checks_uwv_names_and_counts_against_what_cbs_says(home, mirror, statline_root):
    """Issue 22: the names CBS gives the municipalities that year and CBS's national total reach the intake."""
    members = members_2016(statline_root)
    inbox = home / "inbox" / "uwv"
    inbox.mkdir(parents=True)
    day = dt.date(2016, 6, 1)
    named = uwv_files.wwb_registrations([day], ["0363", "0599"])
    named[0]["gm_name"] = "Rotterdam"  # 0363 is Amsterdam
    uwv_files.write_csv(inbox / "bijstand_namen.csv", WWB_REGISTRATIONS, named)
    huge = uwv_files.wwb_registrations([day], ["0363"])
    huge[0].update(gm_name="Amsterdam", wwb_recipients=5_000_000, registered_job_seekers=0)
    uwv_files.write_csv(inbox / "bijstand_groot.csv", WWB_REGISTRATIONS, huge)
    good = uwv_files.wwb_registrations([day], sorted(members)[:5])
    uwv_files.write_csv(inbox / "bijstand_goed.csv", WWB_REGISTRATIONS, good)

    result = run_refresh(tables=[catalog.national_benefits().table_id, GEBIEDEN_2016])

    outcome = {item["file"]: (item["status"], item["message"]) for item in result["uwv_files"]}
    assert outcome["bijstand_goed.csv"][0] == "accepted"
    status, message = outcome["bijstand_namen.csv"]
    assert status == "rejected" and "'Rotterdam' is the name of municipality 0599 in 2016 according to CBS, not of 0363" in message
    status, message = outcome["bijstand_groot.csv"]
    assert status == "rejected" and "5000000 is more than the whole country had (CBS 37789ksz 'wwb', 2016" in message
    assert query(Settings.from_env().warehouse_path, "SELECT count(*) AS n FROM uwv_wwb_registrations")["n"][0] == len(good)
