"""Numbers a client sends: finite JSON numbers, nothing that merely converts to one.

Pydantic's lax float reads `false` as 0.0, `true` as 1.0 and the string "0.3" as 0.3, so a weight of `false` or a
budget of `true` would be accepted and silently mean something else. Strict mode refuses booleans and strings and
still takes whole numbers (5000000 is a valid budget); the JSON schema stays `type: number`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, Strict

Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
