"""Registry of validated outcome measures.

Every outcome flag the product reports (reliable improvement, recovery, ...) is derived from the numbers
declared here, so each number carries its published source. Adding an instrument means adding one entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Direction = Literal["lower_is_better", "higher_is_better"]


@dataclass(frozen=True)
class Instrument:
    """A validated outcome measure and the thresholds that turn two scores into clinical outcomes."""

    name: str
    min_score: float
    max_score: float
    direction: Direction
    reliable_change: float
    """Smallest change (in score points) that counts as reliable; a change of exactly this size counts."""
    caseness: float | None
    """Scores at or beyond this cut-off (in the 'worse' direction) are a clinical case; None where undefined."""
    remission: float | None
    """Scores strictly better than this count as remission; None where undefined."""
    source: str

    @property
    def span(self) -> float:
        return self.max_score - self.min_score

    def is_case(self, score: float) -> bool:
        if self.caseness is None:
            raise ValueError(f"{self.name} defines no caseness cut-off")
        if self.direction == "lower_is_better":
            return score >= self.caseness
        return score <= self.caseness

    def severity(self, score: float) -> float:
        """Score mapped to 0 (best possible) .. 1 (worst possible), whatever the instrument's direction."""
        fraction = (score - self.min_score) / self.span
        return fraction if self.direction == "lower_is_better" else 1.0 - fraction

    def score_from_severity(self, severity: float) -> float:
        fraction = severity if self.direction == "lower_is_better" else 1.0 - severity
        return self.min_score + fraction * self.span


INSTRUMENTS: dict[str, Instrument] = {
    i.name: i
    for i in (
        Instrument(
            name="PHQ-9",
            min_score=0,
            max_score=27,
            direction="lower_is_better",
            reliable_change=6,
            caseness=10,
            remission=5,
            source=(
                "Kroenke, Spitzer & Williams 2001 (J Gen Intern Med 16:606-613): range 0-27; caseness >= 10 and "
                "reliable change >= 6 as used by NHS Talking Therapies (IAPT Manual); remission < 5 from the "
                "CMS159 depression-remission measure."
            ),
        ),
        Instrument(
            name="GAD-7",
            min_score=0,
            max_score=21,
            direction="lower_is_better",
            reliable_change=4,
            caseness=8,
            remission=5,
            source=(
                "Spitzer, Kroenke, Williams & Lowe 2006 (Arch Intern Med 166:1092-1097): range 0-21, minimal "
                "band 0-4; caseness >= 8 and reliable change >= 4 as used by NHS Talking Therapies (IAPT Manual)."
            ),
        ),
        Instrument(
            name="BDI-II",
            min_score=0,
            max_score=63,
            direction="lower_is_better",
            reliable_change=9,
            caseness=14,
            remission=10,
            source=(
                "Beck, Steer & Brown 1996 (BDI-II manual): range 0-63, minimal 0-13 so caseness >= 14; "
                "reliable change 9 points (Seggar, Lambert & Hansen 2002, Behav Ther 33:253); remission "
                "< 10 as in the CoBalT trial (Wiles et al. 2013, Lancet 381:375)."
            ),
        ),
        Instrument(
            name="PSFS",
            min_score=0,
            max_score=10,
            direction="higher_is_better",
            reliable_change=2,
            caseness=None,
            remission=None,
            source=(
                "Patient-Specific Functional Scale, average item score 0-10 (higher is better); minimal "
                "clinically important difference 2 points for the average score (Stratford et al. 1995, "
                "Physiother Can 47:258). No caseness cut-off is defined."
            ),
        ),
        Instrument(
            name="ODI",
            min_score=0,
            max_score=100,
            direction="lower_is_better",
            reliable_change=10,
            caseness=None,
            remission=None,
            source=(
                "Oswestry Disability Index 0-100 % (lower is better); minimal important change 10 points "
                "(Ostelo et al. 2008, Spine 33:90). No caseness cut-off is defined."
            ),
        ),
        Instrument(
            name="NPRS",
            min_score=0,
            max_score=10,
            direction="lower_is_better",
            reliable_change=2,
            caseness=None,
            remission=None,
            source=(
                "Numeric Pain Rating Scale 0-10 (lower is better); minimal clinically important difference "
                "2 points (Childs, Piva & Fritz 2005, Spine 30:1331). No caseness cut-off is defined."
            ),
        ),
    )
}


def get_instrument(name: str) -> Instrument:
    try:
        return INSTRUMENTS[name]
    except KeyError:
        known = ", ".join(sorted(INSTRUMENTS))
        raise KeyError(f"unknown instrument {name!r}; registered instruments are: {known}") from None
