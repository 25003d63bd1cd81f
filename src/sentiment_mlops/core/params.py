"""The training parameters, read from `params.yaml` into one typed object."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sentiment_mlops.errors import UserError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(_Section):
    test_size: float = Field(gt=0, lt=1)
    random_state: int = Field(ge=0, lt=2**32)  # numpy's seed range


class _NgramParams(_Section):
    """Settings shared by both TF-IDF vectorizers (scikit-learn's meanings)."""

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

    @field_validator("min_df")
    @classmethod
    def _count_or_fraction(cls, value: int | float) -> int | float:
        # scikit-learn reads an int as a number of reviews and a float as a share of them.
        if isinstance(value, float) and value > 1:
            raise ValueError(
                f"min_df must be a whole number of reviews (e.g. {int(value)}) "
                f"or a fraction of them between 0 and 1, got {value}"
            )
        return value


class VectorizerParams(_NgramParams):
    """Word n-grams: the served fast path (`core/vectorizer.py`)."""


class CharVectorizerParams(_NgramParams):
    """Character n-grams inside word boundaries (scikit-learn's `char_wb`)."""


# Which TF-IDF features the model reads: word n-grams, char_wb n-grams, or both side by side.
FeatureSet = Literal["word", "char_wb", "word+char_wb"]
FEATURE_SETS: tuple[FeatureSet, ...] = get_args(FeatureSet)


class FeaturesParams(_Section):
    """The feature set, and whether it is weighted by naive Bayes log-count ratios (NB-LR)."""

    set: FeatureSet
    # None: plain TF-IDF. A number: each feature scaled by its NB log-count ratio, with this
    # additive smoothing (Wang & Manning 2012).
    nb_alpha: float | None = Field(gt=0, allow_inf_nan=False)

    @property
    def uses_words(self) -> bool:
        return self.set in ("word", "word+char_wb")

    @property
    def uses_chars(self) -> bool:
        return self.set in ("char_wb", "word+char_wb")


class ModelParams(_Section):
    C: float = Field(gt=0, allow_inf_nan=False)
    max_iter: int = Field(gt=0)
    class_weight: Literal["balanced"] | None


class ChallengerParams(_Section):
    # A version trained with `--challenger` gets the challenger alias only if its held-out
    # CHAMPION_METRIC is at least this good (in that metric's direction: `core.metrics`).
    quality_floor: float = Field(ge=0, allow_inf_nan=False)


class TrainingParams(_Section):
    """All hyperparameters of a training run; `params.yaml` is their only source."""

    model_config = ConfigDict(extra="ignore", frozen=True)  # other tools' sections may live there

    data: DataParams
    features: FeaturesParams
    vectorizer: VectorizerParams
    char_vectorizer: CharVectorizerParams
    model: ModelParams
    challenger: ChallengerParams

    def updated(self, sections: dict[str, dict[str, Any]]) -> TrainingParams:
        """A copy with some values of some sections replaced, validated like the file."""
        values = self.model_dump()
        for section, changes in sections.items():
            values[section] = values[section] | changes
        return TrainingParams.model_validate(values)

    def flat(self) -> dict[str, Any]:
        """`section.key` -> value, as MLflow logs parameters."""
        return {
            f"{section}.{key}": value
            for section, values in self.model_dump().items()
            for key, value in values.items()
        }


class ParamsError(UserError, ValueError):
    """The params file is missing or invalid."""


def read_params_file(path: Path) -> Any:
    """The parsed YAML of a params file; a missing file or bad YAML is a ParamsError."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path}: params file not found") from None
    except yaml.YAMLError as error:
        raise ParamsError(f"{_where(path, error)}: not valid YAML ({_problem(error)})") from None


def load_params(path: Path) -> TrainingParams:
    """Read and validate a params file; errors name the file and the bad key."""
    raw = read_params_file(path)
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected sections {', '.join(TrainingParams.model_fields)}")
    try:
        return TrainingParams.model_validate(raw)
    except ValidationError as error:
        raise ParamsError(f"{path}: {validation_problems(error)}") from None


def validation_problems(error: ValidationError) -> str:
    """Pydantic's errors on one line: `where: what` for each, where is the dotted key."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
        for e in error.errors()
    )


def _where(path: Path, error: yaml.YAMLError) -> str:
    """`file:line:column` as editors read it (PyYAML counts from 0)."""
    mark = getattr(error, "problem_mark", None)
    return f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)


def _problem(error: yaml.YAMLError) -> str:
    # PyYAML's own text spans several lines (it quotes the source with a caret).
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return " ".join(str(problem).split())
