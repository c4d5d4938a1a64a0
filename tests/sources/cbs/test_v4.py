"""The CBS OData v4 source: its rules (keys, topic keys, empty cells, Modified) and the real HTTP path
against the mirror's v4 service, down to landings equal to the v3 client's."""

from __future__ import annotations

import itertools
from importlib.metadata import version
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from expectations.rules import topic_keys
from sources.cbs import catalog
from sources.cbs.client import CbsBadResponse, CbsNotFound, CbsUnavailable, LiveCbs
from sources.cbs.landing import DATA_FILE, land_table
from sources.cbs.v4 import Layout, Pivot, V4Cbs, derived_key, measure_keys, table_parts, v3_time
from tests.statline_mirror import StatLineMirror, write_table

TABLE = "90004TST"
GESLACHT = [{"Key": "T001038", "Title": "Totaal mannen en vrouwen"}, {"Key": "3000   ", "Title": "Mannen"}]
REGIOS = [{"Key": "NL01  ", "Title": "Nederland"}, {"Key": "GM0363", "Title": "Amsterdam"}]
PERIODEN = [{"Key": "2023JJ00", "Title": "2023"}, {"Key": "2024JJ00", "Title": "2024*", "Status": "Voorlopig"}]
TOPICS = [
    {"Key": "Beroepsbevolking_1", "Title": "Beroepsbevolking", "Datatype": "Long", "Unit": "x 1 000", "Decimals": 0},
    {"Key": "WWUitkeringen_2", "Title": "Ww uitkeringen", "Datatype": "Double", "Unit": "aantal", "Decimals": 1},
    {"Key": "Code_3", "Title": "Code", "Datatype": "String", "Unit": "code", "Decimals": 0},
]
ROWS = [
    {
        "Geslacht": g["Key"],
        "RegioS": r["Key"],
        "Perioden": p["Key"],
        "Beroepsbevolking_1": None if index == 3 else 100 * index,
        "WWUitkeringen_2": None if index in (3, 7) else 3.0 + index,
        "Code_3": None if index == 3 else f"{r['Key'].strip():<10}",
    }
    for index, (g, r, p) in enumerate(itertools.product(GESLACHT, REGIOS, PERIODEN))
]
ENTRY = catalog.SourceTable(TABLE, catalog.LABOUR_FORCE, "Test", "year", "aantal", 2023, 2024, {"ww": "WWUitkeringen_2"})

#: The real v3 key, v4 code and v4 title of every measure of 37789ksz, in MeasureCodes order: codes and titles
#: from the MeasureCodes captured at https://datasets.cbs.nl/odata/v1/CBS/37789ksz (2026-07; checkdecijfers
#: tests/fixtures/cbs/37789ksz/measure-codes.json), the keys from the v3 feed (FORMAT_V4.md section 5).
REAL_37789KSZ = [
    ("TotaalArbeidsongeschiktheidsuitkeringen_1", "D000198_2", "Totaal arbeidsongeschiktheidsuitkeringen"),
    ("WAOUitkeringen_2", "D000287", "WAO-uitkeringen"),
    ("WajongUitkeringen_3", "D000286", "Wajong-uitkeringen"),
    ("WAZUitkeringen_4", "D000288", "WAZ-uitkeringen"),
    ("TotaalWIAUitkeringen_5", "D000295_2", "Totaal WIA-uitkeringen"),
    ("IVAUitkeringen_6", "D000236", "IVA-uitkeringen"),
    ("WGAUitkeringen_7", "D000292", "WGA-uitkeringen"),
    ("NietSeizoengecorrigeerd_8", "D007076_2", "Niet-seizoengecorrigeerd"),
    ("Seizoengecorrigeerd_9", "M006400", "Seizoengecorrigeerd"),
    ("IOWUitkeringen_10", "D000235", "IOW-uitkeringen"),
    ("TotaalBijstandsuitkeringen_11", "D000203_2", "Totaal bijstandsuitkeringen"),
    ("BijstandsuitkeringenTotDeAOWLeeftijd_12", "90210", "Bijstandsuitkeringen tot de AOW-leeftijd"),
    ("BijstandsuitkeringenVanafAOWLeeftijd_13", "90200", "Bijstandsuitkeringen vanaf AOW-leeftijd"),
    ("IOAWUitkeringen_14", "D000233", "IOAW-uitkeringen"),
    ("IOAZUitkeringen_15", "D003284", "IOAZ-uitkeringen"),
    ("AOWUitkeringen_16", "D000194", "AOW-uitkeringen"),
    ("AnwUitkeringen_17", "D000192", "Anw-uitkeringen"),
    ("AKWGerechtigden_18", "D001690", "AKW-gerechtigden"),
]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("statline")
    write_table(
        folder,
        TABLE,
        dimensions={"Geslacht": GESLACHT, "RegioS": REGIOS, "Perioden": PERIODEN},
        time_dimension="Perioden",
        geo_dimension="RegioS",
        topics=TOPICS,
        rows=ROWS,
    )
    return folder


@pytest.fixture
def mirror(root):
    with StatLineMirror(root, v4_page_size=7) as server:  # 24 cells a page... 7: rows span pages
        yield server


def source(mirror: StatLineMirror, sleeps: list[float] | None = None, **options) -> V4Cbs:
    settings = {"timeout": 5.0, "retries": 2, "backoff": 0.5, "concurrency": 3, "tables": [ENTRY]}
    settings.update(options)
    return V4Cbs(mirror.v4_url, sleep=(sleeps.append if sleeps is not None else (lambda s: None)), **settings)


# --------------------------------------------------------------------------------------------- rules, no I/O


def test_derived_keys_are_the_real_v3_keys_of_37789ksz():
    assert [derived_key(title, n) for n, (_, _, title) in enumerate(REAL_37789KSZ, start=1)] == [key for key, _, _ in REAL_37789KSZ]


@pytest.mark.parametrize(
    ("title", "position", "key"),
    [("0 tot 6 maanden", 4, "k_0Tot6Maanden_4"), ("Geëmigreerd", 1, "Geemigreerd_1"), ("Beroeps- en niet-beroepsbevolking", 1, "BeroepsEnNietBeroepsbevolking_1")],
)
def test_derived_key_rule(title, position, key):
    assert derived_key(title, position) == key


def measures(*titles: str) -> list[dict]:
    return [{"Identifier": f"M{n:06d}", "Index": n + 1, "Title": t, "DataType": "Long"} for n, t in enumerate(titles, start=1)]


def test_measure_keys_take_overrides_then_the_pipelines_spelling_then_the_rule():
    keys = measure_keys(
        TABLE,
        measures("Wao uitkeringen", "Ww uitkeringen", "Iets anders"),
        overrides={"M000003": "IetsAnders_9"},
        required={"wao": "WAOUitkeringen_1"},
        spellings={"WAOUitkeringen_1", "WWUitkeringen_2"},
    )
    assert keys == ["WAOUitkeringen_1", "WWUitkeringen_2", "IetsAnders_9"]


def test_a_key_the_catalog_reads_that_no_measure_maps_to_fails_naming_table_and_measure():
    with pytest.raises(CbsBadResponse) as raised:
        measure_keys(TABLE, measures("Totaal", "Seizoengecorrigeerd"), required={"ww": "NietSeizoengecorrigeerd_2"})
    message = str(raised.value)
    assert message.startswith(f"{TABLE}: no v4 measure maps to topic 'NietSeizoengecorrigeerd_2'")
    assert "measure 2 of MeasureCodes is M000002 ('Seizoengecorrigeerd'), which lands as 'Seizoengecorrigeerd_2'" in message
    assert "add measures={'M000002': 'NietSeizoengecorrigeerd_2'} to this table in sources/cbs/catalog.py" in message


def test_an_override_of_a_code_the_table_lacks_or_two_measures_on_one_key_fail():
    with pytest.raises(CbsBadResponse, match=r"maps v4 measure\(s\) \['D000287'\] of this table, but its MeasureCodes lists no such code"):
        measure_keys(TABLE, measures("Totaal"), overrides={"D000287": "Totaal_1"})
    with pytest.raises(CbsBadResponse, match="land under the same topic key: {'Totaal_1': \\['M000001', 'M000002'\\]}"):
        measure_keys(TABLE, measures("Totaal", "Ander"), overrides={"M000002": "Totaal_1"})


def test_the_catalogs_37789ksz_overrides_are_cbs_real_codes_of_its_series():
    national = catalog.national_benefits()
    real = {key: code for key, code, _ in REAL_37789KSZ}
    assert dict(national.measures) == {real[key]: key for key in national.series.values()}


def small_layout() -> Layout:
    _, layout = table_parts(
        TABLE,
        {"Modified": "2025-04-23T02:00:00"},
        [{"Identifier": "RegioS", "Kind": "GeoDimension"}, {"Identifier": "Perioden", "Kind": "TimeDimension"}],
        {
            "RegioS": [{"Identifier": "NL01", "Index": 1}, {"Identifier": "GM0363", "Index": 2}],
            "Perioden": [{"Identifier": "2023JJ00", "Index": 1}, {"Identifier": "2024JJ00", "Index": 2, "Status": "Voorlopig"}],
        },
        [{"Identifier": "A", "Index": 1, "Title": "Aantal", "DataType": "Long"}, {"Identifier": "B", "Index": 2, "Title": "Deel", "DataType": "Double"}],
    )
    return layout


def cell(regio: str, periode: str, measure: str, value=None, attribute="None", text=None) -> dict:
    return {"Measure": measure, "ValueAttribute": attribute, "Value": value, "StringValue": text, "RegioS": regio, "Perioden": periode}


def test_pivot_makes_v3_rows_with_cube_ids_padded_keys_and_nulls_for_empty_cells():
    pivot = Pivot(small_layout())
    first = pivot.add([cell("NL01", "2023JJ00", "A", 5), cell("NL01", "2023JJ00", "B", 2), cell("NL01", "2024JJ00", "A", 6)])
    # 2024JJ00 may go on in the next page: held back; B of it is left out (empty), GM0363 2023 impossible, 2024 absent
    second = pivot.add([cell("GM0363", "2023JJ00", "A", None, "Impossible"), cell("GM0363", "2023JJ00", "B", 0.5)])
    assert first == [{"ID": 0, "RegioS": "NL01  ", "Perioden": "2023JJ00", "Aantal_1": 5, "Deel_2": 2.0}]
    assert second == [{"ID": 1, "RegioS": "NL01  ", "Perioden": "2024JJ00", "Aantal_1": 6, "Deel_2": None}]
    assert pivot.finish() == [{"ID": 2, "RegioS": "GM0363", "Perioden": "2023JJ00", "Aantal_1": None, "Deel_2": 0.5}]
    assert type(first[0]["Deel_2"]) is float  # .NET writes the Double 2.0 as 2


@pytest.mark.parametrize(
    ("cells", "complaint"),
    [
        ([cell("GM0363", "2023JJ00", "A", 1), cell("NL01", "2023JJ00", "A", 1)], "Observations out of order"),
        ([cell("NL01", "2023JJ00", "A", 1), cell("NL01", "2023JJ00", "A", 2)], "measure A twice"),
        ([cell("NL01", "2023JJ00", "C", 1)], "measure 'C', which MeasureCodes does not list"),
        ([cell("GM0999", "2023JJ00", "A", 1)], "RegioS 'GM0999', which RegioSCodes does not list"),
        ([cell("NL01", "2023JJ00", "A", 1, "Confidential")], "ValueAttribute 'Confidential'"),
        ([cell("NL01", "2023JJ00", "A", None, text="12")], "StringValue '12'"),
        ([{"Measure": "A", "Value": 1, "RegioS": "NL01"}], "lacks a dimension key"),
    ],
)
def test_pivot_fails_on_cells_that_would_land_something_wrong(cells, complaint):
    with pytest.raises(CbsBadResponse, match=complaint):
        Pivot(small_layout()).add(cells)


def test_v3_time_is_amsterdam_local_time_without_offset():
    assert v3_time(TABLE, "2025-04-23T02:00:00+02:00") == "2025-04-23T02:00:00"
    assert v3_time(TABLE, "2026-01-01T01:00:00Z") == "2026-01-01T02:00:00"
    assert v3_time(TABLE, "2025-04-23T02:00:00") == "2025-04-23T02:00:00"
    with pytest.raises(CbsBadResponse, match=f"{TABLE}: Modified 'gisteren' is not an ISO 8601 date-time"):
        v3_time(TABLE, "gisteren")


# --------------------------------------------------------------------------------------------- over HTTP


def test_table_info_is_one_request_with_modified_as_v3_writes_it(mirror):
    info = source(mirror).table_info(TABLE)
    assert info["Modified"] == "2025-04-23T02:00:00" and info["ObservationsModified"] == "2025-04-23T02:00:00+02:00"
    assert [(r.endpoint, r.api) for r in mirror.requests_for()] == [("Properties", "v4")]


def test_table_ids_are_case_sensitive_and_a_404_names_table_and_url(mirror):
    with pytest.raises(CbsNotFound) as raised:
        source(mirror).table_info(TABLE.lower())
    message = str(raised.value)
    assert f"{mirror.v4_url}/CBS/{TABLE.lower()}/Properties" in message and "case-sensitive" in message
    assert mirror.count() == 1  # not retried


def test_meta_and_rows_equal_the_v3_clients(mirror):
    v4, v3 = source(mirror), LiveCbs(mirror.base_url, retries=0)
    meta, expected = v4.table_meta(TABLE), v3.table_meta(TABLE)
    assert meta.modified == expected.modified
    for name, categories in expected.dimensions.items():
        assert [c["Key"] for c in meta.dimensions[name]] == [c["Key"] for c in categories]  # padded as v3: 'NL01  '
    assert [c["Status"] for c in meta.dimensions["Perioden"]] == ["Definitief", "Voorlopig"]
    landed = {p["Key"]: p for p in meta.properties}
    for record in expected.properties:
        assert {k: landed[record["Key"]].get(k) for k in ("Type", "Datatype", "Unit", "Decimals")} == {
            k: record.get(k) for k in ("Type", "Datatype", "Unit", "Decimals")
        }
    assert landed["WWUitkeringen_2"]["MeasureCode"] == "X000002"
    pages = list(v4.data_pages(TABLE))
    assert len(pages) > 3  # 24 cells in pages of 7
    assert [row for page in pages for row in page] == [row for page in v3.data_pages(TABLE) for row in page]


def test_pages_are_pivoted_as_they_arrive(mirror):
    v4 = source(mirror)
    v4.table_meta(TABLE)
    pages = v4.data_pages(TABLE)
    first = next(pages)
    assert len(first) == 2 and mirror.count(TABLE, "Observations") == 1
    assert sum(len(page) for page in pages) == len(ROWS) - 2


def test_every_request_names_werkregio_and_its_version(mirror):
    v4 = source(mirror, agent=None)
    v4.table_meta(TABLE)
    list(v4.data_pages(TABLE))
    v4.datasets_modified()
    assert {r.user_agent for r in mirror.requests_for()} == {f"werkregio/{version('werkregio')}"}


def test_transient_failures_are_retried_with_backoff_and_then_name_table_and_url(mirror):
    sleeps: list[float] = []
    v4 = source(mirror, sleeps)
    v4.table_meta(TABLE)
    mirror.add_fault("status", status=503, table=TABLE, endpoint="Observations", skip=7, retry_after=3)
    mirror.add_fault("reset", table=TABLE, endpoint="Observations", skip=14)
    assert len([row for page in v4.data_pages(TABLE) for row in page]) == len(ROWS)
    assert sleeps[0] == 3 and len(sleeps) == 2
    mirror.add_fault("status", status=500, table=TABLE, endpoint="MeasureCodes", times=None)
    with pytest.raises(CbsUnavailable) as raised:
        v4.table_meta(TABLE)
    assert f"{TABLE}: {mirror.v4_url}/CBS/{TABLE}/MeasureCodes failed after 3 attempts; last error: HTTP 500" in str(raised.value)


def test_a_malformed_page_fails_naming_table_and_url(mirror):
    v4 = source(mirror)
    v4.table_meta(TABLE)
    mirror.add_fault("malformed", table=TABLE, endpoint="Observations", skip=0)
    with pytest.raises(CbsBadResponse, match=f"{TABLE}: malformed JSON from {mirror.v4_url}/CBS/{TABLE}/Observations"):
        list(v4.data_pages(TABLE))


def test_a_catalog_series_without_its_measure_fails_before_any_data_is_requested(mirror):
    entry = catalog.SourceTable(TABLE, catalog.LABOUR_FORCE, "Test", "year", "aantal", 2023, 2024, {"ww": "Werkloosheid_2"})
    with pytest.raises(CbsBadResponse, match=r"no v4 measure maps to topic 'Werkloosheid_2'.*X000002 \('Ww uitkeringen'\)"):
        source(mirror, tables=[entry]).table_meta(TABLE)
    assert mirror.count(TABLE, "Observations") == 0
    fixed = catalog.SourceTable(TABLE, catalog.LABOUR_FORCE, "Test", "year", "aantal", 2023, 2024, {"ww": "Werkloosheid_2"}, measures={"X000002": "Werkloosheid_2"})
    meta = source(mirror, tables=[fixed]).table_meta(TABLE)
    assert [p["Key"] for p in meta.properties if p["Type"] == "Topic"] == ["Beroepsbevolking_1", "Werkloosheid_2", "Code_3"]


def test_the_catalogue_gives_every_modified_in_one_request(statline_root):
    with StatLineMirror(statline_root) as mirror:
        modified = V4Cbs(mirror.v4_url, retries=0).datasets_modified()
        assert mirror.count() == 1
    assert set(catalog.ids()) <= set(modified) and set(modified.values()) == {"2025-04-23T02:00:00"}


def test_versions_are_the_modified_the_catalogue_gives_for_the_asked_ids_exactly(statline_root):
    with StatLineMirror(statline_root) as mirror:
        mirror.set_modified("82015NED", "2026-01-01T02:00:00")
        versions = V4Cbs(mirror.v4_url, retries=0).versions(["82015NED", "37789ksz", "37789KSZ", "99999xxx"])
        assert [(r.endpoint, r.api) for r in mirror.requests_for()] == [("Datasets", "v4")]
    assert versions == {"82015NED": {"Modified": "2026-01-01T02:00:00"}, "37789ksz": {"Modified": "2025-04-23T02:00:00"}}


#: The shared tables whose landed TypedDataSet differs between the clients, and how (everything else is
#: the same data; the files differ in the service their key-value metadata name): topic keys differing in letter case because the mirror's titles are reconstructed in
#: lower case ('Wao uitkeringen' derives WaoUitkeringen_2; v3 has WAOUitkeringen_2) where neither the catalog
#: nor a validation rule names them; 80794ned's RegioS keys, padded by v3 to 6 (its full code list has GM
#: codes) but by the v4 source to 4, the longest key of the truncated dump's code list; and 83360NED's
#: Persoonskenmerken key '3000', which v3 sends unpadded beside the dimension's '3000   '.
DIFFERENT_LANDINGS = {
    "37789ksz": "case", "70059ned": "case", "80794ned": "case, RegioS", "83450NED": "case", "83747NED": "case",
    "84066NED": "case", "83360NED": "Persoonskenmerken",
}  # fmt: skip


@pytest.mark.mirror
def test_v4_landings_equal_v3_landings(statline_root, tmp_path):
    with StatLineMirror(statline_root, v4_page_size=30_000) as mirror:
        v3 = LiveCbs(mirror.base_url, retries=0)
        v4 = V4Cbs(mirror.v4_url, retries=0, spellings=topic_keys())
        for table_id in catalog.ids():
            old = land_table(v3, table_id, tmp_path / "v3").landing
            new = land_table(v4, table_id, tmp_path / "v4").landing
            assert (new.modified, new.rows) == (old.modified, old.rows), table_id
            facts = [{k: v for k, v in pq.read_schema(landing.folder / DATA_FILE).metadata.items() if k.startswith(b"werkregio.")}
                     for landing in (old, new)]  # fmt: skip
            assert [(f.pop(b"werkregio.api"), f.pop(b"werkregio.source_url")) for f in facts] == [
                (b"v3", old.source_url.encode()), (b"v4", new.source_url.encode())
            ]
            if table_id not in DIFFERENT_LANDINGS:
                assert new.read_data().equals(old.read_data()) and facts[0] == facts[1], table_id  # the files differ in the service alone
                continue
            before, after = old.read_data(), new.read_data()
            entry = catalog.table(table_id)
            assert set(entry.series.values()) <= set(after.columns), table_id  # spelt as the catalog reads them
            assert [c.lower() for c in after.columns] == [c.lower() for c in before.columns], table_id
            renamed = after.rename(dict(zip(after.columns, before.columns)))
            differing = [c for c in before.columns if not renamed[c].equals(before[c])]
            assert differing == [c for c in ("RegioS", "Persoonskenmerken") if c in DIFFERENT_LANDINGS[table_id]], table_id
            for column in differing:
                assert renamed[column].str.strip_chars().equals(before[column].str.strip_chars()), (table_id, column)
            case = [a for a, b in zip(after.columns, before.columns) if a != b]
            assert bool(case) == ("case" in DIFFERENT_LANDINGS[table_id]), (table_id, case)
