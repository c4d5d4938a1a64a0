"""The mirror's OData v4 service against what ``../shared/data/statline/FORMAT_V4.md`` records of the real one.

The ``RECORDED_*`` values are the real responses FORMAT_V4.md quotes (tag [R]: captured from
``https://datasets.cbs.nl/odata/v1/CBS/37789ksz/...``); the shared tables hold the same table, so where the
mirror serves the same cell or code it must serve it in the same shape, and field for field in the same order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.statline_mirror import StatLineMirror
from tests.statline_v4 import MEASURES_37789KSZ, V4FilterError, compile_filter, v4_time

pytestmark = pytest.mark.mirror

#: FORMAT_V4.md section 3, Observations [R CD 37789ksz].
RECORDED_OBSERVATIONS = [
    {"Id": 0, "Measure": "D000198_2", "ValueAttribute": "None", "Value": 884.4, "StringValue": None, "Perioden": "1998MM01"},
    {"Id": 1, "Measure": "D000287", "ValueAttribute": "None", "Value": 714, "StringValue": None, "Perioden": "1998MM01"},
    {"Id": 4, "Measure": "D000295_2", "ValueAttribute": "Impossible", "Value": None, "StringValue": None, "Perioden": "1998MM01"},
]
#: Section 3, Properties [R CD 37789ksz]: its fields, in order.
RECORDED_PROPERTIES_FIELDS = [
    "@odata.context", "Identifier", "Title", "Description", "Language", "Authority", "Modified", "ReleaseDate",
    "ModificationDate", "TemporalCoverage", "Catalog", "Publisher", "ContactPoint", "Version", "VersionNotes",
    "VersionReason", "Frequency", "Status", "ObservationCount", "ObservationsModified", "DatasetType", "GraphTypes",
    "License", "Source", "Summary", "LongDescription", "Provenance", "RelatedSources", "Distributions",
]  # fmt: skip
#: Section 3, Dimensions [R CD 37789ksz], with this mirror's URLs.
RECORDED_PERIODEN_DIMENSION = {
    "@odata.type": "#Cbs.Ccb.Models.TimeDimension", "Identifier": "Perioden", "Title": "Perioden", "Description": None,
    "MapYear": None, "ReleasePolicy": True, "Kind": "TimeDimension", "ContainsGroups": True, "ContainsCodes": True,
    "CodesUrl": "{base}/CBS/37789ksz/PeriodenCodes", "GroupsUrl": "{base}/CBS/37789ksz/PeriodenGroups",
}  # fmt: skip
#: Section 3, MeasureCodes [R CD 37789ksz]: the fields, in order, of {"Identifier":"D000287","Index":3,...}.
RECORDED_MEASURE_FIELDS = ["Identifier", "Index", "Title", "Description", "MeasureGroupId", "DataType", "Unit", "Decimals", "PresentationType"]
#: PeriodenCodes [R CD 37789ksz, codes-Perioden.json]: the first month and the first year of the real code list.
RECORDED_PERIODEN_CODES = [
    {"Identifier": "1998MM01", "Index": 1, "Title": "1998 januari", "Description": "", "DimensionGroupId": "0", "Status": "Definitief"},
    {"Identifier": "1998JJ00", "Index": 13, "Title": "1998", "Description": "", "DimensionGroupId": "1", "Status": "Definitief"},
]
#: Section 3, a provisional period [R CD]: its fields (a Title without '*').
RECORDED_PROVISIONAL = {"Identifier": "2026MM02", "Index": 366, "Title": "2026 februari", "Description": "Voorlopige cijfers", "DimensionGroupId": "0", "Status": "Voorlopig"}
#: Section 3, a Datasets row [R JL]: its fields, in order (current rows also carry Distributions [R CD]).
RECORDED_DATASET_FIELDS = [
    "Identifier", "Catalog", "VersionReason", "Version", "VersionNotes", "Status", "ObservationsModified", "Modified",
    "DatasetType", "ObservationCount", "Title", "Language", "Description", "Distributions",
]  # fmt: skip


@pytest.fixture(scope="module")
def mirror(statline_root: Path) -> Iterator[StatLineMirror]:
    with StatLineMirror(statline_root, v4_page_size=1_000) as running:
        yield running


def get(mirror: StatLineMirror, path: str, **params: str) -> requests.Response:
    return requests.get(f"{mirror.v4_url}{path}", params=params, timeout=30)


def json_of(mirror: StatLineMirror, path: str, **params: str) -> dict:
    response = get(mirror, path, **params)
    assert response.status_code == 200, response.text
    assert response.headers["OData-Version"] == "4.0"
    assert response.headers["Content-Type"].startswith("application/json; odata.metadata=minimal")
    return response.json()


def test_observations_have_the_recorded_shape_and_values(mirror):
    first = json_of(mirror, "/CBS/37789ksz/Observations", **{"$top": "5"})
    assert first["@odata.context"] == f"{mirror.v4_url}/CBS/37789ksz/$metadata#Observations"
    cells = {cell["Id"]: cell for cell in first["value"]}
    for recorded in RECORDED_OBSERVATIONS:
        assert cells[recorded["Id"]] == recorded
        assert list(cells[recorded["Id"]]) == list(recorded)  # field order too
    assert type(cells[1]["Value"]) is int  # an integral Double is written without fraction, as .NET does


def test_properties_is_a_singleton_with_the_recorded_fields(mirror):
    properties = json_of(mirror, "/CBS/37789ksz/Properties")
    assert list(properties) == RECORDED_PROPERTIES_FIELDS
    assert properties["@odata.context"] == f"{mirror.v4_url}/CBS/37789ksz/$metadata#Properties"
    assert properties["Modified"] == properties["ObservationsModified"] == "2025-04-23T02:00:00+02:00"
    assert (properties["Version"], properties["Frequency"], properties["Catalog"]) == ("202504230200", "Per maand", "CBS")
    assert (properties["ObservationCount"], properties["DatasetType"]) == (352 * 18, "Numeric")
    assert json_of(mirror, "/CBS/86059NED/Properties")["DatasetType"] == "Mixed"


def test_dimensions_codes_and_groups_have_the_recorded_shape(mirror):
    (perioden,) = json_of(mirror, "/CBS/37789ksz/Dimensions")["value"]
    recorded = {k: v.format(base=mirror.v4_url) if isinstance(v, str) else v for k, v in RECORDED_PERIODEN_DIMENSION.items()}
    assert list(perioden) == list(recorded)
    assert {k: v for k, v in perioden.items() if k != "Description"} == {k: v for k, v in recorded.items() if k != "Description"}
    codes = json_of(mirror, "/CBS/37789ksz/PeriodenCodes")["value"]
    assert codes[0] == RECORDED_PERIODEN_CODES[0] and codes[12] == RECORDED_PERIODEN_CODES[1]
    provisional = [code for code in codes if code["Status"] == "Voorlopig"]
    assert [c["Identifier"] for c in provisional] == ["2024MM11", "2024MM12", "2024JJ00", "2025MM01"]
    assert all(list(c) == list(RECORDED_PROVISIONAL) and not c["Title"].endswith("*") for c in provisional)  # v3: '2024*'
    groups = json_of(mirror, "/CBS/37789ksz/PeriodenGroups")["value"]
    assert [(g["Id"], g["Title"]) for g in groups] == [("0", "Maanden"), ("1", "Jaren")]  # real 37789ksz: MM=0, JJ=1
    geo = json_of(mirror, "/CBS/83450NED/Dimensions")["value"][1]
    assert (geo["@odata.type"], geo["Kind"], geo["ContainsGroups"], geo["GroupsUrl"]) == ("#Cbs.Ccb.Models.GeoDimension", "GeoDimension", False, None)
    plain = json_of(mirror, "/CBS/83450NED/Dimensions")["value"][0]
    assert "@odata.type" not in plain and plain["Kind"] == "Dimension"


def test_measure_codes_are_the_real_ones_for_37789ksz_and_x_numbers_elsewhere(mirror):
    measures = json_of(mirror, "/CBS/37789ksz/MeasureCodes")["value"]
    assert all(list(m) == RECORDED_MEASURE_FIELDS for m in measures)
    assert [m["Identifier"] for m in measures] == list(MEASURES_37789KSZ.values())
    assert measures[7]["Identifier"] == "D007076_2" and measures[8]["Identifier"] == "M006400"
    recipients = json_of(mirror, "/CBS/83450NED/MeasureCodes('X000002')")
    assert recipients["Title"] == "Bijstandontvangers" and recipients["@odata.context"].endswith("#MeasureCodes/$entity")
    groups = json_of(mirror, "/CBS/86059NED/MeasureGroups")["value"]
    assert groups[:2] == [
        {"Id": "G000001", "Index": 1, "Title": "Gemeente", "ParentId": None},
        {"Id": "G000005", "Index": 5, "Title": "Arbeidsmarktregio's", "ParentId": None},
    ]
    code = json_of(mirror, "/CBS/86059NED/MeasureCodes('X000001')")
    assert (code["Title"], code["MeasureGroupId"], code["DataType"]) == ("Code", "G000001", "String")


def test_service_document_lists_sets_in_the_recorded_order(mirror):
    names = [(e["name"], e["kind"]) for e in json_of(mirror, "/CBS/37789ksz")["value"]]
    assert names == [
        ("MeasureCodes", "EntitySet"), ("Dimensions", "EntitySet"), ("PeriodenGroups", "EntitySet"),
        ("PeriodenCodes", "EntitySet"), ("Observations", "EntitySet"), ("Properties", "Singleton"),
    ]  # fmt: skip
    gebieden = [e["name"] for e in json_of(mirror, "/CBS/86059NED")["value"]]
    assert gebieden == ["MeasureCodes", "MeasureGroups", "Dimensions", "RegioSCodes", "Observations", "Properties"]
    assert [e["name"] for e in json_of(mirror, "")["value"]] == ["Catalogs", "Datasets"]


def test_keys_are_unpadded_and_text_cells_use_string_value(mirror):
    # v3: 'GM0363 ' in Regiokenmerken (7 wide), 'GM0363' in RegioS; a padded key matches nothing
    amsterdam = json_of(mirror, "/CBS/83747NED/Observations", **{"$filter": "Regiokenmerken eq 'GM0363' and Measure eq 'X000002'"})
    assert [c["Regiokenmerken"] for c in amsterdam["value"]] == ["GM0363"] * 3
    padded = json_of(mirror, "/CBS/83747NED/Observations", **{"$filter": "Regiokenmerken eq 'GM0363 '"})
    assert padded["value"] == []
    code = json_of(mirror, "/CBS/86059NED/Observations", **{"$filter": "Measure eq 'X000001'", "$top": "1"})["value"][0]
    assert code["Value"] is None and code["StringValue"].rstrip().startswith("GM") and code["ValueAttribute"] == "None"


def test_observations_page_at_the_set_size_with_an_absolute_next_link(mirror):
    url, cells, pages = f"{mirror.v4_url}/CBS/37789ksz/Observations?$count=true", [], 0
    while url:
        body = requests.get(url, timeout=30).json()
        assert body["@odata.count"] == 6336 and list(body)[:3] == ["@odata.context", "@odata.count", "value"]
        cells += body["value"]
        url, pages = body.get("@odata.nextLink"), pages + 1
        assert url is None or url.startswith(f"{mirror.base_url}/odata/v1/CBS/37789ksz/Observations?$count=true")
    assert pages == 7 and [c["Id"] for c in cells] == list(range(6336))
    filtered = json_of(mirror, "/CBS/37789ksz/Observations", **{"$filter": "contains(Perioden,'MM')", "$top": "1500"})
    assert len(filtered["value"]) == 1000
    assert filtered["@odata.nextLink"] == f"{mirror.v4_url}/CBS/37789ksz/Observations?$filter=contains(Perioden,'MM')&$top=500&$skip=1000"
    # metadata sets are not paged at the Observations page size
    assert len(json_of(mirror, "/CBS/70059ned/PeriodenCodes")["value"]) == 72
    assert requests.get(f"{mirror.v4_url}/CBS/37789ksz/Observations/$count", timeout=30).text == "6336"


def test_datasets_catalogue_answers_for_every_table_in_one_response(mirror, statline_root):
    body = json_of(mirror, "/Datasets")
    assert "@odata.nextLink" not in body
    tables = sorted(p.name for p in statline_root.iterdir() if (p / "TableInfos.json").is_file())
    assert [row["Identifier"] for row in body["value"]] == tables
    assert all(list(row) == RECORDED_DATASET_FIELDS for row in body["value"])
    selected = json_of(mirror, "/CBS/Datasets", **{"$select": "Identifier,Modified", "$filter": "Identifier eq '37789ksz'"})
    assert selected["@odata.context"].endswith("$metadata#Datasets(Identifier,Modified)")
    assert selected["value"] == [{"Identifier": "37789ksz", "Modified": "2025-04-23T02:00:00+02:00"}]


def test_modified_override_reaches_properties_and_datasets_with_the_winter_offset(statline_root):
    with StatLineMirror(statline_root) as mirror:
        mirror.set_modified("37789ksz", "2026-01-01T02:00:00")
        assert json_of(mirror, "/CBS/37789ksz/Properties")["Modified"] == "2026-01-01T02:00:00+01:00"
        row = json_of(mirror, "/Datasets", **{"$filter": "Identifier eq '37789ksz'"})["value"][0]
        assert (row["Modified"], row["Version"]) == ("2026-01-01T02:00:00+01:00", "202601010200")
        records = mirror.requests_for("37789ksz", "Properties")
        assert [(r.api, r.status) for r in records] == [("v4", 200)] and records[0].user_agent.startswith("python-requests/")


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/CBS/37789KSZ/Properties", {}, 404),  # ids are case-sensitive
        ("/CBS/37789ksz/observations", {}, 404),  # so are entity sets
        ("/CBS/37789ksz/MeasureCodes('X000001')", {}, 404),
        ("/CBS/37789ksz/$metadata", {}, 501),
        ("/CBS/37789ksz/Observations", {"$select": "Id,Onbekend"}, 400),
        ("/CBS/37789ksz/Observations", {"$filter": "substringof('MM',Perioden)"}, 400),  # v3 only
        ("/CBS/37789ksz/Observations", {"$filter": "Perioden gt 2020-01-01T00:00:00Z"}, 400),
        ("/CBS/37789ksz/Observations", {"$expand": "Measure"}, 400),
        ("/ODataFeed/odata/37789ksz/Observations", {}, 404),  # v3 paths stay v3
    ],
)
def test_errors_are_odata_v4_error_bodies(mirror, path, params, status):
    url = f"{mirror.v4_url}{path}" if not path.startswith("/OData") else f"{mirror.base_url}{path}"
    response = requests.get(url, params=params, timeout=30)
    assert response.status_code == status
    if path.startswith("/CBS"):
        assert set(response.json()["error"]) == {"code", "message"}


def test_faults_apply_to_v4_requests(statline_root):
    with StatLineMirror(statline_root, v4_page_size=1_000) as mirror:
        fault = mirror.add_fault("status", status=503, table="37789ksz", endpoint="Observations", skip=1000, retry_after=2)
        first = requests.get(f"{mirror.v4_url}/CBS/37789ksz/Observations", timeout=30).json()
        failed = requests.get(first["@odata.nextLink"], timeout=30)
        assert (failed.status_code, failed.headers["Retry-After"], fault.hits) == (503, "2", 1)
        assert "error" in failed.json()
        assert requests.get(first["@odata.nextLink"], timeout=30).status_code == 200


def test_v4_time_uses_the_amsterdam_offset():
    assert v4_time("2025-04-23T02:00:00") == "2025-04-23T02:00:00+02:00"
    assert v4_time("2025-01-23T02:00:00") == "2025-01-23T02:00:00+01:00"


ROW = {"Measure": "D000287", "Perioden": "2024MM01", "Value": 714, "StringValue": None, "Title": "WAO-uitkeringen"}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("Measure eq 'D000287'", True),
        ("Measure ne 'D000287'", False),
        ("(Measure eq 'X' or Measure eq 'D000287') and Perioden ge '2015JJ00'", True),
        ("Value gt 700 and Value le 714", True),
        ("StringValue eq null", True),
        ("not contains(Perioden,'KW')", True),
        ("startswith(Perioden,'2024') and endswith(Perioden,'01')", True),
        ("Measure in ('M006400','D000287')", True),
        ("tolower(Title) eq 'wao-uitkeringen' and length(Perioden) eq 8", True),
        ("substring(Perioden,4,2) eq 'MM' and indexof(Title,'-') eq 3", True),
        ("concat(Perioden,'x') eq '2024MM01x' and trim(' a ') eq 'a'", True),
        ("Value gt 'a'", False),  # no order between a number and text
    ],
)
def test_v4_filter_dialect(expression, expected):
    assert compile_filter(expression, columns=list(ROW))(ROW) is expected


@pytest.mark.parametrize(
    "expression",
    ["substringof('a',Measure)", "Onbekend eq 1", "Measure eq", "Perioden gt 2020-01-01", "length(Measure,1) eq 1", "(Measure eq 'a'"],
)
def test_v4_filter_rejects_what_it_does_not_support(expression):
    with pytest.raises(V4FilterError):
        compile_filter(expression, columns=list(ROW))
