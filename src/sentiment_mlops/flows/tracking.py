"""What a training run records in MLflow: one run and one registered version.

A thin layer between the steps and the registry adapter: it turns the core's results into the
run's params, metrics, data set, plots, model and tags, and registers the logged model. Whether
the new version becomes champion is decided in `flows.promotion`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentiment_mlops import registry
from sentiment_mlops.core.plots import confusion_matrix_figure, roc_curve_figure
from sentiment_mlops.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from sentiment_mlops.core.data import Reviews
    from sentiment_mlops.core.evaluation import Evaluation
    from sentiment_mlops.core.params import TrainingParams
    from sentiment_mlops.core.split import Split
    from sentiment_mlops.flows.types import TrainingRequest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tracker:
    """An MLflow client bound to one experiment; what it records is tagged with the commit."""

    client: MlflowClient
    experiment_id: str

    @classmethod
    def connect(
        cls, settings: Settings, experiment: str | None, *, check_registry: bool = False
    ) -> Tracker:
        """Open the stores and the experiment; with `check_registry`, reach the registry too.

        Cheap calls with MLflow's bounded retries: a training connects before it loads any data,
        so an unreachable store fails in seconds instead of after the training.
        """
        client = registry.make_client(settings)
        tracker = cls(client, registry.ensure_experiment(client, settings, experiment))
        if check_registry:
            registry.check_registry(client)
        return tracker

    @cached_property
    def commit(self) -> str | None:
        """The code's git commit, read once: the run and its version are both tagged with it."""
        return registry.git_commit()

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
            data_source=str(request.data_path.resolve()),
            input_example=[text[:300] for text in split.test_texts[:2]],
            figures={
                "confusion_matrix.png": confusion_matrix_figure(evaluation),
                "roc_curve.png": roc_curve_figure(evaluation),
            },
            tags=self._run_tags(request.data_path, reviews),
        )
        run_id, model_uri = registry.log_training_run(
            self.client, self.experiment_id, model, record
        )
        logger.info("logged MLflow run %s", run_id)
        return run_id, model_uri

    def register(
        self, name: str, model_uri: str, run_id: str, evaluation: Evaluation
    ) -> registry.ModelRef:
        """A new registered version, tagged with its metrics and the code's commit."""
        tags = {
            f"metric.{key}": f"{value:.4f}" for key, value in evaluation.metrics.as_dict().items()
        }
        if self.commit:
            tags["git_commit"] = self.commit
        ref = registry.register_version(self.client, name, model_uri, run_id, tags)
        logger.info("registered %s version %s", name, ref.version)
        return ref

    def _run_tags(self, data_path: Path, reviews: Reviews) -> dict[str, str]:
        tags = {"data.path": str(data_path), "data.dropped_empty_rows": str(reviews.dropped_empty)}
        if self.commit:
            tags["git_commit"] = self.commit
        try:
            from sentiment_mlops.dvc_version import data_version
        except ImportError:  # the data tooling is optional
            return tags
        md5 = data_version(data_path)
        if md5:
            tags["data_dvc_md5"] = md5
        return tags
