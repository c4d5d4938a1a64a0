import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from transforms.uwv import (
    FIELD_ALIASES,
    PORTAL_CONNECTIONS,
    PROBLEM_SCHEMA,
    SCHEMAS,
    VACANCIES,
    WWB_REGISTRATIONS,
    find_header_row,
    header_field,
    match_headers,
    problem_lines,
    uwv_table,
)
from transforms.uwv_checks import national_bounds, normalise_region_code

TODAY = dt.date(2020, 6, 30)
VALID = {
    2015: {"0014", "0018", "0363"},
    2016: {"0014", "0018", "0363"},
    2017: {"0014", "0018", "0363"},
    2018: {"0014", "0363", "1952"},
    2019: {"0014", "0363", "1952"},
    2020: {"0014", "0363", "1952"},
}
REGIONS = {
    2015: {"AM01": "Groningen", "AM17": "Zaanstreek/Waterland", "AM18": "Groot Amsterdam"},
    2016: {"AM01": "Groningen", "AM17": "Zaanstreek/Waterland", "AM18": "Groot Amsterdam",
           "AM36": "Noord-Holland Zuid"},
}  # fmt: skip
WWB_HEADERS = ["Gemeentecode", "Peildatum", "Aantal bijstandsontvangers", "Ingeschreven als werkzoekende"]
VAC_HEADERS = ["Arbeidsmarktregio", "Peildatum", "Aantal openstaande vacatures"]
PORTAL_HEADERS = ["Gemeentecode", "Peildatum", "Aangesloten op portaal", "Aangesloten sinds"]


def table(headers, columns, **kwargs):
    cells = pl.DataFrame({f"c{i}": values for i, values in enumerate(columns)}, strict=False)
    return uwv_table(headers, cells, today=TODAY, valid_municipalities=VALID, regions=REGIONS, **kwargs)


def messages(result):
    return result.problems["message"].to_list()


def wwb(codes=("GM0363",), dates=("31-12-2015",), recipients=("41.000",), registered=("20.500",)):
    return table(WWB_HEADERS, [list(codes), list(dates), list(recipients), list(registered)])


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Gemeentecode", "gm_code"),
        ("gemeente code", "gm_code"),
        ("GM-code", "gm_code"),
        ("Code gemeente", "gm_code"),
        ("  GEMEENTECODE ", "gm_code"),
        ("Peildatum", "reference_date"),
        ("Datum", "reference_date"),
        ("Reference date", "reference_date"),
        ("Réference-date", "reference_date"),
        ("Aantal openstaande vacatures", "open_vacancies"),
        ("Vacatures", "open_vacancies"),
        ("Vacatures (aantal)", "open_vacancies"),
        ("Arbeidsmarktregio", "region_code"),
        ("AMR", "region_code"),
        ("Regio", "region_code"),
        ("Aantal bijstandsontvangers", "wwb_recipients"),
        ("WWB", "wwb_recipients"),
        ("Ingeschreven als werkzoekende", "registered_job_seekers"),
        ("Geregistreerd bij UWV", "registered_job_seekers"),
        ("Aangesloten op portaal", "connected"),
        ("Sonar", "connected"),
        ("WBS", "connected"),
        ("Aangesloten (ja/nee)", "connected"),
        ("Aangesloten sinds", "connected_since"),
        ("Gemeentenaam", "municipality_name"),
        ("Opmerking", None),
        ("Vacatures (x 1000)", None),
    ],
)
def test_headers_match_case_accent_space_and_punctuation_insensitively(header, field):
    assert header_field(header) == field


def test_every_alias_means_its_own_column():
    for name, aliases in FIELD_ALIASES.items():
        assert {header_field(alias) for alias in aliases} == {name}


@pytest.mark.parametrize(
    ("headers", "dataset"),
    [
        (VAC_HEADERS, VACANCIES),
        (["Regionaam", "Datum", "Vacatures"], VACANCIES),
        (WWB_HEADERS, WWB_REGISTRATIONS),
        (["Gemeentecode", "Gemeentenaam", *WWB_HEADERS[1:]], WWB_REGISTRATIONS),
        (PORTAL_HEADERS, PORTAL_CONNECTIONS),
        (["GM code", "Reference date", "Connected", "Connected since", ""], PORTAL_CONNECTIONS),
    ],
)
def test_the_kind_is_recognised_from_the_headers(headers, dataset):
    match = match_headers(headers)

    assert match.dataset == dataset
    assert match.problems == ()


@pytest.mark.parametrize(
    ("headers", "fragment", "lists_accepted"),
    [
        (["Gemeentecode", "Peildatum"],
         "cannot tell which kind of UWV file this is: none of the headers ['Gemeentecode', 'Peildatum']", True),
        (["Gemeentecode", "Peildatum", "WWB", "Vacatures"], "ambiguous kind of file", False),
        (["Gemeentecode", "Peildatum", "WWB"], "missing column registered_job_seekers", True),
        (["Gemeentecode", "Peildatum", "WWB", "Ingeschreven bij UWV", "Opmerking"], "unknown column 'Opmerking' (column 5)", True),
        (["Peildatum", "Datum", "WWB", "Ingeschreven bij UWV", "Gemeentecode"],
         "columns 'Peildatum' (column 1) and 'Datum' (column 2) both mean reference_date", False),
        (["Regio", "Gemeentecode", "Peildatum", "WWB", "Ingeschreven bij UWV"],
         "column 'Regio' (column 1, region_code) does not belong in a uwv_wwb_registrations file", False),
    ],
)
def test_header_problems_name_the_headers_found_and_accepted(headers, fragment, lists_accepted):
    found = " ".join(message for _, message in match_headers(headers).problems)

    assert fragment in found
    assert ("accepted headers" in found.lower()) == lists_accepted


def test_header_row_is_found_below_title_rows():
    rows = [
        ["UWV - Openstaande vacatures per arbeidsmarktregio", None, None],
        [None, None, None],
        ["Peildatum: 31-12-2015", None, None],
        ["Arbeidsmarktregio", "Peildatum", "Vacatures"],
        ["AM01", "31-12-2015", "1200"],
    ]

    assert find_header_row(rows) == 3
    assert find_header_row(rows[:3]) is None


def test_wwb_file_is_normalised_with_every_spelling():
    result = table(
        WWB_HEADERS,
        [
            ["GM0363", "14", "0018", "gm0014"],
            ["31-12-2015", "2015-12-31", "1/1/2016", "31/12/2016"],
            ["41.000", "10 500", "1\u00a0600", "10.600,0"],
            ["20.500", "5000", "800", "0"],
        ],
    )

    assert result.ok, messages(result)
    assert_frame_equal(
        result.frame,
        pl.DataFrame(
            {
                "gm_code": ["0014", "0014", "0018", "0363"],
                "reference_date": [dt.date(2015, 12, 31), dt.date(2016, 12, 31), dt.date(2016, 1, 1), dt.date(2015, 12, 31)],
                "wwb_recipients": [10_500, 10_600, 1_600, 41_000],
                "registered_job_seekers": [5_000, 0, 800, 20_500],
            },
            schema=SCHEMAS[WWB_REGISTRATIONS],
        ),
    )
    assert result.headers["wwb_recipients"] == "Aantal bijstandsontvangers"


def test_spreadsheet_cells_arrive_typed():
    cells = pl.DataFrame(
        {
            "code": [363, 14],
            "date": [dt.datetime(2015, 12, 31), dt.datetime(2016, 1, 1)],
            "wwb": [41_000.0, 10_500.0],
            "registered": [20_500, 5_000],
        }
    )

    result = uwv_table(WWB_HEADERS, cells, today=TODAY, valid_municipalities=VALID, regions=REGIONS)

    assert result.ok, messages(result)
    assert result.frame["gm_code"].to_list() == ["0014", "0363"]
    assert result.frame["reference_date"].to_list() == [dt.date(2016, 1, 1), dt.date(2015, 12, 31)]
    assert result.frame["wwb_recipients"].to_list() == [10_500, 41_000]


def test_a_spreadsheet_date_with_a_time_of_day_is_reported_not_cut_to_its_date():
    cells = pl.DataFrame(
        {
            "code": ["0363", "0014"],
            "date": [dt.datetime(2015, 12, 31, 14, 30), dt.datetime(2015, 12, 31)],
            "wwb": [1_000, 1_000],
            "registered": [500, 500],
        }
    )

    result = uwv_table(WWB_HEADERS, cells, today=TODAY, valid_municipalities=VALID, regions=REGIONS)

    assert result.problems.to_dicts() == [
        {"row": 2, "column": "Peildatum", "value": "2015-12-31 14:30:00",
         "message": "a date with a time of day other than 00:00: a date may have at most a time of 00:00"},
    ]


def test_spreadsheet_booleans_and_dates_arrive_typed():
    cells = pl.DataFrame(
        {
            "code": ["GM0014", "GM0363"],
            "date": [dt.date(2016, 1, 1)] * 2,
            "connected": [True, False],
            "since": [dt.datetime(2012, 3, 1), None],
        }
    )

    result = uwv_table(PORTAL_HEADERS, cells, today=TODAY, valid_municipalities=VALID, regions=REGIONS)

    assert result.ok, messages(result)
    assert result.frame["connected"].to_list() == [True, False]
    assert result.frame["connected_since"].to_list() == [dt.date(2012, 3, 1), None]


def test_vacancies_accept_region_codes_and_names_as_cbs_spells_them():
    result = table(
        VAC_HEADERS,
        [
            ["AM1", "groot amsterdam", "Zaanstreek/Waterland", "36", " am 18 "],
            ["31-12-2015", "31-12-2015", "31-12-2015", "31-12-2016", "31-12-2016"],
            ["1.200", "15.000", "2.100", "800", "16.000"],
        ],
    )

    assert result.ok, messages(result)
    assert_frame_equal(
        result.frame,
        pl.DataFrame(
            {
                "region_code": ["AM01", "AM17", "AM18", "AM18", "AM36"],
                "reference_date": [dt.date(2015, 12, 31)] * 3 + [dt.date(2016, 12, 31)] * 2,
                "open_vacancies": [1_200, 2_100, 15_000, 16_000, 800],
            },
            schema=SCHEMAS[VACANCIES],
        ),
    )


def test_portal_yes_no_and_connection_dates():
    result = table(
        PORTAL_HEADERS,
        [
            ["0014", "0018", "0363", "GM0014"],
            ["2016-01-01"] * 3 + ["2017-01-01"],
            ["Ja", "nee", "1", "true"],
            ["01-03-2012", "", "2009-01-01", "01-03-2012"],
        ],
    )

    assert result.ok, messages(result)
    assert result.frame.to_dicts() == [
        {"gm_code": "0014", "reference_date": dt.date(2016, 1, 1), "connected": True, "connected_since": dt.date(2012, 3, 1)},
        {"gm_code": "0014", "reference_date": dt.date(2017, 1, 1), "connected": True, "connected_since": dt.date(2012, 3, 1)},
        {"gm_code": "0018", "reference_date": dt.date(2016, 1, 1), "connected": False, "connected_since": None},
        {"gm_code": "0363", "reference_date": dt.date(2016, 1, 1), "connected": True, "connected_since": dt.date(2009, 1, 1)},
    ]


def test_a_column_marked_with_x_reads_blank_as_no():
    result = table(PORTAL_HEADERS, [["0014", "0363"], ["2016-01-01"] * 2, ["x", ""], ["2012-03-01", ""]])

    assert result.ok, messages(result)
    assert result.frame["connected"].to_list() == [True, False]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "empty: a count is required"),
        ("veel", "not a number"),
        ("12,5", "not a whole number"),
        ("12.5", "not a whole number"),
        ("1,2345", "not a whole number"),
        ("1.23.4", "not a number"),
        ("1 23", "not a number"),
        ("-12", "negative count -12"),
        ("1234567890123456789", "too large"),
    ],
)
def test_bad_counts_are_reported_with_row_column_and_value(value, fragment):
    result = wwb(recipients=(value,), registered=("0",))

    (problem,) = [p for p in result.problems.to_dicts() if p["column"] == "Aantal bijstandsontvangers"]
    assert problem["row"] == 2
    assert problem["value"] == value
    assert fragment in problem["message"]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "empty: a date is required"),
        ("31-02-2015", "not a valid calendar date"),
        ("2015/12/31", "not a date"),
        ("december 2015", "not a date"),
        ("31-12-15", "not a date"),
        ("2015-12-31 14:00", "not a date"),
        ("42369", "not a date"),
    ],
)
def test_bad_dates_are_reported(value, fragment):
    result = wwb(dates=(value,))

    assert [p["column"] for p in result.problems.to_dicts()] == ["Peildatum"]
    assert fragment in messages(result)[0]


@pytest.mark.parametrize("value", ["misschien", "2", "ja!"])
def test_bad_yes_no_is_reported(value):
    result = table(PORTAL_HEADERS, [["0014"], ["2016-01-01"], [value], [""]])

    assert messages(result) == ["not a yes/no value: expected ja/nee, yes/no, 1/0, true/false or x"]


@pytest.mark.parametrize(
    ("code", "date", "fragment"),
    [
        ("9999", "31-12-2015", "unknown municipality code 9999: not a municipality in any year 2015-2020"),
        ("GM0018", "30-06-2018", "municipality code 0018 no longer existed on 2018-06-30: last valid on 1 January 2017"),
        ("1952", "31-12-2017", "municipality code 1952 did not exist yet on 2017-12-31: first valid on 1 January 2018"),
        ("0363", "31-12-2014", "no list of valid municipality codes for 2014"),
        ("Amsterdam", "31-12-2015", "not a municipality code: expected e.g. GM0363, 0363 or 363"),
        ("", "31-12-2015", "empty: every row needs a municipality code"),
    ],
)
def test_municipality_codes_must_be_valid_on_the_reference_date(code, date, fragment):
    result = wwb(codes=(code,), dates=(date,))

    (message,) = messages(result)
    assert fragment in message


@pytest.mark.parametrize(
    ("region", "date", "fragment"),
    [
        ("AM36", "31-12-2015", "labour-market region code AM36 did not exist yet on 2015-12-31: first valid on 1 January 2016"),
        ("Noord-Holland Zuid", "31-12-2015", "labour-market region Noord-Holland Zuid is not a region in 2015 (it is one in 2016)"),
        ("Utrecht", "31-12-2015", "unknown labour-market region 'Utrecht'"),
        ("AM99", "31-12-2015", "unknown labour-market region code AM99"),
    ],
)
def test_region_codes_and_names_must_be_valid_in_the_reference_year(region, date, fragment):
    result = table(VAC_HEADERS, [[region], [date], ["100"]])

    (message,) = messages(result)
    assert fragment in message


def test_a_year_without_a_region_list_says_which_gebieden_editions_are_landed():
    cells = pl.DataFrame({"region": ["AM01", "Groningen"], "date": ["31-12-2015"] * 2, "vacancies": ["100", "200"]})
    regions = {2014: REGIONS[2015], 2016: REGIONS[2016], 2017: REGIONS[2016]}

    result = uwv_table(VAC_HEADERS, cells, today=TODAY, valid_municipalities=VALID, regions=regions)

    assert messages(result) == [
        "no 'Gebieden in Nederland' edition for 2015 is landed, so the labour-market regions of that year are not "
        "known (editions landed: 2014, 2016-2017); land it with `werkregio refresh --table regions` (the "
        "editions are listed in sources/cbs/catalog.py)"
    ] * 2  # by code and by name


def test_future_dates_are_reported_and_codes_are_not_judged_on_them():
    result = wwb(codes=("9999",), dates=("01-01-2030",))

    assert messages(result) == ["reference date 2030-01-01 is in the future (today is 2020-06-30)"]


def test_registered_job_seekers_cannot_exceed_recipients():
    result = wwb(recipients=("1.000",), registered=("1.200",))

    (problem,) = result.problems.to_dicts()
    assert problem == {
        "row": 2,
        "column": "Ingeschreven als werkzoekende",
        "value": "1.200",
        "message": "1200 registered job seekers is more than the 1000 WWB recipients in "
        "'Aantal bijstandsontvangers': they are a part of the recipients",
    }


def test_duplicate_keys_are_found_across_spellings_of_a_code():
    result = wwb(codes=("GM0363", "14", "363"), dates=("31-12-2015",) * 3, recipients=("10",) * 3, registered=("1",) * 3)

    (problem,) = result.problems.to_dicts()
    assert problem["row"] == 4
    assert problem["message"] == "duplicate key (gm_code 0363, reference_date 2015-12-31): same as row 2"


@pytest.mark.parametrize(
    ("connected", "since", "date", "fragment"),
    [
        ("nee", "01-01-2012", "2016-01-01", "'Aangesloten op portaal' says not connected but there is a connection date 2012-01-01"),
        ("ja", "01-01-2017", "2016-01-01", "connected since 2017-01-01, after the reference date 2016-01-01"),
        ("ja", "01-01-2021", "2016-01-01", "connected since 2021-01-01, which is in the future"),
        ("ja", "31-31-2012", "2016-01-01", "not a valid calendar date"),
    ],
)
def test_connection_dates_must_fit_the_connection(connected, since, date, fragment):
    result = table(PORTAL_HEADERS, [["0014"], [date], [connected], [since]])

    assert [fragment in m for m in messages(result)] == [True]


def test_all_problems_are_collected_in_file_order_and_capped_in_messages():
    bad = 30
    result = wwb(
        codes=["GM0363"] + ["9999"] * bad,
        dates=["31-12-2015"] + [f"{d:02d}-01-2016" for d in range(1, bad + 1)],
        recipients=["100"] + ["-1"] * bad,
        registered=["10"] * (bad + 1),
    )

    assert result.problems.height == 2 * bad
    assert result.problems["row"].to_list() == sorted(result.problems["row"].to_list())
    assert result.problems.schema == pl.Schema(PROBLEM_SCHEMA)
    lines = problem_lines(result.problems, limit=5)
    assert len(lines) == 6
    assert lines[0] == (
        "row 3, column 'Gemeentecode', value '9999': unknown municipality code 9999: "
        "not a municipality in any year 2015-2020"
    )
    assert lines[-1] == f"... and {2 * bad - 5} more problem(s)"


def test_header_only_and_header_problems_give_an_empty_frame_with_the_schema():
    empty = uwv_table(WWB_HEADERS, pl.DataFrame({f"c{i}": [] for i in range(4)}, schema={f"c{i}": pl.String for i in range(4)}),
                      today=TODAY, valid_municipalities=VALID, regions=REGIONS)
    unknown = table(["Gemeentecode", "Peildatum", "Aantal"], [["0363"], ["31-12-2015"], ["3"]])

    assert messages(empty) == ["the file has a header but no data rows"]
    assert empty.frame.schema == pl.Schema(SCHEMAS[WWB_REGISTRATIONS])
    assert unknown.dataset is None and unknown.frame.height == 0
    assert "cannot tell which kind" in messages(unknown)[0]


def test_a_column_without_header_must_be_empty():
    ok = table([*WWB_HEADERS, ""], [["0363"], ["31-12-2015"], ["10"], ["1"], [""]])
    bad = table([*WWB_HEADERS, ""], [["0363"], ["31-12-2015"], ["10"], ["1"], ["note"]])

    assert ok.ok
    assert messages(bad) == ["column 5 has no header but holds values (e.g. 'note')"]


def test_row_numbers_from_the_file_are_used():
    result = wwb(codes=("0363", "9999"), dates=("31-12-2015",) * 2, recipients=("1", "1"), registered=("0", "0"))
    numbered = table(
        WWB_HEADERS, [["0363", "9999"], ["31-12-2015"] * 2, ["1", "1"], ["0", "0"]], row_numbers=[7, 12]
    )

    assert result.problems["row"].to_list() == [3]
    assert numbered.problems["row"].to_list() == [12]


@pytest.mark.parametrize(("code", "expected"), [("AM01", "AM01"), ("am1", "AM01"), ("AM 7", "AM07"), ("1", "AM01"), (35, "AM35")])
def test_normalise_region_code(code, expected):
    assert normalise_region_code(code) == expected


def test_normalise_region_code_rejects_other_codes():
    with pytest.raises(ValueError, match="GM0363"):
        normalise_region_code("GM0363")


def written(value: int, style: str) -> str:
    """``value`` as a file in ``style`` writes it: Dutch (nl, decimal), English (en, en-decimal) or neutral."""
    digits = f"{value:,}"
    return {
        "nl": digits.replace(",", "."),
        "decimal": digits.replace(",", ".") + ",00",
        "en": digits,
        "en-decimal": digits + ".00",
        "space": digits.replace(",", " "),
        "nbsp": digits.replace(",", "\u00a0"),
        "plain": str(value),
    }[style]


SHOWS = {"nl": "1.500", "decimal": "1.500", "en": "1,500", "en-decimal": "1,500", "space": "1500", "nbsp": "1500", "plain": "1500"}
"""A count in each style that reads whole in that style's convention only (or in both, for the neutral ones)."""


@settings(deadline=None)  # a file is parsed per example; no timing is asserted (load from other tests varies)
@given(value=st.integers(min_value=0, max_value=10**15), style=st.sampled_from(sorted(SHOWS)))
def test_every_style_parses_back_to_the_count_in_a_file_that_shows_its_convention(value, style):
    result = wwb(codes=("0363", "0014"), dates=("31-12-2015",) * 2, recipients=(written(value, style), SHOWS[style]), registered=("0", "0"))

    assert result.ok, messages(result)
    assert result.frame.filter(pl.col("gm_code") == "0363")["wwb_recipients"].to_list() == [value]


@settings(deadline=None)
@given(value=st.integers(min_value=0, max_value=10**15), style=st.sampled_from(sorted(SHOWS)))
def test_a_count_is_never_read_as_another_number_when_nothing_shows_the_convention(value, style):
    """Alone in a file, a count is read as the number its writer meant, or rejected naming the cell:
    never the smaller reading (12,000 as 12) or the larger (12.000 meant as twelve, read as 12000)."""
    text = written(value, style)

    result = wwb(recipients=(text,), registered=("0",))

    if result.ok:
        assert result.frame["wwb_recipients"].to_list() == [value]
    else:
        (problem,) = result.problems.to_dicts()
        assert (problem["row"], problem["column"], problem["value"]) == (2, "Aantal bijstandsontvangers", text)
        assert problem["message"].startswith("ambiguous number") and f"is {value} if" in problem["message"]


@pytest.mark.parametrize(
    ("recipients", "expected", "convention"),
    [
        (("12,000", "1,500"), [12_000, 1_500], "English: ',' between thousands"),
        (("12,000", "950.0"), [12_000, 950], "English"),
        (("12.000", "1.500"), [12_000, 1_500], "Dutch: '.' between thousands"),
        (("12.000", "950,0"), [12_000, 950], "Dutch"),
        (("12,000", "1.234.567"), [12, 1_234_567], "Dutch"),  # written Dutch: 12,000 is twelve with a decimal comma
        (("12.000", "1,234,567"), [12, 1_234_567], "English"),
        (("12000", "1500"), [12_000, 1_500], "no count shows a convention"),
    ],
)
def test_a_file_that_shows_its_convention_reads_every_count_in_it(recipients, expected, convention):
    result = wwb(codes=("0363", "0014"), dates=("31-12-2015",) * 2, recipients=recipients, registered=("0", "0"))

    assert result.ok, messages(result)
    by_code = dict(result.frame.select("gm_code", "wwb_recipients").iter_rows())
    assert [by_code["0363"], by_code["0014"]] == expected
    assert convention in result.numbers


def test_an_english_count_with_a_comma_and_three_digits_alone_is_rejected_naming_the_cell_not_read_as_a_thousandth():
    """Issue 22: an English file's "12,000" was read as 12 (a decimal comma) and published."""
    result = table(
        ["Municipality code", "Reference date", "WWB recipients", "Registered job seekers"],
        [["GM0363"], ["2015-12-31"], ["12,000"], ["500"]],
    )

    assert not result.ok
    (problem,) = [p for p in result.problems.to_dicts() if p["message"].startswith("ambiguous")]
    assert (problem["row"], problem["column"], problem["value"]) == (2, "WWB recipients", "12,000")
    assert "'12,000' is 12000 if ',' separates thousands but 12 if it is a decimal mark" in problem["message"]
    assert result.frame["wwb_recipients"].to_list() == [None]


def test_a_file_mixing_both_conventions_is_rejected_naming_a_cell_of_each():
    result = wwb(
        codes=("0363", "0014", "0018"), dates=("31-12-2015",) * 3,
        recipients=("41.500", "10.250", "1,600"), registered=("0", "0", "0"),
    )

    assert not result.ok
    (problem,) = result.problems.to_dicts()
    assert (problem["row"], problem["value"]) == (4, "1,600")
    assert "written in the English: ',' between thousands" in problem["message"]
    assert "row 2 ('Aantal bijstandsontvangers') '41.500' is written in the Dutch" in problem["message"]


def test_spreadsheet_numbers_show_no_convention_and_a_fraction_is_not_whole():
    cells = pl.DataFrame({"code": ["0363", "0014"], "date": ["31-12-2015"] * 2, "wwb": [1.234, 12_000.0], "registered": [0, 0]})

    result = uwv_table(WWB_HEADERS, cells, today=TODAY, valid_municipalities=VALID, regions=REGIONS)

    (problem,) = result.problems.to_dicts()
    assert problem["value"] == "1.234" and "not a whole number" in problem["message"]
    assert result.frame.filter(pl.col("gm_code") == "0014")["wwb_recipients"].to_list() == [12_000]


NAMES = {2015: {"0014": ["Groningen"], "0018": ["Hoogezand-Sappemeer"], "0363": ["Amsterdam"],
                "0373": ["Bergen (NH.)"], "0893": ["Bergen (L.)"], "0518": ["'s-Gravenhage"]}}  # fmt: skip
NAMED_HEADERS = ["Gemeentecode", "Gemeentenaam", "Peildatum", "Aantal bijstandsontvangers", "Ingeschreven als werkzoekende"]
VALID_NAMED = {2015: {"0014", "0018", "0363", "0373", "0893", "0518"}}


def named(codes, names, recipients=None, **kwargs):
    recipients = recipients or ["100"] * len(codes)
    columns = [list(codes), list(names), ["31-12-2015"] * len(codes), list(recipients), ["0"] * len(codes)]
    cells = pl.DataFrame({f"c{i}": values for i, values in enumerate(columns)})
    return uwv_table(NAMED_HEADERS, cells, today=TODAY, valid_municipalities=VALID_NAMED, regions=REGIONS, **kwargs)


def test_a_name_that_is_another_municipalitys_that_year_rejects_the_row():
    """Issue 22: GM0363 named 'Rotterdam' passed without a word."""
    result = named(["GM0363", "0014"], ["Groningen", "Groningen"], municipality_names=NAMES)

    (problem,) = result.problems.to_dicts()
    assert (problem["row"], problem["column"], problem["value"]) == (2, "Gemeentenaam", "Groningen")
    assert "'Groningen' is the name of municipality 0014 in 2015 according to CBS, not of 0363 ('Amsterdam')" in problem["message"]


@pytest.mark.parametrize("name", ["Amsterdam", " amsterdam ", "AMSTERDAM"])
def test_names_are_compared_without_case_spaces_and_accents(name):
    result = named(["0363"], [name], municipality_names=NAMES)

    assert result.ok and result.warnings.height == 0, messages(result)


def test_a_name_without_its_province_fits_and_the_other_provinces_does_not():
    fits = named(["0373", "0893"], ["Bergen", "bergen (l.)"], municipality_names=NAMES)
    wrong = named(["0373"], ["Bergen (L.)"], municipality_names=NAMES)

    assert fits.ok and fits.warnings.height == 0, messages(fits)
    (problem,) = wrong.problems.to_dicts()
    assert "'Bergen (L.)' is the name of municipality 0893" in problem["message"]


def test_a_name_of_no_municipality_is_a_warning_not_a_rejection():
    result = named(["0518"], ["Den Haag"], municipality_names=NAMES)

    assert result.ok, messages(result)
    (warning,) = result.warnings.to_dicts()
    assert (warning["row"], warning["value"]) == (2, "Den Haag")
    assert "not CBS's name of municipality 0518 in 2015 (''s-Gravenhage')" in warning["message"]


def test_without_names_the_name_column_is_not_checked():
    result = named(["0363"], ["Rotterdam"])

    assert result.ok and result.warnings.height == 0


def test_a_region_name_beside_the_code_must_fit_it():
    headers = ["Arbeidsmarktregio", "Regionaam", "Peildatum", "Aantal openstaande vacatures"]
    cells = pl.DataFrame({"a": ["AM01", "AM18"], "b": ["Groot Amsterdam", "groot amsterdam"], "c": ["31-12-2015"] * 2, "d": ["100", "200"]})

    result = uwv_table(headers, cells, today=TODAY, valid_municipalities=VALID, regions=REGIONS)

    (problem,) = result.problems.to_dicts()
    assert (problem["row"], problem["column"]) == (2, "Regionaam")
    assert "'Groot Amsterdam' is the name of labour-market region AM18 in 2015 according to CBS, not of AM01 ('Groningen')" in problem["message"]


BOUNDS = {"wwb_recipients": {2015: (420_000, "CBS 37789ksz 'wwb', 2015JJ00 420,000"), 2016: (440_000, "CBS 37789ksz 'wwb', 2016JJ00 440,000")}}


def test_a_count_above_the_national_total_of_its_year_is_rejected():
    """Issue 22: 5,000,000 WWB recipients in one municipality passed without a word."""
    result = table(WWB_HEADERS, [["0363", "0014"], ["31-12-2015"] * 2, ["5.000.000", "1.500"], ["0", "0"]], national_bounds=BOUNDS)

    (problem,) = result.problems.to_dicts()
    assert (problem["row"], problem["value"]) == (2, "5.000.000")
    assert "5000000 is more than the whole country had (CBS 37789ksz 'wwb', 2015JJ00 420,000)" in problem["message"]


def test_a_year_without_a_national_total_is_bounded_by_the_largest_of_any_year():
    result = table(WWB_HEADERS, [["0363"], ["31-12-2019"], ["450000"], ["0"]], national_bounds=BOUNDS)

    (problem,) = result.problems.to_dicts()
    assert "(CBS 37789ksz 'wwb', 2016JJ00 440,000, the largest of any year)" in problem["message"]


def test_rows_of_one_date_adding_up_to_more_than_the_country_are_a_warning():
    result = table(WWB_HEADERS, [["0363", "0014"], ["31-12-2015"] * 2, ["300000", "200000"], ["0", "0"]], national_bounds=BOUNDS)

    assert result.ok, messages(result)
    (warning,) = result.warnings.to_dicts()
    assert warning["row"] is None and warning["value"] == "500000"
    assert "the 2 rows dated 2015-12-31 add up to 500000, more than the whole country" in warning["message"]


def test_national_bounds_come_from_the_national_series_in_persons():
    national = pl.DataFrame(
        {
            "series": ["wwb", "wwb", "wwb", "ww"],
            "frequency": ["month", "month", "year", "month"],
            "period_start": [dt.date(2015, 1, 1), dt.date(2015, 12, 1), dt.date(2015, 1, 1), dt.date(2015, 1, 1)],
            "period_key": ["2015MM01", "2015MM12", "2015JJ00", "2015MM01"],
            "value": [400.5, 430.0, 415.0, 999.0],
            "unit": ["x 1 000"] * 4,
            "provisional": [False] * 4,
            "source_table": ["37789ksz"] * 4,
        }
    )

    assert national_bounds(national) == {"wwb_recipients": {2015: (430_000, "CBS 37789ksz 'wwb', 2015MM12 430,000")}}
