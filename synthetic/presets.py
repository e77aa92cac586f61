"""Parameters of the synthetic worlds, calibrated to the published figures in shared/design/CLINICAL_FACTS.md.

Each modality (or physical-therapy budget category) is described by what a unit of money buys and how well it
works. The numbers are chosen so that, averaged over a world, finishers show about 50 % recovery, 67 % reliable
improvement and 7.5 sessions, and about 40 % of offered referrals finish a course (tests/features/test_world.py
checks those calibration targets on every change).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModalityParams:
    unit_cost: float
    """Money per attended session per patient (US Medicare-style prices; group is per patient)."""
    standard_sessions: float
    """Length of a standard course: funding of unit_cost x standard_sessions per referral is 'fully funded'."""
    effect_rate: float
    """Share of the gap to the symptom floor closed per session (exponential decay of the latent score)."""
    dropout_logit: float
    """Per-session dropout hazard (logit) for a reference patient (age 40, mid deprivation, no response yet)."""
    entry_logit: float
    """Logit of starting treatment once offered, for a reference patient with no wait."""
    reach_rate: float
    """How fast reach saturates: share offered = 1 - exp(-reach_rate * funded courses per referral)."""
    severity_shift: float = 0.0
    """Shift of the baseline score in SDs (prevention sees milder, sub-threshold people)."""
    suits_young_and_rural: bool = False
    """Telehealth-like delivery: works better and loses fewer patients among the young and the rural."""


@dataclass(frozen=True)
class Baseline:
    """Intake score distribution among people referred, on the instrument's own scale."""

    mean: float
    sd: float
    low: float
    high: float
    measurement_sd: float
    resolution: float = 1.0
    subthreshold_low: float | None = None
    """Lower clip for programmes that see sub-threshold people (negative severity shift); default `low`."""


@dataclass(frozen=True)
class CategoryLevers:
    """How a clinic's budget categories act together on its patients (the clinic-category world, clinics.py).

    Staffing buys visits exactly as a modality does (its ModalityParams); the other categories buy no visits:
    each moves one lever of the clinic's care, with diminishing returns in its money per base referral x,
    lever = max x (1 - exp(-x / scale)). Figures without a published anchor are [U].
    """

    marketing_max_lift: float = 0.45
    """Largest relative rise in referrals that outreach can bring [U]."""
    marketing_scale: float = 60.0
    training_max_gain: float = 0.35
    """Largest rise of the log effect per session (x1.42): specialised clinicians [U]."""
    training_scale: float = 50.0
    technology_max_shift: float = 0.7
    """Largest fall of the per-session dropout logit (home-exercise apps, reminders). PT no-shows are common
    (0.73 of episodes have at least one, Bhavsar 2021), so adherence is where technology acts [U for the size]."""
    technology_scale: float = 50.0
    reference_spend: tuple[float, float, float] = (45.0, 40.0, 50.0)
    """Historical money per base referral of an average clinic on training, technology and marketing."""
    tiers: tuple[tuple[str, float, float], ...] = (("A", 0.3, 0.35), ("B", 0.4, 0.0), ("C", 0.3, -0.35))
    """Performance tiers: (name, share of clinics, quality offset); quality = offset + N(0, 0.15) [U]."""
    severity_spread: float = 0.3
    """SD across clinics of the intake severity shift, in baseline SDs (case mix) [U]."""
    age_spread: float = 6.0
    """SD across clinics of the patients' mean age, years (case mix) [U]."""
    wait_scale: float = 4.0
    max_wait: float = 40.0
    wait_dropout_logit: float = -3.2
    wait_dropout_per_week: float = 0.1
    """Staffing short of referrals: waits and leaving after the assessment visit as in the waits regime
    (regimes.py; 17 % leave after assessment at ~18 weeks, near CBT's pre-treatment 0.159, Fernandez 2015)."""


CATEGORIES = ("staffing", "training", "technology", "marketing")
"""A clinic's budget categories in the clinic-category world, staffing (the one that buys visits) first."""


@dataclass(frozen=True)
class Preset:
    name: str
    modalities: dict[str, ModalityParams]
    instruments: dict[str, float]
    """Instrument -> share of episodes measured with it."""
    diagnosis: dict[str, str]
    """Instrument -> the diagnosis recorded for episodes measured with it."""
    baselines: dict[str, Baseline]
    regions: dict[str, float]
    n_programs: int
    n_periods: int
    first_period: str
    floor_severity: float = 0.12
    """Latent symptoms decay towards this severity (0 = best, 1 = worst), never to zero."""
    good_enough_severity: float = 0.22
    """Where the instrument has no caseness cut-off, treatment stops once latent severity is below this."""
    good_enough_of_caseness: float = 0.45
    """Where it has one, treatment stops once the latent score is below this share of the caseness cut-off
    (PHQ-9 4.5, GAD-7 3.6): clinicians discharge near remission, not at the first score under the cut-off."""
    final_when_dropped: float = 0.5
    """Probability a last-observed score is recorded for someone who dropped out after starting."""
    categories: CategoryLevers | None = None
    """Set for the clinic-category world: programmes are clinic x category and act together per clinic."""


MENTAL_HEALTH = Preset(
    name="mental-health",
    modalities={
        # Individual CBT: $150 per 60-minute session; standard course ~10 sessions (Pybis 2017: mean 8.9).
        "individual_cbt": ModalityParams(150, 8, 0.112, -2.30, 1.40, 1.4),
        # Group therapy: $28 per patient; individual better by d~0.2 and dropout OR 0.56 individual vs group
        # (Cuijpers 2008).
        "group_therapy": ModalityParams(28, 7, 0.088, -1.80, 1.20, 1.8),
        # Telehealth: outcomes and attrition equal to in-person on average (Lin 2022), better for young/rural.
        "telehealth": ModalityParams(120, 7, 0.109, -2.30, 1.55, 1.6, suits_young_and_rural=True),
        # Guided self-help / iCBT: cheap per contact, non-completion 0.35 vs 0.15 (van Ballegooijen 2014).
        "guided_self_help": ModalityParams(45, 5, 0.079, -1.55, 1.30, 2.2),
        # Prevention: milder, sub-threshold people; IRR 0.79 for incident MDD (van Zoonen 2014).
        "prevention": ModalityParams(30, 5, 0.068, -1.95, 1.10, 2.5, severity_shift=-1.2),
    },
    instruments={"PHQ-9": 0.6, "GAD-7": 0.4},
    diagnosis={"PHQ-9": "depression", "GAD-7": "anxiety"},
    baselines={
        # NHS Talking Therapies intake among cases: PHQ-9 15.4 (5.5), GAD-7 14.0 (4.5).
        # Cases are truncated at caseness (10 and 8); prevention reaches down to mild symptoms.
        "PHQ-9": Baseline(15.4, 5.5, 10, 27, measurement_sd=2.0, subthreshold_low=5),
        "GAD-7": Baseline(14.0, 4.5, 8, 21, measurement_sd=1.7, subthreshold_low=4),
    },
    regions={"urban": 0.5, "suburban": 0.3, "rural": 0.2},
    n_programs=24,
    n_periods=8,
    first_period="2024-Q1",
    good_enough_of_caseness=0.45,
)

PHYSICAL_THERAPY = Preset(
    name="physical-therapy",
    modalities={
        # Staffing buys in-person visits: 9.6 visits x $130 per episode (AHRQ/MEPS, Machlin 2011).
        "staffing": ModalityParams(130, 9.6, 0.120, -2.60, 1.40, 1.3),
        # Technology: remote monitoring and home-exercise apps, cheap per contact, more disengagement.
        "technology": ModalityParams(45, 10, 0.075, -2.10, 1.20, 2.0, suits_young_and_rural=True),
        # Training: specialised clinicians, dearer per visit, more effective per visit.
        "training": ModalityParams(150, 8, 0.160, -2.70, 1.40, 1.1),
        # Marketing/outreach: reaches more of the eligible population, otherwise ordinary visits.
        "marketing": ModalityParams(110, 9, 0.110, -2.40, 1.80, 2.6),
    },
    instruments={"ODI": 0.4, "NPRS": 0.35, "PSFS": 0.25},
    diagnosis={"ODI": "low_back_pain", "NPRS": "neck_or_knee_pain", "PSFS": "functional_limitation"},
    baselines={
        "ODI": Baseline(40, 15, 10, 90, measurement_sd=6.0),
        "NPRS": Baseline(6.0, 2.0, 2, 10, measurement_sd=1.0),
        "PSFS": Baseline(3.5, 1.5, 0, 8, measurement_sd=0.7, resolution=0.1),
    },
    regions={"urban": 0.5, "suburban": 0.3, "rural": 0.2},
    n_programs=32,
    n_periods=8,
    first_period="2024-Q1",
)

PHYSICAL_THERAPY_CLINICS = Preset(
    name="physical-therapy-clinics",
    # Only staffing buys visits here: 9.6 visits x $130 per episode (AHRQ/MEPS, Machlin 2011). The other
    # categories' entries name the programmes; their visit parameters are unused (CategoryLevers says what they do).
    modalities={m: PHYSICAL_THERAPY.modalities[m] for m in CATEGORIES},
    instruments=PHYSICAL_THERAPY.instruments,
    diagnosis=PHYSICAL_THERAPY.diagnosis,
    baselines=PHYSICAL_THERAPY.baselines,
    regions=PHYSICAL_THERAPY.regions,
    n_programs=32,
    n_periods=8,
    first_period="2024-Q1",
    categories=CategoryLevers(),
)

PRESETS: dict[str, Preset] = {p.name: p for p in (MENTAL_HEALTH, PHYSICAL_THERAPY, PHYSICAL_THERAPY_CLINICS)}
