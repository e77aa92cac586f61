"""What the jobs need of a world whose response to funding is known, so they can score against it.

Only synthetic data has such a truth; the `synthetic` package provides it (`synthetic.reference`) and the CLI hands
it to the jobs. Training never imports the simulator itself: production code runs on real data, where there is
no truth to compare with.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

from models.bundle import CareAllocBundle


class TruthReference(Protocol):
    def describes(self, bundle: CareAllocBundle) -> bool:
        """Whether this truth is of the world the bundle was trained on (the same programmes)."""
        ...

    def curve(self, program_id: str, funding: np.ndarray) -> pd.DataFrame:
        """True expected outcomes at these funding levels (a `reliable_improvements` column at least)."""
        ...

    def curve_metrics(self, bundle: CareAllocBundle) -> dict[str, float]:
        """How far the bundle's outcome curves are from the truth."""
        ...

    def decision_metrics(self, bundle: CareAllocBundle) -> dict[str, float]:
        """How much of the truly achievable gain the bundle's recommendation captures, beside the baselines."""
        ...
