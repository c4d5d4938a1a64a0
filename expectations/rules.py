"""Relations between CBS topics that hold in a family's tables, by DataProperties key.

Plain data, apart from the Great Expectations suites that check them (``expectations.cbs_tables``), so
that code which must not import GX can read the topic keys they name: the v4 source spells its columns
as the pipeline names them (:func:`topic_keys`, ``docs/cbs-client.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sources.cbs import catalog


@dataclass(frozen=True)
class FamilyRules:
    """Relations between topics that hold in a family's tables, by DataProperties key.

    A rule applies to a table when all of its topics are in it. ``parts``: (part, whole) where
    the part is a subset of the whole, so it can never exceed it; rounding both to the same
    unit keeps that order, hence critical. ``partitions``: (whole, parts) where the parts are
    meant to add up to the whole; CBS rounds each figure separately and does not promise that
    breakdowns add up, hence a warning with rounding slack. ``percentages``: at most 100.
    ``signed``: balancing items that may be negative.
    """

    parts: tuple[tuple[str, str], ...] = ()
    partitions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    percentages: tuple[str, ...] = ()
    signed: tuple[str, ...] = ()

    def topics(self) -> set[str]:
        """Every topic key these rules name."""
        return (
            {c for pair in self.parts for c in pair}
            | {c for whole, parts in self.partitions for c in (whole, *parts)}
            | set(self.percentages)
            | set(self.signed)
        )


def _each(parts: Sequence[str], whole: str) -> tuple[tuple[str, str], ...]:
    return tuple((part, whole) for part in parts)


_WWB_PARTS = ("Alleenstaande_2", "AlleenstaandeOuder_3", "EchtPaar_4")
_WWB_DURATION = ("DuurKorterDanEenJaar_5", "DuurVanEenJaarOfLanger_6")
_LEEFVORM = ("LeefvormAlleenstaande_2", "LeefvormAlleenstaandeOuder_3", "LeefvormEchtPaar_4")

RULES: Mapping[str, FamilyRules] = {
    catalog.WW_MUNICIPAL: FamilyRules(
        parts=(
            # 80794ned (persons): the two series and the age groups they lie in
            *_each(("TotDeAOWLeeftijd_2", "VanafDeAOWLeeftijd_3", "Werkloosheid_4"), "UitkeringsontvangersTotaal_1"),
            ("Werkloosheid_4", "TotDeAOWLeeftijd_2"),  # WW ends at the AOW age
            ("BijstandGerelateerdTotAOWLeeftijd_5", "TotDeAOWLeeftijd_2"),
            ("BijstandTotDeAOWLeeftijd_7", "BijstandGerelateerdTotAOWLeeftijd_5"),
            # 70059ned: benefits ended in the quarter, by the duration they had
            *_each(("k_0Tot6Maanden_4", "k_6Tot12Maanden_5", "k_12MaandenOfLanger_6", "DuurOnbekend_7"),
                   "UitstroomWWUitkeringenTotaal_3"),
        ),
        partitions=(("UitkeringsontvangersTotaal_1", ("TotDeAOWLeeftijd_2", "VanafDeAOWLeeftijd_3")),),
        signed=("AdministratieveVerschil_8",),  # 70059ned: begin + in - out + difference = end
    ),
    catalog.WWB_MUNICIPAL: FamilyRules(
        parts=(
            *_each((*_WWB_PARTS, *_WWB_DURATION), "TotaalAantalWWBUitkeringen_1"),
            *_each(_LEEFVORM, "AantalBijstandsuitkeringen_1"),
            # 83450NED/83747NED/84066NED (the recipients topic is spelt two ways)
            ("Bijstandontvangers_2", "Inwoners_1"),
            ("Bijstandsontvangers_2", "Inwoners_1"),
            ("WSWWerknemers_16", "Inwoners_1"),
            ("PersonenMetBijstandEnReIntegratie_13", "Bijstandontvangers_2"),
            ("PersonenMetBijstandEnReIntegratie_13", "Bijstandsontvangers_2"),
            ("PersonenMetBijstandEnReIntegratie_13", "PersonenMetReIntegratievoorziening_10"),
        ),
        partitions=(
            ("TotaalAantalWWBUitkeringen_1", _WWB_PARTS),
            ("TotaalAantalWWBUitkeringen_1", _WWB_DURATION),
            ("AantalBijstandsuitkeringen_1", _LEEFVORM),
        ),
    ),
    catalog.LABOUR_FORCE: FamilyRules(
        parts=(
            # regional editions
            ("Beroepsbevolking_2", "BeroepsEnNietBeroepsbevolking_1"),
            ("NietBeroepsbevolking_14", "BeroepsEnNietBeroepsbevolking_1"),
            ("WerkzameBeroepsbevolking_3", "Beroepsbevolking_2"),
            ("WerklozeBeroepsbevolking_12", "Beroepsbevolking_2"),
            *_each(("Werknemer_4", "Zelfstandige_5"), "WerkzameBeroepsbevolking_3"),
            # 71761ned
            ("TotaalBeroepsbevolking_2", "Bevolking15Tot65Jaar_1"),
            ("NietBeroepsbevolking_5", "Bevolking15Tot65Jaar_1"),
            ("WerkzameBeroepsbevolking_3", "TotaalBeroepsbevolking_2"),
            ("WerklozeBeroepsbevolking_4", "TotaalBeroepsbevolking_2"),
        ),
        partitions=(
            ("BeroepsEnNietBeroepsbevolking_1", ("Beroepsbevolking_2", "NietBeroepsbevolking_14")),
            ("Beroepsbevolking_2", ("WerkzameBeroepsbevolking_3", "WerklozeBeroepsbevolking_12")),
            ("Bevolking15Tot65Jaar_1", ("TotaalBeroepsbevolking_2", "NietBeroepsbevolking_5")),
            ("TotaalBeroepsbevolking_2", ("WerkzameBeroepsbevolking_3", "WerklozeBeroepsbevolking_4")),
        ),
        percentages=(
            "Werkloosheidspercentage_13", "BrutoArbeidsparticipatie_15", "NettoArbeidsparticipatie_16",
            "BrutoArbeidsparticipatie_6", "NettoArbeidsparticipatie_7", "Werkloosheidspercentage_8",
        ),  # fmt: skip
    ),
    catalog.VACANCIES: FamilyRules(),
}


def topic_keys() -> frozenset[str]:
    """Every topic key the rules of any family name."""
    return frozenset(key for rules in RULES.values() for key in rules.topics())
