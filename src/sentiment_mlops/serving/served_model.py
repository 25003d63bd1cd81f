"""One loaded model version, immutable, and the checks a candidate passes before it is served."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from sentiment_mlops.errors import UserError

if TYPE_CHECKING:
    from sentiment_mlops.model_ref import ModelRef

# Fixed texts every candidate must classify before it is served (any script, emoji included).
PROBE_TEXTS = (
    "A wonderful film: moving, funny and beautifully acted. I loved every minute.",
    "Dull, predictable and far too long. A complete waste of time.",
    "Ça m'a plu 🎬 — 好看!",
)
# What the lean scoring path must score exactly as scikit-learn does before it is used: the
# probes, texts without a known word (one alone, as the API's single requests), and a batch.
LEAN_CHECK_BATCHES = (
    list(PROBE_TEXTS),
    [""],
    [PROBE_TEXTS[0]],
    ["", "   ", "\t\n", "😀", *PROBE_TEXTS, " ".join(PROBE_TEXTS) * 20],
)
LEAN_TOLERANCE = 1e-12
# How a served version scores: see `ServedModel.scoring_path`.
ScoringPath = Literal["compact", "lean", "sklearn"]

logger = logging.getLogger(__name__)


class ModelValidationError(UserError):
    """A loaded model does not behave like a binary sentiment classifier."""


@dataclass(frozen=True)
class ServedModel:
    """One loaded version and what we know of it; never mutated after the swap."""

    model: Any
    ref: ModelRef
    labels: tuple[str, ...]  # label name of each predict_proba column, from classes_
    metrics: dict[str, float]
    loaded_at: datetime

    def __post_init__(self) -> None:
        _ = self._lean  # decide and check the scoring path now: before the swap, not per call

    @property
    def scoring_path(self) -> ScoringPath:
        """`compact` for a version loaded from its compact file (`core.compact_scorer`: no
        scikit-learn in the process), `lean` when `core.lean_scorer` scores the unpickled
        pipeline, `sklearn` otherwise."""
        if self._lean is None:
            return "sklearn"
        return "compact" if self._lean is self.model else "lean"

    @property
    def version(self) -> str:
        return self.ref.version

    @cached_property
    def classes(self) -> tuple[int, ...]:
        """The class of each predict_proba column (the model's classes_), from `labels`."""
        from sentiment_mlops.core.labels import LABEL_SPELLINGS

        return tuple(LABEL_SPELLINGS[name] for name in self.labels)

    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        """Classify texts with one vectorised `predict_proba` call; one result per text."""
        return self._post(self._predict_proba(texts))

    def _predict_proba(self, texts: list[str]) -> Any:
        if self._lean is not None:
            return self._lean.predict_proba(texts)
        import sklearn  # imported by the loader already; this is a dictionary lookup

        # Inputs are plain strings checked by the API: skip scikit-learn's finiteness and
        # parameter checks, a third of the time of a one-text prediction.
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            transformers, final = self._stages
            data: Any = texts
            for transformer in transformers:
                data = transformer.transform(data)
            return final.predict_proba(data)

    @cached_property
    def _lean(self) -> Any:
        """A `LeanScorer` of the model when it has our pipeline's shape and scores the check
        texts as the model does (to LEAN_TOLERANCE); else None: scikit-learn's own path.
        A `CompactScorer` is its own: it was checked against the pipeline's probes at load."""
        from sentiment_mlops.core.compact_scorer import CompactScorer

        if isinstance(self.model, CompactScorer):
            return self.model
        from sentiment_mlops.core.lean_scorer import LeanScorer, UnsupportedPipelineError

        version = self.ref.version
        # Anything going wrong here means: not the lean path, never a failed load.
        try:
            lean = LeanScorer.of(self.model)
        except UnsupportedPipelineError as unsupported:
            logger.info("version %s: scoring through scikit-learn (%s)", version, unsupported)
            return None
        except Exception as error:
            logger.warning("version %s: lean scoring refused, reading failed: %r", version, error)
            return None
        try:
            worst = max(_largest_difference(lean, self.model, t) for t in LEAN_CHECK_BATCHES)
            problem = f"differs from predict_proba by {worst:.3g}"
        except Exception as error:
            worst, problem = float("inf"), f"failed: {error!r}"
        if not worst <= LEAN_TOLERANCE:
            logger.warning("version %s: lean scoring refused, %s", version, problem)
            return None
        return lean

    @cached_property
    def _stages(self) -> tuple[tuple[Any, ...], Any]:
        """A pipeline's transformers and final estimator, called one by one as its
        `predict_proba` does, without its per-call check that every step is fitted (it walks
        every step's tags: a tenth of a small prediction). The snapshot never changes after
        `validate_model` has called the pipeline itself. Other models: (), the model."""
        from sklearn.pipeline import Pipeline

        model = self.model
        if not isinstance(model, Pipeline):
            return (), model
        steps = [step for _, step in model.steps]
        transformers = tuple(s for s in steps[:-1] if s is not None and s != "passthrough")
        return transformers, steps[-1]

    def _post(self, proba: Any) -> list[dict[str, Any]]:
        from sentiment_mlops.core.labels import LABEL_NAMES, labels_from_proba

        labels, version = self.labels, self.ref.version
        winners, confidences = labels_from_proba(proba, self.classes)
        return [
            {
                "sentiment": LABEL_NAMES[winner],
                "confidence": confidence,
                "probabilities": dict(zip(labels, row, strict=True)),
                "model_version": version,
            }
            for winner, confidence, row in zip(
                winners.tolist(), confidences.tolist(), proba.tolist(), strict=True
            )
        ]


def _largest_difference(lean: Any, model: Any, texts: list[str]) -> float:
    import numpy as np

    expected = np.asarray(model.predict_proba(texts), dtype=float)
    return float(np.max(np.abs(lean.predict_proba(texts) - expected)))


def labels_of(model: Any) -> tuple[str, ...]:
    """Label names in predict_proba's column order, or a ModelValidationError."""
    from sentiment_mlops.core.labels import LABEL_NAMES, label_names

    classes = [int(c) for c in getattr(model, "classes_", ())]
    if sorted(classes) != sorted(LABEL_NAMES):
        raise ModelValidationError(f"expected classes {sorted(LABEL_NAMES)}, got {classes}")
    return label_names(classes)


def validate_model(model: Any) -> tuple[str, ...]:
    """Check a candidate predicts two finite probabilities per text; returns its labels."""
    import numpy as np

    if not callable(getattr(model, "predict_proba", None)):
        raise ModelValidationError(f"{type(model).__name__} has no predict_proba")
    labels = labels_of(model)
    try:
        proba = np.asarray(model.predict_proba(list(PROBE_TEXTS)), dtype=float)
    except Exception as error:
        raise ModelValidationError(f"predict_proba failed on probe texts: {error!r}") from error
    if proba.shape != (len(PROBE_TEXTS), 2):
        raise ModelValidationError(f"expected probabilities of shape (3, 2), got {proba.shape}")
    if not np.all(np.isfinite(proba)) or proba.min() < 0 or proba.max() > 1:
        raise ModelValidationError("probabilities are not finite values in [0, 1]")
    if not np.allclose(proba.sum(axis=1), 1.0, atol=1e-6):
        raise ModelValidationError("probabilities of a text do not sum to 1")
    return labels
