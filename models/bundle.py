"""A saved risk model: one joblib file, its SHA-256, and the metadata that says what it is.

joblib files are pickles: loading one runs whatever code it names. So a bundle is only ever loaded
when its bytes hash to the SHA-256 recorded when the service wrote it (in the model registry) and
its format version is one this code reads; anything else is refused before ``joblib.load`` runs.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import platform
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib

from .training import RiskModel

__all__ = [
    "BUNDLE_FORMAT",
    "BundleError",
    "BundleInfo",
    "file_sha256",
    "library_versions",
    "load_bundle",
    "write_bundle",
]

log = logging.getLogger(__name__)

BUNDLE_FORMAT = "medcredit-risk-model/1"
_LIBRARIES = ("lightgbm", "scikit-learn", "numpy", "pandas", "joblib", "medcredit")


class BundleError(ValueError):
    """A model file that must not be loaded: wrong hash, unknown format, or not a risk model."""


@dataclass(frozen=True)
class BundleInfo:
    """Where a bundle is and what it holds (``metadata`` is JSON-ready)."""

    version: str
    path: Path
    sha256: str
    format_version: str
    metadata: dict[str, Any] = field(default_factory=dict)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries a bundle depends on."""
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def write_bundle(model: RiskModel, directory: Path, *, created_at: datetime | None = None) -> BundleInfo:
    """Dump ``model`` into ``directory`` as ``<version>.joblib`` and describe it.

    The version is ``rm-<last training date>-<first 10 hex digits of the SHA-256>``, so the same
    fitted model always gets the same name and two different models never share one.
    """
    if not isinstance(model, RiskModel) or not hasattr(model, "calibrator_"):
        raise BundleError(f"model must be a fitted RiskModel; got {type(model).__name__}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".joblib.tmp")
    os.close(handle)
    try:
        joblib.dump({"format_version": BUNDLE_FORMAT, "model": model}, temporary, compress=3)
        sha256 = file_sha256(Path(temporary))
        version = f"rm-{model.training_window_[1]:%Y%m%d}-{sha256[:10]}"
        path = directory / f"{version}.joblib"
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    metadata = {
        "version": version,
        "format_version": BUNDLE_FORMAT,
        "sha256": sha256,
        "created_at": (created_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        "libraries": library_versions(),
        **model.metadata,
    }
    log.info("wrote model bundle %s (%s)", path, sha256)
    return BundleInfo(version=version, path=path, sha256=sha256, format_version=BUNDLE_FORMAT, metadata=metadata)


def load_bundle(path: Path, *, sha256: str, format_version: str = BUNDLE_FORMAT) -> RiskModel:
    """Load a bundle the service wrote, after checking its hash and format; refuse anything else."""
    path = Path(path)
    if format_version != BUNDLE_FORMAT:
        raise BundleError(
            f"format_version must be {BUNDLE_FORMAT!r} (the format this code reads); got {format_version!r}"
        )
    if not path.is_file():
        raise BundleError(f"model file {path} does not exist")
    actual = file_sha256(path)
    if actual != sha256:
        raise BundleError(
            f"model file {path} has SHA-256 {actual}, the registry expects {sha256}; "
            "refusing to load it (joblib runs code when it loads a file)"
        )
    content = joblib.load(path)
    if not isinstance(content, dict) or content.get("format_version") != BUNDLE_FORMAT:
        found = content.get("format_version") if isinstance(content, dict) else type(content).__name__
        raise BundleError(f"model file {path} holds format {found!r}; expected {BUNDLE_FORMAT!r}")
    model = content.get("model")
    if not isinstance(model, RiskModel):
        raise BundleError(f"model file {path} holds a {type(model).__name__}, not a RiskModel")
    return model
