"""Who is asking: the key's id (what audit records name), its role and the programmes it may see."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from serving.settings import Role


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: Role
    programs: frozenset[str] | None

    def may_score(self, program_ids: Iterable[str]) -> list[str]:
        """The programmes in `program_ids` this key may not see (empty when all are allowed)."""
        if self.programs is None:
            return []
        return sorted(str(p) for p in program_ids if p not in self.programs)
