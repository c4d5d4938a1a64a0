"""Sample UWV register files of all three kinds (docs/uwv-files.md), generated for :data:`SAMPLE_YEAR`.

Real UWV register files are not public, so the sample makes its own, deterministically, on the
sample year's real municipalities and labour-market regions ('Gebieden in Nederland' of the
excerpt) and in line with the generated benefit figures (:mod:`sources.sample.benefits`):

* vacancies per region on 1 January and 1 December (the evaluation averaged January and
  December): the region's WW recipients of the year times a factor per region between 0.15 and 4.5,
  so that regions fall in all five tension bands, the country is 'krap' as in 2024, no region
  exceeds the 100,000 vacancies the UWV suite finds plausible for a region (``expectations/uwv.py``)
  and each date's regions add up to fewer than CBS's open vacancies of the whole country (80472ned,
  about 400,000 in 2024; the intake warns above that);
* WWB recipients per municipality on 1 December (the generated WWB benefits of that month), of
  whom 40-80 % registered at UWV as job seeker, a few points more often where the municipality is
  connected to the portal (the evaluation found 63 % against 59 %);
* portal connections per municipality on 1 December: about four in five connected, since a date
  between 2009 and the year before.

The files are CSV as UWV's own exports look (Dutch headers, ``;``, Dutch thousands separators,
day-first dates, ``ja``/``nee``) with a first line that says they are synthetic; the intake skips
it as a title line.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import random

import polars as pl

from sources.cbs import catalog
from sources.sample import benefits
from sources.sample.excerpt import SAMPLE_YEAR, read_recorded, regions_edition
from transforms.regions import region_memberships

TITLE = "Synthetisch voorbeeld van werkregio (sources/sample/uwv.py): gegenereerde cijfers, geen gegevens van UWV"


def files() -> dict[str, str]:
    """File name -> text of the three sample files."""
    sample = members()
    return {
        f"uwv-vacatures-{SAMPLE_YEAR}-synthetisch.csv": _csv(
            ["Arbeidsmarktregio", "Regionaam", "Peildatum", "Aantal openstaande vacatures"], _vacancies(sample)
        ),
        f"uwv-bijstand-{SAMPLE_YEAR}-synthetisch.csv": _csv(
            ["Gemeentecode", "Gemeentenaam", "Peildatum", "Aantal bijstandsontvangers", "Ingeschreven als werkzoekende"],
            _registrations(sample),
        ),
        f"uwv-portaal-{SAMPLE_YEAR}-synthetisch.csv": _csv(
            ["Gemeentecode", "Gemeentenaam", "Peildatum", "Aangesloten op portaal", "Aangesloten sinds"], _portal(sample)
        ),
    }


def members() -> pl.DataFrame:
    """The sample year's municipalities and their regions (gm_code, gm_name, region_code, region_name), from the excerpt's 'Gebieden in Nederland'."""
    edition = regions_edition()
    membership = region_memberships(
        [
            {
                "year": SAMPLE_YEAR,
                "table_id": edition.table_id,
                "data": pl.DataFrame(read_recorded(edition.table_id, "TypedDataSet"), infer_schema_length=None),
                "properties": read_recorded(edition.table_id, "DataProperties"),
            }
        ]
    )
    return membership.select("gm_code", "gm_name", "region_code", "region_name").sort("gm_code")


def _monthly(entry: catalog.SourceTable, series: str, data: pl.DataFrame) -> pl.DataFrame:
    """gm_code, month, value: a generated series per municipality and month of the sample year (the table's total categories)."""
    rows = data.filter(pl.col("RegioS").str.starts_with("GM") & pl.col("Perioden").str.starts_with(str(SAMPLE_YEAR)))
    for dimension, key in entry.totals.items():
        rows = rows.filter(pl.col(dimension) == key)
    return rows.select(
        pl.col("RegioS").str.slice(2).alias("gm_code"),
        pl.col("Perioden").str.slice(6).cast(pl.Int32).alias("month"),
        pl.col(entry.series[series]).alias("value"),
    )


def _vacancies(members: pl.DataFrame) -> list[list[str]]:
    ww = _monthly(benefits.WW, "ww", benefits.ww_frame()).group_by("gm_code").agg(pl.col("value").mean())
    regions = members.join(ww, on="gm_code").group_by("region_code", "region_name").agg(pl.col("value").sum()).sort("region_code")
    rng = random.Random(f"werkregio sample vacancies {SAMPLE_YEAR}")
    rows = []
    for code, name, recipients in regions.iter_rows():
        factor = math.exp(rng.uniform(math.log(0.15), math.log(4.5)))
        for day in (dt.date(SAMPLE_YEAR, 1, 1), dt.date(SAMPLE_YEAR, 12, 1)):
            rows.append([code, name, _date(day), _count(recipients * factor * rng.uniform(0.9, 1.1))])
    return rows


def _connections(members: pl.DataFrame) -> dict[str, dt.date | None]:
    """gm_code -> connected since (None: not connected)."""
    rng = random.Random(f"werkregio sample portal {SAMPLE_YEAR}")
    return {
        code: dt.date(rng.randint(2009, SAMPLE_YEAR - 1), rng.randint(1, 12), 1) if rng.random() < 0.8 else None
        for code in members["gm_code"]
    }


def _registrations(members: pl.DataFrame) -> list[list[str]]:
    december = _monthly(benefits.WWB, "wwb", benefits.wwb_frame()).filter(pl.col("month") == 12)
    recipients = dict(december.select("gm_code", "value").iter_rows())
    connected = _connections(members)
    rng = random.Random(f"werkregio sample registrations {SAMPLE_YEAR}")
    rows = []
    for code, name in members.select("gm_code", "gm_name").iter_rows():
        share = rng.uniform(0.40, 0.76) + (0.04 if connected[code] else 0.0)
        rows.append([code, name, _date(dt.date(SAMPLE_YEAR, 12, 1)), _count(recipients[code]), _count(recipients[code] * share)])
    return rows


def _portal(members: pl.DataFrame) -> list[list[str]]:
    connected = _connections(members)
    return [
        [code, name, _date(dt.date(SAMPLE_YEAR, 12, 1)), "ja" if connected[code] else "nee", _date(connected[code]) if connected[code] else ""]
        for code, name in members.select("gm_code", "gm_name").iter_rows()
    ]


def _count(value: float) -> str:
    """A whole number as UWV's Dutch exports write it: 14.235."""
    return f"{int(value):,}".replace(",", ".")


def _date(day: dt.date) -> str:
    return day.strftime("%d-%m-%Y")


def _csv(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows([[TITLE], header, *rows])
    return out.getvalue()
