"""Tests for the local StatLine mirror, mostly through the real cbsodata 1.3.5 client."""

from __future__ import annotations

import http.client
import itertools
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

import cbsodata
import pytest
import requests

from tests.statline_mirror import (
    FilterError,
    RequestRecord,
    StatLineMirror,
    compile_filter,
    write_table,
)

MIRROR_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "statline"
TABLE = "99001TST"
GESLACHT = [{"Key": "T001038", "Title": "Totaal mannen en vrouwen"}, {"Key": "3000   ", "Title": "Mannen"}]
REGIOS = [{"Key": "NL01  ", "Title": "Nederland"}, {"Key": "GM0363", "Title": "Amsterdam"}]
PERIODEN = [
    {"Key": "2023JJ00", "Title": "2023"},
    {"Key": "2024JJ00", "Title": "2024*", "Status": "Voorlopig"},
]
TOPICS = [
    {"Key": "Beroepsbevolking_1", "Title": "Beroepsbevolking", "Datatype": "Long", "Unit": "x 1 000",
     "Decimals": 0},
    {"Key": "Werkloosheid_2", "Title": "Werkloosheid", "Datatype": "Double", "Unit": "%", "Decimals": 1},
    {"Key": "Code_3", "Title": "Code", "Datatype": "String", "Unit": "code", "Decimals": 0},
]
ROWS = [
    {
        "Geslacht": geslacht["Key"],
        "RegioS": regio["Key"],
        "Perioden": periode["Key"],
        "Beroepsbevolking_1": 100 * index,
        "Werkloosheid_2": None if index == 7 else 3.5 + index,
        "Code_3": f"{regio['Key'].strip():<10}",
    }
    for index, (geslacht, regio, periode) in enumerate(itertools.product(GESLACHT, REGIOS, PERIODEN))
]
MODIFIED = "2025-04-23T02:00:00"


def typed_url(mirror: StatLineMirror, endpoint: str = "TypedDataSet") -> str:
    return f"{mirror.base_url}/ODataFeed/odata/{TABLE}/{endpoint}"


@pytest.fixture
def table_root(tmp_path: Path) -> Path:
    write_table(
        tmp_path,
        TABLE,
        dimensions={"Geslacht": GESLACHT, "RegioS": REGIOS, "Perioden": PERIODEN},
        time_dimension="Perioden",
        geo_dimension="RegioS",
        topics=TOPICS,
        rows=ROWS,
        modified=MODIFIED,
        title="Beroepsbevolking; synthetisch",
    )
    return tmp_path


@pytest.fixture
def mirror(table_root: Path) -> Iterator[StatLineMirror]:
    with StatLineMirror(table_root) as running:
        yield running


@pytest.fixture
def paged_mirror(table_root: Path) -> Iterator[StatLineMirror]:
    with StatLineMirror(table_root, page_size=2) as running:
        yield running


@pytest.fixture
def point_cbsodata(monkeypatch: pytest.MonkeyPatch):
    """Point cbsodata at a mirror; monkeypatch restores catalog_url, use_https and requests afterwards."""

    def point(target: StatLineMirror) -> StatLineMirror:
        monkeypatch.setattr(cbsodata.options, "catalog_url", target.catalog_url)
        monkeypatch.setattr(cbsodata.options, "use_https", False)
        monkeypatch.setattr(cbsodata.options, "requests", {"proxies": {"http": None, "https": None}})
        return target

    return point


@pytest.fixture
def cbs(mirror: StatLineMirror, point_cbsodata) -> StatLineMirror:
    return point_cbsodata(mirror)


@pytest.fixture
def cbs_paged(paged_mirror: StatLineMirror, point_cbsodata) -> StatLineMirror:
    return point_cbsodata(paged_mirror)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    """A pooled keep-alive session that ignores proxy settings from the environment."""
    with requests.Session() as pooled:
        pooled.trust_env = False
        yield pooled


# --------------------------------------------------------------------------------------------- write_table


def read(folder: Path, name: str) -> dict:
    return json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))


def test_write_table_writes_the_mirror_layout(table_root: Path) -> None:
    folder = table_root / TABLE
    endpoints = ["TableInfos", "UntypedDataSet", "TypedDataSet", "DataProperties", "CategoryGroups",
                 "Geslacht", "RegioS", "Perioden"]
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        f"{name}.json" for name in ["_root", *endpoints] if name != "UntypedDataSet"
    )
    canonical = f"https://opendata.cbs.nl/ODataFeed/OData/{TABLE}"
    root = read(folder, "_root")
    assert root["odata.metadata"] == f"{canonical}/$metadata"
    assert [entry["name"] for entry in root["value"]] == endpoints
    assert root["value"][0]["url"] == f"{canonical}/TableInfos"

    properties = read(folder, "DataProperties")
    assert properties["odata.metadata"] == f"{canonical}/$metadata#Cbs.OData.WebAPI.DataProperties"
    assert [prop["odata.type"] for prop in properties["value"]] == [
        "Cbs.OData.Dimension", "Cbs.OData.GeoDimension", "Cbs.OData.TimeDimension",
        "Cbs.OData.Topic", "Cbs.OData.Topic", "Cbs.OData.Topic",
    ]
    assert properties["value"][2]["ReleasePolicy"] is True
    assert properties["value"][1]["MapYear"] == 2025
    assert properties["value"][4] == {
        "odata.type": "Cbs.OData.Topic", "ID": 4, "Position": 4, "ParentID": None, "Type": "Topic",
        "Key": "Werkloosheid_2", "Title": "Werkloosheid", "Description": "", "Datatype": "Double", "Unit": "%",
        "Decimals": 1, "Default": "Impossible", "PresentationType": "Absolute",
    }

    assert read(folder, "Perioden")["value"][1] == {
        "Key": "2024JJ00", "Title": "2024*", "Description": "Voorlopige cijfers", "Status": "Voorlopig",
    }
    assert read(folder, "RegioS")["value"][0] == {
        "Key": "NL01  ", "Title": "Nederland", "Description": "", "CategoryGroupID": None,
    }
    assert read(folder, "CategoryGroups")["value"] == []
    info = read(folder, "TableInfos")["value"][0]
    assert (info["Identifier"], info["Modified"]) == (TABLE, MODIFIED)
    assert info["Title"] == "Beroepsbevolking; synthetisch"
    typed = read(folder, "TypedDataSet")["value"]
    assert [row["ID"] for row in typed] == list(range(len(ROWS)))
    assert list(typed[0]) == ["ID", "Geslacht", "RegioS", "Perioden", *(topic["Key"] for topic in TOPICS)]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"Geslacht": "T001038", "RegioS": "NL01", "Perioden": "2023JJ00"}, "RegioS='NL01' is not a category"),
        ({"Geslacht": "T001038", "RegioS": "NL01  ", "Perioden": "2023JJ00", "Extra": 1}, "unknown columns"),
    ],
)
def test_write_table_rejects_rows_that_do_not_fit(tmp_path: Path, row: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        write_table(
            tmp_path, TABLE, dimensions={"Geslacht": GESLACHT, "RegioS": REGIOS, "Perioden": PERIODEN},
            topics=TOPICS, rows=[row],
        )


# --------------------------------------------------------------------------------------------- cbsodata


def test_get_data_downloads_typed_data_and_maps_keys_to_titles(cbs: StatLineMirror) -> None:
    rows = cbsodata.get_data(TABLE)

    assert len(rows) == len(ROWS)
    assert rows[0] == {
        "ID": 0, "Geslacht": "Totaal mannen en vrouwen", "RegioS": "Nederland", "Perioden": "2023",
        "Beroepsbevolking_1": 0, "Werkloosheid_2": 3.5, "Code_3": "NL01      ",
    }
    assert rows[7]["Werkloosheid_2"] is None
    assert cbs.count(TABLE, "TypedDataSet") == 1
    assert cbs.count(TABLE, "UntypedDataSet") == 0
    assert cbs.data_rows_served(TABLE) == len(ROWS)


def test_get_data_typed_true_serves_the_generated_untyped_dataset(cbs: StatLineMirror) -> None:
    rows = cbsodata.get_data(TABLE, typed=True)

    assert cbs.count(TABLE, "UntypedDataSet") == 1
    assert [(row["Beroepsbevolking_1"], row["Werkloosheid_2"]) for row in rows[6:]] == [
        ("     600", "     9.5"),
        ("     700", "       ."),
    ]
    assert rows[0]["Code_3"] == "NL01      "
    assert rows[0]["Perioden"] == "2023"


def test_get_info_and_get_meta(cbs: StatLineMirror) -> None:
    info = cbsodata.get_info(TABLE)
    assert (info["Identifier"], info["Modified"]) == (TABLE, MODIFIED)

    properties = cbsodata.get_meta(TABLE, "DataProperties")
    assert [(prop["Key"], prop["Type"]) for prop in properties[:3]] == [
        ("Geslacht", "Dimension"), ("RegioS", "GeoDimension"), ("Perioden", "TimeDimension"),
    ]
    assert [period["Status"] for period in cbsodata.get_meta(TABLE, "Perioden")] == ["Definitief", "Voorlopig"]


@pytest.mark.parametrize(
    ("filters", "expected_ids"),
    [
        ("RegioS eq 'NL01  '", [0, 1, 4, 5]),
        ("RegioS eq 'NL01'", []),
        ("(RegioS eq 'GM0363' or RegioS eq 'NL01  ') and Perioden eq '2024JJ00'", [1, 3, 5, 7]),
        ("Geslacht eq '3000   ' and (Perioden eq '2023JJ00' or RegioS eq 'GM0363')", [4, 6, 7]),
    ],
)
def test_get_data_filters_compare_keys_exactly(
    cbs: StatLineMirror, filters: str, expected_ids: list[int]
) -> None:
    assert [row["ID"] for row in cbsodata.get_data(TABLE, filters=filters)] == expected_ids


def test_get_data_select_returns_only_the_selected_columns(
    cbs: StatLineMirror, session: requests.Session
) -> None:
    rows = cbsodata.get_data(TABLE, select=["Perioden", "Werkloosheid_2"])
    assert [list(row) for row in rows] == [["Perioden", "Werkloosheid_2"]] * len(ROWS)
    assert rows[1] == {"Perioden": "2024*", "Werkloosheid_2": 4.5}

    body = session.get(typed_url(cbs), params={"$format": "json", "$select": "ID,RegioS"}).json()
    assert body["odata.metadata"].endswith("/$metadata#Cbs.OData.WebAPI.TypedDataSet&$select=ID,RegioS")


def test_get_table_list_lists_every_table_folder(cbs: StatLineMirror) -> None:
    tables = cbsodata.get_table_list()

    assert [(table["Identifier"], table["Modified"]) for table in tables] == [(TABLE, MODIFIED)]
    assert tables[0]["FeedUrl"] == f"{cbs.base_url}/ODataFeed/OData/{TABLE}"
    assert cbs.requests_for(endpoint="Tables")[0].table_id is None


def test_paging_follows_next_links_for_every_entity_set(cbs_paged: StatLineMirror) -> None:
    rows = cbsodata.get_data(TABLE, filters="substringof('JJ', Perioden)")

    assert [row["ID"] for row in rows] == list(range(len(ROWS)))
    pages = cbs_paged.requests_for(TABLE, "TypedDataSet")
    assert [record.query.get("$skip") for record in pages] == [None, "2", "4", "6"]
    assert {record.query["$filter"] for record in pages} == {"substringof('JJ', Perioden)"}
    assert [record.rows for record in pages] == [2, 2, 2, 2]
    assert cbs_paged.count(TABLE, "DataProperties") == 3
    assert cbs_paged.count(TABLE, "Perioden") == 1
    assert cbs_paged.data_rows_served() == len(ROWS)


def test_next_link_is_absolute_and_carries_the_query(
    paged_mirror: StatLineMirror, session: requests.Session
) -> None:
    params = {"$format": "json", "$filter": "Perioden eq '2023JJ00'", "$select": "ID,RegioS", "$top": "3"}
    first = session.get(typed_url(paged_mirror), params=params).json()
    assert first["value"] == [{"ID": 0, "RegioS": "NL01  "}, {"ID": 2, "RegioS": "GM0363"}]
    assert first["odata.nextLink"] == (
        f"{paged_mirror.base_url}/ODataFeed/OData/{TABLE}/TypedDataSet?$format=json"
        "&$filter=Perioden%20eq%20'2023JJ00'&$select=ID,RegioS&$top=1&$skip=2"
    )

    second = session.get(first["odata.nextLink"]).json()
    assert second["value"] == [{"ID": 4, "RegioS": "NL01  "}]
    assert "odata.nextLink" not in second


def test_skip_and_top(mirror: StatLineMirror, session: requests.Session) -> None:
    body = session.get(typed_url(mirror), params={"$format": "json", "$skip": "2", "$top": "3"}).json()
    assert [row["ID"] for row in body["value"]] == [2, 3, 4]
    assert "odata.nextLink" not in body


def test_service_document_urls_are_rewritten_to_the_mirror(
    mirror: StatLineMirror, session: requests.Session
) -> None:
    response = session.get(f"{mirror.base_url}/ODataFeed/odata/{TABLE}/", params={"$format": "json"})

    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert "opendata.cbs.nl" not in response.text
    body = response.json()
    assert body["odata.metadata"] == f"{mirror.base_url}/ODataFeed/OData/{TABLE}/$metadata"
    assert body["value"][2] == {
        "name": "TypedDataSet", "url": f"{mirror.base_url}/ODataFeed/OData/{TABLE}/TypedDataSet",
    }
    assert mirror.requests_for(TABLE, "")[0].rows == len(body["value"])


def test_bodies_are_compact_utf8_json_with_only_feed_urls_rewritten(table_root: Path, session: requests.Session) -> None:
    """The bytes json.dumps(ensure_ascii=False, compact) writes; CBS URLs in any case, within any text,
    point at the mirror when they lead to an OData feed or catalog, and only then."""
    infos = read(table_root / TABLE, "TableInfos")
    infos["value"][0]["Summary"] = (
        "Zie HTTPS://OpenData.CBS.nl/ODataFeed/odata/99001TST/ en https://opendata.cbs.nl/ODataCatalog/Tables; "
        "niet https://opendata.cbs.nl/statline/#/CBS/nl/ — één, 3½ %"
    )
    (table_root / TABLE / "TableInfos.json").write_text(json.dumps(infos), encoding="utf-8")

    with StatLineMirror(table_root) as mirror:
        summary_response = session.get(f"{mirror.base_url}/ODataFeed/odata/{TABLE}/TableInfos?$format=json")
        data_response = session.get(typed_url(mirror), params={"$format": "json"})
        base_url = mirror.base_url

    summary = summary_response.json()["value"][0]["Summary"]
    assert summary == (
        f"Zie {base_url}/ODataFeed/odata/99001TST/ en {base_url}/ODataCatalog/Tables; "
        "niet https://opendata.cbs.nl/statline/#/CBS/nl/ — één, 3½ %"
    )
    for response in (summary_response, data_response):
        compact = json.dumps(response.json(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        assert response.content == compact
    assert [row["Werkloosheid_2"] for row in data_response.json()["value"]][6:8] == [9.5, None]


def test_odata_path_segment_is_case_insensitive(mirror: StatLineMirror, session: requests.Session) -> None:
    response = session.get(f"{mirror.base_url}/ODataFeed/OData/{TABLE}/TableInfos?$format=json")
    assert response.json()["value"][0]["Identifier"] == TABLE


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/ODataFeed/odata/00000XXX/TypedDataSet", "table '00000XXX' does not exist"),
        (f"/ODataFeed/odata/{TABLE}/Regio", f"table '{TABLE}' has no endpoint 'Regio'"),
        (f"/ODataApi/odata/{TABLE}/TypedDataSet", "no such resource"),
    ],
)
def test_unknown_resources_are_404_with_a_json_error(
    mirror: StatLineMirror, session: requests.Session, path: str, message: str
) -> None:
    response = session.get(f"{mirror.base_url}{path}?$format=json")

    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert message in response.json()["odata.error"]["message"]["value"]
    assert mirror.requests_for()[-1].status == 404


@pytest.mark.parametrize(
    "params",
    [
        {"$filter": "Beroepsbevolking_1 gt 5"},
        {"$filter": "Onbekend eq 'x'"},
        {"$filter": "RegioS eq 'NL01  ' and"},
        {"$select": "ID,Onbekend"},
        {"$skip": "-1"},
        {"$orderby": "ID"},
        {"$format": "atom"},
    ],
)
def test_unsupported_query_options_are_400(
    mirror: StatLineMirror, session: requests.Session, params: dict
) -> None:
    response = session.get(typed_url(mirror), params={"$format": "json"} | params)

    assert response.status_code == 400
    assert "odata.error" in response.json()


def test_cbsodata_raises_http_error_for_an_unsupported_filter(cbs: StatLineMirror) -> None:
    with pytest.raises(requests.HTTPError, match="400"):
        cbsodata.get_data(TABLE, filters="Beroepsbevolking_1 gt 5")


@pytest.mark.parametrize(
    ("expression", "expected_ids"),
    [
        ("Code_3 eq 'GM0363    '", [2, 3, 6, 7]),
        ("Beroepsbevolking_1 eq 300", [3]),
        ("Werkloosheid_2 eq 4.5", [1]),
        ("RegioS ne 'NL01  ' and Perioden eq '2024JJ00'", [3, 7]),
        ("startswith(Code_3, 'GM') and substringof('2024', Perioden)", [3, 7]),
        ("Titel eq 'it''s'", []),
    ],
)
def test_compile_filter(expression: str, expected_ids: list[int]) -> None:
    rows = [{"ID": index, "Titel": "its", **row} for index, row in enumerate(ROWS)]
    predicate = compile_filter(expression, columns=rows[0])
    assert [row["ID"] for row in rows if predicate(row)] == expected_ids


@pytest.mark.parametrize(
    "expression",
    [
        "RegioS gt 'A'", "RegioS eq", "RegioS eq 'NL01' or", "(RegioS eq 'A'", "Onbekend eq 'A'",
        "RegioS eq 'A' xor 1", "RegioS eq ~",
    ],
)
def test_compile_filter_rejects_unsupported_expressions(expression: str) -> None:
    with pytest.raises(FilterError):
        compile_filter(expression, columns=["RegioS"])


# --------------------------------------------------------------------------------------------- log, lifecycle


def test_request_log_records_each_request(cbs: StatLineMirror) -> None:
    cbsodata.get_info(TABLE)

    assert cbs.requests_for(TABLE, "TableInfos") == [
        RequestRecord(
            method="GET", path=f"/ODataFeed/odata/{TABLE}/TableInfos", table_id=TABLE, endpoint="TableInfos",
            query={"$format": "json"}, status=200, rows=1, fault=None, api="v3", user_agent=mock.ANY,  # cbsodata sends no User-Agent of its own
        )
    ]
    cbsodata.get_data(TABLE)
    assert cbs.count(TABLE) == 1 + 8
    assert cbs.count(endpoint="") == 1
    cbs.reset_log()
    assert cbs.count() == 0
    assert cbs.data_rows_served() == 0


def test_concurrent_requests_are_all_served_and_logged(mirror: StatLineMirror) -> None:
    def fetch(_: int) -> int:
        with requests.Session() as session:
            session.trust_env = False
            return session.get(typed_url(mirror)).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(fetch, range(24)))

    assert statuses == [200] * 24
    assert mirror.count(TABLE, "TypedDataSet") == 24
    assert mirror.data_rows_served(TABLE) == 24 * len(ROWS)


def test_keep_alive_connection_survives_errors_and_faults(mirror: StatLineMirror) -> None:
    mirror.add_fault("status", status=503, endpoint="DataProperties")
    connection = http.client.HTTPConnection("127.0.0.1", mirror.port)
    try:
        statuses = []
        sockets = []
        for endpoint in ("Nope", "TableInfos", "DataProperties", "DataProperties"):
            connection.request("GET", f"/ODataFeed/odata/{TABLE}/{endpoint}?$format=json")
            response = connection.getresponse()
            response.read()
            assert not response.will_close
            statuses.append(response.status)
            sockets.append(connection.sock)
    finally:
        connection.close()

    assert statuses == [404, 200, 503, 200]
    assert all(sock is sockets[0] for sock in sockets)


def test_lifecycle(table_root: Path) -> None:
    mirror = StatLineMirror(table_root)
    with pytest.raises(RuntimeError, match="not running"):
        mirror.base_url
    with mirror:
        with pytest.raises(RuntimeError, match="already running"):
            mirror.start()
        assert mirror.base_url == f"http://{mirror.catalog_url}"
    mirror.stop()
    with pytest.raises(FileNotFoundError):
        StatLineMirror(table_root / "absent")


# --------------------------------------------------------------------------------------------- faults


def test_status_fault_with_retry_after_then_normal_service(
    mirror: StatLineMirror, session: requests.Session
) -> None:
    fault = mirror.add_fault("status", status=429, retry_after=7, table=TABLE, endpoint="TypedDataSet")

    assert session.get(typed_url(mirror, "TableInfos")).status_code == 200
    limited = session.get(typed_url(mirror))
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "7")
    assert limited.json()["odata.error"]["code"] == "429"
    assert session.get(typed_url(mirror)).status_code == 200
    assert (fault.hits, fault.exhausted) == (1, True)
    assert [(r.status, r.fault, r.rows) for r in mirror.requests_for(TABLE, "TypedDataSet")] == [
        (429, "status", 0), (200, None, len(ROWS)),
    ]


@pytest.mark.parametrize("status", [500, 502, 503, 404])
def test_status_faults_fail_cbsodata_then_it_recovers(cbs: StatLineMirror, status: int) -> None:
    cbs.add_fault("status", status=status, endpoint="TypedDataSet", times=2)

    for _ in range(2):
        with pytest.raises(requests.HTTPError, match=str(status)):
            cbsodata.get_data(TABLE)
    assert len(cbsodata.get_data(TABLE)) == len(ROWS)


def test_fault_on_one_page_of_a_paged_download(cbs_paged: StatLineMirror) -> None:
    fault = cbs_paged.add_fault("status", status=500, table=TABLE, endpoint="TypedDataSet", skip=4)

    with pytest.raises(requests.HTTPError):
        cbsodata.get_data(TABLE)
    assert [(r.query.get("$skip"), r.status) for r in cbs_paged.requests_for(TABLE, "TypedDataSet")] == [
        (None, 200), ("2", 200), ("4", 500),
    ]
    assert fault.hits == 1
    assert len(cbsodata.get_data(TABLE)) == len(ROWS)


def test_forever_fault_until_cleared(mirror: StatLineMirror, session: requests.Session) -> None:
    fault = mirror.add_fault("status", status=502, times=None)

    assert [session.get(typed_url(mirror)).status_code for _ in range(3)] == [502] * 3
    assert (fault.hits, fault.exhausted) == (3, False)
    mirror.clear_faults()
    assert session.get(typed_url(mirror)).status_code == 200


def test_reset_fault_is_a_connection_error(mirror: StatLineMirror, session: requests.Session) -> None:
    mirror.add_fault("reset", endpoint="TypedDataSet")

    with pytest.raises(requests.ConnectionError):
        session.get(typed_url(mirror))
    assert mirror.requests_for(TABLE, "TypedDataSet")[0].status is None
    assert session.get(typed_url(mirror)).status_code == 200


def test_truncated_body_fails_the_read_then_normal_service(
    mirror: StatLineMirror, session: requests.Session
) -> None:
    mirror.add_fault("truncate", endpoint="TypedDataSet")

    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        session.get(typed_url(mirror))
    assert len(session.get(typed_url(mirror)).json()["value"]) == len(ROWS)


def test_malformed_json_is_a_complete_200(cbs: StatLineMirror, session: requests.Session) -> None:
    cbs.add_fault("malformed", endpoint="TableInfos")

    response = session.get(typed_url(cbs, "TableInfos"))
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content)
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert cbsodata.get_info(TABLE)["Identifier"] == TABLE


def test_html_instead_of_json(cbs: StatLineMirror, session: requests.Session) -> None:
    cbs.add_fault("html", table=TABLE)

    response = session.get(typed_url(cbs))
    assert (response.status_code, response.headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    assert response.text.startswith("<!DOCTYPE html>")
    cbs.add_fault("html", table=TABLE)
    with pytest.raises(json.JSONDecodeError):
        cbsodata.get_info(TABLE)
    assert cbsodata.get_info(TABLE)["Identifier"] == TABLE


def test_slow_response_times_out_the_client_then_normal_service(
    mirror: StatLineMirror, session: requests.Session
) -> None:
    mirror.add_fault("slow", seconds=5, endpoint="TypedDataSet")

    with pytest.raises(requests.exceptions.ReadTimeout):
        session.get(typed_url(mirror), timeout=0.2)
    assert session.get(typed_url(mirror), timeout=5).status_code == 200
    assert [(r.fault, r.rows) for r in mirror.requests_for(TABLE, "TypedDataSet")] == [
        ("slow", 0), (None, len(ROWS)),
    ]


def test_latency_combines_with_other_faults(mirror: StatLineMirror, session: requests.Session) -> None:
    mirror.latency(0.01)
    delay = mirror.add_fault("latency", seconds=0.01, endpoint="TypedDataSet")
    failure = mirror.add_fault("status", status=503, endpoint="TypedDataSet")
    unused = mirror.add_fault("reset", endpoint="TypedDataSet")

    assert session.get(typed_url(mirror)).status_code == 503
    assert (delay.hits, failure.hits, unused.hits) == (1, 1, 0)
    assert mirror.requests_for(TABLE, "TypedDataSet")[0].fault == "status"
    assert session.get(typed_url(mirror, "TableInfos")).status_code == 200


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("teapot", {}),
        ("status", {}),
        ("status", {"status": 200}),
        ("reset", {"status": 500}),
        ("reset", {"retry_after": 5}),
        ("latency", {}),
        ("latency", {"seconds": 0}),
        ("slow", {}),
        ("html", {"seconds": 1}),
        ("html", {"times": 0}),
    ],
)
def test_add_fault_rejects_inconsistent_specifications(
    mirror: StatLineMirror, kind: str, options: dict
) -> None:
    with pytest.raises(ValueError):
        mirror.add_fault(kind, **options)


def test_set_modified_changes_table_infos(cbs: StatLineMirror) -> None:
    cbs.set_modified(TABLE, "2026-01-01T02:00:00")
    assert cbsodata.get_info(TABLE)["Modified"] == "2026-01-01T02:00:00"
    assert cbsodata.get_table_list()[0]["Modified"] == "2026-01-01T02:00:00"

    cbs.set_modified(TABLE, None)
    assert cbsodata.get_info(TABLE)["Modified"] == MODIFIED


def test_set_modified_after_requests_changes_mid_run(cbs: StatLineMirror) -> None:
    cbs.set_modified(TABLE, "2026-01-01T02:00:00", after_requests=2)

    assert cbsodata.get_info(TABLE)["Modified"] == MODIFIED
    assert cbsodata.get_table_list()[0]["Modified"] == MODIFIED
    assert cbsodata.get_meta(TABLE, "Perioden")
    assert cbsodata.get_info(TABLE)["Modified"] == "2026-01-01T02:00:00"


# --------------------------------------------------------------------------------------------- real mirror


@pytest.mark.mirror
@pytest.mark.skipif(
    not (MIRROR_ROOT / "37789ksz" / "_root.json").is_file(),
    reason=f"the shared StatLine mirror folder is absent ({MIRROR_ROOT})",
)
def test_real_mirror_serves_37789ksz_completely(point_cbsodata) -> None:
    with StatLineMirror(MIRROR_ROOT, page_size=100) as mirror:
        point_cbsodata(mirror)
        rows = cbsodata.get_data("37789ksz")

        assert len(rows) == 352
        assert [row["ID"] for row in rows] == list(range(352))
        assert rows[0]["Perioden"] == "1998 januari"
        assert rows[0]["TotaalArbeidsongeschiktheidsuitkeringen_1"] == 884.4
        assert mirror.count("37789ksz", "TypedDataSet") == 4
        assert mirror.data_rows_served("37789ksz") == 352
