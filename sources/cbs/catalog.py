"""Which CBS StatLine tables feed which series: the one place CBS table ids are written.

Each :class:`SourceTable` names its family (the kind of figures it holds), the period it
covers, its unit and, where the pipeline already turns it into a series, which topic
column holds which series. Table ids never appear as literals elsewhere in the code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

NATIONAL_BENEFITS = "national_benefits"
WW_MUNICIPAL = "ww_municipal"
WWB_MUNICIPAL = "wwb_municipal"
LABOUR_FORCE = "labour_force"
VACANCIES = "vacancies"
REGIONS = "regions"

FAMILIES = (NATIONAL_BENEFITS, WW_MUNICIPAL, WWB_MUNICIPAL, LABOUR_FORCE, VACANCIES, REGIONS)


@dataclass(frozen=True)
class SourceTable:
    """One CBS StatLine table the pipeline lands.

    ``series`` maps a series name (``ww``, ``wwb``, ...) to the topic column (DataProperties
    ``Key``) that holds it. ``first_year``/``last_year`` give the period the table covers
    (``last_year`` None: still updated). ``geography_year`` is the classification year of
    a 'Gebieden in Nederland' edition or of a regional labour-force edition.

    ``measures`` maps a CBS OData v4 measure code (``D007076_2``) to the topic key it lands as,
    where the v4 source's rule (``docs/cbs-client.md``, 'Measure codes') is not to be relied on:
    an explicit override, checked against the table's ``MeasureCodes`` on every v4 download.
    """

    table_id: str
    family: str
    title: str
    frequency: str
    unit: str
    first_year: int
    last_year: int | None
    series: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    geography_year: int | None = None
    note: str = ""
    region_dimension: str | None = None
    totals: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    measures: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"{self.table_id}: unknown family {self.family!r}")
        object.__setattr__(self, "series", MappingProxyType(dict(self.series)))
        object.__setattr__(self, "totals", MappingProxyType(dict(self.totals)))
        object.__setattr__(self, "measures", MappingProxyType(dict(self.measures)))


def _labour_force(table_id: str, year: int, first_year: int) -> SourceTable:
    return SourceTable(
        table_id,
        LABOUR_FORCE,
        f"Arbeidsdeelname; regionale indeling {year}",
        "year",
        "x 1 000",
        first_year,
        year,
        {"labour_force": "Beroepsbevolking_2"},
        geography_year=year,
        region_dimension="RegioS",
        totals={"Persoonskenmerken": "T009002"},
    )


def _regions(table_id: str, year: int) -> SourceTable:
    return SourceTable(
        table_id,
        REGIONS,
        f"Gebieden in Nederland {year}",
        "year",
        "code",
        year,
        year,
        geography_year=year,
        note="municipality -> labour-market region (and other classifications) on 1 January",
    )


TABLES: tuple[SourceTable, ...] = (
    SourceTable(
        "37789ksz",
        NATIONAL_BENEFITS,
        "Sociale zekerheid; kerncijfers, uitkeringen naar uitkeringssoort",
        "month",
        "x 1 000",
        1998,
        None,
        {"ww": "NietSeizoengecorrigeerd_8", "wwb": "TotaalBijstandsuitkeringen_11"},
        note="national; also annual averages (JJ00); WW not seasonally adjusted",
        # CBS's v4 codes of the two series, from the table's real MeasureCodes (2026-07; 5,379 figures equal
        # to v3's: ../shared/data/statline/FORMAT_V4.md section 5)
        measures={"D007076_2": "NietSeizoengecorrigeerd_8", "D000203_2": "TotaalBijstandsuitkeringen_11"},
    ),
    SourceTable(
        "70059ned",
        WW_MUNICIPAL,
        "Werkloosheidswet, uitkeringen naar regio, leeftijd en geslacht, 1998-2015",
        "quarter",
        "aantal",
        1998,
        2015,
        {"ww": "WWUitkeringenEindeVanDePeriode_9"},
        note="benefits at the end of each quarter",
        region_dimension="RegioS",
        totals={"Geslacht": "T001038", "Leeftijd": "10000"},
    ),
    SourceTable(
        "80794ned",
        WW_MUNICIPAL,
        "Personen met een uitkering; uitkeringsontvangers per regio",
        "month",
        "aantal",
        2007,
        None,
        {"ww": "Werkloosheid_4", "bijstand_persons": "BijstandTotDeAOWLeeftijd_7"},
        note="persons with a benefit (WW: about one benefit per person); bijstand persons kept apart from WWB benefits",
        region_dimension="RegioS",
    ),
    SourceTable(
        "80725ned",
        WWB_MUNICIPAL,
        "Algemene bijstand; uitkeringen op grond van de WWB, 1998-2011",
        "month",
        "aantal",
        1998,
        2011,
        {"wwb": "TotaalAantalWWBUitkeringen_1"},
        region_dimension="RegioS",
        totals={"Geslacht": "T001038", "Leeftijd": "10000"},
    ),
    SourceTable(
        "80724ned",
        WWB_MUNICIPAL,
        "Algemene bijstand; uitkeringen op grond van de WWB, 1998-2012",
        "month",
        "aantal",
        1998,
        2012,
        {"wwb": "TotaalAantalWWBUitkeringen_1"},
        region_dimension="RegioS",
        totals={"Geslacht": "T001038", "Leeftijd": "10000"},
    ),
    SourceTable(
        "82015NED",
        WWB_MUNICIPAL,
        "Bijstandsuitkeringen; uitkeringsgrondslag, regio's",
        "month",
        "aantal",
        2011,
        None,
        {"wwb": "AantalBijstandsuitkeringen_1"},
        region_dimension="RegioS",
        totals={"UitkeringenInRelatieMetDeAOW": "X000001"},
    ),
    SourceTable(
        "83450NED",
        WWB_MUNICIPAL,
        "Sociale zekerheid; bijstand, re-integratie en WSW, gemeenten 2015",
        "year",
        "aantal",
        2015,
        2015,
        {"wwb_recipients": "Bijstandontvangers_2"},
        geography_year=2015,
        region_dimension="RegioS",
        totals={"Leeftijd": "20150"},
    ),
    SourceTable(
        "83747NED",
        WWB_MUNICIPAL,
        "Sociale zekerheid; bijstand, re-integratie en WSW, gemeenten 2016",
        "year",
        "aantal",
        2016,
        2016,
        {"wwb_recipients": "Bijstandontvangers_2"},
        geography_year=2016,
        region_dimension="Regiokenmerken",
        totals={"Leeftijd": "20150"},
    ),
    SourceTable(
        "84066NED",
        WWB_MUNICIPAL,
        "Sociale zekerheid; bijstand, re-integratie en WSW, gemeenten 2017",
        "year",
        "aantal",
        2017,
        2017,
        {"wwb_recipients": "Bijstandsontvangers_2"},
        geography_year=2017,
        region_dimension="Regiokenmerken",
        totals={"Leeftijd": "20150"},
    ),
    _labour_force("82208NED", 2014, 2003),
    _labour_force("83360NED", 2015, 2003),
    _labour_force("83524NED", 2016, 2003),
    _labour_force("83933NED", 2017, 2003),
    _labour_force("84469NED", 2018, 2003),
    _labour_force("84703NED", 2019, 2003),
    _labour_force("84961NED", 2020, 2003),
    _labour_force("85230NED", 2021, 2003),
    SourceTable(
        "71761ned",
        LABOUR_FORCE,
        "Beroepsbevolking; kerncijfers provincie 1987-2014",
        "year",
        "x 1 000",
        1987,
        2014,
        {"labour_force": "TotaalBeroepsbevolking_2"},
        note="national and provinces only; not a regional fact table (its 2001 revision keys 2001JJ01/JJ02 are no CBS year keys)",
    ),
    SourceTable(
        "80472ned",
        VACANCIES,
        "Vacatures; openstaande, ontstane en vervulde vacatures, bedrijfskenmerken",
        "quarter",
        "x 1 000",
        1997,
        None,
        {"open_vacancies": "OpenstaandeVacatures_1"},
        note="national, by industry; not UWV registrations",
        totals={"Bedrijfskenmerken": "T001081"},
    ),
    _regions("82496NED", 2014),
    _regions("82949NED", 2015),
    _regions("83287NED", 2016),
    _regions("83553NED", 2017),
    _regions("83859NED", 2018),
    _regions("84378NED", 2019),
    _regions("84721NED", 2020),
    _regions("84929NED", 2021),
    _regions("85067NED", 2022),
    _regions("85385NED", 2023),
    _regions("85755NED", 2024),
    _regions("86059NED", 2025),
)

_BY_ID = {t.table_id.lower(): t for t in TABLES}


class UnknownTableError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def table(table_id: str) -> SourceTable:
    """The catalog entry for ``table_id`` (case-insensitive, as CBS ids are)."""
    try:
        return _BY_ID[table_id.lower()]
    except KeyError:
        raise UnknownTableError(
            f"table {table_id!r} is not in the source catalog (sources/cbs/catalog.py); "
            f"known tables: {', '.join(t.table_id for t in TABLES)}; families: {', '.join(FAMILIES)}"
        ) from None


def family(name: str) -> tuple[SourceTable, ...]:
    return tuple(t for t in TABLES if t.family == name)


def ids(family_name: str | None = None) -> list[str]:
    """Table ids of one family, or of the whole catalog."""
    return [t.table_id for t in (TABLES if family_name is None else family(family_name))]


def select(ids_or_families: Iterable[str] = ()) -> tuple[SourceTable, ...]:
    """Catalog entries for the given table ids and/or family names; all tables when empty."""
    wanted = list(ids_or_families)
    if not wanted:
        return TABLES
    chosen: dict[str, SourceTable] = {}
    for item in wanted:
        for entry in family(item) if item in FAMILIES else (table(item),):
            chosen[entry.table_id] = entry
    return tuple(chosen.values())


def regional_tables() -> tuple[SourceTable, ...]:
    """Tables that hold figures per municipality and/or labour-market region."""
    return tuple(t for t in TABLES if t.region_dimension and t.series)


def national_benefits() -> SourceTable:
    (entry,) = family(NATIONAL_BENEFITS)
    return entry


def national_tables() -> tuple[SourceTable, ...]:
    """Tables with national series only: benefits by type and CBS open vacancies."""
    return family(NATIONAL_BENEFITS) + family(VACANCIES)


#: Municipal tables per benefit series, in precedence order (newer tables first: they carry revisions).
BENEFIT_SOURCES = {
    "ww": ("80794ned",),
    "wwb": ("82015NED", "80724ned", "80725ned"),
    "wwb_recipients": ("84066NED", "83747NED", "83450NED"),
}
