"""The demo's sample (sources/sample): the bundled excerpt is what it says it is, small, and lands; the generated parts are marked synthetic."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from sources.cbs.client import CbsNotFound
from sources.cbs.landing import land_table
from sources.reference.tables import REFERENCE_DIR
from sources.sample import SYNTHETIC, benefits, is_synthetic, uwv
from sources.sample.cbs import SampleCbs
from sources.sample.excerpt import EXCERPT_DIR, SAMPLE_YEAR, copy_table, excerpt, read_recorded, regions_edition
from sources.uwv.intake import intake_inbox
from tests.conftest import DEMO_YEAR
from transforms.regions import MUNICIPALITIES_SCHEMA, valid_codes_by_year

GENERATED = {entry.table_id for entry in benefits.TABLES}


def committed() -> list[Path]:
    return sorted(p for p in EXCERPT_DIR.rglob("*") if p.is_file())


@pytest.mark.mirror
def test_the_excerpt_is_the_mirrors_rows_as_the_command_copies_them(statline_root, tmp_path):
    """Byte for byte what ``python -m sources.sample.excerpt`` makes from the mirror, and every row the mirror's own."""
    for table_id in [*excerpt(), *GENERATED]:
        copy_table(statline_root, table_id, tmp_path)
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert made == [p.relative_to(EXCERPT_DIR) for p in committed()]
    for path in made:
        assert (tmp_path / path).read_bytes() == (EXCERPT_DIR / path).read_bytes(), path
    for table_id in excerpt():
        mirror = {row["ID"]: row for row in json.loads((statline_root / table_id / "TypedDataSet.json").read_text())["value"]}
        rows = read_recorded(table_id, "TypedDataSet")
        assert rows and all(mirror[row["ID"]] == row for row in rows), table_id


def test_the_committed_sample_is_small_and_only_gzip_json_beside_its_readme():
    files = committed()
    assert sum(p.stat().st_size for p in files) < 300_000
    assert all(p.name.endswith(".json.gz") and p.read_bytes()[:2] == b"\x1f\x8b" for p in files)
    assert (EXCERPT_DIR.parent / "README.md").is_file()
    assert {p.parent.name for p in files} == set(excerpt()) | GENERATED


def test_the_sample_year_has_a_composition_complete_benefits_and_is_the_one_the_tests_expect():
    assert regions_edition().geography_year == SAMPLE_YEAR == DEMO_YEAR
    assert benefits.FIRST_YEAR <= 2008 and SAMPLE_YEAR <= benefits.LAST_YEAR  # the evaluation's periods and the UWV year


def test_generated_tables_say_they_are_synthetic_and_the_excerpt_does_not():
    source = SampleCbs()
    assert source.table_ids() == [*excerpt(), "80794ned", "80724ned", "82015NED"]
    for table_id in source.table_ids():
        info = source.table_info(table_id)
        assert is_synthetic(info) == (table_id in GENERATED), table_id
        assert info["Title"].endswith("(synthetic)") == (table_id in GENERATED)
    assert not is_synthetic({SYNTHETIC: "yes"}) and not is_synthetic({})
    with pytest.raises(CbsNotFound, match="not in the sample"):
        source.table_info("82208NED")  # a catalog table (labour force 2014) the sample does not have


def test_a_generated_table_lands_once_with_its_marker(tmp_path):
    source = SampleCbs(page_size=5_000)
    first = land_table(source, "80724ned", tmp_path, force=True)
    again = land_table(SampleCbs(), "80724ned", tmp_path, force=True)
    assert (first.action, again.action) == ("downloaded", "identical") and again.landing == first.landing
    assert first.landing.rows == 481 * 72  # NL01 and every code 2007-2024, 2007-2012 by month
    assert first.landing.read_info()[SYNTHETIC] is True
    data = pl.read_parquet(Path(first.landing.path) / "TypedDataSet.parquet")
    assert data.filter(pl.col("RegioS") == "GM0014")["TotaalAantalWWBUitkeringen_1"].null_count() == 0  # Groningen, every month


def national_bounds_of_the_excerpt() -> dict[str, dict[int, tuple[int, str]]]:
    """The sample year's national totals the intake bounds UWV counts by (as the refresh reads them), from the excerpt's real CBS rows."""

    def largest(table_id: str, column: str) -> int:
        values = [row[column] for row in read_recorded(table_id, "TypedDataSet") if row["Perioden"].startswith(str(SAMPLE_YEAR))]
        return round(max(v for v in values if v is not None) * 1_000)  # both tables count in thousands

    vacancies, wwb = largest("80472ned", "OpenstaandeVacatures_1"), largest("37789ksz", "TotaalBijstandsuitkeringen_11")
    assert 350_000 < vacancies < 450_000 and 300_000 < wwb < 450_000  # CBS's figures of 2024
    return {"open_vacancies": {SAMPLE_YEAR: (vacancies, "CBS 80472ned")}, "wwb_recipients": {SAMPLE_YEAR: (wwb, "CBS 37789ksz")}}


def test_the_uwv_files_are_taken_in_without_a_warning_and_agree_with_the_generated_benefits(tmp_path):
    files = uwv.files()
    assert files == uwv.files()  # deterministic
    assert all(text.startswith(uwv.TITLE) for text in files.values())
    inbox = tmp_path / "inbox" / "uwv"
    inbox.mkdir(parents=True)
    for name, text in files.items():
        (inbox / name).write_bytes(text.encode("utf-8"))
    municipalities = pl.read_csv(REFERENCE_DIR / "municipalities.csv", schema=MUNICIPALITIES_SCHEMA)
    members = uwv.members()
    results = intake_inbox(
        tmp_path,
        valid_municipalities=valid_codes_by_year(municipalities, [SAMPLE_YEAR]),
        regions={SAMPLE_YEAR: dict(members.select("region_code", "region_name").unique().iter_rows())},
        today=dt.date(SAMPLE_YEAR + 1, 1, 1),
        national_bounds=national_bounds_of_the_excerpt(),
        quiet_seconds=0,  # written just now
    )
    assert {r.file: r.status for r in results} == dict.fromkeys(files, "accepted")
    assert all(r.validation is not None and r.validation.passed for r in results), [r.message for r in results]
    assert all(r.message.endswith("; 0 warning(s)") for r in results), [r.message for r in results]  # checks against CBS's totals too
    frames = {r.dataset: r.frame for r in results}
    assert frames["uwv_vacancies"]["region_code"].n_unique() == 35 and frames["uwv_vacancies"]["reference_date"].n_unique() == 2
    registrations = frames["uwv_wwb_registrations"]
    assert sorted(registrations["gm_code"]) == sorted(members["gm_code"])  # every municipality of the year
    december = benefits.wwb_frame().filter(pl.col("Perioden") == f"{SAMPLE_YEAR}MM12")
    generated = dict(december.select(pl.col("RegioS").str.slice(2), "AantalBijstandsuitkeringen_1").iter_rows())
    assert all(generated[code] == recipients for code, recipients in registrations.select("gm_code", "wwb_recipients").iter_rows())
    shares = registrations.join(frames["uwv_portal_connections"], on=["gm_code", "reference_date"]).group_by("connected").agg(
        (pl.col("registered_job_seekers") / pl.col("wwb_recipients")).mean()
    )
    connected = dict(shares.iter_rows())
    assert connected[True] > connected[False]  # as the evaluation found

