"""The UWV bad-input corpus, counted (issue 6): files tried, rejected with their specific message, rows leaked.

Every case of ``CORPUS`` in tests/sources/uwv/test_intake.py (imported, not copied) is dropped into the inbox
of ONE home and taken in by ``sources.uwv.intake.intake_inbox`` (one intake per case, since several cases use the
same file name), next to one good control file. Then a refresh (in process, against the mirror) builds the
warehouse from that home's archive, and the UWV tables are counted: every row must come from the control
file, so the rows leaked from the corpus must be 0. The counts are printed for docs/reliability.md.
"""

from __future__ import annotations

import json

import pytest

from sources.uwv.folders import UwvFolders
from tests import uwv_files as files
from tests.sources.uwv.test_intake import CORPUS, intake, rows
from tests.reliability.conftest import GEBIEDEN_2016, NATIONAL, QUICK_RETRIES, environment, run_refresh, warehouse_of
from tests.statline_mirror import StatLineMirror
from transforms.uwv import KEYS, WWB_REGISTRATIONS
from warehouse.store import query

pytestmark = [pytest.mark.mirror, pytest.mark.usefixtures("prefect_server")]

UWV_TABLES = {"uwv_vacancies": "vacancies", "uwv_wwb_registrations": WWB_REGISTRATIONS, "uwv_portal_connections": "portal"}


def test_bad_input_corpus_counted_and_nothing_leaks_into_the_warehouse(statline_root, tmp_path):
    home = tmp_path / "home"
    folders = UwvFolders.at(home)
    folders.inbox.mkdir(parents=True)

    control_rows = rows(WWB_REGISTRATIONS)
    files.write_csv(folders.inbox / "bijstand_controle.csv", WWB_REGISTRATIONS, control_rows)
    (control,) = intake(home)
    assert control.status == "accepted", control.message

    outcomes = []
    for case in CORPUS:
        write, fragment, options = case.values
        write(folders.inbox)
        results = intake(home, **options)
        outcomes.append(
            {
                "case": case.id,
                "results": len(results),
                "status": [r.status for r in results],
                "specific": len(results) == 1 and fragment in results[0].message,
                "message": results[0].message if results else None,
            }
        )
    assert list(folders.inbox.iterdir()) == []

    with StatLineMirror(statline_root) as mirror, environment(
        WERKREGIO_HOME=str(home), WERKREGIO_CBS_URL=mirror.base_url, **QUICK_RETRIES
    ):
        result = run_refresh(tables=[NATIONAL, GEBIEDEN_2016])
    warehouse = warehouse_of(home)
    published = {table: query(warehouse, f"SELECT * FROM {table}") for table in UWV_TABLES}
    control_frame = files.expected_frame(WWB_REGISTRATIONS, control_rows)
    keys = list(KEYS[WWB_REGISTRATIONS])
    from_control = published["uwv_wwb_registrations"].join(control_frame.select(keys), on=keys, how="semi")
    rows_in_warehouse = sum(frame.height for frame in published.values())
    leaked = rows_in_warehouse - from_control.height

    counts = {
        "files_tried": len(CORPUS),
        "results": sum(o["results"] for o in outcomes),
        "rejected": sum(o["status"] == ["rejected"] for o in outcomes),
        "rejected_with_specific_message": sum(o["specific"] and o["status"] == ["rejected"] for o in outcomes),
        "accepted": sum("accepted" in o["status"] for o in outcomes),
        "quarantined_files": len([p for p in folders.quarantine.iterdir() if not p.name.endswith((".report.json", ".report.txt"))]),
        "archive_entries": len(list(folders.archive.glob("??/*/report.json"))),
        "control_rows": control_frame.height,
        "uwv_rows_in_warehouse": rows_in_warehouse,
        "rows_leaked": leaked,
        "refresh_uwv_files": len(result["uwv_files"]),
    }
    print("\nUWV bad-input corpus: " + json.dumps(counts))
    for o in outcomes:
        print(f"  {o['case']:<45} {'/'.join(o['status']) or 'no result':<9} specific={o['specific']}")

    not_specific = [o for o in outcomes if not (o["specific"] and o["status"] == ["rejected"])]
    assert not_specific == [], not_specific
    assert counts["rejected_with_specific_message"] == counts["files_tried"] == counts["quarantined_files"]
    assert counts["archive_entries"] == 1  # the control file only
    assert leaked == 0
    registrations = published["uwv_wwb_registrations"]
    expected = control_frame.select(registrations.columns).cast(registrations.schema)
    assert registrations.sort(keys).equals(expected.sort(keys)), "the control file's rows, values included, and nothing else"
