"""Generated municipal benefit tables: synthetic WW and WWB figures on the real municipality codes, in CBS's layout.

The offline mirror's municipal benefit tables are cut off after their first 10,000 rows, so no
region is complete there. These frames give every municipality code of
``sources/reference/municipalities.csv`` (480, each valid on 1 January of some year 2007-2024) a
figure for every month of the years it was valid, in the real tables' topics:

* :data:`WW` (80794ned, persons with a benefit): its 12 topics, ``RegioS`` = NL01 plus every code,
  ``Perioden`` = 2007MM01..2024MM12 (216 months). As CBS publishes it, every code is listed for
  every month, null outside the years it was valid on 1 January.
* :data:`WWB` (82015NED, WWB benefits): its 4 topics, the same areas, 2011MM01..2024MM12 (168
  months), times ``scale`` categories of ``UitkeringenInRelatieMetDeAOW``: the total ``X000001``
  (the category the catalog keeps) plus ``scale - 1`` invented breakdown categories
  (``A000001``...), each at most the total (the benchmark's 10x and 100x scales).
* :data:`WWB_1998` (80724ned, WWB benefits 1998-2012, used from 2007 on): its 6 topics, the same
  areas, 2007MM01..2012MM12, the total categories of Geslacht and Leeftijd. With it WWB is
  complete from 2007, as WW is.

Values are smooth seasonal series per municipality that satisfy the family rules of
``expectations/cbs_tables.py`` (parts within wholes, partitions exact, counts rounded down to
tens), the same WWB series in both WWB tables; NL01 is the sum of the municipalities. They are
**synthetic**: nothing in them is a CBS figure. The demo's sample (:mod:`sources.sample.cbs`) and
the benchmark's mirror (``bench/generate.py``) are both made from these frames.
"""

from __future__ import annotations

from functools import cache

import polars as pl

from sources.cbs import catalog
from sources.reference.tables import REFERENCE_DIR
from sources.sample.excerpt import read_recorded
from transforms.regions import MUNICIPALITIES_SCHEMA, valid_codes_by_year

WW = catalog.table(catalog.BENEFIT_SOURCES["ww"][0])
WWB = catalog.table(catalog.BENEFIT_SOURCES["wwb"][0])
WWB_1998 = catalog.table(catalog.BENEFIT_SOURCES["wwb"][1])
TABLES = (WW, WWB_1998, WWB)
"""Complete WW and WWB for every municipality and month 2007-2024."""
FIRST_YEAR = 2007  # the first year of the municipality reference (sources/reference/municipalities.csv)
LAST_YEAR = 2024
MODIFIED = "2025-04-23T02:00:00"
MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober", "november", "december")


def frame(entry: catalog.SourceTable, scale: int = 1) -> pl.DataFrame:
    """``TypedDataSet`` rows of a generated table (without ``ID``), in the real table's column order."""
    if entry.table_id == WW.table_id:
        return ww_frame()
    if entry.table_id == WWB.table_id:
        return wwb_frame(scale)
    if entry.table_id == WWB_1998.table_id:
        return wwb_1998_frame()
    raise ValueError(f"{entry.table_id} is not generated; generated are {', '.join(t.table_id for t in TABLES)}")


def rows(entry: catalog.SourceTable, scale: int = 1) -> pl.DataFrame:
    """:func:`frame` with CBS's ``ID`` column first (0, 1, ...), as ``TypedDataSet`` serves it."""
    return frame(entry, scale).with_row_index("ID").with_columns(pl.col("ID").cast(pl.Int64))


def properties(entry: catalog.SourceTable) -> list[dict]:
    """The real table's ``DataProperties`` (dimensions and topics), as the excerpt keeps them."""
    return read_recorded(entry.table_id, "DataProperties")


def topics(entry: catalog.SourceTable) -> list[str]:
    return [p["Key"] for p in properties(entry) if p["Type"] == "Topic"]


def dimensions(entry: catalog.SourceTable, data: pl.DataFrame, scale: int = 1) -> dict[str, list[dict[str, str]]]:
    """Every dimension's categories (``Key``, ``Title``, ``Description``; ``Status`` for periods), in column order, for ``data``."""
    names = dict(_areas().select("gm_code", "name").iter_rows())
    other = {
        WW.table_id: {},
        WWB.table_id: {"UitkeringenInRelatieMetDeAOW": _aow_categories(scale)},
        WWB_1998.table_id: {d: [{"Key": key, "Title": f"Totaal ({d})", "Description": ""}] for d, key in WWB_1998.totals.items()},
    }[entry.table_id]
    regions = [
        {"Key": key, "Title": "Nederland" if key.startswith("NL") else names[key[2:]], "Description": ""}
        for key in data["RegioS"].unique().sort()
    ]
    periods = [
        {"Key": key, "Title": f"{key[:4]} {MONTHS[int(key[6:]) - 1]}", "Description": "", "Status": "Definitief"}
        for key in data["Perioden"].unique().sort()
    ]
    return {**other, "RegioS": regions, "Perioden": periods}


@cache
def _areas() -> pl.DataFrame:
    """Every municipality of the reference with the years 2007-2024 it was valid on 1 January (NL01 is added later)."""
    municipalities = pl.read_csv(REFERENCE_DIR / "municipalities.csv", schema=MUNICIPALITIES_SCHEMA)
    valid = valid_codes_by_year(municipalities, range(FIRST_YEAR, LAST_YEAR + 1))
    names = municipalities.group_by("gm_code").agg(pl.col("name").last())
    return names.sort("gm_code").with_columns(
        pl.col("gm_code").map_elements(lambda c: [y for y, codes in valid.items() if c in codes], pl.List(pl.Int32)).alias("years")
    )


def _grid(entry: catalog.SourceTable) -> pl.DataFrame:
    """One row per municipality per month of the table's years from 2007, with a base size, a seasonal factor and a validity flag."""
    years = range(max(entry.first_year, FIRST_YEAR), min(entry.last_year or LAST_YEAR, LAST_YEAR) + 1)
    months = pl.DataFrame({"year": [y for y in years for _ in range(12)], "month": [m for _ in years for m in range(1, 13)]})
    code = pl.col("gm_code").cast(pl.Int64)
    step = (pl.col("year") - FIRST_YEAR) * 12 + pl.col("month") - 1
    return _areas().join(months, how="cross").with_columns(
        pl.col("years").list.contains(pl.col("year")).alias("valid"),
        (500 + code * 7919 % 20_000).cast(pl.Float64).alias("base"),
        (1 + 0.1 * (step * 0.5236 + code % 12).sin() + 0.002 * step).alias("factor"),
    )


def _tens(value: pl.Expr) -> pl.Expr:
    """Rounded down to tens, as CBS rounds counts (so a part stays within its whole)."""
    return ((value / 10).floor() * 10).cast(pl.Int64)


def ww_frame() -> pl.DataFrame:
    """80794ned rows (without ID)."""
    size = pl.col("base") * pl.col("factor")
    below = _tens(size)  # TotDeAOWLeeftijd_2
    frame = _grid(WW).with_columns(
        below.alias("TotDeAOWLeeftijd_2"),
        _tens(0.03 * size).alias("VanafDeAOWLeeftijd_3"),
        _tens(0.036 * below).alias("Werkloosheid_4"),  # in all about CBS's national WW of 2024 (180,000)
        _tens(0.28 * below).alias("BijstandGerelateerdTotAOWLeeftijd_5"),
        _tens(0.02 * size).alias("BijstandGerelateerdVanafAOWLeeftijd_6"),
        _tens(0.25 * below).alias("BijstandTotDeAOWLeeftijd_7"),
        _tens(0.6 * below).alias("ArbeidsongeschiktheidTotaal_8"),
        _tens(0.45 * below).alias("WAOUitkering_9"),
        _tens(0.05 * below).alias("WIAUitkeringWGARegeling_10"),
        _tens(0.1 * below).alias("WajongUitkering_11"),
        _tens(1.2 * size).alias("AOW_12"),
    ).with_columns((pl.col("TotDeAOWLeeftijd_2") + pl.col("VanafDeAOWLeeftijd_3")).alias("UitkeringsontvangersTotaal_1"))
    return _with_country(frame, topics(WW), [])


def wwb_frame(scale: int = 1) -> pl.DataFrame:
    """82015NED rows (without ID): ``scale`` categories of UitkeringenInRelatieMetDeAOW, the total first."""
    total = _grid(WWB).with_columns(_wwb().alias("AantalBijstandsuitkeringen_1"))
    total = total.with_columns(
        _tens(0.62 * pl.col("AantalBijstandsuitkeringen_1")).alias("LeefvormAlleenstaande_2"),
        _tens(0.22 * pl.col("AantalBijstandsuitkeringen_1")).alias("LeefvormAlleenstaandeOuder_3"),
    ).with_columns(
        (pl.col("AantalBijstandsuitkeringen_1") - pl.col("LeefvormAlleenstaande_2") - pl.col("LeefvormAlleenstaandeOuder_3")).alias("LeefvormEchtPaar_4")
    )
    names = topics(WWB)
    parts = [total.with_columns(pl.lit(_aow_key(0)).alias("UitkeringenInRelatieMetDeAOW"))]
    share = 1 / max(scale - 1, 1)
    for index in range(1, scale):
        parts.append(total.with_columns(pl.lit(_aow_key(index)).alias("UitkeringenInRelatieMetDeAOW"), *(_tens(share * pl.col(t)).alias(t) for t in names)))
    return _with_country(pl.concat(parts), names, ["UitkeringenInRelatieMetDeAOW"])


def wwb_1998_frame() -> pl.DataFrame:
    """80724ned rows (without ID), 2007-2012: the WWB series of 82015NED, with household and duration breakdowns."""
    total = _grid(WWB_1998).with_columns(_wwb().alias("TotaalAantalWWBUitkeringen_1"))
    total = total.with_columns(
        _tens(0.62 * pl.col("TotaalAantalWWBUitkeringen_1")).alias("Alleenstaande_2"),
        _tens(0.22 * pl.col("TotaalAantalWWBUitkeringen_1")).alias("AlleenstaandeOuder_3"),
        _tens(0.3 * pl.col("TotaalAantalWWBUitkeringen_1")).alias("DuurKorterDanEenJaar_5"),
    ).with_columns(
        (pl.col("TotaalAantalWWBUitkeringen_1") - pl.col("Alleenstaande_2") - pl.col("AlleenstaandeOuder_3")).alias("EchtPaar_4"),
        (pl.col("TotaalAantalWWBUitkeringen_1") - pl.col("DuurKorterDanEenJaar_5")).alias("DuurVanEenJaarOfLanger_6"),
    )
    totals = list(WWB_1998.totals)
    return _with_country(total.with_columns(pl.lit(WWB_1998.totals[d]).alias(d) for d in totals), topics(WWB_1998), totals)


def _wwb() -> pl.Expr:
    """WWB benefits of a municipality in a month (the same in both WWB tables)."""
    return _tens(0.06 * pl.col("base") * pl.col("factor"))


def _with_country(frame: pl.DataFrame, names: list[str], outer: list[str]) -> pl.DataFrame:
    """Nulls outside a municipality's years, CBS keys, and an NL01 row per period (sum of municipalities)."""
    frame = frame.with_columns(
        *(pl.when(pl.col("valid")).then(pl.col(t)).alias(t) for t in names),
        ("GM" + pl.col("gm_code")).alias("RegioS"),
        pl.format("{}MM{}", pl.col("year"), pl.col("month").cast(pl.String).str.zfill(2)).alias("Perioden"),
    )
    country = frame.group_by(*outer, "Perioden").agg(pl.col(t).sum() for t in names).with_columns(pl.lit("NL01  ").alias("RegioS"))
    columns = [*outer, "RegioS", "Perioden", *names]
    return pl.concat([country.select(columns), frame.select(columns)]).sort(*outer, "RegioS", "Perioden")


def _aow_key(index: int) -> str:
    return WWB.totals["UitkeringenInRelatieMetDeAOW"] if index == 0 else f"A{index:06d}"


def _aow_categories(scale: int) -> list[dict[str, str]]:
    return [
        {"Key": _aow_key(i), "Title": "Uitkeringen totaal" if i == 0 else f"Categorie {i} (invented)", "Description": ""}
        for i in range(scale)
    ]
