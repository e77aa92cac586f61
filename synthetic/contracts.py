"""Payer contracts for the synthetic worlds, so the demo can project and report them.

Shaped like published value-based behavioural-health and musculoskeletal arrangements. Two kinds are mixed, as in
practice:
- lump sums at thresholds: a commercial bonus on reliable improvement of patients at caseness (PHQ-9 >= 10, the IAPT
  caseness cut-off) with a penalty floor, a Medicaid retention bonus (engagement measures such as HEDIS IET), a
  Medicare response bonus; for physical therapy a commercial bonus on ODI response and a Medicare retention bonus;
- payments per point or per member reaching the measure, which change with every patient rather than only near a
  threshold:
  - COM-GAD7-IMPROVED (mental health): an outcome-based payment per commercially insured patient at GAD-7 caseness
    (>= 8) who reliably improves, as in collaborative-care contracts that hold part of the case rate back for
    measured improvement (Washington's Mental Health Integration Program holds back 25 %). About 200 per improved
    patient: with some 1,300-1,500 measured episodes a quarter one point of the rate is 13-15 patients, so
    3,000 per point from the first; 90,000-115,000 a quarter at the worlds' 30-38 %, against some 950,000 of
    funding for that population (about 22 % of a 4.4 million quarter).
  - MCD-ENGAGEMENT (mental health): a HEDIS-style engagement payment, per point of the Medicaid retention rate
    above 30 % up to 60 % (1,500 a point; with some 1,900 Medicaid episodes a quarter, about 80 per member kept in
    treatment, the tens of dollars per member of Medicaid quality incentives).
  - MCR-MIPS-RI (mental health): a MIPS-like symmetric adjustment on Medicare patients' reliable improvement,
    600 a point above 30 % and charged 600 a point below (some 150 Medicare episodes a quarter, so about 400 per
    patient either way; MIPS moves Part B payment up to +/-9 %).
  - COM-ODI-IMPROVED (physical therapy): about 150 per commercially insured ODI patient who reliably improves
    (some 1,400-1,650 measured a quarter: 2,400 per point from the first).
  - MCD-PT-COMPLETION (physical therapy): per point of the Medicaid completion (retention) rate above 35 % up to
    65 %, 1,500 a point (about 75 per member completing, of some 1,900-2,000 a quarter).
Targets sit near each world's own rates (seeds 4001-4002: commercial GAD-7 >= 8 reliable improvement 0.29-0.38,
Medicaid retention 0.40-0.43, Medicare reliable improvement 0.24-0.37; physical therapy commercial ODI reliable
improvement 0.33-0.40, Medicaid retention 0.44-0.52) so the tiers are in play; the amounts are illustrative, sized
from the per-member figures above, not market prices.
"""

from __future__ import annotations

from typing import Any

CONTRACTS: dict[str, dict[str, Any]] = {
    "mental-health": {"contracts": [
        {"contract_id": "COM-PHQ9-RI", "payer": "Commercial plan", "metric": "reliable_improvement",
         "population": {"payer": "commercial", "instrument": "PHQ-9", "min_baseline": 10},
         "target": 0.25, "tiers": [{"threshold": 0.25, "lump_sum": 40_000},
                                   {"threshold": 0.30, "lump_sum": 20_000, "per_point": 2_000}],
         "penalty": {"below": 0.18, "lump_sum": 15_000}, "min_sample": 100},
        {"contract_id": "MCD-RETENTION", "payer": "Medicaid managed care", "metric": "retention",
         "population": {"payer": "medicaid"}, "target": 0.40,
         "tiers": [{"threshold": 0.40, "lump_sum": 25_000}], "min_sample": 100},
        {"contract_id": "MCR-RESPONSE", "payer": "Medicare Advantage", "metric": "response",
         "population": {"payer": "medicare"}, "target": 0.20,
         "tiers": [{"threshold": 0.20, "lump_sum": 10_000, "per_point": 500}], "min_sample": 50},
        {"contract_id": "COM-GAD7-IMPROVED", "payer": "Commercial plan", "metric": "reliable_improvement",
         "population": {"payer": "commercial", "instrument": "GAD-7", "min_baseline": 8},
         "target": 0.0, "tiers": [{"threshold": 0.0, "per_point": 3_000}], "min_sample": 100},
        {"contract_id": "MCD-ENGAGEMENT", "payer": "Medicaid managed care", "metric": "retention",
         "population": {"payer": "medicaid"}, "target": 0.30,
         "tiers": [{"threshold": 0.30, "per_point": 1_500}, {"threshold": 0.60}], "min_sample": 100},
        {"contract_id": "MCR-MIPS-RI", "payer": "Medicare", "metric": "reliable_improvement",
         "population": {"payer": "medicare"}, "target": 0.30, "tiers": [{"threshold": 0.30, "per_point": 600}],
         "penalty": {"below": 0.30, "per_point": 600}, "min_sample": 50},
    ]},
    "physical-therapy": {"contracts": [
        {"contract_id": "COM-ODI-RESPONSE", "payer": "Commercial plan", "metric": "response",
         "population": {"payer": "commercial", "instrument": "ODI"}, "target": 0.25,
         "tiers": [{"threshold": 0.25, "lump_sum": 30_000}], "penalty": {"below": 0.15, "lump_sum": 10_000},
         "min_sample": 100},
        {"contract_id": "MCR-RETENTION", "payer": "Medicare", "metric": "retention",
         "population": {"payer": "medicare"}, "target": 0.50, "tiers": [{"threshold": 0.50, "lump_sum": 15_000}],
         "min_sample": 50},
        {"contract_id": "COM-ODI-IMPROVED", "payer": "Commercial plan", "metric": "reliable_improvement",
         "population": {"payer": "commercial", "instrument": "ODI"}, "target": 0.0,
         "tiers": [{"threshold": 0.0, "per_point": 2_400}], "min_sample": 100},
        {"contract_id": "MCD-PT-COMPLETION", "payer": "Medicaid managed care", "metric": "retention",
         "population": {"payer": "medicaid"}, "target": 0.35,
         "tiers": [{"threshold": 0.35, "per_point": 1_500}, {"threshold": 0.65}], "min_sample": 100},
    ]},
}
