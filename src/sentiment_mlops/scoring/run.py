"""One scoring run: check the request, resolve the model once, run an engine, log to MLflow.

Cheap checks come first and in the order a user fixes them (the input, the output, the model),
so a bad request ends in a second with one line, before a model is downloaded or Spark starts.
The version is resolved from the alias once and loaded by number: the version written to every
row is the version that scored it, even if the alias moves during the run.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sentiment_mlops import registry
from sentiment_mlops.errors import NotFoundError, UserError
from sentiment_mlops.scoring.files import Location, check_input, check_output, locate
from sentiment_mlops.scoring.local import Counts
from sentiment_mlops.scoring.predict import Scorer
from sentiment_mlops.scoring.reader import open_input
from sentiment_mlops.scoring.request import ModelSpec, ScoringRequest, ScoringResult
from sentiment_mlops.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

OnRows = Callable[[int, int | None], None]  # rows just scored, total rows when known


def run_scoring(
    request: ScoringRequest, settings: Settings, on_rows: OnRows | None = None
) -> ScoringResult:
    """Score `request.input` into `request.output` and record the run in MLflow."""
    source = locate(request.input, settings.s3_endpoint_url)
    target = locate(request.output, settings.s3_endpoint_url)
    batch_size = request.batch_size or settings.score_batch_size
    check_input(source)
    with open_input(source, request.text_column, batch_size):
        pass  # columns, type and at least one row, checked on the first block only
    check_output(target, force=request.force)
    spec = ModelSpec.parse(
        request.model_uri or f"models:/{settings.model_name}@{settings.model_alias}"
    )
    client = registry.make_client(settings)
    ref = resolve_model(client, spec)
    if request.engine == "spark":
        counts, seconds = _run_spark(client, ref, source, target, request, batch_size, settings)
    else:
        from sentiment_mlops.scoring.local import score_file

        model = registry.load_model(client, ref)
        started = time.perf_counter()
        scorer = Scorer(model, ref.version, request.text_column, batch_size)
        counts = score_file(source, target, scorer, on_rows)
        seconds = time.perf_counter() - started
    result = ScoringResult(
        rows=counts.rows,
        null_texts=counts.null_texts,
        seconds=seconds,
        model_name=ref.name,
        model_version=ref.version,
        output=request.output,
        engine=request.engine,
    )
    log_scoring_run(client, settings, request, result)
    return result


def _run_spark(
    client: MlflowClient,
    ref: registry.ModelRef,
    source: Location,
    target: Location,
    request: ScoringRequest,
    batch_size: int,
    settings: Settings,
) -> tuple[Counts, float]:
    """Score with the version's pyfunc flavour on Spark; the counts and the scoring time (the
    session's start-up and the model's download excluded)."""
    from sentiment_mlops.scoring.spark import score_with_spark, spark_session

    with tempfile.TemporaryDirectory(prefix="sentiment-spark-model-") as folder:
        model_folder = registry.download_model(client, ref, folder)
        if not registry.pyfunc_answers_scores(model_folder):
            raise UserError(
                f"{ref.uri} was logged before its pyfunc flavour answered confidences (it "
                "gives labels only): score it with --engine local, or retrain it"
            )
        spark = spark_session(settings.spark_master, settings.s3_endpoint_url)
        started = time.perf_counter()
        counts = score_with_spark(
            spark,
            source,
            target,
            model_folder,
            version=ref.version,
            text_column=request.text_column,
            batch_size=batch_size,
        )
        return counts, time.perf_counter() - started


def resolve_model(client: MlflowClient, spec: ModelSpec) -> registry.ModelRef:
    """The version a `models:/` URI means; NotFoundError (exit 1) when there is none."""
    if spec.version is not None:
        return registry.get_version(client, spec.name, spec.version)
    alias = spec.alias or ""
    ref = registry.get_alias(client, spec.name, alias)
    if ref is None:
        raise NotFoundError(f"model {spec.name!r} has no version with alias {alias!r}")
    return ref


def log_scoring_run(
    client: MlflowClient, settings: Settings, request: ScoringRequest, result: ScoringResult
) -> str:
    """One run in the scoring experiment: what was scored, by which version, where it went."""
    experiment_id = registry.ensure_experiment(client, settings, settings.score_experiment_name)
    return registry.log_run(
        client,
        experiment_id,
        params={
            "input": request.input,
            "output": request.output,
            "engine": request.engine,
            "text_column": request.text_column,
            "model_uri": f"models:/{result.model_name}/{result.model_version}",
        },
        metrics={
            "rows": result.rows,
            "null_texts": result.null_texts,
            "seconds": result.seconds,
            "rows_per_second": result.rows_per_second,
        },
        tags={
            "model_name": result.model_name,
            "model_version": result.model_version,
            "output": request.output,
        },
    )
