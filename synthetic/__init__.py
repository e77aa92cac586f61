"""A synthetic care system whose true response to funding is known: simulator, truth and oracle.

For tests, benchmarks and the demo only; production packages never import it (tests/test_layers.py). The world
draws programmes, patients and episodes through one explained mechanism (`mechanism.py`), and its truth
(`truth.py`) computes the expected outcomes of any funding exactly, so forecasts, intervals and allocations can
be scored against what really happens rather than against another model.
"""

from synthetic import clinic_truth  # noqa: F401  registers the clinic-level truth with Truth (see Truth.with_clinics)
