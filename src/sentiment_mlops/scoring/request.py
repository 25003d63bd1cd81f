"""What a scoring run is asked to do, and what it reports back."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

from sentiment_mlops.errors import UserError

Engine = Literal["local", "spark"]
ENGINES: tuple[Engine, ...] = ("local", "spark")
# The columns a run adds; an input that has one already is refused rather than overwritten.
OUTPUT_COLUMNS = ("sentiment", "confidence", "model_version")
_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d+))$")


@dataclass(frozen=True)
class ModelSpec:
    """A registered model and either an alias or a version of it."""

    name: str
    alias: str | None = None
    version: str | None = None

    @classmethod
    def parse(cls, uri: str) -> ModelSpec:
        """`models:/<name>@<alias>` or `models:/<name>/<version>`, else a UserError."""
        match = _MODEL_URI.match(uri.strip())
        if match is None:
            raise UserError(
                f"--model-uri must be models:/<name>@<alias> or models:/<name>/<version>, "
                f"got {uri!r}"
            )
        return cls(match["name"], match["alias"], match["version"])


@dataclass(frozen=True)
class ScoringRequest:
    """One run: where to read and write, with which engine and model."""

    input: str
    output: str
    engine: Engine = "local"
    model_uri: str | None = None  # None: models:/<MODEL_NAME>@<MODEL_ALIAS>
    text_column: str = "text"
    batch_size: int | None = None  # None: SCORE_BATCH_SIZE
    force: bool = False

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise UserError(f"--engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.batch_size is not None and self.batch_size < 1:
            raise UserError(f"--batch-size must be at least 1, got {self.batch_size}")
        if not self.text_column:
            raise UserError("--text-column must name a column")


@dataclass(frozen=True)
class ScoringResult:
    """What a finished run did: logged to MLflow and printed by the CLI."""

    rows: int
    null_texts: int  # rows without a text: written with a null sentiment and confidence
    seconds: float
    model_name: str
    model_version: str
    output: str
    engine: Engine

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
