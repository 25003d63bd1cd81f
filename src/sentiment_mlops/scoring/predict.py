"""What either engine needs to score a file: a loaded version and how to apply it.

The prediction itself is `core.scores.score_texts`, the function of the model's pyfunc flavour
and of the API's label rule, so a text gets the same label and confidence from both engines
and from `/predict/batch` with the same model version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Scorer:
    """A loaded version and how to apply it."""

    model: Any  # the scikit-learn pipeline
    version: str  # written to every row
    text_column: str
    batch_size: int
