"""Invariants of crosswalks and harmonisation, on generated change histories and on the real change table."""

from __future__ import annotations

import functools

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tests.transforms._geography_data import SHARED_REFERENCE, project_changes, shared_valid_codes
from transforms.geography import (
    CHANGE_KINDS,
    CHANGE_TABLE_PATH,
    SHARE_STATUSES,
    UnmappedMunicipalityError,
    harmonise_counts,
    municipality_crosswalk,
)

PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIRST_YEAR = 2000
PERIODS = ["2019", "2020"]
CHANGE_COLUMNS = {"boundary_year": pl.Int64, "old_code": pl.String, "new_code": pl.String, "kind": pl.String,
                  "share": pl.Float64, "share_status": pl.String}


@st.composite
def change_histories(draw: st.DrawFn) -> tuple[pl.DataFrame, dict[int, set[str]]]:
    """A random change table over 1-5 years and the codes valid on each 1 January it implies.

    Each year some codes are donors: merged into a surviving or new code, renamed, split over 2-3
    receivers, or (donor continues) partly transferred to a neighbour. Receivers are always codes
    valid after the changes, as in a real table.
    """
    valid = {FIRST_YEAR: {f"{i:04d}" for i in range(1, draw(st.integers(2, 8)) + 1)}}
    fresh_codes = (f"{i:04d}" for i in range(1000, 10_000))
    rows: list[dict[str, object]] = []
    for year in range(FIRST_YEAR + 1, FIRST_YEAR + draw(st.integers(1, 5)) + 1):
        current = sorted(valid[year - 1])
        donors = draw(st.lists(st.sampled_from(current), unique=True, max_size=min(3, len(current))))
        kinds = {donor: draw(st.sampled_from(CHANGE_KINDS)) for donor in donors}
        survivors = [code for code in current if kinds.get(code, "partial_transfer") == "partial_transfer"]
        new_codes: list[str] = []

        def add(old: str, new: str, kind: str, share: float) -> None:
            rows.append({"boundary_year": year, "old_code": old, "new_code": new, "kind": kind,
                         "share": share, "share_status": draw(st.sampled_from(SHARE_STATUSES))})

        def receiver(exclude: set[str]) -> str:
            options = [code for code in survivors + new_codes if code not in exclude]
            choice = draw(st.sampled_from([*options, "new"]))
            if choice == "new":
                choice = next(fresh_codes)
                new_codes.append(choice)
            return choice

        for donor, kind in kinds.items():
            if kind == "rename":
                new_code = next(fresh_codes)
                new_codes.append(new_code)
                add(donor, new_code, kind, 1.0)
            elif kind == "merger":
                add(donor, receiver(set()), kind, 1.0)
            elif kind == "split":
                receivers: list[str] = []
                for _ in range(draw(st.integers(2, 3))):
                    receivers.append(receiver(set(receivers)))
                weights = draw(st.lists(st.integers(1, 20), min_size=len(receivers), max_size=len(receivers)))
                for new_code, weight in zip(receivers, weights, strict=True):
                    add(donor, new_code, kind, weight / sum(weights))
            else:
                neighbours = [code for code in survivors if code != donor]
                if not neighbours:
                    continue
                moved = draw(st.integers(1, 99))
                add(donor, draw(st.sampled_from(neighbours)), kind, moved / 100)
                add(donor, donor, kind, (100 - moved) / 100)
        valid[year] = set(survivors) | set(new_codes)
    return pl.DataFrame(rows, schema=CHANGE_COLUMNS), valid


@st.composite
def count_series(draw: st.DrawFn, codes: set[str]) -> pl.DataFrame:
    """Counts for some of ``codes`` in two periods; key (gm_code, period)."""
    chosen = draw(st.lists(st.sampled_from(sorted(codes)), unique=True, min_size=1))
    keys = [(code, period) for code in chosen for period in PERIODS]
    values = draw(st.lists(st.integers(0, 10**6), min_size=len(keys), max_size=len(keys)))
    return pl.DataFrame(
        [(code, period, float(value)) for (code, period), value in zip(keys, values, strict=True)],
        schema={"gm_code": pl.String, "period": pl.String, "value": pl.Float64},
        orient="row",
    )


@st.composite
def generated_case(draw: st.DrawFn) -> tuple[pl.DataFrame, dict[int, set[str]], int, int, int, pl.DataFrame]:
    """A change history, years from <= middle <= to, and a count series at from-year boundaries."""
    changes, valid = draw(change_histories())
    from_year, middle, to_year = sorted(draw(st.lists(st.sampled_from(sorted(valid)), min_size=3, max_size=3)))
    return changes, valid, from_year, middle, to_year, draw(count_series(valid[from_year]))


def harmonise(series: pl.DataFrame, crosswalk: pl.DataFrame) -> pl.DataFrame:
    return harmonise_counts(series, crosswalk, by=["period"])


def totals(frame: pl.DataFrame) -> dict[str, float]:
    return dict(frame.group_by("period").agg(pl.col("value").sum()).iter_rows())


@PROPERTY_SETTINGS
@given(generated_case())
def test_harmonisation_preserves_totals(case) -> None:
    changes, valid, from_year, _, to_year, series = case
    result = harmonise(series, municipality_crosswalk(changes, from_year, to_year, valid))
    assert totals(result) == pytest.approx(totals(series), rel=1e-9)


@PROPERTY_SETTINGS
@given(generated_case())
def test_harmonising_twice_equals_once(case) -> None:
    changes, valid, from_year, _, to_year, series = case
    once = harmonise(series, municipality_crosswalk(changes, from_year, to_year, valid))
    assert_frame_equal(harmonise(once, municipality_crosswalk(changes, to_year, to_year, valid)), once)


@PROPERTY_SETTINGS
@given(generated_case())
def test_harmonising_in_steps_equals_harmonising_directly(case) -> None:
    changes, valid, from_year, middle, to_year, series = case
    stepwise = harmonise(
        harmonise(series, municipality_crosswalk(changes, from_year, middle, valid)),
        municipality_crosswalk(changes, middle, to_year, valid),
    )
    assert_frame_equal(stepwise, harmonise(series, municipality_crosswalk(changes, from_year, to_year, valid)))


@PROPERTY_SETTINGS
@given(generated_case())
def test_every_output_code_is_valid_in_the_target_year(case) -> None:
    changes, valid, from_year, _, to_year, series = case
    crosswalk = municipality_crosswalk(changes, from_year, to_year, valid)
    assert set(crosswalk["to_code"].to_list()) == valid[to_year]
    assert set(harmonise(series, crosswalk)["gm_code"].to_list()) <= valid[to_year]


@PROPERTY_SETTINGS
@given(generated_case())
def test_shares_of_each_code_sum_to_one(case) -> None:
    changes, valid, from_year, _, to_year, _ = case
    crosswalk = municipality_crosswalk(changes, from_year, to_year, valid)
    sums = crosswalk.group_by("from_code").agg(pl.col("share").sum())
    assert set(sums["from_code"].to_list()) == valid[from_year]
    assert sums["share"].to_list() == pytest.approx([1.0] * sums.height, rel=1e-9)


@PROPERTY_SETTINGS
@given(generated_case(), st.data())
def test_approximate_flag_marks_exactly_the_targets_an_approximate_share_reaches(case, data) -> None:
    changes, valid, from_year, _, to_year, series = case
    crosswalk = municipality_crosswalk(changes, from_year, to_year, valid)
    used = crosswalk.filter(pl.col("from_code").is_in(series["gm_code"].unique().to_list()))
    expected = set(used.filter(pl.col("approximate"))["to_code"].to_list())
    result = harmonise(series, crosswalk)
    assert set(result.filter(pl.col("approximate"))["gm_code"].to_list()) == expected


@PROPERTY_SETTINGS
@given(generated_case(), st.data())
def test_a_null_reaches_exactly_the_targets_of_its_code(case, data) -> None:
    changes, valid, from_year, _, to_year, series = case
    missing_code = data.draw(st.sampled_from(sorted(set(series["gm_code"].to_list()))))
    with_null = series.with_columns(
        value=pl.when((pl.col("gm_code") == missing_code) & (pl.col("period") == PERIODS[0]))
        .then(None).otherwise(pl.col("value"))
    )
    crosswalk = municipality_crosswalk(changes, from_year, to_year, valid)
    result = harmonise(with_null, crosswalk)
    nulls = result.filter(pl.col("value").is_null())
    assert set(nulls["period"].to_list()) == {PERIODS[0]}
    assert set(nulls["gm_code"].to_list()) == set(
        crosswalk.filter(pl.col("from_code") == missing_code)["to_code"].to_list()
    )


@PROPERTY_SETTINGS
@given(generated_case(), st.lists(st.sampled_from(["9999", "8888", "0000", "GM0001", "1"]), min_size=1, unique=True))
def test_unmapped_codes_raise_listing_them_and_the_file(case, strangers) -> None:
    changes, valid, from_year, _, to_year, series = case
    ended = sorted(set().union(*valid.values()) - valid[from_year])
    unknown = sorted(set(strangers) | set(ended[:2]))
    polluted = pl.concat([
        series,
        pl.DataFrame({"gm_code": unknown, "period": PERIODS[0], "value": 1.0}),
    ])
    with pytest.raises(UnmappedMunicipalityError) as raised:
        harmonise(polluted, municipality_crosswalk(changes, from_year, to_year, valid))
    assert raised.value.codes == unknown
    assert ", ".join(unknown) in str(raised.value)
    assert CHANGE_TABLE_PATH in str(raised.value)


real_years = st.lists(st.integers(2008, 2026), min_size=3, max_size=3).map(sorted)


@functools.cache
def real_crosswalk(from_year: int, to_year: int, with_valid_list: bool) -> pl.DataFrame:
    valid = shared_valid_codes() if with_valid_list else None
    return municipality_crosswalk(project_changes(), from_year, to_year, valid)


def real_series(data: st.DataObject, crosswalk: pl.DataFrame) -> pl.DataFrame:
    return data.draw(count_series(set(crosswalk["from_code"].to_list())))


@PROPERTY_SETTINGS
@given(real_years, st.data())
def test_real_table_preserves_totals_and_composes(years, data) -> None:
    from_year, middle, to_year = years
    direct = real_crosswalk(from_year, to_year, False)
    series = real_series(data, direct)
    result = harmonise(series, direct)
    assert totals(result) == pytest.approx(totals(series), rel=1e-9)
    stepwise = harmonise(harmonise(series, real_crosswalk(from_year, middle, False)),
                         real_crosswalk(middle, to_year, False))
    assert_frame_equal(stepwise, result)
    assert_frame_equal(harmonise(result, real_crosswalk(to_year, to_year, False)), result)


@pytest.mark.skipif(not SHARED_REFERENCE.exists(),
                    reason=f"{SHARED_REFERENCE} is absent: the valid-per-year list lives in ../shared")
@PROPERTY_SETTINGS
@given(st.lists(st.integers(2009, 2026), min_size=3, max_size=3).map(sorted), st.data())
def test_real_table_with_valid_lists_lands_on_valid_codes(years, data) -> None:
    from_year, middle, to_year = years
    direct = real_crosswalk(from_year, to_year, True)
    series = real_series(data, direct)
    result = harmonise(series, direct)
    assert set(result["gm_code"].to_list()) <= shared_valid_codes()[to_year]
    assert totals(result) == pytest.approx(totals(series), rel=1e-9)
    stepwise = harmonise(harmonise(series, real_crosswalk(from_year, middle, True)),
                         real_crosswalk(middle, to_year, True))
    assert_frame_equal(stepwise, result)
