"""The published warehouse's tables: columns, types, keys, comments and load semantics, declared once.

Every build writes a new database file from scratch, so every table here is loaded with
``replace`` semantics: the table holds exactly what the build computed, and rerunning a
build on the same inputs gives the same rows. The DDL (with column comments, readable in
DuckDB through ``duckdb_columns()``) and ``docs/warehouse.md`` are generated from this.
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
        Column("modified", "VARCHAR", "CBS TableInfos.Modified of the landed version", False),
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

TABLES: tuple[Table, ...] = (
    BUILD_INFO,
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
    VALIDATION_RESULTS,
)
BY_NAME = {t.name: t for t in TABLES}


@dataclass(frozen=True)
class View:
    """A stable, documented view for downstream readers; its columns keep the table's comments."""

    name: str
    comment: str
    table: Table
    where: str = ""

    def ddl(self) -> str:
        where = f" WHERE {self.where}" if self.where else ""
        return f"CREATE VIEW {self.name} AS SELECT {', '.join(self.table.column_names)} FROM {self.table.name}{where}"

    def comments(self) -> list[str]:
        statements = [f"COMMENT ON VIEW {self.name} IS {_quote(self.comment)}"]
        statements += [f"COMMENT ON COLUMN {self.name}.{c.name} IS {_quote(c.comment)}" for c in self.table.columns]
        return statements


VIEWS: tuple[View, ...] = (
    View(
        "v_national_series",
        "National series: WW and WWB benefits per month and year; CBS open vacancies per quarter and year.",
        NATIONAL_SERIES,
    ),
    View("v_regional_series", "Regional facts as CBS publishes them (municipalities, regions, country).", REGIONAL_SERIES),
    View(
        "v_region_indicators",
        "Indicators per labour-market region and for the country. Use complete = true for region totals.",
        INDICATORS,
        "area_type IN ('region', 'country')",
    ),
    View("v_municipality_indicators", "Indicators per municipality (e.g. share of WWB recipients registered).", INDICATORS, "area_type = 'municipality'"),
    View("v_indicator_spread", "Minimum, mean and maximum of every indicator across the regions with a complete figure.", INDICATOR_SPREAD),
    View("v_region_membership", "Labour-market region of each municipality per year (CBS).", REGION_MEMBERSHIP),
)


def markdown() -> str:
    """The warehouse reference (``docs/warehouse.md``), generated from the declarations above."""
    out = [
        "# Warehouse tables",
        "",
        "Generated from `warehouse/schema.py` by `werkregio docs`; do not edit by hand.",
        "Every table is rebuilt in full by each build (load semantics: replace).",
        "",
    ]
    out += ["## Views for downstream readers", "", "Stable names; columns and comments as in the table they read.", ""]
    out += ["| view | reads | rows | meaning |", "|---|---|---|---|"]
    out += [f"| `{v.name}` | `{v.table.name}` | {v.where or 'all'} | {v.comment} |" for v in VIEWS]
    out.append("")
    for t in TABLES:
        out += [f"## `{t.name}`", "", t.comment, "", f"Key: `({', '.join(t.key)})`. Load: {t.load}.", ""]
        out += ["| column | type | null | meaning |", "|---|---|---|---|"]
        out += [f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {c.comment} |" for c in t.columns]
        out.append("")
    return "\n".join(out)
