"""A pilot run in the synthetic world: its aggregates as a user would hand them over, and its true effect.

Used by `benchmarks/bench_pilot.py` and the tests to score the evaluation against the truth.
"""

from __future__ import annotations

import pandas as pd

from pilots.aggregates import program_period_aggregates
from synthetic.pilot import PilotTruth, true_pilot_effect
from synthetic.plan import PilotChange, WorldPlan, with_pilot
from synthetic.simulate import simulate_episodes
from synthetic.truth import Truth


def simulate_pilot(plan: WorldPlan, change: PilotChange, truth: Truth) -> tuple[pd.DataFrame, PilotTruth]:
    """Aggregates of `plan`'s history with `change` applied, and the change's exact effect (`truth` of `plan`)."""
    piloted = with_pilot(plan, change)
    programs, episodes = simulate_episodes(piloted)
    return program_period_aggregates(programs, episodes), true_pilot_effect(piloted, truth)
