"""Our branch-and-bound on the choice programme against the full mixed-integer programme: forced on every
restricted programme (no dive start, no hand-over to HiGHS's MIP), the decomposition must still give the full
programme's value and infeasibility answer."""

from __future__ import annotations

import types

import numpy as np
import pytest

from allocation import choice_program, choice_search
from allocation.decomposition import solve_by_blocks
from allocation.mixed_integer import mixed_integer_status
from tests.allocation.test_decomposition import _problem, _same_value


@pytest.fixture
def search_only(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every restricted programme goes to the search from its root: the dive finds nothing and HiGHS's MIP is
    never reached. Counts the searches."""
    calls: list[int] = []
    search = choice_search.branch_and_bound

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return search(*args, **kwargs)  # type: ignore[arg-type]

    def no_mip(lp: object, time_limit: float, gap: float, start: np.ndarray | None = None) -> object:
        if len(lp.integrality_):  # type: ignore[attr-defined]
            raise AssertionError("the search handed over to HiGHS's MIP")
        return run(lp, time_limit, gap, start)

    run = choice_program._run
    monkeypatch.setattr(choice_program, "_dive", lambda *args: None)
    monkeypatch.setattr(choice_program, "branch_and_bound", counted)
    monkeypatch.setattr(choice_program, "_run", no_mip)
    monkeypatch.setattr(choice_search, "MAX_NODES", 100_000)
    return calls


@pytest.mark.parametrize("seed", range(16))
def test_search_gives_the_full_programmes_value(seed: int, factories: types.ModuleType,
                                                search_only: list[int]) -> None:
    problem = _problem(factories, 2000 + seed)
    full, full_infeasible = mixed_integer_status(problem, 20.0)
    settled = solve_by_blocks(problem, 20.0)
    assert settled is not None
    plan, infeasible = settled
    assert infeasible == full_infeasible
    assert (plan is None) == (full is None)
    if plan is not None and full is not None:
        assert not problem.violations(plan.funding)
        assert plan.proven_optimal
        _same_value(problem, plan, full)


@pytest.mark.parametrize("seed", range(8))
def test_search_gives_the_same_infeasibility_answer(seed: int, factories: types.ModuleType,
                                                    search_only: list[int]) -> None:
    problem = _problem(factories, 3000 + seed, tight=True)
    full, full_infeasible = mixed_integer_status(problem, 20.0)
    settled = solve_by_blocks(problem, 20.0)
    if settled is None:
        pytest.skip("decomposition handed over to the full programme")
    plan, infeasible = settled
    assert infeasible == full_infeasible
    if plan is not None and full is not None:
        _same_value(problem, plan, full)


def test_the_search_runs(factories: types.ModuleType, search_only: list[int]) -> None:
    """The forcing above reaches the search at all (a problem the relaxation settles never calls it)."""
    for seed in range(2000, 2016):
        solve_by_blocks(_problem(factories, seed), 20.0)
    assert search_only
