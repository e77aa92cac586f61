"""Identifiers a client names things by (programmes, scenarios, group columns, episode references).

They come back in answers (scenario names as keys, unknown programmes in 404s, episode references in risk results)
and from there into logs, spreadsheets and CSV downloads. So they are refused when they carry control or bidi
override characters (which can hide or reorder text on screen) or start like a spreadsheet formula (= + - @),
which a spreadsheet would run when the echoed value is opened. Errors name the rule, never the value.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field

FORMULA_STARTS = ("=", "+", "-", "@")
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def safe_identifier(value: str) -> str:
    if any(unicodedata.category(ch) == "Cc" or ch in BIDI_CONTROLS for ch in value):
        raise ValueError("expected printable text without control or bidirectional-override characters")
    if value.startswith(FORMULA_STARTS):
        raise ValueError(f"expected an identifier not starting with any of {' '.join(FORMULA_STARTS)} "
                         "(spreadsheets read those as formulas)")
    if not value.strip():
        raise ValueError("expected visible text, not only spaces")
    return value


Identifier = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(safe_identifier)]
