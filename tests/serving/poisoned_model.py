"""A model that raises on one text, as a model can on an input it cannot handle.

Its own module, so that a served copy unpickles in a server process (PYTHONPATH: the project).
"""

from __future__ import annotations

import time
from typing import Any

POISON = "this text breaks the model"


class PoisonedModel:
    """The real pipeline, slowed down (so that concurrent requests share a call) and raising on
    POISON."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.classes_ = pipeline.classes_

    def predict_proba(self, texts: Any) -> Any:
        if POISON in list(texts):
            raise ValueError("the model cannot handle this text")
        time.sleep(0.05)
        return self.pipeline.predict_proba(texts)

    def predict(self, texts: Any) -> Any:
        return self.pipeline.predict(texts)
