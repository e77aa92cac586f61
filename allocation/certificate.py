"""An upper bound on the best achievable objective, so the reported optimality gap is a certificate.

Replacing every programme's curve by its concave envelope over its allowed range can only raise the best
value, and the envelope problem is a linear programme with every constraint, including group rules on
any number of columns. The bound is loose by at most the non-concavity of a few programmes (about one
per binding linear constraint, by the Shapley-Folkman argument), so with S-shaped curves part of a
reported bound gap can be the bound's slack rather than a worse plan.
"""

from __future__ import annotations

from allocation.envelope import maximise_envelope
from allocation.problem import Problem


def envelope_upper_bound(problem: Problem) -> float | None:
    solved = maximise_envelope(problem, problem.lo, problem.hi)
    return None if solved is None else solved[1]
