"""transforms.series.national_series: a CBS table with only a time dimension to tidy series rows."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from transforms.periods import UnparseablePeriodError
from transforms.series import SERIES_SCHEMA, national_series

SERIES = {"ww": "NietSeizoengecorrigeerd_8", "wwb": "TotaalBijstandsuitkeringen_11"}


def periods() -> pl.DataFrame:
    return pl.DataFrame(
        [
            ("2024MM11", "2024 november*", "NaderVoorlopig"),
            ("2024MM12", "2024 december*", "Voorlopig"),
            ("2024JJ00", "2024*", "Voorlopig"),
            ("2024KW04", "2024 4e kwartaal", "Definitief"),
        ],
        schema={"Key": pl.String, "Title": pl.String, "Status": pl.String},
        orient="row",
    )


def data() -> pl.DataFrame:
    """TypedDataSet rows as landed: padded period keys, one column per topic, a column not asked for."""
    return pl.DataFrame(
        {
            "ID": [0, 1, 2, 3],
            "Perioden": ["2024MM11  ", "2024MM12  ", "2024JJ00  ", "2024KW04  "],
            "NietSeizoengecorrigeerd_8": [208.0, 215.5, None, 205.0],
            "TotaalBijstandsuitkeringen_11": [420, 421, 419, None],
            "AOWUitkeringen_16": [3700.0, 3710.0, 3690.0, 3705.0],
        }
    )


def expected(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SERIES_SCHEMA, orient="row")


def test_one_row_per_series_per_period_with_value_unit_and_provisional():
    result = national_series(data(), periods(), series=SERIES, unit="x 1 000", table_id="37789ksz")

    assert_frame_equal(
        result,
        expected(
            [
                ("ww", "month", dt.date(2024, 11, 1), "2024MM11", 208.0, "x 1 000", True, "37789ksz"),
                ("ww", "month", dt.date(2024, 12, 1), "2024MM12", 215.5, "x 1 000", True, "37789ksz"),
                ("ww", "quarter", dt.date(2024, 10, 1), "2024KW04", 205.0, "x 1 000", False, "37789ksz"),
                ("ww", "year", dt.date(2024, 1, 1), "2024JJ00", None, "x 1 000", True, "37789ksz"),
                ("wwb", "month", dt.date(2024, 11, 1), "2024MM11", 420.0, "x 1 000", True, "37789ksz"),
                ("wwb", "month", dt.date(2024, 12, 1), "2024MM12", 421.0, "x 1 000", True, "37789ksz"),
                ("wwb", "quarter", dt.date(2024, 10, 1), "2024KW04", None, "x 1 000", False, "37789ksz"),
                ("wwb", "year", dt.date(2024, 1, 1), "2024JJ00", 419.0, "x 1 000", True, "37789ksz"),
            ]
        ),
    )


def test_a_single_series_and_another_time_dimension_name():
    table = data().rename({"Perioden": "Tijd"})

    result = national_series(table, periods(), series={"ww": "NietSeizoengecorrigeerd_8"}, unit="aantal",
                             table_id="80794ned", time_dimension="Tijd")

    assert result["series"].unique().to_list() == ["ww"]
    assert result.height == 4
    assert set(result["unit"]) == {"aantal"} and set(result["source_table"]) == {"80794ned"}


def test_periods_in_the_dimension_but_not_in_the_data_give_no_rows():
    result = national_series(data().head(2), periods(), series=SERIES, unit="x 1 000", table_id="37789ksz")

    assert sorted(result["period_key"].unique()) == ["2024MM11", "2024MM12"]
    assert result.height == 4


def test_the_inputs_are_not_mutated():
    table, dimension = data(), periods()

    national_series(table, dimension, series=SERIES, unit="x 1 000", table_id="37789ksz")

    assert_frame_equal(table, data())
    assert_frame_equal(dimension, periods())


def test_a_missing_topic_column_raises_naming_it():
    with pytest.raises(KeyError, match="37789ksz: topic column.*'Seizoengecorrigeerd_9'"):
        national_series(
            data(), periods(), series={"ww": "Seizoengecorrigeerd_9", "wwb": "TotaalBijstandsuitkeringen_11"},
            unit="x 1 000", table_id="37789ksz",
        )


def test_a_period_in_the_data_but_not_in_the_dimension_raises_naming_it():
    table = data().with_columns(pl.Series("Perioden", ["2024MM11", "2024MM12", "2024JJ00", "2025MM01"]))

    with pytest.raises(KeyError) as raised:
        national_series(table, periods(), series=SERIES, unit="x 1 000", table_id="37789ksz")

    message = str(raised.value)
    assert "37789ksz" in message and "Perioden" in message
    assert "2025MM01" in message and "2024MM11" not in message


def test_an_invalid_key_in_the_dimension_raises_unparseable_period():
    dimension = pl.concat([periods(), pl.DataFrame({"Key": ["2024MM13"], "Title": ["?"], "Status": [None]})])

    with pytest.raises(UnparseablePeriodError, match="37789ksz.*2024MM13"):
        national_series(data(), dimension, series=SERIES, unit="x 1 000", table_id="37789ksz")


figure = st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False))


@given(st.data())
def test_every_figure_arrives_once_under_its_series_and_period(drawn):
    ww = drawn.draw(st.lists(figure, min_size=1, max_size=24), label="ww")
    wwb = drawn.draw(st.lists(figure, min_size=len(ww), max_size=len(ww)), label="wwb")
    keys = [f"{2000 + i // 12}MM{i % 12 + 1:02d}" for i in range(len(ww))]
    table = pl.DataFrame({"Perioden": keys, "A": ww, "B": wwb}, schema={"Perioden": pl.String, "A": pl.Float64, "B": pl.Float64})
    dimension = pl.DataFrame({"Key": keys, "Title": keys})

    result = national_series(table, dimension, series={"ww": "A", "wwb": "B"}, unit="u", table_id="t")

    assert result.height == 2 * len(keys)
    assert result.select("series", "frequency", "period_start").is_duplicated().sum() == 0
    for name, column in (("ww", ww), ("wwb", wwb)):
        published = result.filter(pl.col("series") == name)
        assert dict(zip(published["period_key"], published["value"])) == dict(zip(keys, column))
