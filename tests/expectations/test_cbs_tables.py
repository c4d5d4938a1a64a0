import json
from dataclasses import asdict
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from expectations.cbs_tables import dataset_name, suite_and_frame, table_layout
from expectations.runner import Pieces, ValidationFailed, validate
from sources.cbs import catalog
from transforms.regions import MUNICIPALITIES_SCHEMA, region_memberships, valid_codes_by_year
from transforms.validation_frames import (
    change_ratio_column,
    excess_column,
    gm_code_column,
    key_column,
    piece_dimension,
    piece_keys,
    region_code_column,
    region_codes_by_year,
    total_column,
    validation_frame,
    validation_pieces,
)

REPO = Path(__file__).resolve().parents[2]
STATLINE = REPO.parent / "shared" / "data" / "statline"
BATCH = "test@2025-04-23T02:00:00"

VALID = {2022: frozenset({"0363", "0457"}), 2023: frozenset({"0363"})}
"""Weesp (0457) merged into Amsterdam (0363) in 2022: no municipality on 1 January 2023."""
REGIONS = {2022: frozenset({"AM22"}), 2023: frozenset({"AM22"})}

WW = catalog.table("80794ned")
TOTAL, BELOW_AOW = "UitkeringsontvangersTotaal_1", "TotDeAOWLeeftijd_2"
WW_COL, BIJSTAND = WW.series["ww"], WW.series["bijstand_persons"]
WW_SCHEMA = {
    "ID": pl.Int64, "RegioS": pl.String, "Perioden": pl.String,
    TOTAL: pl.Int64, BELOW_AOW: pl.Int64, WW_COL: pl.Int64, BIJSTAND: pl.Int64,
}  # fmt: skip


def ww_frame():
    """80794ned in small: the country, a region and two municipalities over three months.

    Weesp has figures in 2022 and, as CBS publishes it, nulls in 2023 (it no longer existed).
    """
    rows = [
        (region, period, *figures)
        for region, figures_by_period in {
            "NL01  ": [(1_400_000, 1_300_000, 180_000, 350_000)] * 3,
            "AM22  ": [(140_000, 130_000, 20_000, 40_000)] * 3,
            "GM0363": [
                (100_000, 95_000, 15_000, 30_000),
                (101_000, 96_000, 15_500, 30_100),
                (99_000, 94_000, 15_200, 29_900),
            ],
            "GM0457": [(1_500, 1_400, 200, 300), (None, None, None, None), (None, None, None, None)],
        }.items()
        for period, figures in zip(["2022MM12", "2023MM01", "2023MM02"], figures_by_period, strict=True)
    ]
    return pl.DataFrame(
        [(i, *row) for i, row in enumerate(rows)], schema=WW_SCHEMA, orient="row"
    )


def set_value(data, column, row, value):
    return data.with_columns(
        pl.when(pl.int_range(pl.len()) == row).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )


def row_of(data, region, period):
    return data.with_row_index("_i").filter((pl.col("RegioS") == region) & (pl.col("Perioden") == period))["_i"][0]


def run(entry, data, *, valid=VALID, regions=REGIONS, properties=None):
    suite, frame = suite_and_frame(entry, data, valid_codes=valid, region_codes=regions, properties=properties)
    return validate(frame, suite, BATCH)


def failed(report):
    return {(r.column, r.severity) for r in report.records if not r.success}


def critical_message(report):
    with pytest.raises(ValidationFailed) as raised:
        report.raise_for_critical()
    return str(raised.value)


def test_clean_municipal_table_passes_without_warnings():
    report = run(WW, ww_frame())

    assert report.passed
    assert failed(report) == set()
    assert report.dataset == dataset_name(WW) == "cbs_ww_municipal_80794ned"


def test_weesp_without_figures_after_its_merger_is_a_structural_null():
    data = ww_frame()
    frame = suite_and_frame(WW, data, valid_codes=VALID, region_codes=REGIONS)[1]

    assert frame.filter(pl.col("RegioS") == "GM0457")[gm_code_column("RegioS")].to_list() == [None, None, None]


@pytest.mark.parametrize(
    ("region", "period", "example"),
    [
        pytest.param("GM0457", "2023MM01", "GM0457/2023", id="Weesp with a 2023 figure"),
        pytest.param("GM9999", "2022MM12", "GM9999/2022", id="unknown municipality"),
        pytest.param("GM363 ", "2022MM12", "GM363/2022", id="malformed code"),
    ],
)
def test_municipality_code_not_valid_in_the_period_is_critical(region, period, example):
    data = ww_frame()
    i = row_of(data, "GM0457", period)
    data = set_value(set_value(data, "RegioS", i, region), WW_COL, i, 250)

    report = run(WW, data)

    assert failed(report) == {(gm_code_column("RegioS"), "critical")}
    (record,) = report.critical_failures
    assert record.unexpected_sample == (example,)
    message = critical_message(report)
    assert f"cbs_ww_municipal_80794ned ({BATCH}): expect_column_values_to_be_null failed" in message
    assert f"on column '{gm_code_column('RegioS')}'" in message and repr(example) in message


def test_region_code_not_in_the_years_membership_is_critical_unless_structural():
    data = set_value(ww_frame(), "RegioS", 3, "AM99  ")  # AM22 in 2022MM12, with figures

    report = run(WW, data)

    assert failed(report) == {(region_code_column("RegioS"), "critical")}
    assert report.critical_failures[0].unexpected_sample == ("AM99/2022",)
    nulled = data.with_columns(
        pl.when(pl.col("RegioS") == "AM99  ").then(None).otherwise(pl.col(c)).alias(c)
        for c in (TOTAL, BELOW_AOW, WW_COL, BIJSTAND)
    )
    assert run(WW, nulled).passed
    assert run(WW, data, regions=None).passed  # no region membership given: no region check


def test_negative_count_is_critical_and_names_column_and_value():
    report = run(WW, set_value(ww_frame(), BIJSTAND, 6, -40))

    assert failed(report) == {(BIJSTAND, "critical")}
    message = critical_message(report)
    assert f"expect_column_values_to_be_between failed on column '{BIJSTAND}'" in message
    assert "-40" in message


def test_duplicate_key_is_critical_also_when_only_the_padding_differs():
    data = ww_frame()
    i = row_of(data, "AM22  ", "2023MM01")
    duplicate = set_value(set_value(data, "RegioS", i, "GM0363 "), "Perioden", i, "2023MM01")

    report = run(WW, duplicate)

    assert (key_column(["RegioS", "Perioden"]), "critical") in failed(report)
    assert "'GM0363|2023MM01'" in critical_message(report)
    same_id = set_value(data, "ID", 1, 0)
    assert failed(run(WW, same_id)) == {("ID", "critical")}


@pytest.mark.parametrize("key", ["2023M01", "2023MM13", "2023JJ01", None])
def test_bad_period_key_is_critical(key):
    data = set_value(ww_frame(), "Perioden", 11, key)

    report = run(WW, data)

    assert not report.passed
    assert ("Perioden", "critical") in failed(report)
    assert (key or "null") in critical_message(report)


def test_part_exceeding_its_whole_is_critical():
    data = set_value(ww_frame(), WW_COL, 6, 120_000)  # WW above all benefit recipients of Amsterdam

    report = run(WW, data)

    assert failed(report) == {
        (f"{TOTAL}, {WW_COL}", "critical"),
        (f"{BELOW_AOW}, {WW_COL}", "critical"),
        (change_ratio_column(WW_COL), "warning"),  # 15 000 -> 120 000 -> 15 500
    }
    assert "[100000.0, 120000.0]" in critical_message(report)  # Int64 with nulls reaches GX as float64


def test_tripled_figure_is_a_warning_only():
    data = set_value(ww_frame(), BIJSTAND, 7, 90_300)  # Amsterdam 2023MM01: 30 000 -> 90 300 -> 30 000

    report = run(WW, data)

    assert report.passed
    assert failed(report) == {(change_ratio_column(BIJSTAND), "warning")}
    (warning,) = report.warnings
    assert warning.unexpected_sample == ("3.01", json.dumps(29_900 / 90_300))
    report.raise_for_critical()


def test_change_ratio_needs_a_previous_figure_above_zero_and_a_large_enough_one():
    series = [20, 60, 30, 0, 500, 0]  # below 100 / from zero / to zero
    data = pl.DataFrame(
        {"ID": range(6), "RegioS": ["GM0363"] * 6, "Perioden": [f"2023MM0{m}" for m in range(1, 7)], WW_COL: series},
        schema={"ID": pl.Int64, "RegioS": pl.String, "Perioden": pl.String, WW_COL: pl.Int64},
    )

    frame = validation_frame(data, table_layout(WW, data))

    assert frame[change_ratio_column(WW_COL)].to_list() == [None, None, None, None, None, 0.0]


WW_PROPERTIES = [
    {"ID": 0, "Type": "GeoDimension", "Key": "RegioS"},
    {"ID": 1, "Type": "TimeDimension", "Key": "Perioden"},
    *({"ID": i, "Type": "Topic", "Key": key, "Datatype": "Long"} for i, key in enumerate(WW_SCHEMA) if i >= 3),
]


@pytest.mark.parametrize(
    ("dimension", "landed"),
    [
        pytest.param("Perioden", lambda data: data.rename({"Perioden": "Perioden_1"}), id="renamed"),
        pytest.param("RegioS", lambda data: data.drop("RegioS"), id="dropped"),
    ],
)
def test_a_dimension_of_the_data_properties_missing_from_the_data_is_critical(dimension, landed):
    assert run(WW, ww_frame(), properties=WW_PROPERTIES).passed

    report = run(WW, landed(ww_frame()), properties=WW_PROPERTIES)

    assert (dimension, "critical") in failed(report)
    assert f"expect_column_to_exist failed on column '{dimension}'" in critical_message(report)


def test_missing_series_column_is_critical():
    report = run(WW, ww_frame().drop(WW_COL))

    assert (WW_COL, "critical") in failed(report)
    assert "no such column" in critical_message(report)


BIJSTAND_MONTHLY = catalog.table("82015NED")
LEEFVORM = ["LeefvormAlleenstaande_2", "LeefvormAlleenstaandeOuder_3", "LeefvormEchtPaar_4"]


def bijstand_frame(parts):
    rows = [
        (i, "X000001", "GM0363", period, 30_000, *parts)
        for i, period in enumerate(["2023MM01", "2023MM02"])
    ]
    schema = {"ID": pl.Int64, "UitkeringenInRelatieMetDeAOW": pl.String, "RegioS": pl.String, "Perioden": pl.String,
              "AantalBijstandsuitkeringen_1": pl.Int64, **dict.fromkeys(LEEFVORM, pl.Int64)}
    return pl.DataFrame(rows, schema=schema, orient="row")


def test_leefvorm_parts_above_the_total_are_a_warning_beyond_rounding():
    within_rounding = run(BIJSTAND_MONTHLY, bijstand_frame([20_000, 6_010, 4_000]))
    beyond = run(BIJSTAND_MONTHLY, bijstand_frame([20_000, 6_500, 4_000]))

    assert within_rounding.passed and within_rounding.warnings == ()
    assert beyond.passed
    column = excess_column("AantalBijstandsuitkeringen_1", LEEFVORM)
    assert failed(beyond) == {(column, "warning")}
    assert beyond.warnings[0].unexpected_sample == ("500",)


def test_one_leefvorm_above_the_total_is_critical():
    report = run(BIJSTAND_MONTHLY, bijstand_frame([31_000, 0, 0]))

    assert ("AantalBijstandsuitkeringen_1, LeefvormAlleenstaande_2", "critical") in failed(report)


LABOUR = catalog.table("85230NED")
LABOUR_SCHEMA = {"ID": pl.Int64, "Persoonskenmerken": pl.String, "RegioS": pl.String, "Perioden": pl.String,
                 "Beroepsbevolking_2": pl.Int64, "WerkzameBeroepsbevolking_3": pl.Int64, "Werkloosheidspercentage_13": pl.Float64}


def labour_frame():
    """A regional labour-force edition (boundaries of 2021), with 83360NED's unpadded '3000' key."""
    rows = [
        ("T009002", "GM0363", "2020JJ00", 500, 470, 6.0),
        ("T009002", "GM0363", "2021JJ00", 510, 480, 5.9),
        ("T009002", "AM22  ", "2021JJ00", 800, 760, 5.0),
        ("3000", "GM0363", "2021JJ00", 270, 255, 5.6),
    ]
    return pl.DataFrame([(i, *r) for i, r in enumerate(rows)], schema=LABOUR_SCHEMA, orient="row")


def test_labour_force_edition_checks_codes_against_its_geography_year():
    valid = {2021: frozenset({"0363"})}
    regions = {2021: frozenset({"AM22"})}

    assert run(LABOUR, labour_frame(), valid=valid, regions=regions).passed  # also 2020 on 2021 boundaries
    weesp = set_value(labour_frame(), "RegioS", 0, "GM0457")
    report = run(LABOUR, weesp, valid=valid, regions=regions)
    assert report.critical_failures[0].unexpected_sample == ("GM0457/2021",)


def test_labour_force_total_category_must_be_there_and_bound_its_breakdown():
    valid, regions = {2021: frozenset({"0363"})}, {2021: frozenset({"AM22"})}
    no_total = labour_frame().with_columns(pl.col("Persoonskenmerken").replace("T009002", "T009001"))
    above_total = set_value(labour_frame(), "Beroepsbevolking_2", 3, 600)

    assert ("_stripped:Persoonskenmerken", "critical") in failed(run(LABOUR, no_total, valid=valid, regions=regions))
    report = run(LABOUR, above_total, valid=valid, regions=regions)
    assert (f"{total_column('Persoonskenmerken', 'Beroepsbevolking_2')}, Beroepsbevolking_2", "critical") in failed(report)
    assert "[510, 600]" in critical_message(report)


def test_percentage_above_100_is_critical():
    report = run(LABOUR, set_value(labour_frame(), "Werkloosheidspercentage_13", 1, 105.0),
                 valid={2021: frozenset({"0363"})}, regions={2021: frozenset({"AM22"})})

    assert failed(report) == {("Werkloosheidspercentage_13", "critical")}


PROVINCES = catalog.table("71761ned")


def test_revision_year_keys_are_accepted_only_where_periods_are_not_parsed():
    data = pl.DataFrame(
        [(0, "NL01  ", "2001JJ01", 7000), (1, "NL01  ", "2001JJ02", 7100), (2, "NL01  ", "2002JJ00", 7200)],
        schema={"ID": pl.Int64, "RegioS": pl.String, "Perioden": pl.String, "TotaalBeroepsbevolking_2": pl.Int64},
        orient="row",
    )

    assert run(PROVINCES, data).passed
    edition = data.rename({"TotaalBeroepsbevolking_2": "Beroepsbevolking_2"}).with_columns(
        pl.lit("T009002").alias("Persoonskenmerken")
    )
    assert ("Perioden", "critical") in failed(run(LABOUR, edition))


def test_gemeentegrootte_classes_in_regiokenmerken_are_not_areas():
    entry = catalog.table("83747NED")
    data = pl.DataFrame(
        [(0, "20150", "NL01   ", 14_000_000, 500_000), (1, "20150", "GM0363 ", 700_000, 40_000),
         (2, "20150", "AM22   ", 1_000_000, 50_000), (3, "20150", "A007394", 300_000, 19_000)],
        schema={"ID": pl.Int64, "Leeftijd": pl.String, "Regiokenmerken": pl.String, "Inwoners_1": pl.Int64, "Bijstandontvangers_2": pl.Int64},
        orient="row",
    )
    valid, regions = {2016: frozenset({"0363"})}, {2016: frozenset({"AM22"})}

    assert run(entry, data, valid=valid, regions=regions).passed
    report = run(entry, set_value(data, "Bijstandontvangers_2", 1, 800_000), valid=valid, regions=regions)
    assert failed(report) == {("Inwoners_1, Bijstandontvangers_2", "critical")}
    numeric_key = data.with_columns(pl.col("Leeftijd").cast(pl.Int64))
    assert failed(run(entry, numeric_key, valid=valid, regions=regions)) == {("Leeftijd", "critical")}


VACANCIES = catalog.table("80472ned")


def test_industry_above_all_industries_is_critical_for_vacancies():
    data = pl.DataFrame(
        [(0, "T001081", "2023KW01", 400.0), (1, "T001081", "2023KW02", 410.0),
         (2, "301000 ", "2023KW01", 5.0), (3, "301000 ", "2023KW02", 450.0)],
        schema={"ID": pl.Int64, "Bedrijfskenmerken": pl.String, "Perioden": pl.String, "OpenstaandeVacatures_1": pl.Float64},
        orient="row",
    )

    report = run(VACANCIES, data)

    assert failed(report) == {(f"{total_column('Bedrijfskenmerken', 'OpenstaandeVacatures_1')}, OpenstaandeVacatures_1", "critical"),
                              (change_ratio_column("OpenstaandeVacatures_1"), "warning")}
    assert "[410.0, 450.0]" in critical_message(report)


GEBIEDEN = catalog.table("85385NED")
GEBIEDEN_PROPERTIES = [
    {"ID": 0, "Type": "GeoDimension", "Key": "RegioS"},
    {"ID": 1, "Type": "TopicGroup", "Key": "", "Title": "Gemeente"},
    {"ID": 2, "Type": "Topic", "Key": "Code_1", "ParentID": 1, "Datatype": "String"},
    {"ID": 3, "Type": "Topic", "Key": "Naam_2", "ParentID": 1, "Datatype": "String"},
    {"ID": 4, "Type": "TopicGroup", "Key": "", "Title": "Arbeidsmarktregio's"},
    {"ID": 5, "Type": "Topic", "Key": "Code_4", "ParentID": 4, "Datatype": "String"},
    {"ID": 6, "Type": "Topic", "Key": "Naam_5", "ParentID": 4, "Datatype": "String"},
    {"ID": 7, "Type": "Topic", "Key": "Inwonertal_56", "Datatype": "Long"},
]


def gebieden_frame(code="GM0363", region="AM22      "):
    return pl.DataFrame(
        [(0, code[:6].ljust(6), code.ljust(10), "Amsterdam", region, "Groot Amsterdam", 918_000)],
        schema={"ID": pl.Int64, "RegioS": pl.String, "Code_1": pl.String, "Naam_2": pl.String,
                "Code_4": pl.String, "Naam_5": pl.String, "Inwonertal_56": pl.Int64},
        orient="row",
    )


def run_gebieden(data):
    return run(GEBIEDEN, data, properties=GEBIEDEN_PROPERTIES)


def test_gebieden_edition_needs_valid_municipalities_and_region_codes():
    assert run_gebieden(gebieden_frame()).passed
    assert failed(run_gebieden(gebieden_frame(code="GM0457"))) == {(gm_code_column("Code_1"), "critical")}
    assert failed(run_gebieden(gebieden_frame(region="Groot Amsterdam"))) == {("Code_4", "critical")}
    with pytest.raises(ValueError, match="DataProperties"):
        suite_and_frame(GEBIEDEN, gebieden_frame(), valid_codes=VALID, region_codes=None)


def test_validation_frame_keeps_the_landed_rows_and_adds_only_helpers():
    data = ww_frame().reverse()
    layout = table_layout(WW, data)

    frame = validation_frame(data, layout, valid_codes=VALID, region_codes=REGIONS)

    assert_frame_equal(frame.select(data.columns), data)
    assert all(c.startswith("_") for c in set(frame.columns) - set(data.columns))
    assert frame.filter(pl.col("RegioS") == "GM0363")[change_ratio_column(BIJSTAND)].to_list() == [
        29_900 / 30_100, 30_100 / 30_000, None
    ]


def test_a_changed_reference_changes_the_suite_fingerprint():
    from flows.validation import suite_fingerprint

    before = suite_and_frame(WW, ww_frame(), valid_codes=VALID, region_codes=REGIONS)[0]
    after = suite_and_frame(WW, ww_frame(), valid_codes={**VALID, 2023: frozenset({"0363", "0457"})}, region_codes=REGIONS)[0]
    unrelated = suite_and_frame(WW, ww_frame(), valid_codes={**VALID, 2024: frozenset({"0363"})}, region_codes=REGIONS)[0]

    assert suite_fingerprint(before) != suite_fingerprint(after)
    assert suite_fingerprint(before) == suite_fingerprint(unrelated)  # 2024 is not in the data


def test_national_benefits_has_its_own_suite():
    with pytest.raises(ValueError, match="national_benefits"):
        suite_and_frame(catalog.national_benefits(), ww_frame(), valid_codes=VALID, region_codes=REGIONS)


TYPES = {"Long": pl.Int64, "Double": pl.Float64, "Float": pl.Float64, "String": pl.String}
FAMILIES = (catalog.WW_MUNICIPAL, catalog.WWB_MUNICIPAL, catalog.LABOUR_FORCE, catalog.VACANCIES, catalog.REGIONS)
MIRROR_TABLES = [entry for family in FAMILIES for entry in catalog.family(family)]


def load_landed(table_id):
    """TypedDataSet as the landing types it: ID Int64, dimension keys text, topics by Datatype."""
    properties = json.loads((STATLINE / table_id / "DataProperties.json").read_text(encoding="utf-8"))["value"]
    schema = {"ID": pl.Int64}
    for p in properties:
        if p["Type"].endswith("Dimension"):
            schema[p["Key"]] = pl.String
        elif p["Type"] == "Topic":
            schema[p["Key"]] = TYPES[p["Datatype"]]
    rows = json.loads((STATLINE / table_id / "TypedDataSet.json").read_text(encoding="utf-8"))["value"]
    return pl.DataFrame(rows, schema=schema, orient="row"), properties


@pytest.fixture(scope="module")
def reference_codes():
    if not (STATLINE / "MANIFEST.md").is_file():
        pytest.skip(f"the StatLine mirror is not at {STATLINE} (it comes with ../shared)")
    municipalities = pl.read_csv(REPO / "sources" / "reference" / "municipalities.csv", schema=MUNICIPALITIES_SCHEMA)
    first = int(municipalities["valid_from_year"].min())
    valid = valid_codes_by_year(municipalities, range(first, 2026))
    editions = []
    for entry in catalog.family(catalog.REGIONS):
        data, properties = load_landed(entry.table_id)
        editions.append({"year": entry.geography_year, "table_id": entry.table_id, "data": data, "properties": properties})
    return valid, region_codes_by_year(region_memberships(editions))


@pytest.mark.mirror
@pytest.mark.parametrize("entry", MIRROR_TABLES, ids=lambda e: e.table_id)
def test_real_table_passes_its_suite(entry, reference_codes):
    valid, regions = reference_codes
    data, properties = load_landed(entry.table_id)

    suite, frame = suite_and_frame(entry, data, valid_codes=valid, region_codes=regions, properties=properties)
    report = validate(frame, suite, f"{entry.table_id}@2025-04-23T02:00:00")

    assert report.passed, [r.message for r in report.critical_failures]
    assert all(r.element_count == data.height for r in report.records)
    assert {r.column.split(":")[0] for r in report.warnings} <= {"_change_ratio", "_excess"}
    if entry.region_dimension:
        assert any(r.column == gm_code_column(entry.region_dimension) and r.success for r in report.records)


@pytest.mark.mirror
def test_seasonal_ww_on_ameland_gives_the_change_warnings_of_70059ned(reference_codes):
    """The 70059ned warnings on the mirror are Ameland's tourist season (its only real ones)."""
    valid, regions = reference_codes
    entry = catalog.table("70059ned")
    data, properties = load_landed(entry.table_id)
    frame = suite_and_frame(entry, data, valid_codes=valid, region_codes=regions, properties=properties)[1]
    column = change_ratio_column("WWUitkeringenEindeVanDePeriode_9")

    outside = frame.filter((pl.col(column) < 0.5) | (pl.col(column) > 2.0))

    assert outside.height == 18
    assert set(outside["RegioS"]) == {"GM0060"}
    assert frame.filter((pl.col("RegioS") == "GM0060") & (pl.col("Perioden") <= "1998KW04"))[column].to_list() == [
        None, 60 / 210, None, 180 / 50
    ]


# --- large tables: validated in pieces ----------------------------------------------------------

def in_pieces(entry, data, rows_per_piece, *, valid=VALID, regions=REGIONS, properties=None):
    suite, pieces = suite_and_frame(
        entry, data, valid_codes=valid, region_codes=regions, properties=properties, rows_per_piece=rows_per_piece
    )
    assert isinstance(pieces, Pieces)
    return validate(pieces, suite, BATCH)


def as_number(text):
    """A sample value with its numbers as floats ('-40' -> '-40.0', '[1, 2]' -> '[1.0, 2.0]')."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    floats = lambda v: [floats(x) for x in v] if isinstance(v, list) else float(v) if isinstance(v, int) else v  # noqa: E731
    return json.dumps(floats(value))


def without_sample_order(report, *, whole=None):
    """Records with samples as sets of values; a type check's observed dtype may list each piece's dtype.

    Numbers compare as numbers: an integer column with nulls in one piece only comes to GX as
    floats there ('-40.0'), as it does for the whole table, and as integers ('-40') elsewhere.
    """
    rows = [
        {**asdict(r), "unexpected_sample": sorted(map(str, map(as_number, r.unexpected_sample))), "message": None}
        for r in report.records
    ]
    for row, other in zip(rows, whole.records if whole else ()):
        if isinstance(row["observed_value"], list) and row["expectation"].endswith("in_type_list"):
            assert other.observed_value in row["observed_value"]
            row["observed_value"] = other.observed_value
    return rows


def broken_ww_frame():
    """ww_frame with an offender for most checks, in several areas."""
    data = ww_frame()
    i = row_of(data, "AM22  ", "2023MM01")
    data = set_value(set_value(data, "RegioS", i, "GM0363 "), "Perioden", i, "2023MM01")  # key of GM0363 twice
    data = set_value(data, BIJSTAND, row_of(data, "NL01  ", "2023MM02"), -40)
    data = set_value(data, "ID", row_of(data, "GM0457", "2023MM02"), 0)  # ID 0 in NL01 and GM0457
    data = set_value(data, "Perioden", row_of(data, "NL01  ", "2022MM12"), "2022MM13")
    return set_value(data, WW_COL, row_of(data, "GM0363", "2023MM02"), 150_000)  # WW above below-AOW


def test_a_table_in_pieces_gets_the_report_of_the_whole_table():
    data = broken_ww_frame()
    whole = run(WW, data)

    pieced = in_pieces(WW, data, rows_per_piece=3)

    assert without_sample_order(pieced, whole=whole) == without_sample_order(whole)
    assert failed(pieced) == {
        ("ID", "critical"),  # ID 0 in NL01 and in GM0457: found across pieces
        (key_column(["RegioS", "Perioden"]), "critical"),
        (BIJSTAND, "critical"),
        ("Perioden", "critical"),
        (f"{TOTAL}, {WW_COL}", "critical"),
        (f"{BELOW_AOW}, {WW_COL}", "critical"),
        (change_ratio_column(WW_COL), "warning"),  # 15,500 -> 150,000 in GM0363
        (change_ratio_column(BIJSTAND), "warning"),  # 350,000 -> -40 in NL01
    }
    assert "'GM0363|2023MM01'" in critical_message(pieced)


def test_pieces_split_along_the_stripped_area_key():
    data = broken_ww_frame().with_columns(pl.col("RegioS").replace({"GM0457": None}))

    keys = piece_keys(data, "RegioS", rows_per_piece=4)

    assert keys == [["AM22  "], ["GM0363", "GM0363 "], ["NL01  "], [None]]
    assert piece_keys(data, "RegioS", rows_per_piece=7) == [["AM22  ", "GM0363", "GM0363 "], ["NL01  ", None]]
    frames = list(validation_pieces(data, table_layout(WW, data), "RegioS", keys))
    assert [f.height for f in frames] == [2, 4, 3, 3]
    assert sorted(pl.concat(frames)["ID"].to_list()) == sorted(data["ID"].to_list())
    with pytest.raises(ValueError, match="rows_per_piece must be at least 1"):
        piece_keys(data, "RegioS", rows_per_piece=0)


def test_a_small_table_or_one_without_a_dimension_to_split_along_stays_one_frame():
    data = ww_frame()
    _, frame = suite_and_frame(WW, data, valid_codes=VALID, region_codes=REGIONS, rows_per_piece=data.height)
    assert isinstance(frame, pl.DataFrame)
    layout = table_layout(WW, data)
    assert piece_dimension(layout, data.columns) == "RegioS"
    assert piece_dimension(layout, ["ID", "Perioden"]) is None


@pytest.mark.mirror
@pytest.mark.parametrize("table_id", ["70059ned", "80794ned"])
def test_a_real_table_in_pieces_gets_the_report_of_the_whole_table(table_id, reference_codes):
    valid, regions = reference_codes
    entry = catalog.table(table_id)
    data, properties = load_landed(table_id)
    suite, frame = suite_and_frame(entry, data, valid_codes=valid, region_codes=regions, properties=properties)
    whole = validate(frame, suite, BATCH)

    pieced = in_pieces(entry, data, data.height // 7, valid=valid, regions=regions, properties=properties)

    assert without_sample_order(pieced, whole=whole) == without_sample_order(whole)
    if table_id == "70059ned":  # Ameland's seasonal warnings come through
        assert {r.column.split(":")[0] for r in pieced.warnings} == {"_change_ratio"}
