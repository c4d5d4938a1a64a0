"""transforms.periods.cbs_periods: CBS period keys to first-day dates, frequency and provisional flag."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from transforms.periods import UnparseablePeriodError, cbs_periods

OUTPUT_SCHEMA = {"period_key": pl.String, "period_start": pl.Date, "frequency": pl.String, "provisional": pl.Boolean}


def dimension(rows: list[tuple[str, str, str | None]]) -> pl.DataFrame:
    """A landed time dimension: Key, Title, Status."""
    return pl.DataFrame(rows, schema={"Key": pl.String, "Title": pl.String, "Status": pl.String}, orient="row")


def expected(rows: list[tuple[str, dt.date, str, bool]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=OUTPUT_SCHEMA, orient="row")


def test_month_quarter_and_year_keys_become_first_days_with_their_frequency():
    periods = dimension(
        [
            ("2014MM01", "2014 januari", "Definitief"),
            ("2014MM12", "2014 december", "Definitief"),
            ("2014KW01", "2014 1e kwartaal", "Definitief"),
            ("2014KW02", "2014 2e kwartaal", "Definitief"),
            ("2014KW03", "2014 3e kwartaal", "Definitief"),
            ("2014KW04", "2014 4e kwartaal", "Definitief"),
            ("2014JJ00", "2014", "Definitief"),
        ]
    )

    assert_frame_equal(
        cbs_periods(periods, table_id="37789ksz"),
        expected(
            [
                ("2014MM01", dt.date(2014, 1, 1), "month", False),
                ("2014MM12", dt.date(2014, 12, 1), "month", False),
                ("2014KW01", dt.date(2014, 1, 1), "quarter", False),
                ("2014KW02", dt.date(2014, 4, 1), "quarter", False),
                ("2014KW03", dt.date(2014, 7, 1), "quarter", False),
                ("2014KW04", dt.date(2014, 10, 1), "quarter", False),
                ("2014JJ00", dt.date(2014, 1, 1), "year", False),
            ]
        ),
    )


def test_provisional_comes_from_the_status_or_a_star_in_the_title():
    periods = dimension(
        [
            ("2024MM10", "2024 oktober", "Definitief"),
            ("2024MM11", "2024 november", "NaderVoorlopig"),
            ("2024MM12", "2024 december*", "Voorlopig"),
            ("2025MM01", "2025 januari*", None),
            ("2025MM02", "2025 februari * ", "Definitief"),
            ("2025MM03", "2025 maart", None),
            ("2025KW01", "2025 1e kwartaal", "Voorlopig"),
        ]
    )

    result = cbs_periods(periods, table_id="37789ksz")

    assert dict(result.select("period_key", "provisional").iter_rows()) == {
        "2024MM10": False,
        "2024MM11": True,
        "2024MM12": True,
        "2025MM01": True,
        "2025MM02": True,
        "2025MM03": False,
        "2025KW01": True,
    }


def test_a_dimension_without_status_uses_the_title_alone():
    periods = pl.DataFrame({"Key": ["2023JJ00", "2024JJ00"], "Title": ["2023", "2024*"]})

    assert_frame_equal(
        cbs_periods(periods, table_id="71761ned"),
        expected([("2023JJ00", dt.date(2023, 1, 1), "year", False), ("2024JJ00", dt.date(2024, 1, 1), "year", True)]),
    )


def test_padded_keys_are_stripped():
    periods = dimension([("2014MM01  ", "2014 januari", "Definitief"), (" 2014KW02", "2014 2e kwartaal", None)])

    assert_frame_equal(
        cbs_periods(periods, table_id="70059ned"),
        expected([("2014MM01", dt.date(2014, 1, 1), "month", False), ("2014KW02", dt.date(2014, 4, 1), "quarter", False)]),
    )


def test_input_columns_beyond_key_title_status_are_ignored_and_input_is_not_mutated():
    periods = dimension([("2014MM01", "2014 januari", "Definitief")]).with_columns(Description=pl.lit("x"))
    before = periods.clone()

    result = cbs_periods(periods, table_id="37789ksz")

    assert result.columns == list(OUTPUT_SCHEMA)
    assert_frame_equal(periods, before)


@pytest.mark.parametrize("bad", ["2014M01", "2001JJ01", "2014MM13", "2014KW05", "2014MM00", "2014KW00", "14MM01", "2014XX01"])
def test_an_invalid_key_raises_naming_the_table_and_the_key(bad):
    periods = dimension([("2014MM01", "2014 januari", None), (bad, "?", None), ("2014MM02", "2014 februari", None)])

    with pytest.raises(UnparseablePeriodError) as raised:
        cbs_periods(periods, table_id="37789ksz")

    message = str(raised.value)
    assert message.startswith("37789ksz: 1 period key(s)")
    assert bad in message
    assert "2014MM01" not in message and "2014MM02" not in message


def test_every_invalid_key_is_listed():
    periods = dimension([("2014M01", "a", None), ("2014MM01", "b", None), ("2014KW05  ", "c", None), ("2001JJ01", "d", None)])

    with pytest.raises(UnparseablePeriodError, match=r"82015NED: 3 period key\(s\) .*: 2014M01, 2014KW05, 2001JJ01$"):
        cbs_periods(periods, table_id="82015NED")


def test_a_missing_key_raises_the_same_clear_error():
    periods = pl.DataFrame({"Key": ["2014MM01", None], "Title": ["a", "b"]}, schema={"Key": pl.String, "Title": pl.String})

    with pytest.raises(UnparseablePeriodError, match=r"^37789ksz: 1 period key\(s\) .*: None$"):
        cbs_periods(periods, table_id="37789ksz")


def test_unparseable_period_error_is_a_value_error():
    assert issubclass(UnparseablePeriodError, ValueError)


month_keys = st.sets(st.tuples(st.integers(1900, 2099), st.integers(1, 12)), min_size=1, max_size=40)


@given(month_keys, st.integers(0, 3))
def test_month_keys_round_trip_to_distinct_first_days(months, padding):
    keys = [f"{year:04d}MM{month:02d}" + " " * padding for year, month in sorted(months)]
    periods = pl.DataFrame({"Key": keys, "Title": ["t"] * len(keys)})

    result = cbs_periods(periods, table_id="37789ksz")

    assert result.height == len(keys)
    assert result["period_start"].n_unique() == len(keys)
    assert set(result["frequency"]) == {"month"}
    for key, start in result.select("period_key", "period_start").iter_rows():
        assert key == key.strip()
        assert (start.year, start.month, start.day) == (int(key[:4]), int(key[6:8]), 1)


quarter_or_year = st.one_of(
    st.tuples(st.integers(1900, 2099), st.sampled_from(["KW"]), st.integers(1, 4)),
    st.tuples(st.integers(1900, 2099), st.sampled_from(["JJ"]), st.just(0)),
    st.tuples(st.integers(1900, 2099), st.sampled_from(["MM"]), st.integers(1, 12)),
)


@given(st.sets(quarter_or_year, min_size=1, max_size=40))
def test_every_period_starts_inside_its_year_and_is_distinct_within_its_frequency(parts):
    keys = [f"{year:04d}{kind}{n:02d}" for year, kind, n in sorted(parts)]
    result = cbs_periods(pl.DataFrame({"Key": keys, "Title": keys}), table_id="t")

    assert result["period_key"].to_list() == keys
    assert result.group_by("frequency").agg(pl.col("period_start").is_unique().all())["period_start"].all()
    for key, start, frequency in result.select("period_key", "period_start", "frequency").iter_rows():
        year, kind, n = int(key[:4]), key[4:6], int(key[6:])
        assert start.year == year and start.day == 1
        assert frequency == {"MM": "month", "KW": "quarter", "JJ": "year"}[kind]
        assert start.month == {"MM": n, "KW": 3 * (n - 1) + 1, "JJ": 1}[kind]
