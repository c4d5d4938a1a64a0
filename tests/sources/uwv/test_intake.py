"""The UWV inbox end to end: generated files (tests/uwv_files.py) dropped into a temporary home,
taken in, and checked for where they went and what was loaded."""

import datetime as dt
import fcntl
import io
import json
import os
import random
import re
import shutil
import tracemalloc
import zipfile
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from sources.uwv.archive import ArchiveUnreadable, archived_frames
from sources.uwv.folders import UwvFolders
from sources.uwv.intake import DEFAULT_MAX_BYTES, IntakeBusy, check_file, intake_inbox, load_valid_municipalities
from tests import uwv_files as files
from tests.uwv_files import Style
from transforms.uwv import PORTAL_CONNECTIONS, PROBLEM_SCHEMA, SCHEMAS, VACANCIES, WWB_REGISTRATIONS

REFERENCE = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "reference"
VALID = files.valid_municipalities()
REGIONS = files.region_lists()
TODAY = files.TODAY
JANUARY, DECEMBER = dt.date(2015, 1, 31), dt.date(2015, 12, 31)
DATES = {
    VACANCIES: [JANUARY, DECEMBER],
    WWB_REGISTRATIONS: [DECEMBER, dt.date(2018, 6, 30)],
    PORTAL_CONNECTIONS: [dt.date(2016, 1, 1), dt.date(2019, 1, 1)],
}
GENERATE = {
    VACANCIES: files.vacancies,
    WWB_REGISTRATIONS: files.wwb_registrations,
    PORTAL_CONNECTIONS: files.portal_connections,
}


class Clock:
    """A clock that moves one second per reading, so acceptance order is the drop order."""

    def __init__(self):
        self.now = dt.datetime(2020, 6, 30, 2, 0, tzinfo=dt.UTC)

    def __call__(self):
        self.now += dt.timedelta(seconds=1)
        return self.now


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    UwvFolders.at(home).inbox.mkdir(parents=True)
    return home


def intake(home, **options):
    options.setdefault("clock", Clock())
    options.setdefault("quiet_seconds", 0)  # files are written whole before the intake; the quiet time has tests of its own
    return intake_inbox(home, valid_municipalities=VALID, regions=REGIONS, today=TODAY, **options)


def rows(kind, seed=0):
    return GENERATE[kind](DATES[kind], seed=seed)


def archive_entries(folders):
    return sorted(path.parent for path in folders.archive.glob("??/*/report.json"))


GOOD = [
    pytest.param(VACANCIES, "csv", Style(), id="vacancies csv nl ; utf-8-bom 1.234 dd-mm-yyyy AM01"),
    pytest.param(VACANCIES, "csv", Style(headers="en", delimiter=",", encoding="utf-8", numbers="plain", dates="iso",
                                         regions="name", line_end="\n"), id="vacancies csv en , region names"),
    pytest.param(VACANCIES, "csv", Style(headers="variant", delimiter="\t", encoding="cp1252", numbers="space",
                                         dates="slash", regions="short", names=False), id="vacancies tsv cp1252 AM1"),
    pytest.param(VACANCIES, "xlsx", Style(), id="vacancies xlsx merged titles"),
    pytest.param(VACANCIES, "xlsx-text", Style(regions="number", numbers="nl"), id="vacancies xlsx text cells"),
    pytest.param(WWB_REGISTRATIONS, "csv", Style(), id="wwb csv nl"),
    pytest.param(WWB_REGISTRATIONS, "csv", Style(headers="en", delimiter=",", encoding="utf-8", numbers="decimal",
                                                 dates="iso", codes="4"), id="wwb csv en , 1.234,0 quoted"),
    pytest.param(WWB_REGISTRATIONS, "csv", Style(headers="variant", encoding="cp1252", numbers="nbsp", codes="short",
                                                 title_rows=("UWV bijstand en inschrijving", "Bron: UWV"), line_end="\n"),
                 id="wwb csv cp1252 title rows 363"),
    pytest.param(WWB_REGISTRATIONS, "xlsx", Style(codes="short"), id="wwb xlsx typed"),
    pytest.param(PORTAL_CONNECTIONS, "csv", Style(), id="portal csv ja/nee"),
    pytest.param(PORTAL_CONNECTIONS, "csv", Style(headers="en", delimiter=",", encoding="utf-8", yes_no="x",
                                                  dates="iso", codes="short"), id="portal csv en x-marks"),
    pytest.param(PORTAL_CONNECTIONS, "xlsx", Style(yes_no="1/0"), id="portal xlsx typed"),
    pytest.param(PORTAL_CONNECTIONS, "xlsx-text", Style(headers="variant", yes_no="yes/no", dates="slash"),
                 id="portal xlsx text cells"),
]


@pytest.mark.parametrize(("kind", "form", "style"), GOOD)
def test_good_files_of_every_kind_and_form_are_accepted_with_exact_values(home, kind, form, style):
    folders = UwvFolders.at(home)
    generated = rows(kind)
    if form == "csv":
        path = files.write_csv(folders.inbox / f"{kind}.csv", kind, generated, style)
    else:
        path = files.write_xlsx(folders.inbox / f"{kind}.xlsx", kind, generated, headers=style.headers,
                                typed=form == "xlsx", style=style)
    original = path.read_bytes()

    (result,) = intake(home)

    assert result.status == "accepted", result.message
    assert result.dataset == kind
    assert_frame_equal(result.frame, files.expected_frame(kind, generated))
    assert result.problems.height == 0 and result.validation.passed
    entry = folders.archive / result.sha256[:2] / result.sha256
    assert result.path == entry / path.name
    assert (entry / path.name).read_bytes() == original
    assert_frame_equal(pl.read_parquet(entry / "normalised.parquet"), result.frame)
    report = json.loads((entry / "report.json").read_text(encoding="utf-8"))
    assert report["status"] == "accepted" and report["dataset"] == kind and report["file"] == path.name
    assert report["validation"] == json.loads(json.dumps(result.validation_rows, default=str))
    assert list(folders.inbox.iterdir()) == [] and list(folders.quarantine.iterdir()) == []
    assert_frame_equal(archived_frames(folders.archive)[kind], result.frame)
    if form == "csv":
        # plain ASCII is valid UTF-8, so a Windows-1252 file without accents reads as UTF-8
        encoding = "utf-8" if style.encoding == "cp1252" and original.isascii() else style.encoding
        assert result.details["encoding"] == {"utf-8-sig": "utf-8 with BOM", "utf-8": "utf-8",
                                              "cp1252": "windows-1252"}[encoding]
        assert result.details["header_row"] == len(style.title_rows) + 1
    assert result.message.startswith(f"accepted {path.name!r} as {kind}: {len(generated)} rows")


def test_the_same_content_dropped_again_is_a_no_op(home):
    folders = UwvFolders.at(home)
    generated = rows(WWB_REGISTRATIONS)
    files.write_csv(folders.inbox / "bijstand_2015.csv", WWB_REGISTRATIONS, generated)
    (first,) = intake(home)
    files.write_csv(folders.inbox / "bijstand_2015 (kopie).csv", WWB_REGISTRATIONS, generated)

    (again,) = intake(home)

    assert first.status == "accepted"
    assert again.status == "duplicate" and again.frame is None
    assert again.sha256 == first.sha256
    assert "same content" in again.message and "'bijstand_2015.csv'" in again.message
    assert archive_entries(folders) == [first.path.parent]
    assert list(folders.inbox.iterdir()) == [] and list(folders.quarantine.iterdir()) == []
    assert intake(home) == []


def test_a_later_file_wins_on_the_same_keys_and_other_keys_stay(home):
    folders = UwvFolders.at(home)
    clock = Clock()
    january = files.vacancies([JANUARY], seed=1)
    files.write_csv(folders.inbox / "vacatures_januari.csv", VACANCIES, january)
    intake(home, clock=clock)
    corrected = [dict(row, open_vacancies=row["open_vacancies"] + 1) for row in january[:3]]
    december = files.vacancies([DECEMBER], seed=2)
    files.write_csv(folders.inbox / "vacatures_correctie.csv", VACANCIES, corrected + december, Style(dates="iso"))

    (result,) = intake(home, clock=clock)
    table = archived_frames(folders.archive)[VACANCIES]

    assert result.status == "accepted"
    assert_frame_equal(table, files.expected_frame(VACANCIES, corrected + january[3:] + december))
    assert archived_frames(folders.archive)[WWB_REGISTRATIONS].schema == pl.Schema(SCHEMAS[WWB_REGISTRATIONS])


def test_a_damaged_archive_entry_is_named_in_full_and_the_advice_recovers_it(home, tmp_path):
    folders = UwvFolders.at(home)
    generated = rows(WWB_REGISTRATIONS)
    files.write_csv(folders.inbox / "bijstand_2015.csv", WWB_REGISTRATIONS, generated)
    (first,) = intake(home)
    entry = first.path.parent
    expected = archived_frames(folders.archive)[WWB_REGISTRATIONS]
    (entry / "normalised.parquet").write_bytes(b"not parquet")

    with pytest.raises(ArchiveUnreadable) as raised:
        archived_frames(folders.archive)

    message = str(raised.value)
    assert f"the UWV archive file {entry / 'normalised.parquet'} cannot be read" in message  # the full path, not Polars' shortened one
    assert f"move the accepted file kept in {entry} back into the inbox, remove that folder" in message
    # the advice, followed
    (entry / "bijstand_2015.csv").rename(folders.inbox / "bijstand_2015.csv")
    for path in entry.iterdir():
        path.unlink()
    entry.rmdir()
    (again,) = intake(home)
    assert again.status == "accepted" and again.path.parent == entry
    assert_frame_equal(archived_frames(folders.archive)[WWB_REGISTRATIONS], expected)


@pytest.mark.parametrize("log", ["kept", "from before the log"])
def test_a_damaged_entry_recovered_by_the_advice_keeps_its_place_before_a_later_correction(home, log):
    folders = UwvFolders.at(home)
    clock = Clock()
    january = files.vacancies([JANUARY], seed=1)
    files.write_csv(folders.inbox / "vacatures.csv", VACANCIES, january)
    (first,) = intake(home, clock=clock)
    corrected = [dict(january[0], open_vacancies=january[0]["open_vacancies"] + 1000)]
    files.write_csv(folders.inbox / "vacatures_correctie.csv", VACANCIES, corrected)
    intake(home, clock=clock)
    before = archived_frames(folders.archive)[VACANCIES]
    assert_frame_equal(before, files.expected_frame(VACANCIES, corrected + january[1:]))
    if log == "from before the log":  # an archive made before the log of acceptances: the next intake starts it
        (folders.archive / "accepted.jsonl").unlink()
        assert intake(home, clock=clock) == []
    entry = first.path.parent
    accepted_at = json.loads((entry / "report.json").read_text(encoding="utf-8"))["accepted_at"]
    (entry / "normalised.parquet").write_bytes(b"damaged")

    first.path.rename(folders.inbox / "vacatures.csv")  # the advice of ArchiveUnreadable
    shutil.rmtree(entry)
    (again,) = intake(home, clock=clock)

    assert again.status == "accepted" and again.path.parent == entry
    assert json.loads(again.report.read_text(encoding="utf-8"))["accepted_at"] == accepted_at
    assert_frame_equal(archived_frames(folders.archive)[VACANCIES], before)  # the correction still wins


@pytest.mark.parametrize("damage", ["copy moved to the inbox", "copy changed"])
def test_a_file_whose_archive_entry_lacks_its_copy_is_no_duplicate_and_is_kept(home, damage):
    folders = UwvFolders.at(home)
    dropped = files.write_csv(folders.inbox / "bijstand_2015.csv", WWB_REGISTRATIONS, rows(WWB_REGISTRATIONS))
    original = dropped.read_bytes()
    (first,) = intake(home)
    entry = first.path.parent
    expected = archived_frames(folders.archive)[WWB_REGISTRATIONS]
    (entry / "normalised.parquet").write_bytes(b"not parquet")
    if damage == "copy moved to the inbox":  # the first step of the advice, and an intake before the second
        first.path.rename(dropped)
    else:
        first.path.write_bytes(original.replace(b"0014", b"0015", 1))
        dropped.write_bytes(original)

    (result,) = intake(home)

    assert result.status == "rejected", result.message
    assert f"its archive entry {entry} does not hold the accepted file with this content" in result.message
    assert "remove that folder, then move this file from the quarantine back into the inbox" in result.message
    assert result.path.parent == folders.quarantine and result.path.read_bytes() == original
    assert {p.name for p in entry.iterdir()} >= {"normalised.parquet", "report.json"}  # the entry is left as it was
    shutil.rmtree(entry)  # what the message says
    result.path.rename(dropped)
    (again,) = intake(home)
    assert again.status == "accepted" and again.path.parent == entry
    assert_frame_equal(archived_frames(folders.archive)[WWB_REGISTRATIONS], expected)


def test_an_unexpected_error_on_one_file_quarantines_it_naming_the_error_and_the_other_files_go_on(home, monkeypatch):
    from sources.uwv import intake as uwv

    folders = UwvFolders.at(home)
    files.write_csv(folders.inbox / "bijstand.csv", WWB_REGISTRATIONS, rows(WWB_REGISTRATIONS))
    (folders.inbox / "vreemd.csv").write_bytes(b"Gemeentecode;Peildatum;WWB;Ingeschreven bij UWV\r\n0363;31-12-2015;5;1\r\n")
    os.utime(folders.inbox / "vreemd.csv", (1e9, 1e9))  # taken in first
    read_csv = uwv.read_csv

    def fails_on_vreemd(data, max_rows):
        if b";5;1" in data:
            raise ZeroDivisionError("a bug this content triggers")
        return read_csv(data, max_rows)

    monkeypatch.setattr(uwv, "read_csv", fails_on_vreemd)

    strange, good = intake(home)

    assert (strange.file, strange.status) == ("vreemd.csv", "rejected")
    assert "the intake failed on this file with ZeroDivisionError: a bug this content triggers" in strange.message
    assert strange.path.parent == folders.quarantine and strange.sha256 is not None
    report = json.loads(strange.report.read_text(encoding="utf-8"))
    assert "ZeroDivisionError: a bug this content triggers" in report["message"]
    assert (good.file, good.status) == ("bijstand.csv", "accepted")
    assert list(folders.inbox.iterdir()) == []


@pytest.mark.parametrize("error", [OSError(5, "Input/output error"), MemoryError(), KeyboardInterrupt()],
                         ids=["OSError", "MemoryError", "KeyboardInterrupt"])
def test_errors_of_the_machine_while_checking_a_file_stop_the_intake_and_leave_the_file(home, monkeypatch, error):
    from sources.uwv import intake as uwv

    folders = UwvFolders.at(home)
    files.write_csv(folders.inbox / "bijstand.csv", WWB_REGISTRATIONS, rows(WWB_REGISTRATIONS))

    def fails(data, max_rows):
        raise error

    monkeypatch.setattr(uwv, "read_csv", fails)

    with pytest.raises(type(error)):
        intake(home)
    assert [p.name for p in folders.inbox.iterdir()] == ["bijstand.csv"]
    assert list(folders.quarantine.iterdir()) == []


def test_files_still_being_written_are_left_alone(home):
    folders = UwvFolders.at(home)
    for name in (".vacatures.csv.tmp", "~$vacatures.xlsx", "vacatures.csv.part", "vacatures.csv~"):
        (folders.inbox / name).write_text("half")

    assert intake(home) == []
    assert len(list(folders.inbox.iterdir())) == 4


def test_a_second_intake_on_the_same_home_refuses(home):
    folders = UwvFolders.at(home)
    folders.archive.mkdir(parents=True)
    with open(folders.archive / ".intake.lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        with pytest.raises(IntakeBusy, match="another UWV intake is running"):
            intake(home)


def test_a_file_left_in_a_half_built_archive_entry_goes_back_to_the_inbox(home):
    folders = UwvFolders.at(home)
    staging = folders.archive / ".staging-crashed"
    staging.mkdir(parents=True)
    files.write_csv(staging / "portaal.csv", PORTAL_CONNECTIONS, rows(PORTAL_CONNECTIONS))
    (staging / "report.json").write_text("{}")

    (result,) = intake(home)

    assert result.file == "portaal.csv" and result.status == "accepted"
    assert not staging.exists()


def test_every_problem_is_in_the_report_and_the_message_is_capped(home):
    folders = UwvFolders.at(home)
    bad = [dict(row, wwb_recipients=-1) for row in files.wwb_registrations([DECEMBER, JANUARY, dt.date(2016, 12, 31)])]
    files.write_csv(folders.inbox / "bijstand.csv", WWB_REGISTRATIONS, bad)

    (result,) = intake(home)

    report = json.loads(result.report.read_text(encoding="utf-8"))
    text = result.path.with_name(result.path.name + ".report.txt").read_text(encoding="utf-8")
    assert result.problems.height == report["problem_count"] == len(bad) == 36
    assert [p["row"] for p in report["problems"]] == list(range(2, 38))
    assert result.problems.schema == pl.Schema(PROBLEM_SCHEMA)
    assert result.message.count("negative count -1") == 3 and "36 problem(s)" in result.message
    assert "... and 33 more problem(s)" in result.message
    assert text.count("\n  - row ") == 36
    assert "[critical] uwv_wwb_registrations: expect_column_values_to_be_between failed on column 'wwb_recipients'" in text


def inbox_file(name, data):
    def write(inbox):
        (inbox / name).write_bytes(data() if callable(data) else data)
    return write


def wwb_text(changes=None, style=Style(), drop=(), add=None):
    """The text of a small realistic WWB file; ``changes`` maps row index -> new values."""
    generated = files.wwb_registrations([DECEMBER], codes=["0363", "0014", "1900", "0599"])
    for index, values in (changes or {}).items():
        generated[index] = {**generated[index], **values}
    generated += add or []
    text = files.csv_text(WWB_REGISTRATIONS, generated, style)
    for header in drop:
        lines = text.split("\r\n")
        position = lines[0].split(";").index(header)
        text = "\r\n".join(";".join(c for i, c in enumerate(line.split(";")) if i != position) for line in lines)
    return text


def wwb_csv(name="bijstand.csv", encoding="utf-8", **options):
    return inbox_file(name, lambda: wwb_text(**options).encode(encoding))


def kind_csv(kind, name, changes, style=Style()):
    def write(inbox):
        generated = rows(kind)
        for index, values in changes.items():
            generated[index] = {**generated[index], **values}
        files.write_csv(inbox / name, kind, generated, style)
    return write


def xlsx(name, **options):
    def write(inbox):
        files.write_xlsx(inbox / name, WWB_REGISTRATIONS, rows(WWB_REGISTRATIONS), **options)
    return write


def xlsx_bytes(**options):
    buffer = io.BytesIO()
    files.write_xlsx(buffer, WWB_REGISTRATIONS, rows(WWB_REGISTRATIONS), **options)
    return buffer.getvalue()


def unknown_headers_xlsx(inbox):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["UWV - Bijstandsontvangers ingeschreven als werkzoekende"])
    sheet.merge_cells("A1:D1")
    sheet.append(["Peildatum 31 december 2015"])
    sheet.merge_cells("A2:D2")
    sheet.append(["Kolom A", "Kolom B", "Kolom C", "Kolom D"])
    sheet.append(["GM0363", "31-12-2015", 41000, 20500])
    workbook.save(inbox / "bijstand_zonder_kop.xlsx")


def symlink_outside(inbox):
    secret = inbox.parents[2] / "secret.csv"
    secret.write_text(wwb_text())
    os.symlink(secret, inbox / "bijstand.csv")


def mixed_encoding(inbox):
    text = wwb_text()
    late = files.wwb_registrations([dt.date(2016, 12, 31)], codes=["1900"])
    extra = files.csv_text(WWB_REGISTRATIONS, late).split("\r\n")[1] + "\r\n"
    (inbox / "bijstand.csv").write_bytes(text.encode("utf-8") + extra.encode("cp1252"))


def undecodable_name(inbox):
    with open(os.fsencode(inbox) + b"/bijstand\xff.csv", "wb") as stream:
        stream.write(wwb_text().encode())


def xlsx_note_beside_table(inbox):
    path = inbox / "bijstand_notitie.xlsx"
    files.write_xlsx(path, WWB_REGISTRATIONS, rows(WWB_REGISTRATIONS))
    from openpyxl import load_workbook

    workbook = load_workbook(path)
    workbook.active["G6"] = "let op: voorlopig"
    workbook.save(path)


def xlsx_missing_shared_string(inbox):
    """A workbook whose cell B5 points past the end of the shared strings (there are none)."""
    source = zipfile.ZipFile(io.BytesIO(xlsx_bytes()))
    with zipfile.ZipFile(inbox / "bijstand_kapot.xlsx", "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            data = source.read(member.filename)
            if member.filename == "xl/worksheets/sheet1.xml":
                data, count = re.subn(rb'<c r="B5" t="inlineStr"><is><t>[^<]*</t></is></c>', b'<c r="B5" t="s"><v>9999</v></c>', data)
                assert count == 1
            target.writestr(member, data)


def xlsx_date_with_a_time(inbox):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Gemeentecode", "Peildatum", "WWB", "Ingeschreven bij UWV"])
    sheet.append(["0363", dt.datetime(2015, 12, 31, 14, 30), 1000, 500])
    sheet.append(["0014", dt.datetime(2015, 12, 31, 9, 0), 1000, 500])
    workbook.save(inbox / "bijstand_tijd.xlsx")


def xlsx_formulas_without_values(inbox):
    """A workbook written by a program that computes no formulas: the formulas, no saved results."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Gemeentecode", "Peildatum", "WWB", "Ingeschreven bij UWV"])
    sheet.append(["0363", "31-12-2015", 41000, "=C2/2"])
    sheet.append(["0014", "31-12-2015", "=SUM(C2:C2)/4", 500])
    workbook.save(inbox / "bijstand_formules.xlsx")


def opendocument(name):
    def write(inbox):
        with zipfile.ZipFile(inbox / name, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")  # first, stored
            archive.writestr("content.xml", "<office:document-content/>")
            archive.writestr("META-INF/manifest.xml", "<manifest:manifest/>")
    return write


def zip_of_csv(inbox):
    with zipfile.ZipFile(inbox / "bijstand.xlsx", "w") as archive:
        archive.writestr("bijstand.csv", wwb_text())


def english_csv(name, counts):
    """An English-formatted WWB file (English headers, ',' between fields) with these recipients per row."""
    header = "Municipality code,Municipality name,Reference date,WWB recipients,Registered job seekers\r\n"
    places = [("GM0363", "Amsterdam"), ("GM0014", "Groningen"), ("GM0599", "Rotterdam")]
    lines = [f'{code},{place},2015-12-31,"{count}",0\r\n' for (code, place), count in zip(places, counts)]
    return inbox_file(name, (header + "".join(lines)).encode())


NAMES = {2015: {code: [name] for code, name in files.MUNICIPALITIES.items()}}
BOUNDS = {"wwb_recipients": {2015: (420_000, "CBS 37789ksz 'wwb', 2015JJ00 420,000")}}


def directory(inbox):
    (inbox / "bijstand_map.csv").mkdir()
    (inbox / "bijstand_map.csv" / "inside.csv").write_text(wwb_text())


def fifo(inbox):
    os.mkfifo(inbox / "bijstand.csv")


CORPUS = [
    pytest.param(inbox_file("leeg.csv", b""), "the file is empty (0 bytes)", {}, id="empty file"),
    pytest.param(inbox_file("spaties.csv", b"  \r\n\r\n"), "the file is empty (only whitespace)", {}, id="whitespace only"),
    pytest.param(inbox_file("kop.csv", lambda: files.csv_text(WWB_REGISTRATIONS, []).encode()),
                 "the file has a header but no data rows", {}, id="header only"),
    pytest.param(wwb_csv(style=Style(delimiter="|")), "unknown delimiter '|' on line 1", {}, id="unknown delimiter"),
    pytest.param(inbox_file("tekst.csv", b"Dit is geen tabel.\nMet vriendelijke groet, UWV\n"), "no header row found",
                 {}, id="no header"),
    pytest.param(wwb_csv(drop=["Ingeschreven als werkzoekende"]), "missing column registered_job_seekers",
                 {}, id="missing column"),
    pytest.param(inbox_file("extra.csv", lambda: wwb_text().replace("werkzoekende\r\n", "werkzoekende;Opmerking\r\n", 1).encode()),
                 "unknown column 'Opmerking' (column 6)", {}, id="unknown column"),
    pytest.param(inbox_file("soort.csv", b"Gemeentecode;Peildatum;Aantal\r\nGM0363;31-12-2015;41.000\r\n"),
                 "cannot tell which kind of UWV file this is", {}, id="unknown kind"),
    pytest.param(inbox_file("twee.csv", b"Gemeentecode;Peildatum;WWB;Vacatures\r\nGM0363;31-12-2015;41.000;120\r\n"),
                 "ambiguous kind of file", {}, id="ambiguous kind"),
    pytest.param(wwb_csv(changes={1: {"wwb_recipients": "veel"}}),
                 "row 3, column 'Aantal bijstandsontvangers', value 'veel': not a number", {}, id="non-numeric count"),
    pytest.param(wwb_csv(changes={2: {"registered_job_seekers": "12,5"}}), "value '12,5': not a whole number", {}, id="decimal count"),
    pytest.param(wwb_csv(changes={0: {"wwb_recipients": -12, "registered_job_seekers": 0}}),
                 "row 2, column 'Aantal bijstandsontvangers', value '-12': negative count -12", {}, id="negative count"),
    pytest.param(wwb_csv(changes={3: {"wwb_recipients": 1000, "registered_job_seekers": 1200}}),
                 "1200 registered job seekers is more than the 1000 WWB recipients", {}, id="registered above recipients"),
    pytest.param(wwb_csv(changes={2: {"gm_code": "0363", "gm_name": "Amsterdam"}}),
                 "duplicate key (gm_code 0363, reference_date 2015-12-31): same as row 2", {}, id="duplicate key"),
    pytest.param(wwb_csv(changes={1: {"gm_code": "9999"}}), "unknown municipality code 9999", {}, id="unknown municipality"),
    pytest.param(wwb_csv(add=files.wwb_registrations([dt.date(2018, 6, 30)], codes=["0018"])),
                 "municipality code 0018 no longer existed on 2018-06-30: last valid on 1 January 2017", {}, id="code ended"),
    pytest.param(wwb_csv(changes={0: {"reference_date": dt.date(2021, 1, 31)}}),
                 "reference date 2021-01-31 is in the future (today is 2020-06-30)", {}, id="future date"),
    pytest.param(wwb_csv(changes={0: {"reference_date": "31-02-2015"}}), "value '31-02-2015': not a valid calendar date", {},
                 id="impossible date"),
    pytest.param(kind_csv(VACANCIES, "vacatures.csv", {4: {"region_code": "AM99"}}),
                 "unknown labour-market region code AM99", {}, id="unknown region"),
    pytest.param(kind_csv(PORTAL_CONNECTIONS, "portaal.csv", {0: {"connected": "misschien"}}),
                 "value 'misschien': not a yes/no value", {}, id="bad yes/no"),
    pytest.param(kind_csv(PORTAL_CONNECTIONS, "portaal.csv", {0: {"connected": False, "connected_since": dt.date(2012, 1, 1)}}),
                 "says not connected but there is a connection date 2012-01-01", {}, id="date without connection"),
    pytest.param(mixed_encoding, "mixed encodings: the file has UTF-8 text ('ú' on line 4) but byte 0xFA on line 6 is not UTF-8",
                 {}, id="mixed encoding"),
    pytest.param(wwb_csv(encoding="utf-16"), "wrong encoding: the file is UTF-16 text", {}, id="utf-16"),
    pytest.param(wwb_csv(encoding="utf-16-le"), "looks like UTF-16 text without a byte-order mark", {}, id="utf-16 without bom"),
    pytest.param(inbox_file("dubbel.csv", lambda: wwb_text().encode("utf-8").decode("cp1252").encode("utf-8")),
                 "'Ãº' on line 4 is UTF-8 text read as Windows-1252 and saved again (double-encoded)", {}, id="double-encoded"),
    pytest.param(inbox_file("vreemd.csv", lambda: wwb_text().replace("Súdwest", "S\x81dwest").encode("latin-1")),
                 "neither UTF-8 nor Windows-1252 (byte 0x81 on line 4", {}, id="byte undefined in windows-1252"),
    pytest.param(unknown_headers_xlsx, "no header row found in the first 20 rows of any sheet ('Sheet')", {},
                 id="xlsx merged title rows without header"),
    pytest.param(xlsx("kop_samengevoegd.xlsx", merge=["D4:E4"]), "merged cells D4:E4 in the header row (row 4 is the header)",
                 {}, id="xlsx merged header cells"),
    pytest.param(xlsx("twee_bladen.xlsx", extra_sheets={"Vorig jaar": [["Gemeentecode", "Peildatum", "WWB", "Ingeschreven bij UWV"]]}),
                 "several sheets hold a table ('Gegevens', 'Vorig jaar')", {}, id="xlsx two tables"),
    pytest.param(inbox_file("afgebroken.csv", lambda: wwb_text().rstrip().rsplit(";", 1)[0].encode()),
                 "truncated file: the last line (line 5) has 4 of 5 fields and does not end with a line break", {},
                 id="truncated csv"),
    pytest.param(inbox_file("mac.csv", lambda: wwb_text().replace("\r\n", "\r").encode()),
                 "is not followed by a line feed (\\n); lines must end in \\n or \\r\\n; this file's lines end in \\r "
                 "alone (classic Mac line endings)", {}, id="classic-mac line endings"),
    pytest.param(inbox_file("titel.csv", lambda: ("UWV bijstand\rper gemeente\r\n" + wwb_text()).encode()),
                 "line 1: a carriage return (\\r) after 'UWV bijstand' is not followed by a line feed (\\n); lines must "
                 "end in \\n or \\r\\n", {}, id="carriage return inside a title line"),
    pytest.param(inbox_file("quote.csv", lambda: (wwb_text() + '"GM0599;Rotterdam;31-12-2015;38.000').encode()),
                 "truncated file: a quoted field that starts on line 6 is not closed", {}, id="unclosed quote"),
    pytest.param(inbox_file("afgebroken.xlsx", lambda: xlsx_bytes()[:3000]), "truncated or damaged XLSX file", {},
                 id="truncated xlsx"),
    pytest.param(xlsx_missing_shared_string, "truncated or damaged XLSX file: a cell refers to text or a style the workbook "
                 "does not hold (IndexError: list index out of range)", {}, id="xlsx cell past the shared strings"),
    pytest.param(xlsx_date_with_a_time, "row 2, column 'Peildatum', value '2015-12-31 14:30:00': a date with a time of day "
                 "other than 00:00", {}, id="xlsx date with a time of day"),
    pytest.param(inbox_file("ruis.csv", random.Random(1).randbytes(4096)), "binary data, not text", {}, id="binary garbage csv"),
    pytest.param(inbox_file("ruis.xlsx", random.Random(2).randbytes(4096)), "not an XLSX workbook", {}, id="binary garbage xlsx"),
    pytest.param(inbox_file("werkmap.csv", xlsx_bytes), "the file is a ZIP archive (an XLSX workbook?) but is named as CSV",
                 {}, id="xlsx named csv"),
    pytest.param(inbox_file("oud.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(2048)),
                 "old Excel (.xls) workbook named .xlsx", {}, id="xls named xlsx"),
    pytest.param(inbox_file("oud.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(2048)),
                 "old Excel .xls workbooks are not accepted", {}, id="xls"),
    pytest.param(inbox_file("bijstand.pdf", b"%PDF-1.4\n"), "unsupported file type '.pdf'", {}, id="unsupported type"),
    pytest.param(inbox_file("rij.csv", lambda: wwb_text().replace("\r\nGM0014;", "\r\nGM0014;extra;", 1).encode()),
                 "row 3, value 'GM0014;extra;Groningen", {}, id="row with too many fields"),
    pytest.param(wwb_csv(name="..\\..\\werkregio.duckdb.csv"), "unsafe file name '..\\\\..\\\\werkregio.duckdb.csv'", {},
                 id="path traversal name"),
    pytest.param(wwb_csv(name="bijstand\n2015.csv"), "unsafe file name 'bijstand\\n2015.csv'", {}, id="control character in name"),
    pytest.param(undecodable_name, "unsafe file name 'bijstand\\udcff.csv'", {}, id="name not utf-8"),
    pytest.param(xlsx_note_beside_table, "row 6, value 'let op: voorlopig': value in column G, which has no header", {},
                 id="xlsx value outside the table"),
    pytest.param(symlink_outside, "symbolic link to ", {}, id="symlink outside inbox"),
    pytest.param(directory, "is a directory, not a file", {}, id="directory"),
    pytest.param(fifo, "not a regular file (a FIFO, socket or device)", {}, id="fifo"),
    pytest.param(wwb_csv(), "more than the limit of 256 bytes; it was not read", {"max_bytes": 256}, id="file over the size limit"),
    # issue 22: counts that read as two numbers, names and magnitudes CBS contradicts, formulas, OpenDocument
    pytest.param(english_csv("english.csv", ["12,000", "950", "38,000"]),
                 "value '12,000': ambiguous number: '12,000' is 12000 if ',' separates thousands but 12 if it is a decimal mark",
                 {}, id="english thousands read as two numbers"),
    pytest.param(wwb_csv(changes={0: {"wwb_recipients": "41.500"}, 1: {"wwb_recipients": "10,250"}}),
                 "written in the English: ',' between thousands, '.' before decimals, but row 2", {},
                 id="numbers in both conventions"),
    pytest.param(wwb_csv(changes={0: {"gm_name": "Rotterdam"}}),
                 "value 'Rotterdam': 'Rotterdam' is the name of municipality 0599 in 2015 according to CBS, not of 0363",
                 {"municipality_names": NAMES}, id="name of another municipality"),
    pytest.param(wwb_csv(changes={0: {"wwb_recipients": 5_000_000}}),
                 "5000000 is more than the whole country had (CBS 37789ksz 'wwb', 2015JJ00 420,000)",
                 {"national_bounds": BOUNDS}, id="count above the national total"),
    pytest.param(kind_csv(PORTAL_CONNECTIONS, "portaal.csv", {0: {"connected": True}, 1: {"connected": "x", "connected_since": None},
                                                              2: {"connected": "", "connected_since": None}}),
                 "empty: expected ja or nee (a blank means no only in a column that marks yes with x alone)", {},
                 id="blank in a ja/nee column with an x"),
    pytest.param(xlsx_formulas_without_values, "the cell holds a formula whose result was never saved in the file", {},
                 id="xlsx formulas without saved values"),
    pytest.param(opendocument("bijstand.xlsx"), "the file is an OpenDocument spreadsheet (.ods) named .xlsx", {},
                 id="ods named xlsx"),
    pytest.param(opendocument("bijstand.csv"), "the file is an OpenDocument spreadsheet (.ods) named as CSV", {},
                 id="ods named csv"),
    pytest.param(opendocument("bijstand.ods"), "OpenDocument spreadsheets (.ods) are not accepted: save the file as .xlsx", {},
                 id="ods"),
    pytest.param(zip_of_csv, "not an XLSX workbook: a ZIP archive of something else (it holds bijstand.csv)", {},
                 id="zip of a csv named xlsx"),
]


@pytest.mark.parametrize(("write", "fragment", "options"), CORPUS)
def test_bad_input_is_quarantined_with_a_specific_message(home, write, fragment, options):
    folders = UwvFolders.at(home)
    published = home / "warehouse" / "werkregio.duckdb"
    published.parent.mkdir()
    published.write_bytes(b"published warehouse")
    write(folders.inbox)

    (result,) = intake(home, **options)

    assert result.status == "rejected"
    assert fragment in result.message
    assert result.frame is None
    assert os.path.lexists(result.path) and result.path.parent == folders.quarantine
    report = json.loads(result.report.read_text(encoding="utf-8"))
    assert report["status"] == "rejected" and fragment in report["message"]
    assert report["problem_count"] >= 1
    text = result.path.with_name(result.path.name + ".report.txt").read_text(encoding="utf-8")
    assert fragment in text and "Nothing from this file was loaded" in text
    assert list(folders.inbox.iterdir()) == []
    assert archive_entries(folders) == []
    assert all(table.height == 0 for table in archived_frames(folders.archive).values())
    assert published.read_bytes() == b"published warehouse"


def test_a_csv_without_a_final_line_break_is_read_and_only_a_cut_through_its_fields_is_told():
    def check(text):
        return check_file(text.encode(), "bijstand.csv", valid_municipalities=VALID, regions=REGIONS, today=TODAY)

    complete = wwb_text().rstrip("\r\n")  # many tools leave out the last line break
    last = complete.rsplit(";", 1)[1]

    assert check(complete).passed
    assert "the last line (line 5) has 4 of 5 fields" in check(complete.rsplit(";", 1)[0]).problems["message"][0]
    # cut inside the last field: no different from a complete file (docs/uwv-files.md says so)
    cut = check(complete[: -(len(last) - 1)])
    assert cut.passed and cut.table.frame.filter(pl.col("gm_code") == "0599")["registered_job_seekers"][0] == int(last[0])


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 25


def test_a_symlink_is_moved_itself_and_its_target_is_not_touched(home):
    folders = UwvFolders.at(home)
    symlink_outside(folders.inbox)
    secret = home.parent / "secret.csv"
    before = secret.read_bytes()

    (result,) = intake(home)

    assert "(outside the inbox)" in result.message
    assert result.path.is_symlink() and os.readlink(result.path) == str(secret)
    assert secret.read_bytes() == before


def test_a_very_large_file_is_rejected_in_bounded_memory(home):
    folders = UwvFolders.at(home)
    size = 200 * 1024 * 1024
    big = files.write_large_csv(folders.inbox / "bijstand_alle_dagen.csv", size)
    before = big.stat()
    assert before.st_size >= size

    tracemalloc.start()
    try:
        (result,) = intake(home)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.status == "rejected"
    assert f"file too large: {before.st_size:,} bytes, more than the limit of {DEFAULT_MAX_BYTES:,} bytes" in result.message
    assert peak < 8 * 1024 * 1024, f"peak Python allocation {peak:,} bytes for a {before.st_size:,}-byte file"
    after = result.path.stat()
    assert (after.st_ino, after.st_size) == (before.st_ino, before.st_size)


def test_real_municipality_list_accepts_every_municipality_and_knows_mergers(home):
    path = REFERENCE / "gemeenten_valid_on_1_january_2009_2026.csv"
    if not path.is_file():
        pytest.skip(f"the reference list of municipalities is not at {path} (it comes with ../shared)")
    valid = load_valid_municipalities(path)
    folders = UwvFolders.at(home)
    day = dt.date(2019, 1, 1)
    everyone = files.wwb_registrations([day], codes=sorted(valid[2019]))
    files.write_csv(folders.inbox / "bijstand_2019.csv", WWB_REGISTRATIONS, everyone, Style(codes="short"))
    ended = files.wwb_registrations([day], codes=["0007"])  # Bellingwedde, merged into Westerwolde in 2018
    files.write_csv(folders.inbox / "bijstand_2019_oud.csv", WWB_REGISTRATIONS, ended)

    results = {r.file: r for r in intake_inbox(home, valid_municipalities=valid, regions=REGIONS, today=TODAY, quiet_seconds=0)}

    assert len(valid[2019]) == 355
    accepted = results["bijstand_2019.csv"]
    assert accepted.status == "accepted", accepted.message
    assert accepted.frame.height == 355
    assert results["bijstand_2019_oud.csv"].status == "rejected"
    assert "municipality code 0007 no longer existed on 2019-01-01: last valid on 1 January 2017" in (
        results["bijstand_2019_oud.csv"].message
    )


def test_a_file_changed_less_than_the_quiet_time_ago_waits_in_the_inbox(home):
    """Issue 22: a file still being copied into the inbox (a share, scp) had its first rows archived."""
    folders = UwvFolders.at(home)
    path = files.write_csv(folders.inbox / "bijstand.csv", WWB_REGISTRATIONS, rows(WWB_REGISTRATIONS))
    os.utime(path, (1e9, 1e9))  # a copy that keeps the original's modification time still changes its status-change time
    written = max(path.stat().st_mtime, path.stat().st_ctime)

    def at(seconds_after):
        return lambda: dt.datetime.fromtimestamp(written + seconds_after, dt.UTC)

    (waiting,) = intake(home, quiet_seconds=60, clock=at(20))
    assert waiting.status == "waiting" and waiting.frame is None
    assert "'bijstand.csv' changed 20 s ago: taken in once it has been left unchanged for 60 s" in waiting.message
    assert [p.name for p in folders.inbox.iterdir()] == ["bijstand.csv"] and archive_entries(folders) == []

    (taken,) = intake(home, quiet_seconds=60, clock=at(61))
    assert taken.status == "accepted", taken.message


def test_waiting_and_settling_files_tell_quiet_files_from_files_still_changing(home):
    from sources.uwv.intake import settling_files, waiting_files

    folders = UwvFolders.at(home)
    files.write_csv(folders.inbox / "nieuw.csv", WWB_REGISTRATIONS, rows(WWB_REGISTRATIONS))

    assert waiting_files(home, quiet_seconds=3600) == []
    ((name, age),) = settling_files(home, quiet_seconds=3600)
    assert name == "nieuw.csv" and 0 <= age < 3600
    assert waiting_files(home, quiet_seconds=0) == ["nieuw.csv"] and settling_files(home, quiet_seconds=0) == []


@pytest.mark.parametrize("reader", ["archived_frames", "archive_state"])
def test_an_archived_file_that_changed_after_it_was_accepted_fails_whatever_reads_the_archive(home, reader):
    """Issue 22: a writer still holding the file completed it after it was archived; nothing noticed."""
    from sources.uwv.archive import archive_state

    folders = UwvFolders.at(home)
    files.write_csv(folders.inbox / "bijstand.csv", WWB_REGISTRATIONS, rows(WWB_REGISTRATIONS))
    (accepted,) = intake(home)
    with open(accepted.path, "a", encoding="utf-8") as late:  # the rest of the copy, through the writer's open handle
        late.write("GM0599;Rotterdam;30-06-2019;38.000;12.000\r\n")

    with pytest.raises(ArchiveUnreadable) as raised:
        archived_frames(folders.archive) if reader == "archived_frames" else archive_state(home)

    message = str(raised.value)
    assert f"the UWV archive file {accepted.path} changed after it was accepted" in message
    assert f"accepted as {accepted.sha256[:12]}" in message and "still being written when it was taken in" in message
    assert f"move the accepted file kept in {accepted.path.parent} back into the inbox, remove that folder" in message


def test_a_file_that_changes_while_it_is_archived_goes_back_to_the_inbox(home, monkeypatch):
    from sources.uwv import archive

    folders = UwvFolders.at(home)
    files.write_csv(folders.inbox / "bijstand.csv", WWB_REGISTRATIONS, rows(WWB_REGISTRATIONS))
    move = archive.move

    def move_while_written(source, target):
        move(source, target)
        if target.parent.name.startswith(".staging-"):  # into the entry being built, not back to the inbox
            with open(target, "a", encoding="utf-8") as late:
                late.write("GM0599;Rotterdam;30-06-2019;38.000;12.000\r\n")

    monkeypatch.setattr(archive, "move", move_while_written)

    assert intake(home) == []
    assert [p.name for p in folders.inbox.iterdir()] == ["bijstand.csv"]
    assert list(folders.archive.glob(".staging-*")) == [] and archive_entries(folders) == []
    monkeypatch.undo()
    (result,) = intake(home)  # the next intake checks what the file holds now
    assert result.status == "accepted", result.message
    assert result.frame.height == len(rows(WWB_REGISTRATIONS)) + 1


def test_names_and_warnings_and_the_number_convention_are_in_an_accepted_files_report(home):
    folders = UwvFolders.at(home)
    generated = rows(WWB_REGISTRATIONS)
    generated[0] = {**generated[0], "gm_name": "Mokum"}  # a name CBS does not know: a warning, not a rejection
    files.write_csv(folders.inbox / "bijstand.csv", WWB_REGISTRATIONS, generated)

    (result,) = intake(home, municipality_names=NAMES, national_bounds=BOUNDS)

    assert result.status == "accepted", result.message
    report = json.loads(result.report.read_text(encoding="utf-8"))
    assert any("'Mokum' is not CBS's name of municipality" in w for w in report["warnings"])
    assert report["details"]["numbers"].startswith("Dutch: '.' between thousands, ',' before decimals (shown by row ")
    assert f"; {len(report['warnings'])} warning(s)" in result.message


def test_a_spreadsheet_number_with_a_fraction_among_text_counts_is_not_read_as_a_whole_number():
    """A count column that mixes text (written the English way) with a number cell 1.234: the cell's text must not
    read as 1234 in the file's convention."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Gemeentecode", "Peildatum", "WWB", "Ingeschreven bij UWV"])
    sheet.append(["0363", "31-12-2015", "12,000", 0])
    sheet.append(["0014", "31-12-2015", "1,500", 0])
    sheet.append(["0080", "31-12-2015", 1.234, 0])
    buffer = io.BytesIO()
    workbook.save(buffer)

    check = check_file(buffer.getvalue(), "bijstand.xlsx", valid_municipalities=VALID, regions=REGIONS, today=TODAY)

    (problem,) = check.problems.to_dicts()
    assert (problem["row"], problem["value"]) == (4, "1.2340") and "not a whole number" in problem["message"]
    assert check.table.frame.filter(pl.col("gm_code") == "0363")["wwb_recipients"].to_list() == [12_000]
