"""Budget allocation: outcome curves and constraints in, a certified split and its explanation out.

Imports only numpy, scipy, highspy and the standard library, so serving and the CLI can call it without models.
"""

from allocation.constraints import Constraints, GroupShare, ProgramBounds
from allocation.curves import OutcomeCurve
from allocation.errors import InfeasibleConstraintsError, SolverFailedError
from allocation.objectives import Objective
from allocation.result import AllocationResult, PlanEvaluation
from allocation.solver import evaluate, optimize

__all__ = [
    "AllocationResult",
    "Constraints",
    "GroupShare",
    "InfeasibleConstraintsError",
    "Objective",
    "OutcomeCurve",
    "PlanEvaluation",
    "ProgramBounds",
    "SolverFailedError",
    "evaluate",
    "optimize",
]
