"""The champion and its own reference texts, found through its MLflow run.

A training run logs its data set as an MLflow dataset input (source path and digest), its
relative path as the `data.path` tag and, when the data is DVC-tracked, the DVC version as
`data_dvc_md5`. The reference is that data's *held-out* rows, split again with the run's logged
`data.*` params: texts the model never trained on, as served texts are (the training rows would
make every served word look out of vocabulary). The data found must have the logged digest;
otherwise the check stops with what to restore, rather than compare against other data.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sentiment_mlops import registry
from sentiment_mlops.core.data import load_reviews
from sentiment_mlops.core.labels import LABEL_NAMES, labels_from_proba
from sentiment_mlops.core.params import DataParams
from sentiment_mlops.core.split import split_reviews
from sentiment_mlops.errors import NotFoundError, UserError
from sentiment_mlops.settings import Settings

logger = logging.getLogger(__name__)


class ReferenceDataError(UserError):
    """The champion's training data cannot be found as it was logged."""


@dataclass(frozen=True)
class Reference:
    """The champion (loaded by version) and its reference rows: `text` and `predicted`."""

    champion: registry.ModelRef
    model: Any
    frame: pd.DataFrame
    data_path: str
    dvc_md5: str | None

    def tokenize(self, text: str) -> list[str]:
        return list(self.model.named_steps["tfidf"].analyzer.tokens(text))

    @property
    def vocabulary(self) -> dict[str, int]:
        return self.model.named_steps["tfidf"].vocabulary_


def load_reference(settings: Settings, model_name: str, max_rows: int) -> Reference:
    """The champion of `model_name` and up to `max_rows` held-out rows of its training data."""
    client = registry.make_client(settings)
    champion = registry.get_alias(client, model_name, settings.model_alias)
    if champion is None or champion.run_id is None:
        raise NotFoundError(f"model {model_name!r} has no {settings.model_alias!r} to monitor")
    run = client.get_run(champion.run_id)
    path, digest = _logged_data(run)
    md5 = run.data.tags.get("data_dvc_md5")
    reviews = load_reviews(path)
    _check_digest(reviews.frame, path, digest, md5, champion)
    split_params = _split_params(run)
    held_out = split_reviews(reviews.texts, reviews.labels, split_params).test_texts
    if len(held_out) > max_rows:
        held_out = held_out.sample(max_rows, random_state=split_params.random_state)
    model = registry.load_model(client, champion)
    predicted, _ = labels_from_proba(model.predict_proba(held_out), model.classes_)
    frame = pd.DataFrame(
        {"text": held_out.to_numpy(), "predicted": [LABEL_NAMES[int(c)] for c in predicted]}
    )
    logger.info(
        "reference: %d held-out rows of %s (champion v%s)", len(frame), path, champion.version
    )
    return Reference(champion, model, frame, str(path), md5)


def _logged_data(run: Any) -> tuple[Path, str | None]:
    """Where the run's training data is: the `data.path` tag as given (relative to the project
    folder), else the dataset input's source; and the dataset's digest."""
    datasets = [d.dataset for d in run.inputs.dataset_inputs] if run.inputs else []
    digest = datasets[0].digest if datasets else None
    candidates = []
    if "data.path" in run.data.tags:
        candidates.append(Path(run.data.tags["data.path"]))
    for dataset in datasets:
        try:
            uri = json.loads(dataset.source).get("uri")
        except (TypeError, ValueError):
            uri = None
        if uri:
            candidates.append(Path(str(uri).removeprefix("file://")))
    for candidate in candidates:
        if candidate.is_file():
            return candidate, digest
    if not candidates:
        raise ReferenceDataError(
            f"the champion's run {run.info.run_id} logged no training data set "
            "(no dataset input, no data.path tag): retrain it with `sentiment train --champion`"
        )
    where = " or ".join(str(c) for c in dict.fromkeys(candidates))
    raise ReferenceDataError(
        f"the champion's training data is not at {where} "
        f"(run {run.info.run_id}{_dvc_hint(run.data.tags.get('data_dvc_md5'))})"
    )


def _split_params(run: Any) -> DataParams:
    """The run's own split, so that its held-out rows are the ones it never trained on."""
    try:
        return DataParams(
            test_size=float(run.data.params["data.test_size"]),
            random_state=int(run.data.params["data.random_state"]),
        )
    except (KeyError, ValueError):
        raise ReferenceDataError(
            f"the champion's run {run.info.run_id} has no valid data.test_size and "
            "data.random_state params: its held-out rows cannot be found again"
        ) from None


def _check_digest(
    frame: pd.DataFrame,
    path: Path,
    digest: str | None,
    md5: str | None,
    champion: registry.ModelRef,
) -> None:
    if digest is None:
        return
    from mlflow.data.pandas_dataset import from_pandas

    found = from_pandas(frame, source=str(path), targets="label").digest
    if found != digest:
        raise ReferenceDataError(
            f"{path} is not the data champion v{champion.version} was trained on "
            f"(digest {found}, logged {digest}{_dvc_hint(md5)})"
        )


def _dvc_hint(md5: str | None) -> str:
    if md5 is None:
        return ""
    return f"; DVC version {md5}: restore it with `dvc checkout` or `dvc pull`"
