"""The model a command works with: the registered champion or a given URI, refused readably when there is none."""

from __future__ import annotations

from typing import Any

import typer

from carealloc.terminal import errors
from core.settings import Settings


def load_model(settings: Settings, model_uri: str | None) -> Any:
    """The registered champion (or the given model URI), with a readable error when there is none."""
    from tracking.registry import ModelRegistry, RegistryError, load_model_uri

    try:
        if model_uri:
            return load_model_uri(settings.resolved_tracking_uri, model_uri)
        return ModelRegistry(settings.resolved_tracking_uri, settings.model_name).load()
    except (RegistryError, OSError) as exc:
        errors.print(f"[bold red]no model to use:[/] {str(exc).splitlines()[0]}\n"
                     f"Train one first: carealloc train --data DIR (tracking store {settings.resolved_tracking_uri})")
        raise typer.Exit(1) from None
