"""What is loaded: versions, aliases, where it came from, training data snapshot and headline metrics."""

from __future__ import annotations

import math

from fastapi import APIRouter, Depends, Request

from serving.dependencies import LoadedDep
from serving.registry import current_aliases
from serving.schemas import CalibrationBinPublic, ComponentPublic, ModelsPublic
from serving.security import authorize

router = APIRouter(prefix="/v1", tags=["models"], dependencies=[Depends(authorize)])


def _params(estimator: object) -> dict[str, object]:
    get_params = getattr(estimator, "get_params", None)
    if get_params is None:
        return {}
    return {k: v for k, v in get_params().items() if isinstance(v, int | float | str | bool | None)}


@router.get("/models", response_model=ModelsPublic, summary="The loaded champion bundle and its provenance")
def list_models(*, loaded: LoadedDep, request: Request) -> ModelsPublic:
    bundle = loaded.bundle
    suite = bundle.suite
    components = [ComponentPublic(name=name, estimator=type(est).__name__, params=_params(est))
                  for name, est in (("response", suite.response), ("dropout", suite.dropout), ("reach", suite.reach))]
    return ModelsPublic(
        model_version=loaded.version, model_name=loaded.model_name,
        aliases=list(current_aliases(request.app.state.settings, loaded)),
        source=loaded.source, stale=loaded.stale, note=loaded.note, loaded_at=loaded.loaded_at,
        forecast_period=bundle.next_period, components=components, data_snapshot=dict(bundle.snapshot),
        metrics={k: (float(v) if math.isfinite(float(v)) else None) for k, v in bundle.metrics.items()},
        base_rates=dict(bundle.base_rates), library_versions=dict(bundle.versions),
        calibration={name: [CalibrationBinPublic(forecast=float(b["forecast"]), observed=float(b["observed"]),
                                                 count=int(b["count"])) for b in bins]
                     for name, bins in getattr(bundle, "calibration", {}).items()})  # older bundles lack it
