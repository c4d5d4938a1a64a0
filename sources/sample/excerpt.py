"""Which rows of the offline CBS StatLine mirror the demo's sample keeps, and the command that copies them.

``python -m sources.sample.excerpt ../shared/data/statline`` rewrites ``sources/sample/statline/``
from the mirror: for each table :func:`excerpt` names, its endpoint files (``_root``, ``TableInfos``,
``DataProperties``, each dimension, ``TypedDataSet``) in the mirror's v3 envelopes, with only the
rows :func:`excerpt` selects and only the dimension categories those rows use, each file
gzip-compressed (``<name>.json.gz``, no timestamp, so the same mirror gives the same bytes). Of the
generated tables (:data:`sources.sample.benefits.TABLES`) only ``TableInfos`` and ``DataProperties``
are copied: the generator writes their rows on the real topics. README.md beside
the folder says where the mirror's values come from.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
from pathlib import Path

from sources.cbs import catalog
from sources.cbs.client import NON_DIMENSION_SETS

EXCERPT_DIR = Path(__file__).resolve().parent / "statline"
SAMPLE_YEAR = 2024
"""The sample's year: its region composition, the labour-force edition before it, and its UWV files."""


def _edition(family: str, year: int) -> catalog.SourceTable:
    """The family's edition with the latest geography year up to ``year``."""
    editions = [e for e in catalog.family(family) if e.geography_year is not None and e.geography_year <= year]
    return max(editions, key=lambda e: e.geography_year or 0)


def regions_edition() -> catalog.SourceTable:
    """The 'Gebieden in Nederland' edition of :data:`SAMPLE_YEAR`: the sample's municipalities and regions."""
    return _edition(catalog.REGIONS, SAMPLE_YEAR)


def _totals(entry: catalog.SourceTable) -> dict[str, tuple[str, ...]]:
    return {dimension: (key,) for dimension, key in entry.totals.items()}


def excerpt() -> dict[str, dict[str, tuple[str, ...]]]:
    """table id -> {dimension: kept keys (stripped) or key prefixes ending in '*'}; an empty mapping keeps every row.

    National WW and WWB benefits per month (37789ksz): every row. 'Gebieden in Nederland' of
    :data:`SAMPLE_YEAR` (85755NED): every municipality with its labour-market region. The
    labour-force edition up to that year (85230NED, 2021): the catalog's total of persons, the
    country, the regions and the municipalities, its last three years. CBS open vacancies
    (80472ned): the catalog's total of all economic activities. CBS's annual bijstand recipients
    per municipality (83450NED, 83747NED, 84066NED: 2015-2017, each on its year's boundaries, no
    time dimension): the catalog's total of all ages, the country, the regions and the municipalities.
    """
    labour = _edition(catalog.LABOUR_FORCE, SAMPLE_YEAR)
    last = labour.geography_year or SAMPLE_YEAR
    (vacancies,) = catalog.family(catalog.VACANCIES)
    recipients = [catalog.table(table_id) for table_id in catalog.BENEFIT_SOURCES["wwb_recipients"]]
    return {
        catalog.national_benefits().table_id: {},
        regions_edition().table_id: {},
        labour.table_id: {
            **_totals(labour),
            "RegioS": ("NL01", "AM*", "GM*"),
            "Perioden": tuple(f"{year}JJ00" for year in range(last - 2, last + 1)),
        },
        vacancies.table_id: _totals(vacancies),
        **{entry.table_id: {**_totals(entry), entry.region_dimension or "": ("NL01", "AM*", "GM*")} for entry in recipients},
    }


def read_recorded(table_id: str, name: str, root: Path = EXCERPT_DIR) -> list[dict]:
    """The ``value`` records of one endpoint file of the excerpt (``name`` '' is the table's listing)."""
    path = root / table_id / f"{name or '_root'}.json.gz"
    return json.loads(gzip.decompress(path.read_bytes()))["value"]


def _kept(key: str, wanted: tuple[str, ...]) -> bool:
    key = key.strip()
    return any(key.startswith(w[:-1]) if w.endswith("*") else key == w for w in wanted)


def _write(path: Path, document: dict) -> int:
    data = gzip.compress(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), mtime=0)
    path.write_bytes(data)
    return len(data)


def copy_table(mirror: Path, table_id: str, out: Path) -> int:
    """Copy one table's excerpt from ``mirror`` into ``out/table_id``; return the compressed bytes written."""
    from sources.sample.benefits import TABLES as GENERATED  # which imports this module

    source, target = mirror / table_id, out / table_id
    target.mkdir(parents=True)

    def document(name: str) -> dict:
        return json.loads((source / f"{name}.json").read_text(encoding="utf-8"))

    if table_id in {entry.table_id for entry in GENERATED}:
        return sum(_write(target / f"{name}.json.gz", document(name)) for name in ("TableInfos", "DataProperties"))
    listing = document("_root")
    dimensions = [entry["name"] for entry in listing["value"] if entry["name"] not in NON_DIMENSION_SETS]
    rows = document("TypedDataSet")
    selection = excerpt()[table_id]
    rows["value"] = [row for row in rows["value"] if all(_kept(row[d], keys) for d, keys in selection.items())]
    size = _write(target / "TypedDataSet.json.gz", rows)
    for name in dimensions:
        categories = document(name)
        used = {row[name] for row in rows["value"]}
        categories["value"] = [c for c in categories["value"] if c["Key"] in used]
        size += _write(target / f"{name}.json.gz", categories)
    return size + sum(_write(target / f"{name}.json.gz", document(name)) for name in ("_root", "TableInfos", "DataProperties"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sources.sample.excerpt", description=__doc__.splitlines()[0])
    parser.add_argument("mirror", type=Path, help="the offline StatLine mirror, ../shared/data/statline")
    args = parser.parse_args(argv)
    if EXCERPT_DIR.exists():
        shutil.rmtree(EXCERPT_DIR)
    from sources.sample.benefits import TABLES as GENERATED  # which imports this module

    for table_id in [*excerpt(), *(entry.table_id for entry in GENERATED)]:
        size = copy_table(args.mirror, table_id, EXCERPT_DIR)
        print(f"{table_id}: {size / 1000:.1f} kB")


if __name__ == "__main__":
    main()
