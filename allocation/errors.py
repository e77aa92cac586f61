"""Named failures, so callers can tell "your constraints contradict each other" from "the solver broke"."""

from __future__ import annotations


class InfeasibleConstraintsError(ValueError):
    """Raised instead of returning a plan that silently breaks a constraint.

    ``conflicts`` holds one plain-language sentence per conflict, with the numbers involved, so an
    allocator can see which rule to relax and by how much.
    """

    def __init__(self, conflicts: list[str]) -> None:
        self.conflicts = list(conflicts)
        super().__init__("infeasible constraints: " + "; ".join(self.conflicts))

    def __reduce__(self) -> tuple[type[InfeasibleConstraintsError], tuple[list[str]]]:
        """Pickled whole (the service raises it in worker processes), not rebuilt from its message."""
        return type(self), (self.conflicts,)


class SolverFailedError(RuntimeError):
    """Raised when no candidate plan passes our own constraint re-check (should not happen)."""
