"""Where the CLI writes (stdout for results, stderr for problems) and how it refuses an unreadable input file.

Shared by every command module, so a bad constraints file and a bad pilot spec are reported the same way: the
file, then one line per field path and what was expected; never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def refuse_file(path: Path, exc: Exception, what: str, code: int) -> NoReturn:
    """Print why `path` (a JSON file meant to be `what`) cannot be used, and exit with `code`."""
    if isinstance(exc, ValidationError):
        errors.print(f"[bold red]{path} is not a valid {what}:[/]", highlight=False)
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(top level)"
            errors.print(f"  - {field}: {err['msg']}", markup=False, highlight=False)
    else:
        errors.print(f"[bold red]cannot read {path}:[/] {exc}", highlight=False)
    raise typer.Exit(code)


def print_contract_problems(data: Path, exc: Exception) -> None:
    """Every problem a contract check found in `data`, one line each."""
    problems = getattr(exc, "problems", [exc])
    errors.print(f"[bold red]{len(problems)} problem(s) in {data}:[/]")
    for problem in problems:
        errors.print(f"  - {problem}", markup=False, highlight=False)
