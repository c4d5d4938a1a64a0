"""The demo's sample: an excerpt of real CBS tables plus generated (synthetic) benefit tables and UWV files.

``excerpt`` (which rows of the offline mirror are bundled, and the command that copies them),
``benefits`` (generated municipal WW and WWB tables), ``uwv`` (generated UWV register files),
``cbs`` (the tables served through the CBS client's interface). Provenance: README.md here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SYNTHETIC = "Synthetic"
"""Key of a ``TableInfos`` record whose values were generated, not published by CBS (CBS never sends it)."""


def is_synthetic(info: Mapping[str, Any]) -> bool:
    """Whether a landed table's ``TableInfos`` record marks its values as generated (the sample's tables, ``cbs.SampleCbs``)."""
    return info.get(SYNTHETIC) is True
