"""Annotated dependency aliases shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from serving.context import request_context
from serving.principal import Principal
from serving.problems import ProblemError
from serving.security import authorize
from serving.settings import ServiceSettings
from serving.state import LoadedBundle

# Dependencies are `async def` although nothing in them waits: as plain `def`s FastAPI would run each in the
# thread pool, and those hops cost more CPU than the dependencies themselves (see serving/security.authorize).


async def get_settings(request: Request) -> ServiceSettings:
    settings: ServiceSettings = request.app.state.settings
    return settings


async def get_loaded(request: Request) -> LoadedBundle:
    """The bundle this request will use from start to end (a reload meanwhile does not affect it)."""
    loaded: LoadedBundle | None = request.app.state.holder.current
    if loaded is None:
        raise ProblemError(503, "not-ready", "no champion model is loaded yet; retry shortly",
                           headers={"Retry-After": "5"})
    request_context(request).model_version = loaded.version
    return loaded


SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
LoadedDep = Annotated[LoadedBundle, Depends(get_loaded)]
PrincipalDep = Annotated[Principal, Depends(authorize)]
