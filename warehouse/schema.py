"""The published warehouse's tables and views: columns, types, keys, comments and load semantics, declared once.

Every build writes a new database file from scratch, so every table here is loaded with
``replace`` semantics: the table holds exactly what the build computed, and rerunning a
build on the same inputs gives the same rows. The DDL (with column comments, readable in
DuckDB through ``duckdb_columns()``) and ``docs/warehouse.md`` are generated from this.

The ``v_*`` views are the contract with downstream tools, versioned by :data:`SCHEMA_VERSION`
(written into ``build_info``) with a :data:`CHANGELOG`. ``warehouse/contract.json`` records the
views' columns and types of every version; ``python -m warehouse.docs`` regenerates it and
``docs/warehouse.md`` (``tests/warehouse/test_contract.py`` fails when they disagree with this file).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    comment: str
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    name: str
    comment: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    load: str = "replace"

    @property
    def nullable_key(self) -> bool:
        """A key column may be NULL (DuckDB primary keys cannot): uniqueness is checked before loading."""
        return any(c.nullable for c in self.columns if c.name in self.key)

    def ddl(self) -> str:
        """``CREATE TABLE`` with the columns; the primary key comes with :meth:`primary_key`, once the rows are in."""
        lines = [f"    {c.name} {c.type}{'' if c.nullable else ' NOT NULL'}" for c in self.columns]
        return f"CREATE TABLE {self.name} (\n" + ",\n".join(lines) + "\n)"

    def primary_key(self) -> str | None:
        """``ALTER TABLE ... ADD PRIMARY KEY`` for the key; None where a key column may be NULL.

        Added after the rows are loaded, DuckDB builds the key's index once over all of them, in
        about half the time it takes to keep it up to date row by row (the largest table at 1x:
        0.40 s instead of 0.69 s); the published file holds the same primary key either way.
        """
        if not self.key or self.nullable_key:
            return None
        return f"ALTER TABLE {self.name} ADD PRIMARY KEY ({', '.join(self.key)})"

    def comments(self) -> list[str]:
        statements = [f"COMMENT ON TABLE {self.name} IS {_quote(self.comment)}"]
        statements += [f"COMMENT ON COLUMN {self.name}.{c.name} IS {_quote(c.comment)}" for c in self.columns]
        return statements

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


BUILD_INFO = Table(
    "build_info",
    "One row: the build this file holds (run id, time, what it was built from).",
    (
        Column("run_id", "VARCHAR", "id of the pipeline run that built this file", False),
        Column(
            "flow",
            "VARCHAR",
            "what built it: refresh, or indicators (a recalculation of the marts, `werkregio indicators`, "
            "which keeps the facts, source_tables and validation_results of the file it started from)",
            False,
        ),
        Column("built_at", "TIMESTAMPTZ", "when the build finished, UTC", False),
        Column(
            "cbs_url",
            "VARCHAR",
            "CBS StatLine service the data came from (after a recalculation: the one of the build whose facts it used)",
            False,
        ),
        Column("werkregio_version", "VARCHAR", "version of the werkregio package", False),
        Column(
            "schema_version",
            "VARCHAR",
            "version of the v_* views' contract this file follows (MAJOR.MINOR.PATCH; a removed or retyped column "
            "raises MAJOR, a new column or view MINOR); docs/warehouse.md lists the changes per version",
            False,
        ),
        Column(
            "inputs_sha256",
            "VARCHAR",
            "sha256 of everything a refresh builds from (landed versions, reference files, UWV archive, "
            "pipeline code, reference year); a refresh finding the same inputs publishes nothing. "
            "Null after a recalculation",
            True,
        ),
    ),
    ("run_id",),
)

SOURCE_TABLES = Table(
    "source_tables",
    "One row per CBS table in this build: which landed version was used. Key table_id.",
    (
        Column("table_id", "VARCHAR", "CBS StatLine table id, e.g. 37789ksz", False),
        Column("title", "VARCHAR", "table title from the source catalog", False),
        Column("family", "VARCHAR", "what the table holds (national_benefits, ww_municipal, regions, ...)", False),
        Column("modified", "VARCHAR", "CBS TableInfos.Modified of the landed version (over OData v4: Properties.Modified, as Amsterdam local time like v3)", False),
        Column("fetched_at", "TIMESTAMPTZ", "when that version was downloaded, UTC", False),
        Column("rows", "BIGINT", "TypedDataSet rows landed", False),
        Column("sha256", "VARCHAR", "sha256 of the landed TypedDataSet.parquet", False),
        Column("source_url", "VARCHAR", "OData URL of the table", False),
        Column("raw_path", "VARCHAR", "folder of the landing under $WERKREGIO_HOME/raw", False),
    ),
    ("table_id",),
)

NATIONAL_SERIES = Table(
    "national_series",
    "Tidy national series: one row per series per frequency per period. "
    "Key (series, frequency, period_start). value as CBS publishes it, in unit.",
    (
        Column(
            "series",
            "VARCHAR",
            "ww = WW benefits (not seasonally adjusted); wwb = bijstand benefits (total); open_vacancies = open "
            "vacancies, all industries (CBS vacancy survey, not UWV registrations). sources/cbs/catalog.py maps each to its "
            "CBS table and column",
            False,
        ),
        Column("frequency", "VARCHAR", "month | quarter | year (year = CBS annual average)", False),
        Column("period_start", "DATE", "first day of the period", False),
        Column("period_key", "VARCHAR", "CBS period key, e.g. 2014MM01, 2014JJ00", False),
        Column("value", "DOUBLE", "the figure; NULL where CBS publishes none"),
        Column("unit", "VARCHAR", "unit of value as CBS states it, e.g. 'x 1 000'", False),
        Column("provisional", "BOOLEAN", "CBS marks the figure provisional (Voorlopig / Nader voorlopig)", False),
        Column("source_table", "VARCHAR", "CBS table id the figure comes from", False),
    ),
    ("series", "frequency", "period_start"),
)

VALIDATION_RESULTS = Table(
    "validation_results",
    "One row per expectation checked on each batch used in this build (Great Expectations). "
    "Key (run_id, dataset, batch, check_index).",
    (
        Column(
            "run_id",
            "VARCHAR",
            "the refresh run that built this file's facts and recorded these results (a batch validated before "
            "with the same suite has its stored report recorded again under this run); a recalculation keeps them",
            False,
        ),
        Column("dataset", "VARCHAR", "expectation suite / dataset name", False),
        Column("batch", "VARCHAR", "what was validated: table id @ Modified", False),
        Column("check_index", "INTEGER", "position of the check in the suite", False),
        Column("expectation", "VARCHAR", "expectation type, e.g. expect_column_values_to_be_between", False),
        Column("column_name", "VARCHAR", "column checked, if any"),
        Column("severity", "VARCHAR", "critical (stops the run) | warning (recorded)", False),
        Column("success", "BOOLEAN", "the expectation held", False),
        Column("observed_value", "VARCHAR", "observed value as JSON, if GX reports one"),
        Column("element_count", "BIGINT", "rows checked"),
        Column("unexpected_count", "BIGINT", "rows that failed the expectation"),
        Column("unexpected_sample", "VARCHAR", "up to 10 failing values, JSON list"),
        Column("message", "VARCHAR", "one-line outcome", False),
    ),
    ("run_id", "dataset", "batch", "check_index"),
)

REGIONAL_SERIES = Table(
    "regional_series",
    "Tidy regional facts as CBS publishes them: one row per series per area per period per source table "
    "(all-persons totals only). Key (series, area_type, area_code, frequency, period_start, source_table).",
    (
        Column(
            "series",
            "VARCHAR",
            "ww = persons with WW; bijstand_persons = persons with bijstand below AOW age; wwb = bijstand (WWB) "
            "benefits; wwb_recipients = bijstand recipients; labour_force = labour force. "
            "sources/cbs/catalog.py maps each to its CBS tables and columns",
            False,
        ),
        Column("area_type", "VARCHAR", "municipality | region | country", False),
        Column("area_code", "VARCHAR", "municipality code (4 digits), region code (AMxx) or NL01", False),
        Column(
            "area_name",
            "VARCHAR",
            "name of the area as CBS writes it in 'Gebieden in Nederland' of geography_year (as in region_membership; "
            "NL01: Nederland); NULL where no edition of that year is loaded (before 2014) or it does not list the code",
        ),
        Column("frequency", "VARCHAR", "month | quarter | year", False),
        Column("period_start", "DATE", "first day of the period", False),
        Column("period_key", "VARCHAR", "CBS period key", False),
        Column("value", "DOUBLE", "the figure; NULL where CBS publishes none"),
        Column("unit", "VARCHAR", "unit as CBS states it ('aantal', 'x 1 000')", False),
        Column("provisional", "BOOLEAN", "CBS marks the figure provisional", False),
        Column("geography_year", "INTEGER", "year whose 1 January boundaries the figure is on", False),
        Column("source_table", "VARCHAR", "CBS table id", False),
    ),
    ("series", "area_type", "area_code", "frequency", "period_start", "source_table"),
)

MUNICIPALITIES = Table(
    "municipalities",
    "Municipality codes with the years they were valid on 1 January (project reference, checked "
    "against CBS 'Gebieden in Nederland'). Key (gm_code, valid_from_year).",
    (
        Column("gm_code", "VARCHAR", "CBS municipality code, 4 digits with leading zeros (CBS writes GM0363)", False),
        Column("name", "VARCHAR", "name in the last year of validity (one spelling; join on codes)"),
        Column("valid_from_year", "INTEGER", "first year whose 1 January list includes the code", False),
        Column("valid_to_year", "INTEGER", "last such year; NULL = still valid"),
        Column("source", "VARCHAR", "where the list comes from", False),
    ),
    ("gm_code", "valid_from_year"),
)

MUNICIPAL_CHANGES = Table(
    "municipal_changes",
    "Changes of municipality codes (mergers, splits, partial transfers, renames) with the share of the "
    "old municipality that goes to each new one. Key (boundary_year, old_code, new_code). "
    "See docs/geography.md for the mid-year rule.",
    (
        Column("date", "DATE", "the day the change took effect", False),
        Column("boundary_year", "BIGINT", "first year whose 1 January boundaries include the change", False),
        Column("old_code", "VARCHAR", "municipality before the change", False),
        Column("old_name", "VARCHAR", "its name"),
        Column("new_code", "VARCHAR", "municipality receiving this part (= old_code for what a donor keeps)", False),
        Column("new_name", "VARCHAR", "its name"),
        Column("kind", "VARCHAR", "merger | split | partial_transfer | rename", False),
        Column("share", "DOUBLE", "fraction of the old municipality's counts allocated to new_code", False),
        Column("share_basis", "VARCHAR", "what the share was measured on (whole, addresses, inhabitants, ...)"),
        Column("share_status", "VARCHAR", "exact | approximate (estimated by the project; flagged wherever used)", False),
        Column("source", "VARCHAR", "source of the row", False),
    ),
    ("boundary_year", "old_code", "new_code"),
)

REGION_MEMBERSHIP = Table(
    "region_membership",
    "Labour-market region (arbeidsmarktregio) of each municipality valid on 1 January of a year, as CBS "
    "assigns it in 'Gebieden in Nederland' of that year. Key (year, gm_code).",
    (
        Column("year", "INTEGER", "classification year (1 January)", False),
        Column("gm_code", "VARCHAR", "municipality code, 4 digits", False),
        Column("gm_name", "VARCHAR", "municipality name as CBS writes it that year"),
        Column("region_code", "VARCHAR", "labour-market region code, e.g. AM01 (AM99 = not assignable, 2019-2020)", False),
        Column("region_name", "VARCHAR", "region name as CBS writes it that year"),
        Column("source_table", "VARCHAR", "the 'Gebieden in Nederland' table id", False),
    ),
    ("year", "gm_code"),
)

UWV_VACANCIES = Table(
    "uwv_vacancies",
    "Open vacancies registered at UWV per labour-market region per reference date, from UWV register files "
    "(docs/uwv-files.md). Key (region_code, reference_date); a later accepted file wins.",
    (
        Column("region_code", "VARCHAR", "labour-market region code valid on the reference date (AMxx)", False),
        Column("reference_date", "DATE", "reference date (peildatum)", False),
        Column("open_vacancies", "BIGINT", "open vacancies registered at UWV", False),
    ),
    ("region_code", "reference_date"),
)

UWV_WWB_REGISTRATIONS = Table(
    "uwv_wwb_registrations",
    "WWB/bijstand recipients per municipality and how many are registered as job seeker at UWV, from UWV "
    "register files. Key (gm_code, reference_date); a later accepted file wins.",
    (
        Column("gm_code", "VARCHAR", "municipality code valid on the reference date, 4 digits", False),
        Column("reference_date", "DATE", "reference date (peildatum)", False),
        Column("wwb_recipients", "BIGINT", "WWB recipients", False),
        Column("registered_job_seekers", "BIGINT", "of whom registered as job seeker at UWV (<= recipients)", False),
    ),
    ("gm_code", "reference_date"),
)

UWV_PORTAL_CONNECTIONS = Table(
    "uwv_portal_connections",
    "Whether a municipality is connected to the UWV portal (Sonar/WBS access) and since when, from UWV register "
    "files. Key (gm_code, reference_date); a later accepted file wins.",
    (
        Column("gm_code", "VARCHAR", "municipality code valid on the reference date, 4 digits", False),
        Column("reference_date", "DATE", "reference date (peildatum)", False),
        Column("connected", "BOOLEAN", "connected to the UWV portal", False),
        Column("connected_since", "DATE", "connected since; NULL when not connected"),
    ),
    ("gm_code", "reference_date"),
)

INDICATORS = Table(
    "indicators",
    "Region indicators of the 2015 SUWI evaluation: one row per indicator per area per year (and base year for "
    "growth, category for banded counts) per view and geography year. A region figure is the region total only "
    "where complete is true. See docs/indicators.md.",
    (
        Column("indicator", "VARCHAR", "indicator name (docs/indicators.md), e.g. ww_benefits, wwb_benefits_growth", False),
        Column(
            "area_type",
            "VARCHAR",
            "region | country | municipality | unassigned (AM99 'Niet in te delen', 2019-2020: no region, "
            "not in v_region_indicators)",
            False,
        ),
        Column("area_code", "VARCHAR", "AMxx, NL01 or a 4-digit municipality code", False),
        Column("area_name", "VARCHAR", "name of the area in the geography year"),
        Column("year", "INTEGER", "year the figure describes (for growth: the later year)", False),
        Column("base_year", "INTEGER", "for growth indicators: the earlier year; NULL otherwise"),
        Column("category", "VARCHAR", "band (tension, portal share) or the municipality at a min/max; NULL otherwise"),
        Column("value", "DOUBLE", "the figure, in unit"),
        Column("unit", "VARCHAR", "aantal | % | ratio | regions", False),
        Column("view", "VARCHAR", "harmonised (all years on the boundaries of geography_year) | as_published", False),
        Column("geography_year", "INTEGER", "year whose municipalities and region composition the figure is on", False),
        Column("municipalities", "INTEGER", "municipalities in the region in the geography year"),
        Column(
            "reporting",
            "INTEGER",
            "municipalities the value is over: those with a figure for every month of the year (of both years, for a growth)",
        ),
        Column("complete", "BOOLEAN", "reporting is the whole region: only then is value the region total (or growth)", False),
        Column("approximate", "BOOLEAN", "an approximate split share (docs/geography.md) contributed", False),
        Column("method", "VARCHAR", "how the figure was computed", False),
        Column("sources", "VARCHAR", "source table ids (CBS) or UWV register files", False),
        Column("note", "VARCHAR", "why value is null or not the region's figure; NULL when complete (docs/indicators.md)"),
    ),
    ("indicator", "area_type", "area_code", "year", "base_year", "category", "view", "geography_year"),
)

INDICATOR_SPREAD = Table(
    "indicator_spread",
    "Spread of every indicator across regions: minimum, mean, maximum and the regions at the extremes, "
    "over the regions whose figure is complete (AM99 'Niet in te delen' is no region and left out). "
    "Key (indicator, year, base_year, category, view, geography_year).",
    (
        Column("indicator", "VARCHAR", "indicator name", False),
        Column("year", "INTEGER", "year", False),
        Column("base_year", "INTEGER", "base year of a growth indicator"),
        Column("category", "VARCHAR", "category, where it divides the indicator; null where it labels each region's value (bands, municipality codes)"),
        Column("view", "VARCHAR", "harmonised | as_published", False),
        Column("geography_year", "INTEGER", "geography year", False),
        Column("regions", "INTEGER", "regions with a figure", False),
        Column("complete_regions", "INTEGER", "regions whose figure is complete: min, mean and max are over these", False),
        Column("min", "DOUBLE", "lowest complete region figure (null without any)"),
        Column("mean", "DOUBLE", "unweighted mean of the complete region figures"),
        Column("max", "DOUBLE", "highest complete region figure"),
        Column("min_regions", "VARCHAR", "region code(s) at the minimum"),
        Column("max_regions", "VARCHAR", "region code(s) at the maximum"),
    ),
    ("indicator", "year", "base_year", "category", "view", "geography_year"),
)

LOAD_HISTORY = Table(
    "load_history",
    "The runs behind this file, one row per run attempt: the run that built it, the runs that built the files it "
    "replaced, and the runs in between that published nothing (failed, killed, found nothing changed). Each build carries "
    "the published file's rows over and adds the runs of the run log ($WERKREGIO_HOME/runs.jsonl) they lack; runs "
    "after this file's build are in the run log only (`werkregio status`). Key (run_id, attempt).",
    (
        Column("run_id", "VARCHAR", "id of the pipeline run (its Prefect flow run id)", False),
        Column("attempt", "INTEGER", "1, or the attempt of a flow run retried in Prefect under the same id", False),
        Column("flow", "VARCHAR", "refresh | indicators (a recalculation of the marts, `werkregio indicators`)", False),
        Column("parameters", "VARCHAR", "the run's parameters as JSON, e.g. {\"tables\": null, \"force\": false, \"offline\": false}"),
        Column("started_at", "TIMESTAMPTZ", "when the run started, UTC (to the second)", False),
        Column(
            "ended_at",
            "TIMESTAMPTZ",
            "when it ended, UTC: for the run that built this file its build_info.built_at, else the end the run log "
            "recorded (to the second); NULL for a killed run",
        ),
        Column(
            "outcome",
            "VARCHAR",
            "published (it published a warehouse file: this one, where run_id is build_info.run_id, or one this file "
            "replaced) | unchanged (a refresh that found its inputs equal to the published build's and published "
            "nothing) | failed (published nothing; see error) | killed (the run log has its start only: it died, "
            "e.g. kill -9, and published nothing)",
            False,
        ),
        Column("tables_fetched", "INTEGER", "CBS tables downloaded and landed as a new version; NULL where not recorded (killed)"),
        Column(
            "tables_unchanged",
            "INTEGER",
            "CBS tables whose version CBS still serves was landed already (one metadata request each); an --offline "
            "run or a recalculation asks CBS nothing: 0 and 0; NULL where not recorded",
        ),
        Column("rows_fetched", "BIGINT", "data rows of the tables downloaded; NULL where not recorded"),
        Column("uwv_files_accepted", "INTEGER", "UWV register files taken in from the inbox (docs/uwv-files.md); NULL where not recorded"),
        Column("uwv_files_rejected", "INTEGER", "UWV register files quarantined with a report; NULL where not recorded"),
        Column(
            "reference_years",
            "VARCHAR",
            "reference years of the harmonised indicators the run computed, comma-separated (a build computes every one "
            "in the file, and the as-published view); NULL where the run published nothing or the run log does not "
            "record it (runs taken from the log)",
        ),
        Column("error", "VARCHAR", "the error of a failed run, as the run log records it"),
    ),
    ("run_id", "attempt"),
)

ANALYSES = Table(
    "analyses",
    "The 2015 SUWI evaluation's analyses on the indicators: correlations between region indicators and the "
    "WWB-registered share of municipalities connected and not connected to the UWV portal (Welch's t-test). "
    "One row per analysis per pair per view, geography year and year; value null with a reason where too few "
    "complete figures (or no UWV file) allow none. Key (analysis, view, geography_year, year, x, y). "
    "See docs/indicators.md.",
    (
        Column(
            "analysis",
            "VARCHAR",
            "correlation (Pearson's r between two region indicators) | registered_share_by_portal (municipal "
            "wwb_registered_share, connected against not connected to the UWV portal)",
            False,
        ),
        Column("view", "VARCHAR", "harmonised | as_published: the indicators analysed", False),
        Column("geography_year", "INTEGER", "geography year of the indicators analysed", False),
        Column(
            "year",
            "INTEGER",
            "year analysed: harmonised, the reference year (geography_year); as published, each year with a UWV figure",
            False,
        ),
        Column(
            "x",
            "VARCHAR",
            "correlation: the first indicator (ww_benefits_growth, wwb_benefits_growth, benefits_per_vacancy, "
            "portal_share, wwb_registered_share); registered_share_by_portal: 'connected'",
            False,
        ),
        Column("y", "VARCHAR", "correlation: the second indicator (after x in that order); else 'not_connected'", False),
        Column("base_year", "INTEGER", "base year of the growth indicators in a correlation (year - 5); NULL otherwise"),
        Column("units", "VARCHAR", "what n counts: regions | municipalities", False),
        Column(
            "population",
            "INTEGER",
            "units there were: regions in the geography (AM99 left out); municipalities with a registered share",
            False,
        ),
        Column(
            "n",
            "INTEGER",
            "units used: regions with a complete figure of both indicators; municipalities with a registered share "
            "and a portal status",
            False,
        ),
        Column("n_x", "INTEGER", "registered_share_by_portal: connected municipalities; NULL for a correlation"),
        Column("n_y", "INTEGER", "registered_share_by_portal: municipalities not connected; NULL for a correlation"),
        Column("mean_x", "DOUBLE", "registered_share_by_portal: unweighted mean share of the connected municipalities, %"),
        Column("mean_y", "DOUBLE", "registered_share_by_portal: unweighted mean share of those not connected, %"),
        Column(
            "value",
            "DOUBLE",
            "correlation: Pearson's r; registered_share_by_portal: mean_x - mean_y in percentage points. "
            "NULL where not computed (reason)",
        ),
        Column("statistic", "DOUBLE", "registered_share_by_portal: Welch's t; NULL for a correlation (value is r)"),
        Column("df", "DOUBLE", "degrees of freedom: n - 2 for a correlation, Welch-Satterthwaite for the t-test"),
        Column("p_value", "DOUBLE", "two-sided p-value; NULL where not computed"),
        Column("method", "VARCHAR", "the statistic and test, and the scipy function that computed it", False),
        Column("sources", "VARCHAR", "indicators and tables analysed (with their source tables)", False),
        Column(
            "reason",
            "VARCHAR",
            "why value is NULL (no figures, no UWV file, fewer complete regions or municipalities than the minimum, "
            "no variation); NULL when computed",
        ),
    ),
    ("analysis", "view", "geography_year", "year", "x", "y"),
)

TABLES: tuple[Table, ...] = (
    BUILD_INFO,
    LOAD_HISTORY,
    SOURCE_TABLES,
    NATIONAL_SERIES,
    REGIONAL_SERIES,
    MUNICIPALITIES,
    MUNICIPAL_CHANGES,
    REGION_MEMBERSHIP,
    UWV_VACANCIES,
    UWV_WWB_REGISTRATIONS,
    UWV_PORTAL_CONNECTIONS,
    INDICATORS,
    INDICATOR_SPREAD,
    ANALYSES,
    VALIDATION_RESULTS,
)
BY_NAME = {t.name: t for t in TABLES}


@dataclass(frozen=True)
class Derived:
    """A view column computed from its table's columns (``expression``), placed right after the column ``after``."""

    name: str
    type: str
    comment: str
    expression: str
    after: str


#: The CBS statcode of an indicator or regional_series area.
STATCODE = Derived(
    "statcode",
    "VARCHAR",
    "the area's code as CBS statcode: GM0363, AM01, NL01 (municipality codes with GM, as CBS StatLine v4, PDOK's "
    "CBS boundaries and cbsodataR::cbs_add_statcode_column write them; no padding): join geometries and other CBS "
    "tables on it",
    "CASE WHEN area_type = 'municipality' THEN 'GM' || area_code ELSE area_code END",
    "area_code",
)


@dataclass(frozen=True)
class View:
    """A stable, documented view for downstream readers: its table's columns (with their comments) and ``derived`` ones."""

    name: str
    comment: str
    table: Table
    where: str = ""
    derived: tuple[Derived, ...] = ()

    def __post_init__(self) -> None:
        unknown = [d.after for d in self.derived if d.after not in self.table.column_names]
        if unknown:
            raise ValueError(f"view {self.name}: derived columns placed after {unknown}, which {self.table.name} lacks")

    @property
    def columns(self) -> list[tuple[str, str, str, str]]:
        """(name, SQL expression, declared type, comment) of every column, in order."""
        out = []
        for column in self.table.columns:
            out.append((column.name, column.name, column.type, column.comment))
            out += [(d.name, d.expression, d.type, d.comment) for d in self.derived if d.after == column.name]
        return out

    def ddl(self) -> str:
        where = f" WHERE {self.where}" if self.where else ""
        select = ", ".join(name if sql == name else f"{sql} AS {name}" for name, sql, _, _ in self.columns)
        return f"CREATE VIEW {self.name} AS SELECT {select} FROM {self.table.name}{where}"

    def comments(self) -> list[str]:
        statements = [f"COMMENT ON VIEW {self.name} IS {_quote(self.comment)}"]
        statements += [f"COMMENT ON COLUMN {self.name}.{name} IS {_quote(comment)}" for name, _, _, comment in self.columns]
        return statements


VIEWS: tuple[View, ...] = (
    View("v_build_info", "The build this file holds: run id, time, CBS service, schema_version of these views.", BUILD_INFO),
    View(
        "v_load_history",
        "The runs behind this file with their outcome (order by started_at): for 'data as of' and an audit without the run log.",
        LOAD_HISTORY,
    ),
    View("v_source_tables", "The CBS tables this build used: CBS's Modified, when fetched, rows.", SOURCE_TABLES),
    View(
        "v_national_series",
        "National series: WW and WWB benefits per month and year; CBS open vacancies per quarter and year.",
        NATIONAL_SERIES,
    ),
    View(
        "v_regional_series",
        "Regional facts as CBS publishes them (municipalities, regions, country).",
        REGIONAL_SERIES,
        derived=(STATCODE,),
    ),
    View(
        "v_region_indicators",
        "Indicators per labour-market region and for the country. Use complete = true for region totals.",
        INDICATORS,
        "area_type IN ('region', 'country')",
        (STATCODE,),
    ),
    View(
        "v_municipality_indicators",
        "Indicators per municipality (e.g. share of WWB recipients registered).",
        INDICATORS,
        "area_type = 'municipality'",
        (STATCODE,),
    ),
    View("v_indicator_spread", "Minimum, mean and maximum of every indicator across the regions with a complete figure.", INDICATOR_SPREAD),
    View(
        "v_region_membership",
        "Labour-market region of each municipality per year (CBS).",
        REGION_MEMBERSHIP,
        derived=(
            Derived(
                "gm_statcode",
                "VARCHAR",
                "the municipality as CBS statcode, e.g. GM0363 (region_code is a statcode already)",
                "'GM' || gm_code",
                "gm_code",
            ),
        ),
    ),
    View(
        "v_analyses",
        "The evaluation's analyses: correlations between region indicators, registered share by portal connection "
        "(Welch's t-test); each with n and p, or a reason where not computed.",
        ANALYSES,
    ),
)


#: Version of the views' contract (``build_info.schema_version``). MAJOR: a view or a view's column removed,
#: renamed or retyped; MINOR: a view or column added (or columns reordered); PATCH: only meanings, comments or
#: values changed in a compatible way (say so in the changelog). Change it together with :data:`CHANGELOG`, then
#: run ``python -m warehouse.docs``.
SCHEMA_VERSION = "1.0.0"

#: (version, what changed for a reader of the views), newest first: one entry per version.
CHANGELOG: tuple[tuple[str, str], ...] = (
    (
        "1.0.0",
        "First versioned contract (files built before it have no `schema_version`). Compared with them: "
        "`schema_version` in `build_info`; new views `v_build_info`, `v_load_history` (table `load_history`: the "
        "runs behind the file), `v_source_tables` and `v_analyses` (the evaluation's analyses, table `analyses`); `statcode` (GM0363, AM01, NL01) after `area_code` in "
        "`v_regional_series`, `v_region_indicators` and `v_municipality_indicators`; `gm_statcode` in "
        "`v_region_membership`; `area_name` in `v_regional_series` (and `regional_series`); `note` in "
        "`v_region_indicators` and `v_municipality_indicators` (why a value is null or partial). Values: every indicator x "
        "region x year in scope has a row (null where unknown), by one like-for-like coverage rule; AM99 ('Niet in te "
        "delen') has `area_type` 'unassigned' and is not in `v_region_indicators`; harmonised years start in 2007.",
    ),
)


def markdown() -> str:
    """The warehouse reference (``docs/warehouse.md``), generated from the declarations above."""
    out = [
        "# Warehouse tables",
        "",
        "Generated from `warehouse/schema.py` by `python -m warehouse.docs`; do not edit by hand.",
        "Every table is rebuilt in full by each build (load semantics: replace). How to read the file from",
        "DuckDB, Python, dbt and BI tools: [downstream.md](downstream.md).",
        "",
        "## The contract: the `v_*` views, schema version " + SCHEMA_VERSION,
        "",
        "Downstream tools read the **views** (`v_*`): their names, columns and types change only with a new",
        "`schema_version` (in `v_build_info`), whose changes are listed below. A removed, renamed or retyped column",
        "or view raises the major version; a new column or view (or a new order of columns) the minor one; a change",
        "of meaning or of the values a column takes that a reader may notice (a new `area_type`, say) the patch",
        "one at least, with a changelog entry. The tables behind the views may change in any version.",
        "`warehouse/contract.json` records every version's view columns and types, as DuckDB reports them.",
        "",
        "## Changelog",
        "",
    ]
    for version, text in CHANGELOG:
        out += [f"### {version}", "", text, ""]
    out += ["## Views", ""]
    for v in VIEWS:
        rows = f"rows where {v.where}" if v.where else "every row"
        out += [f"### `{v.name}`", "", f"{v.comment} Reads `{v.table.name}` ({rows}).", ""]
        out += ["| column | type | meaning |", "|---|---|---|"]
        out += [f"| `{name}` | {type_} | {_cell(comment)} |" for name, _, type_, comment in v.columns]
        out.append("")
    out += ["## Tables", ""]
    for t in TABLES:
        out += [f"### `{t.name}`", "", t.comment, "", f"Key: `({', '.join(t.key)})`. Load: {t.load}.", ""]
        out += ["| column | type | null | meaning |", "|---|---|---|---|"]
        out += [f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {_cell(c.comment)} |" for c in t.columns]
        out.append("")
    return "\n".join(out)


def _cell(text: str) -> str:
    """``text`` in a Markdown table cell: a ``|`` (as in 'month | quarter | year') would end the cell."""
    return text.replace("|", "\\|")
