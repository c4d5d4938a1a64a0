"""One warehouse published from the offline StatLine mirror with generated UWV files of 2016, shared by the report tests.

A full refresh (default reference year: the latest composition, 2025, which has no UWV file) and a
recalculation for reference year 2016 (the year of the UWV files): the warehouse then holds both,
so the report is tested with and without UWV figures.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import uwv_files
from tests.statline_mirror import StatLineMirror
from transforms.uwv import PORTAL_CONNECTIONS, VACANCIES, WWB_REGISTRATIONS

UWV_YEAR = 2016
GEBIEDEN_2016 = "83287NED"


@dataclass(frozen=True)
class Published:
    home: Path
    warehouse: Path
    refresh: dict[str, Any]
    recalculation: dict[str, Any]
    municipalities: int
    """Municipalities in the 2016 UWV files."""


def members_2016(statline_root: Path) -> dict[str, tuple[str, str]]:
    """gm_code -> (region code, region name) in 'Gebieden in Nederland 2016'."""
    rows = json.loads((statline_root / GEBIEDEN_2016 / "TypedDataSet.json").read_text())["value"]
    return {r["RegioS"].strip()[2:]: (r["Code_4"].strip(), r["Naam_5"].strip()) for r in rows if r["RegioS"].startswith("GM")}


@pytest.fixture(scope="package")
def published(statline_root, prefect_server, tmp_path_factory) -> Published:
    from flows.indicators import recalculate_indicators
    from flows.refresh import refresh

    home = tmp_path_factory.mktemp("report") / "home"
    members = members_2016(statline_root)
    inbox = home / "inbox" / "uwv"
    inbox.mkdir(parents=True)
    regions = dict(members.values())
    uwv_files.write_csv(inbox / "vacatures_2016.csv", VACANCIES, uwv_files.vacancies([dt.date(2016, 1, 1), dt.date(2016, 12, 1)], regions))
    uwv_files.write_xlsx(inbox / "bijstand_2016.xlsx", WWB_REGISTRATIONS, uwv_files.wwb_registrations([dt.date(2016, 6, 1)], sorted(members)))
    uwv_files.write_csv(inbox / "portaal_2016.csv", PORTAL_CONNECTIONS, uwv_files.portal_connections([dt.date(2016, 6, 1)], sorted(members)))
    with pytest.MonkeyPatch.context() as patch, StatLineMirror(statline_root) as mirror:
        patch.setenv("WERKREGIO_HOME", str(home))
        patch.setenv("WERKREGIO_CBS_URL", mirror.base_url)
        first = refresh()
        second = recalculate_indicators(reference_year=UWV_YEAR)
        yield Published(home, home / "warehouse" / "werkregio.duckdb", first, second, len(members))
