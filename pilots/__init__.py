"""Pilot evaluation: did a budget change in a few programmes work? (pre-post and difference-in-differences).

Imports only `features` (plus numpy, pandas, scipy): the CLI and the HTTP route are thin edges over
`evaluate_pilot`.
"""

from pilots.aggregates import AGGREGATE_COLUMNS, PilotInputError, program_period_aggregates
from pilots.evaluate import PilotResult, evaluate_pilot
from pilots.spec import PilotSpec

__all__ = ["AGGREGATE_COLUMNS", "PilotInputError", "PilotResult", "PilotSpec", "evaluate_pilot",
           "program_period_aggregates"]
