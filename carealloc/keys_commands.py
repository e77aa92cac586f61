"""`carealloc keys create|list|revoke`: manage the service's API keys in its keys file (hashes only on disk).

The same file `carealloc serve` and the demo use (CAREALLOC_KEYS_FILE, default data/api_keys.json); a key's
plaintext is printed once, at creation, and cannot be recovered afterwards.
"""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from carealloc.terminal import console, errors
from serving.keys import add_key, read_keys_file, revoke_key
from serving.settings import ROLES, Role, ServiceSettings

keys_app = typer.Typer(help="Create, list and revoke API keys (stored as hashes in the keys file).",
                       no_args_is_help=True)


@keys_app.command("create")
def create(
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")],
    programs: Annotated[list[str] | None, typer.Option(
        "--programs", help="Clinician keys only: limit the key to these programmes (repeat the option, or "
        "separate them with commas: --programs P001,P002).")] = None,
    label: Annotated[str | None, typer.Option(help="Who or what the key is for (shown by `keys list`).")] = None,
) -> None:
    """Create a key and print it once; only its SHA-256 is stored."""
    if role not in ROLES:
        errors.print(f"[bold red]--role {role!r} is not a role:[/] expected one of {', '.join(ROLES)}",
                     highlight=False)
        raise typer.Exit(2)
    settings = ServiceSettings()
    chosen: Role = next(r for r in ROLES if r == role)
    try:
        named = tuple(p.strip() for item in programs or () for p in item.split(",") if p.strip())
        plaintext, record = add_key(settings, chosen, named or None, label)
    except ValidationError as exc:
        for err in exc.errors():
            errors.print(f"[bold red]cannot create the key:[/] {err['msg'].removeprefix('Value error, ')}",
                         highlight=False)
        raise typer.Exit(2) from None
    console.print(f"created key {record.key_id} ({record.role}) in {settings.resolved_keys_file}")
    console.print("the key (shown once; store it now):")
    console.print(plaintext, markup=False, highlight=False)


@keys_app.command("list")
def list_keys() -> None:
    """Every key in the keys file: id, role, programmes and label (never the key itself)."""
    settings = ServiceSettings()
    records = read_keys_file(settings.resolved_keys_file)
    if not records:
        console.print(f"no keys in {settings.resolved_keys_file}")
    listed = [(record, "") for record in records] + [
        (record, "  (from CAREALLOC_API_KEYS: change it there)") for record in settings.api_keys]
    for record, origin in listed:
        scope = ",".join(record.programs) if record.programs else "all programmes"
        console.print(f"{record.key_id}  {record.role:<14}  {scope}  {record.label or '-'}{origin}",
                      markup=False, highlight=False)


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id, as `keys list` shows it.")]) -> None:
    """Remove a key; a running service stops accepting it when it restarts."""
    settings = ServiceSettings()
    if not revoke_key(settings, key_id):
        errors.print(f"[bold red]no key {key_id!r} in {settings.resolved_keys_file}[/]", highlight=False)
        raise typer.Exit(1)
    console.print(f"revoked key {key_id}; restart the service for it to take effect")
