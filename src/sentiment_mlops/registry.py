"""The MLflow adapter: log a run, register a version, resolve and move aliases, load a version.

Everything that talks to MLflow goes through here, with an explicit `MlflowClient` built from the
settings. Aliases only (`MODEL_ALIAS`, `previous`); the deprecated stages are never used.

MLflow's exceptions stop here: each public function raises our errors instead
(`NotFoundError` for a missing model, version or run; `ServiceUnavailableError` when MLflow
cannot be reached; `RegistryError` for anything else MLflow refuses), so callers tell "no such
model" from "server down" by class.
"""

from __future__ import annotations

import functools
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import mlflow
import requests
from mlflow import MlflowClient
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.tracking.context.registry import resolve_tags
from mlflow.types import ColSpec, DataType, Schema
from mlflow.utils.time import get_current_time_millis

import sentiment_mlops
from sentiment_mlops import store_init
from sentiment_mlops.core import scores
from sentiment_mlops.core.scores import SCORE_COLUMNS
from sentiment_mlops.errors import (
    NotFoundError,
    RegistryError,
    SentimentError,
    ServiceUnavailableError,
)
from sentiment_mlops.model_ref import ModelRef
from sentiment_mlops.redaction import redactor_for
from sentiment_mlops.settings import Settings, get_settings

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure
    from mlflow.entities.webhook import WebhookEvent, WebhookEventStr

logger = logging.getLogger(__name__)

PREVIOUS_ALIAS = "previous"
MODEL_ARTIFACT_NAME = "model"
# The runtime a logged model needs. Given explicitly: inferring it costs ~14 s per run.
_MODEL_REQUIREMENTS = ("mlflow", "scikit-learn", "cloudpickle", "numpy", "pandas", "scipy")


P = ParamSpec("P")
R = TypeVar("R")
# MLflow's error code for a model, version, alias or run that does not exist.
_MISSING = "RESOURCE_DOES_NOT_EXIST"
# How an HTTP call to an MLflow server fails when nothing answers (MLflow chains these).
_UNREACHABLE = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.RetryError,
)


def _translated(function: Callable[P, R]) -> Callable[P, R]:
    """Raise our errors instead of MLflow's and requests' (the registry's boundary)."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except SentimentError:
            raise
        except (MlflowException, requests.exceptions.RequestException) as error:
            given = (*args, *kwargs.values())
            client = next((arg for arg in given if isinstance(arg, MlflowClient)), None)
            raise translate_error(error, client) from error

    return wrapper


def translate_error(error: BaseException, client: MlflowClient | None = None) -> SentimentError:
    """Our error for an MLflow (or HTTP) error; `client` names the stores it talked to."""
    redact = redactor_for(get_settings())  # the URI may carry a password
    if _caused_by(error, _UNREACHABLE):
        return ServiceUnavailableError(_unreachable_message(client, redact))
    message = redact(_first_line(error))
    if isinstance(error, MlflowException) and error.error_code == _MISSING:
        return NotFoundError(message)
    return RegistryError(f"registry: {message}")


def _caused_by(error: BaseException | None, kinds: tuple[type[BaseException], ...]) -> bool:
    seen = 0
    while error is not None and seen < 10:  # MLflow raises inside `except`: follow the chain
        if isinstance(error, kinds):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def _unreachable_message(client: MlflowClient | None, redact: Callable[[str], str]) -> str:
    if client is not None:
        tracking, registry = client.tracking_uri, getattr(client, "_registry_uri", None)
    else:
        tracking, registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    uri = redact(tracking)
    if registry and registry != tracking:
        # Which of the two failed is not in the error: name both rather than the wrong one.
        registry = redact(registry)
        return f"cannot reach MLflow: tracking store {uri} or registry {registry} (is it running?)"
    return f"cannot reach the MLflow tracking server at {uri} (is it running?)"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


@_translated
def make_client(settings: Settings) -> MlflowClient:
    """A client bound to the configured tracking and registry stores, both opened.

    The first opening of a local SQLite store creates and migrates it, so it happens under the
    store's first-use lock: commands started together on a new store then all succeed.
    """
    uris = (settings.mlflow_tracking_uri, settings.registry_uri)
    with store_init.first_use_lock(*uris):  # may raise StoreInitError, one of our errors
        # The client opens its tracking store at once, its registry store on first use.
        client = MlflowClient(tracking_uri=uris[0], registry_uri=uris[1])
        if store_init.sqlite_path(uris[1]) is not None:
            check_registry(client)
    return client


@_translated
def check_registry(client: MlflowClient) -> None:
    """One cheap registry call: fails at once when the registry cannot be reached or opened."""
    client.search_registered_models(max_results=1)


@_translated
def ensure_experiment(client: MlflowClient, settings: Settings, name: str | None = None) -> str:
    """The experiment's id, creating it (with a project-local artifact folder) when missing."""
    name = name or settings.experiment_name
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    artifact_location = None
    if settings.uses_local_store:
        artifact_location = Path(settings.artifact_location).resolve().as_uri()
    return client.create_experiment(name, artifact_location=artifact_location)


def model_requirements() -> list[str]:
    """Pinned pip requirements of a logged model, read from the installed distributions."""
    return [f"{name}=={metadata.version(name)}" for name in _MODEL_REQUIREMENTS]


def git_commit() -> str | None:
    """The commit of the working tree, when training runs inside a git checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
            cwd=Path(sentiment_mlops.__file__).parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


@dataclass(frozen=True)
class RunRecord:
    """What a training run logs, gathered by the flow before one call to `log_training_run`."""

    params: dict[str, Any]
    metrics: dict[str, float]
    training_frame: pd.DataFrame
    data_source: str
    input_example: list[str]
    figures: dict[str, Figure]
    tags: dict[str, str]


@_translated
def log_training_run(
    client: MlflowClient, experiment_id: str, model: Any, record: RunRecord
) -> tuple[str, str]:
    """Log params, metrics, data set, plots and the model in one run; returns (run_id, model_uri).

    The run, its params, metrics, tags and plots go through `client`. The data set and the
    model cannot: `mlflow.log_input` and MLflow's `Model.log` take no client and log to
    the active run of the process's tracking store. So the run is made active there for them,
    once that store is checked to be the client's (`process.configure_process` points both at
    the same settings). Leaving the block ends the run, FAILED on an error.

    The signature is one string column in, `sentiment` and `confidence` out (the pyfunc
    flavour's `core.scores.ScoredTexts`); the pipeline's first step reads that column, so pyfunc
    and `mlflow models serve` predict row by row rather than on column names.
    """
    import pandas as pd

    _check_process_store(client)
    example = pd.DataFrame({"text": record.input_example})
    # One unnamed string column: pyfunc then accepts a plain list of texts as well as a
    # one-column DataFrame whatever its column is called. The output is `ScoredTexts`'.
    signature = ModelSignature(
        inputs=Schema([ColSpec(DataType.string)]),
        outputs=Schema([ColSpec(DataType[kind], column) for column, kind in SCORE_COLUMNS.items()]),
    )
    # The tags MLflow's own runs carry (user, source) with ours.
    run = client.create_run(experiment_id, tags=resolve_tags(record.tags))
    run_id = run.info.run_id
    with mlflow.start_run(run_id=run_id):
        now = get_current_time_millis()
        client.log_batch(
            run_id,
            metrics=[Metric(key, float(value), now, 0) for key, value in record.metrics.items()],
            params=[Param(key, str(value)) for key, value in record.params.items()],
        )
        for file_name, figure in record.figures.items():
            client.log_figure(run_id, figure, f"plots/{file_name}")
        dataset = from_pandas(
            record.training_frame,
            source=record.data_source,
            name=Path(record.data_source).name,
            targets="label",
        )
        mlflow.log_input(dataset, context="training")
        model_uri = _log_model(model, signature, example)
    return run_id, model_uri


def _check_process_store(client: MlflowClient) -> None:
    """MLflow's fluent API must log where `client` does, or half a run lands elsewhere."""
    if mlflow.get_tracking_uri() != client.tracking_uri:
        redact = redactor_for(get_settings())
        raise RuntimeError(
            f"MLflow's process tracking store {redact(mlflow.get_tracking_uri())} is not the "
            f"client's {redact(client.tracking_uri)}: the entry point must call "
            "sentiment_mlops.process.configure_process with the client's settings"
        )


def _log_model(model: Any, signature: ModelSignature, example: pd.DataFrame) -> str:
    """Log the model to the active run with only the code its pickle imports; its URI."""
    from sentiment_mlops.model_code import stage_model_code

    # MLflow loads the model back to check the input example, adding its code to sys.path.
    with _sys_path_restored(), tempfile.TemporaryDirectory(prefix="sentiment-code-") as code:
        info = mlflow.models.Model.log(
            artifact_path=None,
            flavor=_ScoredSklearnFlavor,
            flavor_name=mlflow.sklearn.FLAVOR_NAME,
            sk_model=model,
            name=MODEL_ARTIFACT_NAME,
            signature=signature,
            input_example=example,
            pip_requirements=model_requirements(),
            # Only the modules unpickling imports, so the model loads without this package.
            code_paths=[str(stage_model_code(model, Path(code), extra=[scores.__name__]))],
            # skops writes each of the 50k vocabulary entries as its own array (70 s
            # here); cloudpickle takes well under a second. Models come from our registry.
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        )
    return info.model_uri


class _ScoredSklearnFlavor:
    """MLflow's scikit-learn flavour with our pyfunc flavour (`core.scores.ScoredTexts`).

    `Model.log` saves a model through its flavour's `save_model`. This one saves the sklearn
    flavour as `mlflow.sklearn.log_model` does (the pickle the API loads, unchanged), then
    points the pyfunc flavour's loader at `core.scores`, shipped in the model's code folder:
    pyfunc and `spark_udf` then answer a label and a confidence per text, not a label only.
    """

    @staticmethod
    def save_model(path: str, mlflow_model: mlflow.models.Model, **kwargs: Any) -> None:
        mlflow.sklearn.save_model(path=path, mlflow_model=mlflow_model, **kwargs)
        _save_compact_scorer(kwargs["sk_model"], Path(path), mlflow_model)
        pyfunc = mlflow_model.flavors[mlflow.pyfunc.FLAVOR_NAME]
        pyfunc[mlflow.pyfunc.MAIN] = scores.__name__
        pyfunc[mlflow.pyfunc.DATA] = pyfunc["model_path"]  # what `_load_pyfunc` is given
        pyfunc.pop("predict_fn", None)  # the sklearn method name; ScoredTexts has `predict`
        mlflow_model.save(str(Path(path, "MLmodel")))


def _save_compact_scorer(model: Any, folder: Path, mlflow_model: mlflow.models.Model) -> None:
    """Beside the pickle, the pipeline's parameters as `core.compact_scorer`'s file, named in
    the `MLmodel` metadata: the API loads that without scikit-learn. Only for pipelines the
    compact scorer reproduces; the others (and versions logged before it) are unpickled."""
    from sentiment_mlops.core.compact_export import compact_bytes
    from sentiment_mlops.core.compact_file import COMPACT_FILE, COMPACT_METADATA_KEY

    data = compact_bytes(model)
    if data is not None:
        (folder / COMPACT_FILE).write_bytes(data)
        metadata = {**(mlflow_model.metadata or {}), COMPACT_METADATA_KEY: COMPACT_FILE}
        mlflow_model.metadata = metadata


@_translated
def register_version(
    client: MlflowClient, name: str, model_uri: str, run_id: str, tags: dict[str, str]
) -> ModelRef:
    """Register the logged model as a new version of `name` (creating the model if needed)."""
    try:
        client.get_registered_model(name)
    except MlflowException as error:
        if error.error_code != _MISSING:
            raise
        client.create_registered_model(
            name, description="Movie-review sentiment classifier (TF-IDF + logistic regression)."
        )
    # MLflow 3 logs models as LoggedModel entities (`models:/m-<id>`); an MLflow server refuses
    # such a source unless the model id is given with it.
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
    version = client.create_model_version(
        name, source=model_uri, run_id=run_id, tags=tags, model_id=model_id
    )
    return ModelRef.from_mlflow(version)


@_translated
def get_alias(client: MlflowClient, name: str, alias: str) -> ModelRef | None:
    """The version an alias points at, or None when the model or the alias does not exist."""
    try:
        return ModelRef.from_mlflow(client.get_model_version_by_alias(name, alias))
    except MlflowException as error:  # RestException (a server) is one too
        # Some stores answer an unknown alias with INVALID_PARAMETER_VALUE.
        if error.error_code in {_MISSING, "INVALID_PARAMETER_VALUE"}:
            return None
        raise


@_translated
def get_version(client: MlflowClient, name: str, version: str) -> ModelRef:
    """One version, or a NotFoundError that says it does not exist."""
    try:
        return ModelRef.from_mlflow(client.get_model_version(name, str(version)))
    except MlflowException as error:
        if error.error_code != _MISSING:
            raise
        raise NotFoundError(f"model {name!r} has no version {version}") from error


@_translated
def list_versions(client: MlflowClient, name: str) -> list[ModelRef]:
    """All versions of a model, newest first, with their aliases.

    Search results do not carry aliases in every store, so they come from the model itself.
    A model that does not exist has no versions ([]); an unreachable MLflow is an error.
    """
    try:
        aliases = dict(client.get_registered_model(name).aliases or {})
    except MlflowException as error:
        if error.error_code != _MISSING:
            raise
        return []
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    refs = [
        replace(ModelRef.from_mlflow(v), aliases=tuple(sorted(by_version.get(str(v.version), []))))
        for v in client.search_model_versions(f"name = '{name}'")
    ]
    return sorted(refs, key=lambda ref: int(ref.version), reverse=True)


@_translated
def set_alias(client: MlflowClient, name: str, alias: str, version: str) -> ModelRef:
    """Point `alias` at `version`, checking the version exists first."""
    ref = get_version(client, name, version)
    client.set_registered_model_alias(name, alias, ref.version)
    return get_version(client, name, version)


@_translated
def promote(client: MlflowClient, name: str, version: str, alias: str) -> ModelRef | None:
    """Give `version` the served alias (MODEL_ALIAS); its old holder keeps `previous`."""
    old = get_alias(client, name, alias)
    if old is not None and old.version != str(version):
        client.set_registered_model_alias(name, PREVIOUS_ALIAS, old.version)
    client.set_registered_model_alias(name, alias, str(version))
    return old


@_translated
def run_metrics(client: MlflowClient, run_id: str | None) -> dict[str, float]:
    """The metrics a run logged: {} when the run is unknown, an error when MLflow is down."""
    if not run_id:
        return {}
    try:
        return dict(client.get_run(run_id).data.metrics)
    except MlflowException as error:
        if error.error_code != _MISSING:
            raise
        return {}


@_translated
def record_decision(
    client: MlflowClient, run_id: str, tags: dict[str, str], metrics: dict[str, float]
) -> None:
    """Tag a run with a decision taken after it ended (the promotion) and log its scores."""
    for key, tag in tags.items():
        client.set_tag(run_id, key, tag)
    for key, score in metrics.items():
        client.log_metric(run_id, key, score)


@_translated
def load_model(client: MlflowClient, ref: ModelRef) -> Any:
    """Load a registered version as a scikit-learn pipeline (by version, never by alias).

    The artifacts are downloaded from `client`'s stores to a temporary folder that is removed
    after loading. MLflow puts the model's code folder on `sys.path` at every load (for environments
    without this package; here the installed package is already imported, and its modules
    win); the path is restored afterwards so that a long-running server does not accumulate
    stale entries.
    """
    with _sys_path_restored(), tempfile.TemporaryDirectory(prefix="sentiment-model-") as folder:
        return mlflow.sklearn.load_model(_download_loadable_files(client, ref, folder))


@_translated
def download_location(client: MlflowClient, ref: ModelRef) -> str:
    """Where a version's files are (a folder, or an artifact store's URI), by version."""
    return str(client.get_model_version_download_uri(ref.name, ref.version))


# --- fetch only what loading reads (issue 15) -----------------------------------------------
def _download_loadable_files(client: MlflowClient, ref: ModelRef, folder: str) -> str:
    """Download the version's `MLmodel` and the pickle it names into `folder`; returns it.

    Loading reads nothing else: the environment files and input examples are for other
    runtimes, and the code folder is shadowed by the installed package. Against a tracking
    server every artifact file is its own request (plus a listing per folder), so fetching two
    files instead of the whole tree is most of a reload's registry time. MLflow resolves
    `models:/` URIs with the process's registry, whatever it is given, so the client finds
    where the version's files are and they come from there.
    """
    from mlflow.models import Model
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    location = download_location(client, ref)
    repository = get_artifact_repository(location, tracking_uri=client.tracking_uri)
    flavors = Model.load(repository.download_artifacts("MLmodel", folder)).flavors
    pickled = flavors.get(mlflow.sklearn.FLAVOR_NAME, {}).get("pickled_model")
    if pickled is not None:  # otherwise mlflow.sklearn.load_model says what is missing
        repository.download_artifacts(pickled, folder)
    return folder


@_translated
def download_model(client: MlflowClient, ref: ModelRef, folder: str) -> Path:
    """All of a version's files (MLmodel, pickle, code, requirements) in `folder`: what loading
    it through MLflow's pyfunc flavour elsewhere (Spark's executors) reads. Its path."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    location = download_location(client, ref)
    repository = get_artifact_repository(location, tracking_uri=client.tracking_uri)
    return Path(repository.download_artifacts("", folder))


def pyfunc_answers_scores(model_folder: Path) -> bool:
    """Whether a downloaded version's pyfunc flavour is `core.scores` (sentiment and confidence
    per text), as logged since issue 17; before, it was scikit-learn's (labels only)."""
    from mlflow.models import Model

    flavor = Model.load(str(model_folder / "MLmodel")).flavors.get(mlflow.pyfunc.FLAVOR_NAME, {})
    return flavor.get(mlflow.pyfunc.MAIN) == scores.__name__


@contextmanager
def _sys_path_restored() -> Iterator[None]:
    saved_path = list(sys.path)
    try:
        yield
    finally:
        sys.path[:] = saved_path


@_translated
def ensure_webhook(
    client: MlflowClient,
    name: str,
    url: str,
    events: list[WebhookEventStr | WebhookEvent],
    secret: str,
    description: str | None = None,
) -> str:
    """Create the registry webhook `name`, or update the one of that name; returns its id.

    Webhooks need a SQL-backed registry; only `mlflow server` delivers them.
    """
    page_token = None
    while True:
        page = client.list_webhooks(max_results=100, page_token=page_token)
        for webhook in page:
            if webhook.name == name:
                client.update_webhook(
                    webhook.webhook_id,
                    url=url,
                    events=events,
                    secret=secret,
                    description=description,
                    status="ACTIVE",
                )
                return webhook.webhook_id
        page_token = page.token
        if not page_token:
            break
    webhook = client.create_webhook(
        name=name, url=url, events=events, secret=secret, description=description
    )
    return webhook.webhook_id


@_translated
def log_run(
    client: MlflowClient,
    experiment_id: str,
    params: dict[str, Any],
    metrics: dict[str, float],
    tags: dict[str, str],
) -> str:
    """Record a finished run of params, metrics and tags (no model, no artifacts); its id.

    For jobs that use a model rather than make one, such as batch scoring.
    """
    from mlflow.entities import Metric, Param

    run_id = client.create_run(experiment_id, tags=tags).info.run_id
    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(key, float(value), now, 0) for key, value in metrics.items()],
        params=[Param(key, str(value)) for key, value in params.items()],
    )
    client.set_terminated(run_id)
    return run_id


def delete_alias(client: MlflowClient, name: str, alias: str) -> bool:
    """Remove `alias` from the model; False when it did not exist (nothing to remove)."""
    if get_alias(client, name, alias) is None:
        return False
    client.delete_registered_model_alias(name, alias)
    return True
