"""What a refresh builds from, and whether the published warehouse was built from exactly that.

A refresh whose inputs (:func:`inputs_sha256`) equal those recorded in the published build's
``build_info`` and with no UWV file waiting in the inbox has nothing to build: it would publish
the same warehouse again. The refresh flow asks through its tasks (``flows.tasks.inputs_sha256``,
``flows.tasks.published_with_inputs``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sources.cbs import catalog
from sources.cbs.landing import current_landings
from flows.settings import Settings

CODE_PACKAGES = ("flows", "sources", "transforms", "expectations", "warehouse")
ROOT = Path(__file__).resolve().parents[1]


def inputs_sha256(settings: Settings) -> str:
    """sha256 of everything a refresh builds from, so that equal inputs mean an equal warehouse.

    Covers the current landing of every catalog table (id, Modified, sha256 of its content:
    data, dimension tables, DataProperties, TableInfos), the UWV archive
    (folder and sha256 of each accepted file), the pipeline's code and reference files (every
    file of :data:`CODE_PACKAGES` but caches) and ``WERKREGIO_REFERENCE_YEAR``.
    """
    from sources.uwv.archive import archive_state

    digest = hashlib.sha256()
    for landing in current_landings(settings.raw_dir, catalog.ids()):
        digest.update(f"landing {landing.table_id} {landing.modified} {landing.content_sha256}\n".encode())
    for line in archive_state(settings.home):
        digest.update(f"uwv {line}\n".encode())
    for package in CODE_PACKAGES:
        for path in sorted((ROOT / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
                digest.update(f"file {path.relative_to(ROOT).as_posix()} {hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    digest.update(f"reference_year {settings.reference_year}\n".encode())
    return digest.hexdigest()


def published_from(settings: Settings, inputs: str) -> str | None:
    """The run id of the published build if it was made from exactly ``inputs``, else None
    (also when nothing is published)."""
    from warehouse.store import published_build

    build = published_build(settings.warehouse_path)
    return build[0] if build is not None and build[1] == inputs else None
