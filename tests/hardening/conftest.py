"""The serving fixtures (keys per role, the session's bundle as v7, an app per test), shared rather than copied."""

from tests.serving.conftest import (  # noqa: F401  (re-exported as fixtures of this folder)
    auth,
    champion,
    client,
    episode_rows,
    keys,
    make_client,
    settings,
)
