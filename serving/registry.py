"""Loading the champion: resolve @champion to a fixed version, keep a copy on disk, fall back to it.

The copy is the registered MLflow model directory itself (downloaded once per version) plus a small manifest
naming its version; a bundle carries aggregates and fitted models only, never patient rows, so caching it is
no different from the registry holding it.

Nothing is unpickled before its files match a recorded digest (tracking/registry.py says what that protects
against): a registry load checks the digest the registry's version tag holds, for a cached copy and a fresh
download alike; a cache load (registry unreachable) checks the digest the manifest kept from the last verified
registry load. That manifest sits in the cache directory, so it catches a damaged or swapped model file, but not
someone able to rewrite the manifest too while the registry cannot be asked.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from serving.logs import logger
from serving.settings import ServiceSettings
from serving.state import LoadedBundle

if TYPE_CHECKING:  # imported where used: mlflow takes seconds to import, and tests of the app never need it
    from models.bundle import CareAllocBundle
    from tracking.registry import ModelRegistry

MANIFEST = "champion.json"


class RegistryUnavailableError(RuntimeError):
    """Neither the registry nor a cached bundle could provide a champion."""


class BundleRefusedError(RuntimeError):
    """The registry answered, but the champion's artifact is corrupted or incompatible; it is not served."""


def _model_dir(cache: Path, name: str, version: str) -> Path:
    return cache / name / f"v{version}"


def _download(registry: ModelRegistry, version: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".download-"))
    try:
        registry.download(version, staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _undigested(version: str) -> BundleRefusedError:
    from tracking.registry import DIGEST_TAG

    return BundleRefusedError(f"champion v{version} could not be loaded: it has no recorded digest ({DIGEST_TAG}), "
                              "so it is not unpickled")


def _verified_load(target: Path, version: str, expected: str | None) -> CareAllocBundle:
    """The bundle in `target`, unpickled only when its files have the digest registration recorded."""
    from tracking.registry import bundle_digest, load_bundle

    if not expected:
        raise _undigested(version)
    found = bundle_digest(target)
    if found != expected:
        raise BundleRefusedError(f"champion v{version} could not be loaded: the digest did not match (its files "
                                 f"hash to sha256 {found[:12]}..., registration recorded {expected[:12]}...), "
                                 "so it is not unpickled")
    return load_bundle(str(target))


def _write_manifest(cache: Path, manifest: dict[str, object]) -> None:
    fd, tmp = tempfile.mkstemp(dir=cache, prefix=".manifest-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle)
    os.replace(tmp, cache / MANIFEST)


def load_from_registry(settings: ServiceSettings) -> LoadedBundle:
    """The current @champion, by fixed version; cached on disk for the next start-up. A cached copy that does not
    load is downloaded again once; only when the registry's own copy fails too is the champion refused."""
    from tracking.registry import CHAMPION, ModelRegistry

    registry = ModelRegistry(settings.resolved_tracking_uri, settings.model_name)
    found = registry.require(CHAMPION)
    version = found.version
    if not found.digest:  # nothing to check a cached copy or a download against
        raise _undigested(version)
    cache = settings.resolved_bundle_cache_dir
    target = _model_dir(cache, settings.model_name, version)
    bundle = None
    if (target / "MLmodel").is_file():  # downloaded before: reuse it unless it is damaged or no longer loads
        try:
            bundle = _verified_load(target, version, found.digest)
        except Exception as exc:  # a bad copy on this disk says nothing about the registry's: fetch it again
            logger().warning("cached champion copy unusable; downloading it again",
                             extra={"event": "cache_refetch", "model_version": version,
                                    "error_type": type(exc).__name__})
    if bundle is None:
        _download(registry, version, target)
        try:
            bundle = _verified_load(target, version, found.digest)
        except Exception as exc:  # tampered, unpickling, a missing flavour, not a carealloc bundle, a library...
            shutil.rmtree(target, ignore_errors=True)  # never kept as a cached copy to fall back on
            if isinstance(exc, BundleRefusedError):
                raise
            raise BundleRefusedError(f"champion v{version} could not be loaded ({type(exc).__name__})") from exc
    bundle.model_version = version
    aliases = found.aliases or (CHAMPION,)
    _write_manifest(cache, {"model_name": settings.model_name, "version": version, "aliases": list(aliases),
                            "run_id": found.run_id, "sha256": found.digest,
                            "cached_at": datetime.now(UTC).isoformat()})
    return LoadedBundle(bundle, version, settings.model_name, "registry", aliases)


def load_from_cache(settings: ServiceSettings, reason: str) -> LoadedBundle:
    cache = settings.resolved_bundle_cache_dir
    manifest_path = cache / MANIFEST
    if not manifest_path.is_file():
        raise RegistryUnavailableError(f"{reason}; and no cached bundle in {cache}")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("model_name") != settings.model_name:
        raise RegistryUnavailableError(f"{reason}; the cached bundle is for another model name")
    version = str(manifest["version"])
    try:
        bundle = _verified_load(_model_dir(cache, settings.model_name, version), version, manifest.get("sha256"))
    except BundleRefusedError as exc:
        raise BundleRefusedError(f"{reason}; and the cached {exc}") from exc
    bundle.model_version = version
    note = (f"{reason}; serving the cached champion v{version} (cached {manifest.get('cached_at')}), "
            "which may be out of date")
    return LoadedBundle(bundle, version, settings.model_name, "cache", tuple(manifest.get("aliases", [])), note)


def current_aliases(settings: ServiceSettings, loaded: LoadedBundle) -> tuple[str, ...]:
    """The aliases the loaded version carries in the registry now, so /v1/models shows a promotion or a moved
    @champion without a reload; what it carried at load time when it did not come from the registry or the
    registry cannot be asked."""
    if loaded.source != "registry":
        return loaded.aliases
    from tracking.registry import ModelRegistry

    try:
        return ModelRegistry(settings.resolved_tracking_uri, settings.model_name).aliases_of(loaded.version)
    except Exception:  # unreachable or changed store: the load-time aliases are the best answer left
        return loaded.aliases


def load_champion(settings: ServiceSettings, *, allow_cache: bool = True) -> LoadedBundle:
    """From the registry; when it cannot be reached (or has no champion) and `allow_cache`, from the disk copy."""
    try:
        loaded = load_from_registry(settings)
    except BundleRefusedError as exc:
        if not allow_cache:
            raise
        loaded = load_from_cache(settings, str(exc))
    except Exception as exc:  # any failure to reach or read the registry: mlflow, network, sqlite, filesystem
        reason = f"registry at {_redacted(settings.resolved_tracking_uri)} unavailable ({type(exc).__name__})"
        if not allow_cache:
            raise RegistryUnavailableError(reason) from exc
        loaded = load_from_cache(settings, reason)
    loaded.bundle.limit_threads(1)
    return loaded


def _redacted(uri: str) -> str:
    """The tracking URI without credentials (user:password@host)."""
    if "@" in uri and "://" in uri:
        scheme, rest = uri.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return uri
