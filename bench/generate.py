"""CBS-shaped municipal benefit tables, complete for every municipality and month, in the layout the StatLine mirror serves.

Generated tables (every other table is copied from the real offline mirror, ``../shared/data/statline``,
into the target folder, never into the repository):

* ``80794ned`` (WW, persons with a benefit): the real table's 12 topics, ``RegioS`` = NL01 plus
  every municipality code of ``sources/reference/municipalities.csv`` (480, valid on 1 January of
  some year 2007-2024), ``Perioden`` = 2007MM01..2024MM12 (216 months). As CBS publishes it, every
  code is listed for every month, with nulls outside the years it was valid on 1 January. Its size
  is the same at every scale: the catalog declares no other dimension for it.
* ``82015NED`` (WWB benefits): the real table's 4 topics, the same areas, 2011MM01..2024MM12
  (168 months), times ``scale`` categories of ``UitkeringenInRelatieMetDeAOW``: the total
  ``X000001`` (the category the catalog keeps) plus ``scale - 1`` invented breakdown categories
  (``A000001``...), each at most the total. This is how 10x and 100x reach neighbourhood-level
  row counts while every row still validates: neighbourhood codes (WK/BU) are no
  municipalities and the pipeline would drop them unseen.
* ``80724ned`` (WWB benefits 1998-2012, used from 2007 on), only in :func:`complete_mirror`:
  its 6 real topics, the same areas, 2007MM01..2012MM12, the total categories of Geslacht and
  Leeftijd. With it WWB is complete from 2007, as WW is.

Values are smooth seasonal series per municipality that satisfy the family rules of
``expectations/cbs_tables.py`` (parts within wholes, partitions exact, counts rounded to tens),
the same WWB series in both WWB tables; NL01 is the sum of the municipalities. Next to
``TypedDataSet.json`` a generated table has ``TypedDataSet.parquet`` with the same rows, so that
builds can be landed without parsing gigabytes of JSON (the mirror only serves the endpoints
listed in ``_root.json``).

Two entry points, both importable:

* :func:`complete_mirror` ``(root)``: every municipality, every month, WW and WWB 2007-2024, plus
  the real tables a build needs (or the whole catalog): served by ``tests.statline_mirror.StatLineMirror``
  (or :mod:`bench.mirror`), a refresh publishes complete region figures. The integration test
  ``tests/flows/test_complete_indicators.py`` and an offline demo use it.
* :func:`build_mirror` ``(scale, root)``: the benchmark's tables at a scale factor.

``python -m bench.generate SCALE MIRROR [--home HOME] [--whole-catalog] [--complete]`` writes the
folder (``--complete``: :func:`complete_mirror`'s tables, at SCALE) and, with HOME, lands every
table of it into ``HOME/raw`` with the pipeline's ``land_table``; it prints one JSON line of sizes.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from sources.cbs import catalog
from sources.cbs.client import RecordedCbs
from sources.cbs.landing import land_table
from sources.reference.tables import REFERENCE_DIR
from tests.statline_mirror import write_table
from transforms.regions import MUNICIPALITIES_SCHEMA, valid_codes_by_year

STATLINE = Path(__file__).resolve().parents[2] / "shared" / "data" / "statline"
WW = catalog.table("80794ned")
WWB = catalog.table("82015NED")
WWB_1998 = catalog.table("80724ned")
GENERATED = (WW.table_id, WWB.table_id)
"""The benchmark's generated tables (its figures stay comparable from run to run)."""
COMPLETE = (WW.table_id, WWB_1998.table_id, WWB.table_id)
"""Complete WW and WWB for every municipality and month 2007-2024 (``complete_mirror``)."""
#: Real tables a build of the generated ones needs: national benefits and region composition.
BUILD_TABLES = (catalog.national_benefits().table_id, *catalog.ids(catalog.REGIONS))
FIRST_YEAR = 2007  # the first year of the municipality reference (sources/reference/municipalities.csv)
LAST_YEAR = 2024
MODIFIED = "2025-04-23T02:00:00"
MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober", "november", "december")


def complete_mirror(root: Path, *, whole_catalog: bool = False, scale: int = 1) -> dict[str, int]:
    """Fill ``root`` with complete municipal WW and WWB tables and the real tables a build needs; rows per generated table.

    Complete: every municipality code valid on 1 January of each year 2007-2024 has a figure for
    every month of that year, in 80794ned (WW), 80724ned (WWB 2007-2012) and 82015NED (WWB
    2011-2024), so a refresh against a mirror of ``root`` publishes every region figure of those
    years complete. ``whole_catalog``: copy every other real catalog table too (truncated ones
    included, see the mirror's MANIFEST.md), else only 37789ksz and the 'Gebieden in Nederland'
    tables. ``scale``: as :func:`build_mirror` (82015NED only).
    """
    return build_mirror(scale, root, whole_catalog=whole_catalog, tables=COMPLETE)


def build_mirror(scale: int, root: Path, *, whole_catalog: bool = False, tables: Sequence[str] = GENERATED) -> dict[str, int]:
    """Fill ``root`` with the generated ``tables`` at ``scale`` and the real tables; return rows per generated table.

    ``whole_catalog``: copy every real catalog table (a nightly refresh asks for all of them),
    else only the ones a build needs (``BUILD_TABLES``).
    """
    root.mkdir(parents=True, exist_ok=True)
    real = [t for t in catalog.ids() if t not in tables] if whole_catalog else BUILD_TABLES
    for table_id in real:
        shutil.copytree(STATLINE / table_id, root / table_id, dirs_exist_ok=True)
    generators = {
        WW.table_id: lambda: _write(root, WW, ww_frame(), {}),
        WWB.table_id: lambda: _write(root, WWB, wwb_frame(scale), {"UitkeringenInRelatieMetDeAOW": _aow_categories(scale)}),
        WWB_1998.table_id: lambda: _write(root, WWB_1998, wwb_1998_frame(), _total_categories(WWB_1998)),
    }
    return {table_id: generators[table_id]() for table_id in tables}


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
        _tens(0.17 * below).alias("Werkloosheid_4"),
        _tens(0.28 * below).alias("BijstandGerelateerdTotAOWLeeftijd_5"),
        _tens(0.02 * size).alias("BijstandGerelateerdVanafAOWLeeftijd_6"),
        _tens(0.25 * below).alias("BijstandTotDeAOWLeeftijd_7"),
        _tens(0.6 * below).alias("ArbeidsongeschiktheidTotaal_8"),
        _tens(0.45 * below).alias("WAOUitkering_9"),
        _tens(0.05 * below).alias("WIAUitkeringWGARegeling_10"),
        _tens(0.1 * below).alias("WajongUitkering_11"),
        _tens(1.2 * size).alias("AOW_12"),
    ).with_columns((pl.col("TotDeAOWLeeftijd_2") + pl.col("VanafDeAOWLeeftijd_3")).alias("UitkeringsontvangersTotaal_1"))
    return _with_country(frame, _topics(WW), [])


def wwb_frame(scale: int) -> pl.DataFrame:
    """82015NED rows (without ID): ``scale`` categories of UitkeringenInRelatieMetDeAOW, the total first."""
    total = _grid(WWB).with_columns(_wwb().alias("AantalBijstandsuitkeringen_1"))
    total = total.with_columns(
        _tens(0.62 * pl.col("AantalBijstandsuitkeringen_1")).alias("LeefvormAlleenstaande_2"),
        _tens(0.22 * pl.col("AantalBijstandsuitkeringen_1")).alias("LeefvormAlleenstaandeOuder_3"),
    ).with_columns(
        (pl.col("AantalBijstandsuitkeringen_1") - pl.col("LeefvormAlleenstaande_2") - pl.col("LeefvormAlleenstaandeOuder_3")).alias("LeefvormEchtPaar_4")
    )
    topics = _topics(WWB)
    parts = [total.with_columns(pl.lit(_aow_key(0)).alias("UitkeringenInRelatieMetDeAOW"))]
    share = 1 / max(scale - 1, 1)
    for index in range(1, scale):
        parts.append(total.with_columns(pl.lit(_aow_key(index)).alias("UitkeringenInRelatieMetDeAOW"), *(_tens(share * pl.col(t)).alias(t) for t in topics)))
    return _with_country(pl.concat(parts), topics, ["UitkeringenInRelatieMetDeAOW"])


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
    return _with_country(total.with_columns(pl.lit(WWB_1998.totals[d]).alias(d) for d in totals), _topics(WWB_1998), totals)


def _wwb() -> pl.Expr:
    """WWB benefits of a municipality in a month (the same in both WWB tables)."""
    return _tens(0.06 * pl.col("base") * pl.col("factor"))


def _with_country(frame: pl.DataFrame, topics: list[str], outer: list[str]) -> pl.DataFrame:
    """Nulls outside a municipality's years, CBS keys, and an NL01 row per period (sum of municipalities)."""
    frame = frame.with_columns(
        *(pl.when(pl.col("valid")).then(pl.col(t)).alias(t) for t in topics),
        ("GM" + pl.col("gm_code")).alias("RegioS"),
        pl.format("{}MM{}", pl.col("year"), pl.col("month").cast(pl.String).str.zfill(2)).alias("Perioden"),
    )
    country = frame.group_by(*outer, "Perioden").agg(pl.col(t).sum() for t in topics).with_columns(pl.lit("NL01  ").alias("RegioS"))
    columns = [*outer, "RegioS", "Perioden", *topics]
    return pl.concat([country.select(columns), frame.select(columns)]).sort(*outer, "RegioS", "Perioden")


def _topics(entry: catalog.SourceTable) -> list[str]:
    return [p["Key"] for p in _real_properties(entry) if p["Type"] == "Topic"]


def _real_properties(entry: catalog.SourceTable) -> list[dict]:
    return json.loads((STATLINE / entry.table_id / "DataProperties.json").read_text(encoding="utf-8"))["value"]


def _aow_key(index: int) -> str:
    return WWB.totals["UitkeringenInRelatieMetDeAOW"] if index == 0 else f"A{index:06d}"


def _total_categories(entry: catalog.SourceTable) -> dict[str, list[dict[str, str]]]:
    """The one category of each other dimension: the total the catalog keeps (Geslacht, Leeftijd)."""
    return {dimension: [{"Key": key, "Title": f"Totaal ({dimension})"}] for dimension, key in entry.totals.items()}


def _aow_categories(scale: int) -> list[dict[str, str]]:
    return [{"Key": _aow_key(i), "Title": "Uitkeringen totaal" if i == 0 else f"Categorie {i} (invented)"} for i in range(scale)]


def _write(root: Path, entry: catalog.SourceTable, data: pl.DataFrame, other_dimensions: dict[str, list[dict[str, str]]]) -> int:
    """Write the table folder through ``write_table`` (metadata), then its rows as JSON and Parquet."""
    names = dict(_areas().select("gm_code", "name").iter_rows())
    regions = [{"Key": key, "Title": "Nederland" if key.startswith("NL") else names[key[2:]]} for key in data["RegioS"].unique().sort()]
    periods = [{"Key": key, "Title": f"{key[:4]} {MONTHS[int(key[6:]) - 1]}"} for key in data["Perioden"].unique().sort()]
    topics = [p for p in _real_properties(entry) if p["Type"] == "Topic"]
    folder = write_table(
        root,
        entry.table_id,
        dimensions={**other_dimensions, "RegioS": regions, "Perioden": periods},
        topics=topics,
        rows=[],
        time_dimension="Perioden",
        geo_dimension="RegioS",
        modified=MODIFIED,
        title=entry.title,
    )
    rows = data.with_row_index("ID").with_columns(pl.col("ID").cast(pl.Int64))
    envelope = json.loads((folder / "TypedDataSet.json").read_text(encoding="utf-8"))["odata.metadata"]
    with (folder / "TypedDataSet.json").open("wb") as handle:
        handle.write(b'{"odata.metadata":' + json.dumps(envelope).encode() + b',"value":')
        rows.write_json(handle)
        handle.write(b"}")
    rows.write_parquet(folder / "TypedDataSet.parquet")
    return rows.height


class TwinSource(RecordedCbs):
    """The mirror folder read without HTTP, data pages from the Parquet twin where a table has one."""

    def data_pages(self, table_id: str) -> Iterator[list[dict[str, Any]]]:
        twin = self.root / table_id / "TypedDataSet.parquet"
        if not twin.is_file():
            yield from super().data_pages(table_id)
            return
        for page in pl.read_parquet(twin).iter_slices(self.page_size):
            yield page.to_dicts()


def _size_mb(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths) / 1e6


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description="Write a mirror folder at a scale; optionally land it.")
    parser.add_argument("scale", type=int)
    parser.add_argument("mirror", type=Path)
    parser.add_argument("--home", type=Path, help="land every table of the folder into HOME/raw")
    parser.add_argument("--whole-catalog", action="store_true", help="copy every real catalog table, not only those a build needs")
    parser.add_argument("--complete", action="store_true", help="also 80724ned: complete WW and WWB 2007-2024 (complete_mirror)")
    args = parser.parse_args(argv)
    tables = COMPLETE if args.complete else GENERATED
    sizes: dict[str, Any] = {"rows": build_mirror(args.scale, args.mirror, whole_catalog=args.whole_catalog, tables=tables)}
    sizes["json_mb"] = {t: _size_mb([args.mirror / t / "TypedDataSet.json"]) for t in tables}
    if args.home:
        source = TwinSource(args.mirror)
        landed = [land_table(source, folder.name, args.home / "raw").landing for folder in sorted(args.mirror.iterdir())]
        sizes["landed_rows"] = sum(landing.rows for landing in landed)
        sizes["landed_mb"] = _size_mb([p for landing in landed for p in landing.folder.glob("*.parquet")])
    return sizes


if __name__ == "__main__":
    print(json.dumps(main()))
