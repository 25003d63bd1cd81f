"""The training parameters, read from `params.yaml` into one typed object."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(_Section):
    test_size: float = Field(gt=0, lt=1)
    random_state: int


class VectorizerParams(_Section):
    max_features: int | None = Field(gt=0)
    ngram_range: tuple[int, int]
    min_df: int | float = Field(gt=0)
    sublinear_tf: bool

    @field_validator("ngram_range")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 1 <= low <= high:
            raise ValueError("ngram_range must be [low, high] with 1 <= low <= high")
        return value


class ModelParams(_Section):
    C: float = Field(gt=0)
    max_iter: int = Field(gt=0)
    class_weight: Literal["balanced"] | None


class TrainingParams(_Section):
    """All hyperparameters of a training run; `params.yaml` is their only source."""

    model_config = ConfigDict(extra="ignore", frozen=True)  # other tools' sections may live there

    data: DataParams
    vectorizer: VectorizerParams
    model: ModelParams

    def flat(self) -> dict[str, Any]:
        """`section.key` -> value, as MLflow logs parameters."""
        return {
            f"{section}.{key}": value
            for section, values in self.model_dump().items()
            for key, value in values.items()
        }


class ParamsError(ValueError):
    """The params file is missing or invalid."""


def load_params(path: Path) -> TrainingParams:
    """Read and validate a params file; errors name the file and the bad key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path}: params file not found") from None
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML ({error})") from None
    try:
        return TrainingParams.model_validate(raw or {})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ParamsError(f"{path}: {problems}") from None
