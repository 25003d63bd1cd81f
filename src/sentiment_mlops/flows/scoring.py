"""The Prefect flow `sentiment-scoring`: `sentiment score` as a flow run.

Its parameters are the CLI's options, plain values that a deployment sets per run. The run
scores the file (`scoring.run.run_scoring`), which records rows, time, model version and
output location in the MLflow experiment `sentiment-scoring` (SCORE_EXPERIMENT_NAME), and logs
the same summary to the flow run. A user error (bad input, an existing output, no such model)
ends the run Failed with its one line; a bug keeps Prefect's full report.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from sentiment_mlops.flows.entry import entry_flow
from sentiment_mlops.settings import get_settings

FLOW_NAME = "sentiment-scoring"
logger = logging.getLogger(__name__)


@task(name="score-file", cache_policy=NO_CACHE)
def score_file_task(request: Any) -> dict[str, Any]:
    """Score the file; a task so that its duration and state show in the Prefect UI."""
    from sentiment_mlops.scoring.run import run_scoring

    result = run_scoring(request, get_settings())
    logger.info(
        "scored %d rows (%d without text) with %s v%s in %.1f s -> %s",
        result.rows,
        result.null_texts,
        result.model_name,
        result.model_version,
        result.seconds,
        result.output,
    )
    return result.as_dict()


@entry_flow(FLOW_NAME)
def scoring_flow(
    input: str,  # named as the CLI's --input
    output: str,
    engine: str = "local",
    model_uri: str | None = None,
    text_column: str = "text",
    batch_size: int | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Score a CSV/Parquet file of reviews with a registered model version."""
    from sentiment_mlops.scoring.request import ScoringRequest

    # The parameters are the request's fields, in its order; the engine is checked there.
    options = (engine, model_uri, text_column, batch_size, force)
    return score_file_task(ScoringRequest(input, output, *options))  # type: ignore[arg-type]
