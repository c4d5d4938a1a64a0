"""The project's change table (sources/reference/municipal_changes.csv) against its sources and itself."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from tests.transforms._geography_data import (
    CHANGE_TABLE,
    REFERENCE_README,
    project_changes,
    shared_csv,
    shared_valid_codes,
)
from transforms.geography import (
    MUNICIPAL_CHANGES_SCHEMA,
    boundary_year,
    check_municipal_changes,
    municipality_crosswalk,
)

SOURCE_KEY = ["date", "old_code", "new_code", "kind"]


def _shared_changes() -> pl.DataFrame:
    return shared_csv("herindelingen.csv", ("old_code", "new_code")).with_columns(pl.col("date").str.to_date())


def _ended_and_new(changes: pl.DataFrame, year: int) -> tuple[set[str], set[str]]:
    """Codes that stop and codes that appear in the boundaries of ``year`` according to ``changes``."""
    in_year = changes.filter(pl.col("boundary_year") == year)
    ended = set(in_year.filter((pl.col("kind") != "partial_transfer") & (pl.col("old_code") != pl.col("new_code")))
                ["old_code"].to_list())
    return ended, set(in_year["new_code"].to_list())


def test_change_table_is_sound() -> None:
    changes = project_changes()
    assert changes.columns == list(MUNICIPAL_CHANGES_SCHEMA)
    check_municipal_changes(changes)


def test_codes_are_written_as_four_digit_text() -> None:
    raw = pl.read_csv(CHANGE_TABLE, infer_schema=False)
    bad = raw.filter(~pl.col("old_code").str.contains(r"^\d{4}$") | ~pl.col("new_code").str.contains(r"^\d{4}$"))
    assert bad.is_empty(), bad


def test_every_row_has_a_source_and_approximations_say_how() -> None:
    changes = project_changes()
    assert changes.filter(pl.col("source").str.strip_chars().fill_null("") == "").is_empty()
    approximate = changes.filter(pl.col("share_status") == "approximate")
    assert approximate.height > 0
    assert approximate.filter(~pl.col("source").str.contains("share: ")).is_empty()


def test_every_row_of_the_shared_change_list_is_represented() -> None:
    shared = _shared_changes()
    missing = shared.join(project_changes(), on=SOURCE_KEY, how="anti")
    assert missing.is_empty(), f"rows of herindelingen.csv missing from {CHANGE_TABLE}: {missing.rows()}"
    names = shared.join(project_changes(), on=SOURCE_KEY, how="inner").filter(
        (pl.col("old_name") != pl.col("old_name_right")) | (pl.col("new_name") != pl.col("new_name_right"))
    )
    assert names.is_empty(), names


def test_only_partial_transfer_remainders_are_added_to_the_shared_list() -> None:
    extra = project_changes().join(_shared_changes(), on=SOURCE_KEY, how="anti")
    assert extra.filter((pl.col("kind") != "partial_transfer") | (pl.col("old_code") != pl.col("new_code"))).is_empty()
    assert sorted(extra["old_code"].to_list()) == ["0040", "1930"]


def test_exact_split_weights_are_taken_from_the_weights_file() -> None:
    weights = shared_csv("herindelingen_split_weights.csv", ("old_code", "new_code")).with_columns(
        pl.col("date").str.to_date()
    )
    joined = weights.join(project_changes(), on=["date", "old_code", "new_code"], how="left")
    assert joined.filter(pl.col("share").is_null()).is_empty()
    with_weight = joined.filter(pl.col("weight").is_not_null())
    assert with_weight.filter((pl.col("share") - pl.col("weight")).abs() > 1e-9).is_empty()
    assert with_weight.filter(pl.col("share_status") != "exact").is_empty()
    without_weight = joined.filter(pl.col("weight").is_null())
    assert sorted(set(without_weight["old_code"].to_list())) == ["0055", "0993"]
    assert without_weight.filter(pl.col("share_status") != "approximate").is_empty()


@pytest.mark.parametrize("year", range(2010, 2027))
def test_valid_codes_of_a_year_follow_from_the_previous_year_and_the_changes(year: int) -> None:
    valid = shared_valid_codes()
    ended, new = _ended_and_new(project_changes(), year)
    expected = (valid[year - 1] - ended) | new
    assert expected == valid[year], (
        f"1 January {year}: the change table predicts codes not in the valid list "
        f"{sorted(expected - valid[year])} and misses {sorted(valid[year] - expected)}"
    )


def test_changes_of_boundary_year_2009_are_already_in_the_2009_list() -> None:
    valid = shared_valid_codes()
    ended, new = _ended_and_new(project_changes(), 2009)
    assert ended and not ended & valid[2009]
    assert new <= valid[2009]


@pytest.mark.parametrize(
    ("date", "old_code", "new_code", "first_year"),
    [
        (dt.date(2010, 3, 18), "0600", "0599", 2011),  # Rozenburg into Rotterdam
        (dt.date(2015, 7, 1), "1921", "1940", 2016),  # De Friese Meren renamed De Fryske Marren
        (dt.date(2022, 3, 24), "0457", "0363", 2023),  # Weesp into Amsterdam
    ],
)
def test_mid_year_changes_apply_from_the_next_boundary_year(
    date: dt.date, old_code: str, new_code: str, first_year: int
) -> None:
    row = project_changes().filter((pl.col("old_code") == old_code) & (pl.col("new_code") == new_code))
    assert row.select("date", "boundary_year").rows() == [(date, first_year)]
    assert boundary_year(date) == first_year
    valid = shared_valid_codes()
    assert old_code in valid[first_year - 1] and old_code not in valid[first_year]
    assert new_code in valid[first_year]


def test_crosswalk_2009_to_2026_agrees_with_every_valid_list() -> None:
    valid = shared_valid_codes()
    crosswalk = municipality_crosswalk(project_changes(), 2009, 2026, valid)
    assert set(crosswalk["from_code"].to_list()) == valid[2009]
    assert set(crosswalk["to_code"].to_list()) == valid[2026]


def test_readme_documents_every_column() -> None:
    readme = REFERENCE_README.read_text(encoding="utf-8")
    undocumented = [column for column in MUNICIPAL_CHANGES_SCHEMA if f"`{column}`" not in readme]
    assert not undocumented
