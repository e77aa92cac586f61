"""Payer contracts for the synthetic worlds, so the demo can project and report them.

Shaped like published value-based behavioural-health and musculoskeletal arrangements: a commercial bonus on
reliable improvement of patients at caseness (PHQ-9 >= 10, the IAPT caseness cut-off) with a penalty floor, a
Medicaid retention bonus (engagement measures such as HEDIS IET), a Medicare response bonus; for physical therapy
a commercial bonus on ODI response and a Medicare retention bonus. Targets sit near each world's own rates so
the tiers are in play; the amounts are illustrative, not market prices.
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
    ]},
    "physical-therapy": {"contracts": [
        {"contract_id": "COM-ODI-RESPONSE", "payer": "Commercial plan", "metric": "response",
         "population": {"payer": "commercial", "instrument": "ODI"}, "target": 0.25,
         "tiers": [{"threshold": 0.25, "lump_sum": 30_000}], "penalty": {"below": 0.15, "lump_sum": 10_000},
         "min_sample": 100},
        {"contract_id": "MCR-RETENTION", "payer": "Medicare", "metric": "retention",
         "population": {"payer": "medicare"}, "target": 0.50, "tiers": [{"threshold": 0.50, "lump_sum": 15_000}],
         "min_sample": 50},
    ]},
}
