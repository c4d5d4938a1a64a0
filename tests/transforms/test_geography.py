"""transforms.geography: helpers, inline cases, and real municipal changes from the project's change table."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.transforms._geography_data import project_changes, shared_valid_codes
from transforms.geography import (
    crosswalks,
    CHANGE_TABLE_PATH,
    CROSSWALK_SCHEMA,
    UnmappedMunicipalityError,
    boundary_year,
    check_municipal_changes,
    harmonise_counts,
    harmonise_ratio,
    municipalities_by_year,
    municipality_crosswalk,
    normalise_gm_code,
    normalise_gm_code_expr,
)


def crosswalk_frame(rows: list[tuple[str, str, float, bool]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=CROSSWALK_SCHEMA, orient="row")


def counts(rows: list[tuple[str, float | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"gm_code": pl.String, "value": pl.Float64}, orient="row")


def harmonised(rows: list[tuple[str, float | None, bool]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"gm_code": pl.String, "value": pl.Float64, "approximate": pl.Boolean},
                        orient="row")


def crosswalk_rows(from_year: int, to_year: int, from_codes: list[str]) -> pl.DataFrame:
    crosswalk = municipality_crosswalk(project_changes(), from_year, to_year)
    return crosswalk.filter(pl.col("from_code").is_in(from_codes))


def harmonise_real(from_year: int, to_year: int, rows: list[tuple[str, float | None]]) -> pl.DataFrame:
    return harmonise_counts(counts(rows), municipality_crosswalk(project_changes(), from_year, to_year))


def tiny_changes() -> pl.DataFrame:
    """0001 and 0002 merge into 0009 in 2021; 0003 splits 60/40 over 0004 (approximate) and 0009."""
    return pl.DataFrame(
        [
            (2021, "0001", "0009", "merger", 1.0, "exact"),
            (2021, "0002", "0009", "merger", 1.0, "exact"),
            (2021, "0003", "0004", "split", 0.6, "approximate"),
            (2021, "0003", "0009", "split", 0.4, "approximate"),
        ],
        schema=["boundary_year", "old_code", "new_code", "kind", "share", "share_status"],
        orient="row",
    )


TINY_VALID = {2020: {"0001", "0002", "0003", "0004"}, 2021: {"0004", "0009"}}


@pytest.mark.parametrize("raw", ["GM0363", "gm0363", "0363", "363", 363, "GM0363    ", " GM363 "])
def test_normalise_gm_code_accepts_cbs_and_short_forms(raw: str | int) -> None:
    assert normalise_gm_code(raw) == "0363"


@pytest.mark.parametrize("raw", ["AM22", "PV27", "", "GM", "12345", "03a3", None])
def test_normalise_gm_code_rejects_other_codes(raw: object) -> None:
    with pytest.raises(ValueError, match="not a municipality code"):
        normalise_gm_code(raw)  # type: ignore[arg-type]


def test_normalise_gm_code_expr_keeps_what_it_cannot_read() -> None:
    frame = pl.DataFrame({"RegioS": ["GM0003  ", "gm14", "0599", "AM22  ", None]})
    assert frame.select(normalise_gm_code_expr("RegioS"))["RegioS"].to_list() == [
        "0003", "0014", "0599", "AM22  ", None,
    ]


@pytest.mark.parametrize(
    ("date", "expected"),
    [(dt.date(2019, 1, 1), 2019), (dt.date(2010, 3, 18), 2011), (dt.date(2015, 7, 1), 2016),
     (dt.date(2022, 12, 31), 2023), (dt.date(2022, 1, 2), 2023)],
)
def test_boundary_year_applies_the_first_of_january_rule(date: dt.date, expected: int) -> None:
    assert boundary_year(date) == expected


def test_crosswalk_refuses_to_go_backwards() -> None:
    with pytest.raises(ValueError, match="backwards from 2021 to 2020"):
        municipality_crosswalk(tiny_changes(), 2021, 2020, TINY_VALID)


def test_crosswalk_of_a_year_onto_itself_is_the_identity() -> None:
    expected = crosswalk_frame([(code, code, 1.0, False) for code in ("0001", "0002", "0003", "0004")])
    assert_frame_equal(municipality_crosswalk(tiny_changes(), 2020, 2020, TINY_VALID), expected)


def test_crosswalk_merges_and_splits_by_share() -> None:
    expected = crosswalk_frame([
        ("0001", "0009", 1.0, False),
        ("0002", "0009", 1.0, False),
        ("0003", "0004", 0.6, True),
        ("0003", "0009", 0.4, True),
        ("0004", "0004", 1.0, False),
    ])
    assert_frame_equal(municipality_crosswalk(tiny_changes(), 2020, 2021, TINY_VALID), expected)


def test_crosswalk_accepts_valid_codes_as_a_frame() -> None:
    valid = pl.DataFrame({"year": [2020] * 4 + [2021] * 2,
                          "gemeentecode": ["GM0001", "GM0002", "GM0003", "GM0004", "GM0004", "GM0009"]})
    assert_frame_equal(municipality_crosswalk(tiny_changes(), 2020, 2021, valid),
                       municipality_crosswalk(tiny_changes(), 2020, 2021, TINY_VALID))


def test_crosswalk_reports_a_change_missing_from_the_table() -> None:
    valid = {2020: TINY_VALID[2020] | {"0005"}, 2021: TINY_VALID[2021]}
    with pytest.raises(UnmappedMunicipalityError, match="not valid on 1 January 2021: 0005") as raised:
        municipality_crosswalk(tiny_changes(), 2020, 2021, valid)
    assert CHANGE_TABLE_PATH in str(raised.value)


def test_crosswalk_reports_a_new_code_nothing_leads_to() -> None:
    valid = {2020: TINY_VALID[2020], 2021: TINY_VALID[2021] | {"0010"}}
    with pytest.raises(UnmappedMunicipalityError, match="no change up to 2021 leads to them") as raised:
        municipality_crosswalk(tiny_changes(), 2020, 2021, valid)
    assert raised.value.codes == ["0010"]


def test_years_without_changes_keep_the_crosswalk_and_are_still_checked() -> None:
    quiet = {**TINY_VALID, 2022: TINY_VALID[2021], 2023: TINY_VALID[2021]}
    assert_frame_equal(municipality_crosswalk(tiny_changes(), 2020, 2023, quiet),
                       municipality_crosswalk(tiny_changes(), 2020, 2021, TINY_VALID))
    with pytest.raises(UnmappedMunicipalityError, match="no change up to 2022 leads to them"):
        municipality_crosswalk(tiny_changes(), 2020, 2023, {**quiet, 2022: quiet[2022] | {"0010"}})


def test_crosswalk_looks_only_at_the_valid_codes_of_its_own_years() -> None:
    valid = {**TINY_VALID, 2019: {"AM22"}, 2022: {"not a code"}}
    assert_frame_equal(municipality_crosswalk(tiny_changes(), 2020, 2021, valid),
                       municipality_crosswalk(tiny_changes(), 2020, 2021, TINY_VALID))


def test_inconsistent_change_table_is_refused_with_the_file_named() -> None:
    broken = tiny_changes().with_columns(
        share=pl.when(pl.col("new_code") == "0004").then(0.5).otherwise(pl.col("share"))
    )
    with pytest.raises(ValueError, match="do not sum to 1") as raised:
        check_municipal_changes(broken)
    assert CHANGE_TABLE_PATH in str(raised.value)


def test_change_table_needs_boundary_years_that_follow_the_rule() -> None:
    dated = tiny_changes().with_columns(date=pl.lit(dt.date(2021, 6, 1)))  # would be boundary year 2022
    with pytest.raises(ValueError, match="1-January rule"):
        check_municipal_changes(dated)


def test_harmonise_counts_sums_mergers_and_allocates_splits() -> None:
    crosswalk = municipality_crosswalk(tiny_changes(), 2020, 2021, TINY_VALID)
    result = harmonise_counts(counts([("0001", 10.0), ("0002", 20.0), ("0003", 100.0), ("0004", 5.0)]), crosswalk)
    assert_frame_equal(result, harmonised([("0004", 65.0, True), ("0009", 70.0, True)]))


def test_harmonise_counts_keeps_by_keys_apart_and_flags_only_approximate_paths() -> None:
    crosswalk = municipality_crosswalk(tiny_changes(), 2020, 2021, TINY_VALID)
    series = pl.DataFrame({
        "code": ["0001", "0002", "0004", "0001", "0002", "0004"],
        "period": ["2019", "2019", "2019", "2020", "2020", "2020"],
        "jobs": [1, 2, 3, 10, 20, 30],
    })
    result = harmonise_counts(series, crosswalk, code_col="code", value_col="jobs", by=["period"])
    expected = pl.DataFrame({
        "code": ["0004", "0009", "0004", "0009"],
        "period": ["2019", "2019", "2020", "2020"],
        "jobs": [3.0, 3.0, 30.0, 30.0],
        "approximate": [False, False, False, False],
    })
    assert_frame_equal(result, expected)


def test_a_null_contributor_makes_its_targets_null() -> None:
    crosswalk = municipality_crosswalk(tiny_changes(), 2020, 2021, TINY_VALID)
    result = harmonise_counts(counts([("0001", 10.0), ("0002", None), ("0004", 5.0)]), crosswalk)
    assert_frame_equal(result, harmonised([("0004", 5.0, False), ("0009", None, False)]))


def test_unmapped_codes_are_listed_sorted_with_the_file_to_edit() -> None:
    crosswalk = municipality_crosswalk(tiny_changes(), 2020, 2021, TINY_VALID)
    series = counts([("0009", 1.0), ("0001", 1.0), ("0042", 1.0), ("0009", 2.0)])
    with pytest.raises(UnmappedMunicipalityError) as raised:
        harmonise_counts(series, crosswalk)
    assert raised.value.codes == ["0009", "0042"]
    message = str(raised.value)
    assert "0009, 0042" in message and CHANGE_TABLE_PATH in message


def test_unmapped_cbs_keys_get_a_hint_to_normalise() -> None:
    crosswalk = municipality_crosswalk(tiny_changes(), 2020, 2020, TINY_VALID)
    with pytest.raises(UnmappedMunicipalityError, match="normalise_gm_code") as raised:
        harmonise_counts(counts([("GM0001", 1.0)]), crosswalk)
    assert raised.value.codes == ["GM0001"]


def test_harmonise_ratio_divides_harmonised_counts() -> None:
    crosswalk = municipality_crosswalk(tiny_changes(), 2020, 2021, TINY_VALID)
    series = pl.DataFrame({
        "gm_code": ["0001", "0002", "0004"],
        "unemployed": [10, 30, 0],
        "labour_force": [100, 900, 0],
    })
    result = harmonise_ratio(series, crosswalk, numerator_col="unemployed", denominator_col="labour_force",
                             ratio_col="unemployment_rate", scale=100.0)
    expected = pl.DataFrame({
        "gm_code": ["0004", "0009"],
        "unemployed": [0.0, 40.0],
        "labour_force": [0.0, 1000.0],
        "unemployment_rate": [None, 4.0],
        "approximate": [False, False],
    })
    assert_frame_equal(result, expected)


def test_municipalities_by_year_gives_one_row_per_unbroken_run() -> None:
    valid = pl.DataFrame({
        "year": [2020, 2021, 2022, 2020, 2022, 2021],
        "gemeentecode": ["0001", "0001", "0001", "0002", "0002", "0009"],
        "gemeentenaam_nlextract": ["Oud", "Oud", "Nieuw", "Twee", "Twee", "Negen"],
    })
    expected = pl.DataFrame({
        "code": ["0001", "0002", "0002", "0009"],
        "name": ["Nieuw", "Twee", "Twee", "Negen"],
        "valid_from_year": [2020, 2020, 2022, 2021],
        "valid_to_year": [2022, 2020, 2022, 2021],
    })
    assert_frame_equal(municipalities_by_year(valid), expected)


# Real changes, each checked against the project's change table.


def test_littenseradiel_2018_splits_over_three_receivers() -> None:
    assert_frame_equal(crosswalk_rows(2017, 2018, ["0140"]), crosswalk_frame([
        ("0140", "0080", 0.3094, False),
        ("0140", "1900", 0.5120, False),
        ("0140", "1949", 0.1786, False),
    ]))
    result = harmonise_real(2017, 2018, [
        ("0140", 10_000.0), ("0080", 100_000.0), ("0081", 10_000.0), ("1900", 80_000.0),
        ("0063", 10_000.0), ("0070", 20_000.0), ("1908", 14_000.0),
    ])
    assert_frame_equal(result, harmonised([
        ("0080", 113_094.0, False), ("1900", 85_120.0, False), ("1949", 45_786.0, False),
    ]))


def test_winsum_2019_splits_over_het_hogeland_and_westerkwartier() -> None:
    assert_frame_equal(crosswalk_rows(2018, 2019, ["0053"]), crosswalk_frame([
        ("0053", "1966", 0.8770, False),
        ("0053", "1969", 0.1230, False),
    ]))
    result = harmonise_real(2018, 2019, [
        ("0053", 1_000.0), ("0005", 100.0), ("1651", 200.0), ("1663", 300.0),
        ("0015", 10.0), ("0022", 20.0), ("0025", 30.0), ("0056", 40.0),
    ])
    assert_frame_equal(result, harmonised([("1966", 1_477.0, False), ("1969", 223.0, False)]))


def test_haaren_2021_splits_over_four_receivers() -> None:
    assert_frame_equal(crosswalk_rows(2020, 2021, ["0788"]), crosswalk_frame([
        ("0788", "0757", 0.1502, False),
        ("0788", "0824", 0.4235, False),
        ("0788", "0855", 0.0838, False),
        ("0788", "0865", 0.3425, False),
    ]))
    result = harmonise_real(2020, 2021, [
        ("0788", 10_000.0), ("0757", 30_000.0), ("0824", 20_000.0), ("0855", 200_000.0), ("0865", 25_000.0),
    ])
    assert_frame_equal(result, harmonised([
        ("0757", 31_502.0, False), ("0824", 24_235.0, False), ("0855", 200_838.0, False), ("0865", 28_425.0, False),
    ]))


def test_maasdonk_2015_splits_over_den_bosch_and_oss() -> None:
    assert_frame_equal(crosswalk_rows(2014, 2015, ["1671"]), crosswalk_frame([
        ("1671", "0796", 0.5921, False),
        ("1671", "0828", 0.4079, False),
    ]))
    result = harmonise_real(2014, 2015, [("1671", 10_000.0), ("0796", 150_000.0), ("0828", 90_000.0)])
    assert_frame_equal(result, harmonised([("0796", 155_921.0, False), ("0828", 94_079.0, False)]))


def test_millingen_and_ubbergen_into_groesbeek_2015_renamed_berg_en_dal_2016() -> None:
    parts = ["0241", "0265", "0282"]
    assert_frame_equal(crosswalk_rows(2014, 2015, parts),
                       crosswalk_frame([(code, "0241", 1.0, False) for code in parts]))
    assert_frame_equal(crosswalk_rows(2014, 2016, parts),
                       crosswalk_frame([(code, "1945", 1.0, False) for code in parts]))
    series = [("0241", 19_000.0), ("0265", 6_000.0), ("0282", 9_000.0)]
    assert_frame_equal(harmonise_real(2014, 2015, series), harmonised([("0241", 34_000.0, False)]))
    assert_frame_equal(harmonise_real(2014, 2016, series), harmonised([("1945", 34_000.0, False)]))


def test_de_friese_meren_renamed_mid_2015_counts_from_2016() -> None:
    row = project_changes().filter(pl.col("old_code") == "1921")
    assert row.select("date", "boundary_year", "new_code", "kind").rows() == [
        (dt.date(2015, 7, 1), 2016, "1940", "rename"),
    ]
    assert_frame_equal(crosswalk_rows(2015, 2015, ["1921"]), crosswalk_frame([("1921", "1921", 1.0, False)]))
    assert_frame_equal(crosswalk_rows(2015, 2016, ["1921"]), crosswalk_frame([("1921", "1940", 1.0, False)]))
    assert_frame_equal(crosswalk_rows(2013, 2016, ["0051", "0082", "0653"]), crosswalk_frame([
        ("0051", "1940", 1.0, True),
        ("0082", "1940", 1.0, False),
        ("0653", "1940", 1.0, False),
    ]))
    assert_frame_equal(harmonise_real(2015, 2016, [("1921", 51_000.0)]), harmonised([("1940", 51_000.0, False)]))


def test_rozenburg_joins_rotterdam_in_march_2010_and_counts_from_2011() -> None:
    assert_frame_equal(crosswalk_rows(2009, 2010, ["0600"]), crosswalk_frame([("0600", "0600", 1.0, False)]))
    assert_frame_equal(crosswalk_rows(2010, 2011, ["0600"]), crosswalk_frame([("0600", "0599", 1.0, False)]))
    result = harmonise_real(2010, 2011, [("0600", 12_500.0), ("0599", 590_000.0)])
    assert_frame_equal(result, harmonised([("0599", 602_500.0, False)]))


def test_weesp_joins_amsterdam_in_march_2022_and_counts_from_2023() -> None:
    assert_frame_equal(crosswalk_rows(2022, 2022, ["0457"]), crosswalk_frame([("0457", "0457", 1.0, False)]))
    assert_frame_equal(crosswalk_rows(2022, 2023, ["0457"]), crosswalk_frame([("0457", "0363", 1.0, False)]))
    result = harmonise_real(2022, 2023, [("0457", 20_000.0), ("0363", 880_000.0)])
    assert_frame_equal(result, harmonised([("0363", 900_000.0, False)]))


def test_menaldumadeel_becomes_menameradiel_2011_then_waadhoeke_2018() -> None:
    assert_frame_equal(crosswalk_rows(2010, 2011, ["0083"]), crosswalk_frame([("0083", "1908", 1.0, False)]))
    assert_frame_equal(crosswalk_rows(2011, 2018, ["1908"]), crosswalk_frame([("1908", "1949", 1.0, False)]))
    assert_frame_equal(crosswalk_rows(2010, 2018, ["0083"]), crosswalk_frame([("0083", "1949", 1.0, False)]))
    result = harmonise_real(2010, 2018, [("0083", 14_000.0), ("0063", 10_000.0), ("0070", 20_000.0)])
    assert_frame_equal(result, harmonised([("1949", 44_000.0, False)]))


def test_graafstroom_becomes_molenwaard_2013_then_molenlanden_2019() -> None:
    assert_frame_equal(crosswalk_rows(2012, 2013, ["0693"]), crosswalk_frame([("0693", "1927", 1.0, False)]))
    assert_frame_equal(crosswalk_rows(2013, 2019, ["1927"]), crosswalk_frame([("1927", "1978", 1.0, False)]))
    parts = ["0571", "0689", "0693", "0694"]
    assert_frame_equal(crosswalk_rows(2012, 2019, parts),
                       crosswalk_frame([(code, "1978", 1.0, False) for code in parts]))
    result = harmonise_real(2012, 2019, [("0693", 9_800.0), ("0571", 9_600.0), ("0694", 10_400.0), ("0689", 18_000.0)])
    assert_frame_equal(result, harmonised([("1978", 47_800.0, False)]))


def test_slochteren_gives_a_part_to_groningen_2017_then_merges_into_midden_groningen_2018() -> None:
    assert_frame_equal(crosswalk_rows(2016, 2017, ["0040"]), crosswalk_frame([
        ("0040", "0014", 0.0389, False),
        ("0040", "0040", 0.9611, False),
    ]))
    assert_frame_equal(crosswalk_rows(2017, 2018, ["0040"]), crosswalk_frame([("0040", "1952", 1.0, False)]))
    assert_frame_equal(crosswalk_rows(2016, 2018, ["0040"]), crosswalk_frame([
        ("0040", "0014", 0.0389, False),
        ("0040", "1952", 0.9611, False),
    ]))
    result = harmonise_real(2016, 2018, [("0040", 10_000.0), ("0014", 200_000.0), ("0018", 30_000.0),
                                         ("1987", 12_000.0)])
    assert_frame_equal(result, harmonised([("0014", 200_389.0, False), ("1952", 51_611.0, False)]))


def test_boarnsterhim_2014_is_split_by_approximate_shares() -> None:
    assert_frame_equal(crosswalk_rows(2013, 2014, ["0055"]), crosswalk_frame([
        ("0055", "0074", 0.3096, True),
        ("0055", "0080", 0.5785, True),
        ("0055", "1900", 0.0722, True),
        ("0055", "1921", 0.0397, True),
    ]))
    result = harmonise_real(2013, 2014, [("0055", 10_000.0), ("0074", 1_000.0), ("0080", 1_000.0)])
    assert_frame_equal(result, harmonised([
        ("0074", 4_096.0, True), ("0080", 6_785.0, True), ("1900", 722.0, True), ("1921", 397.0, True),
    ]))


def test_meerlo_wanssum_2010_is_split_by_approximate_shares() -> None:
    assert_frame_equal(crosswalk_rows(2009, 2010, ["0993"]), crosswalk_frame([
        ("0993", "0984", 0.4449, True),
        ("0993", "1507", 0.5551, True),
    ]))


def test_crosswalks_gives_each_pair_as_municipality_crosswalk_does() -> None:
    changes, valid = project_changes(), shared_valid_codes()
    walk = crosswalks(changes, valid)

    for from_year, to_year in [(2009, 2026), (2014, 2015), (2018, 2018), (2010, 2023), (2026, 2026)]:
        assert_frame_equal(walk(from_year, to_year), municipality_crosswalk(changes, from_year, to_year, valid))
    assert walk(2010, 2023) is walk(2010, 2023)  # built once
    assert_frame_equal(crosswalks(changes)(2012, 2019), municipality_crosswalk(changes, 2012, 2019))


def test_crosswalks_raises_as_municipality_crosswalk_does() -> None:
    changes, valid = project_changes(), shared_valid_codes()
    walk = crosswalks(changes, valid)

    with pytest.raises(ValueError, match="cannot build a crosswalk backwards from 2020 to 2015"):
        walk(2020, 2015)
    with pytest.raises(ValueError, match="valid_codes has no municipalities for from_year 2001"):
        walk(2001, 2010)
    broken = changes.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(0.5)).otherwise(pl.col("share")).alias("share"))
    with pytest.raises(ValueError, match="change table is inconsistent"):
        crosswalks(broken, valid)
    missing = {year: codes - {"0363"} if year == 2016 else codes for year, codes in valid.items()}  # Amsterdam
    with pytest.raises(UnmappedMunicipalityError, match="0363"):
        crosswalks(changes, missing)(2015, 2017)
