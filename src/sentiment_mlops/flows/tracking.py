"""What a training run records in MLflow, and the champion decision.

A thin layer between the steps and the registry adapter: it turns the core's results into one
MLflow run, one registered version, and a promotion decision scored on the run's own test rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentiment_mlops import registry
from sentiment_mlops.core.evaluation import Evaluation, evaluate
from sentiment_mlops.core.metrics import higher_is_better, is_better
from sentiment_mlops.core.plots import confusion_matrix_figure, roc_curve_figure
from sentiment_mlops.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from sentiment_mlops.core.data import Reviews
    from sentiment_mlops.core.params import TrainingParams
    from sentiment_mlops.core.split import Split
    from sentiment_mlops.flows.steps import PromotionDecision, TrainingRequest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tracker:
    """An MLflow client bound to one experiment."""

    client: MlflowClient
    experiment_id: str
    settings: Settings

    @classmethod
    def connect(
        cls, settings: Settings, experiment: str | None, *, check_registry: bool = False
    ) -> Tracker:
        """Open the stores and the experiment; with `check_registry`, reach the registry too.

        Cheap calls with MLflow's bounded retries: a training connects before it loads any data,
        so an unreachable store fails in seconds instead of after the training.
        """
        registry.configure_mlflow(settings)
        client = registry.make_client(settings)
        tracker = cls(client, registry.ensure_experiment(client, settings, experiment), settings)
        if check_registry:
            registry.check_registry(client)
        return tracker

    def log_run(
        self,
        model: Any,
        reviews: Reviews,
        split: Split,
        params: TrainingParams,
        evaluation: Evaluation,
        request: TrainingRequest,
    ) -> tuple[str, str]:
        """One MLflow run with everything needed to trust and reproduce the model."""
        record = registry.RunRecord(
            params=params.flat() | {"data.rows": len(reviews.frame)},
            metrics=evaluation.metrics.as_dict()
            | {"train_rows": len(split.train_texts), "test_rows": len(split.test_texts)},
            training_frame=reviews.frame,
            data_source=str(Path(request.data_path).resolve()),
            input_example=[text[:300] for text in split.test_texts[:2]],
            figures={
                "confusion_matrix.png": confusion_matrix_figure(evaluation),
                "roc_curve.png": roc_curve_figure(evaluation),
            },
            tags=_run_tags(request.data_path, reviews),
        )
        run_id, model_uri = registry.log_training_run(
            self.client, self.experiment_id, model, record
        )
        logger.info("logged MLflow run %s", run_id)
        return run_id, model_uri

    def register(self, name: str, model_uri: str, run_id: str, evaluation: Evaluation) -> str:
        """A new registered version, tagged with its metrics and the code's commit."""
        tags = {
            f"metric.{key}": f"{value:.4f}" for key, value in evaluation.metrics.as_dict().items()
        }
        commit = registry.git_commit()
        if commit:
            tags["git_commit"] = commit
        ref = registry.register_version(self.client, name, model_uri, run_id, tags)
        logger.info("registered %s version %s", name, ref.version)
        return ref.version

    def promote_if_better(
        self,
        name: str,
        version: str,
        split: Split,
        evaluation: Evaluation,
        metric: str,
    ) -> PromotionDecision:
        """Give `version` the champion alias only if it beats the champion on the same rows.

        The read-score-move sequence holds the promotion lock, so concurrent trainings decide
        one after the other and each compares against the champion the previous one left.
        """
        from sentiment_mlops.flows.promotion_lock import champion_lock

        with champion_lock(self.settings):
            decision = self._decide_and_promote(name, version, split, evaluation, metric)
        self._record_decision(name, version, decision)
        return decision

    def _decide_and_promote(
        self, name: str, version: str, split: Split, evaluation: Evaluation, metric: str
    ) -> PromotionDecision:
        from sentiment_mlops.flows.steps import PromotionDecision

        challenger_score = evaluation.metrics.score(metric)
        high = "high" if higher_is_better(metric) else "low"  # which way `metric` is better
        alias = self.settings.model_alias  # the alias the API serves (MODEL_ALIAS)
        champion = registry.get_alias(self.client, name, alias)
        champion_score = None
        if champion is None:
            promoted, reason = True, "no champion yet"
        elif champion.version == version:
            promoted, reason = False, "already champion"
        else:
            champion_score = self._score_on(champion, split, metric)
            if champion_score is None:
                promoted, reason = True, f"champion v{champion.version} cannot be loaded"
            elif is_better(metric, challenger_score, champion_score):
                promoted, reason = True, f"challenger scores {high}er"
            else:
                promoted, reason = False, f"champion scores at least as {high}"
        if promoted:
            registry.promote(self.client, name, version, alias)
        return PromotionDecision(
            metric=metric,
            challenger_version=version,
            challenger_score=challenger_score,
            champion_version=champion.version if champion else None,
            champion_score=champion_score,
            promoted=promoted,
            reason=reason,
        )

    def _score_on(self, champion: registry.ModelRef, split: Split, metric: str) -> float | None:
        try:
            model = registry.load_model(champion)
        except Exception as error:  # a broken artifact must not block a healthy challenger
            logger.warning("cannot load champion v%s: %s", champion.version, error)
            return None
        return evaluate(model, split.test_texts, split.test_labels).metrics.score(metric)

    def _record_decision(self, name: str, version: str, decision: PromotionDecision) -> None:
        run_id = registry.get_version(self.client, name, version).run_id
        if run_id:
            scores = {f"challenger_{decision.metric}": decision.challenger_score}
            if decision.champion_score is not None:
                scores[f"champion_{decision.metric}"] = decision.champion_score
            tags = {
                "promotion.decision": decision.reason,
                "promotion.promoted": str(decision.promoted).lower(),
            }
            registry.record_decision(self.client, run_id, tags, scores)
        logger.info(
            "champion decision: %s (%s challenger v%s=%.4f, champion %s=%s)",
            "promoted" if decision.promoted else "kept champion",
            decision.metric,
            version,
            decision.challenger_score,
            f"v{decision.champion_version}" if decision.champion_version else "none",
            "n/a" if decision.champion_score is None else f"{decision.champion_score:.4f}",
        )


def _run_tags(data_path: Path, reviews: Reviews) -> dict[str, str]:
    tags = {"data.path": str(data_path), "data.dropped_empty_rows": str(reviews.dropped_empty)}
    commit = registry.git_commit()
    if commit:
        tags["git_commit"] = commit
    try:
        from sentiment_mlops.dvc_version import data_version
    except ImportError:  # the data tooling is optional
        return tags
    md5 = data_version(Path(data_path))
    if md5:
        tags["data_dvc_md5"] = md5
    return tags
