"""`ModelRef`: one registered model version, as the registry adapter and the API's REST client
both describe it. Free of MLflow, so that the API can hold one without importing MLflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion


@dataclass(frozen=True)
class ModelRef:
    """One registered model version and what we know of it."""

    name: str
    version: str
    run_id: str | None
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    source: str | None = None

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @classmethod
    def from_mlflow(cls, version: ModelVersion) -> ModelRef:
        return cls(
            name=version.name,
            version=str(version.version),
            run_id=version.run_id,
            aliases=tuple(version.aliases or ()),
            tags=dict(version.tags or {}),
            source=version.source,
        )

    @classmethod
    def from_json(cls, version: dict[str, Any]) -> ModelRef:
        """From a `model_version` of MLflow's REST API (tags as a list of key/value pairs)."""
        return cls(
            name=version["name"],
            version=str(version["version"]),
            run_id=version.get("run_id") or None,
            aliases=tuple(version.get("aliases") or ()),
            tags={tag["key"]: tag.get("value", "") for tag in version.get("tags") or ()},
            source=version.get("source"),
        )
