"""Budget allocation: outcome curves and constraints in, a certified split and its explanation out.

Imports only numpy, scipy, highspy (its small LPs) and numba (the compiled DP), none of our packages, so it can be
tested and used without models, MLflow or HTTP.
"""

from allocation.constraints import Constraints, GroupShare, ProgramBounds
from allocation.curves import GridPositions, OutcomeCurve
from allocation.errors import InfeasibleConstraintsError, SolverFailedError
from allocation.maxplus import compile_kernels
from allocation.objectives import Objective
from allocation.result import AllocationResult, PlanEvaluation
from allocation.solver import evaluate, optimize
from allocation.units import DecisionUnit, ResourceLimit

__all__ = [
    "AllocationResult",
    "Constraints",
    "DecisionUnit",
    "GridPositions",
    "GroupShare",
    "InfeasibleConstraintsError",
    "Objective",
    "OutcomeCurve",
    "PlanEvaluation",
    "ProgramBounds",
    "ResourceLimit",
    "SolverFailedError",
    "compile_kernels",
    "evaluate",
    "optimize",
]
