"""Serving test helpers: a trained champion in a temporary MLflow, real service processes."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from sentiment_mlops import registry
from sentiment_mlops.core.compact_file import COMPACT_FILE
from sentiment_mlops.process import configure_process
from sentiment_mlops.serving.webhooks import sign
from sentiment_mlops.settings import Settings
from tests.support import processes
from tests.support.paths import DEMO_DATA, PARAMS_FILE

MODEL_NAME = "sentiment-classifier"
ADMIN_TOKEN = "test-admin-token"
WEBHOOK_SECRET = "test-webhook-secret"
# Any valid Fernet key; a test server's stored webhook secrets are encrypted with it.
FERNET_KEY = "-y_Xo9dIsJfE-o9sSxE7j_b6XZXxP44FGCSP4gGj_FE="


@dataclass(frozen=True)
class MlflowStore:
    """A temporary SQLite MLflow holding one logged model, version 1 of MODEL_NAME as champion."""

    root: Path
    model: Any  # the fitted pipeline, to log more versions cheaply
    model_uri: str
    run_id: str
    experiment_id: str

    @property
    def db(self) -> Path:
        return self.root / "mlflow.db"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.db}"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def prediction_log_url(self) -> str:
        """The services' prediction log, beside the store (not in the checkout's folder)."""
        return f"sqlite:///{self.root / 'predictions.db'}"

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "mlflow_tracking_uri": self.tracking_uri,
            "mlflow_registry_uri": None,  # not the MLFLOW_REGISTRY_URI mlflow itself exports
            "artifact_location": str(self.artifacts),
            "model_name": MODEL_NAME,
            "model_alias": "champion",
            "admin_token": ADMIN_TOKEN,
            "webhook_secret": WEBHOOK_SECRET,
            "model_reload_interval": 1.0,
            "log_level": "INFO",
            "prediction_log_url": self.prediction_log_url,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    def env(self, **overrides: str) -> dict[str, str | None]:
        """Environment for a service process on this store (None: not inherited)."""
        env: dict[str, str | None] = {
            # A registry URI of this process's environment is not the store's.
            "MLFLOW_REGISTRY_URI": None,
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            "ARTIFACT_LOCATION": str(self.artifacts),
            "MODEL_NAME": MODEL_NAME,
            "MODEL_ALIAS": "champion",
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "WEBHOOK_SECRET": WEBHOOK_SECRET,
            "MODEL_RELOAD_INTERVAL": "1",
            "LOG_LEVEL": "INFO",
            "PREDICTION_LOG_URL": self.prediction_log_url,
        }
        env.update(overrides)
        return env

    def client(self) -> Any:
        """A client of this store, the process configured for it (as an entry point does): the
        model logging of `log_model` goes through the process's store."""
        settings = self.settings()
        configure_process(settings)
        return registry.make_client(settings)

    def register(self, name: str, model_uri: str | None = None) -> str:
        """A new version of `name` (from the store's model unless told otherwise)."""
        ref = registry.register_version(
            self.client(), name, model_uri or self.model_uri, self.run_id, {}
        )
        return ref.version

    def log_broken_model(self) -> str:
        """Log the model again and corrupt its pickle and its compact scorer (a version whose
        model files are not a model); returns the new model URI."""
        _, model_uri = log_model(self.client(), self.experiment_id, self.model)
        folder = self.model_folder(model_uri)
        pickles = list(folder.rglob("*.pkl"))
        assert pickles, f"no pickle under {folder}"
        for pickle in pickles:
            pickle.write_bytes(b"this is not a pickle")
        (folder / COMPACT_FILE).write_bytes(b"this is not a compact scorer")
        return model_uri

    def model_folder(self, model_uri: str) -> Path:
        """The local folder of a logged model's files."""
        model_id = model_uri.removeprefix("models:/")
        location = self.client().get_logged_model(model_id).artifact_location
        return Path(location.removeprefix("file://"))


def train_store(root: Path) -> MlflowStore:
    """Train on the demo reviews and register version 1 of MODEL_NAME as champion."""
    from sentiment_mlops.core.data import load_reviews
    from sentiment_mlops.core.model import train_model
    from sentiment_mlops.core.params import load_params
    from sentiment_mlops.core.split import split_reviews

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        artifact_location=str(root / "artifacts"),
    )
    configure_process(settings)
    client = registry.make_client(settings)
    experiment_id = registry.ensure_experiment(client, settings)
    params = load_params(PARAMS_FILE)
    reviews = load_reviews(DEMO_DATA)
    split = split_reviews(reviews.texts, reviews.labels, params.data)
    model = train_model(split, params)
    run_id, model_uri = log_model(client, experiment_id, model, split)
    ref = registry.register_version(client, MODEL_NAME, model_uri, run_id, {})
    registry.promote(client, MODEL_NAME, ref.version, "champion")
    return MlflowStore(root, model, model_uri, run_id, experiment_id)


def log_model(client: Any, experiment_id: str, model: Any, split: Any = None) -> tuple[str, str]:
    import pandas as pd

    from sentiment_mlops.core.evaluation import evaluate

    texts = ["A wonderful film.", "A dull film."] if split is None else list(split.test_texts)
    labels = [1, 0] if split is None else list(split.test_labels)
    metrics = evaluate(model, pd.Series(texts), pd.Series(labels)).metrics.as_dict()
    record = registry.RunRecord(
        params={"test": 1},
        metrics=metrics,
        training_frame=pd.DataFrame({"text": texts, "label": labels}),
        data_source=str(DEMO_DATA),
        input_example=texts[:2],
        figures={},
        tags={"purpose": "serving-tests"},
    )
    return registry.log_training_run(client, experiment_id, model, record)


# The serving tests poll often, and through the errors of a server that is not listening yet.
wait_until = functools.partial(
    processes.wait_until, interval=0.05, ignore=(httpx.HTTPError, OSError)
)


def run_service(env: Mapping[str, str | None], workdir: Path) -> processes.ServerProcess:
    """Start the API with `run_server` in a process on a free port; stopped on leaving `with`."""
    port = processes.free_port()
    code = "from sentiment_mlops.serving.server import run_server; run_server()"
    return processes.ServerProcess(
        [sys.executable, "-c", code],
        env={**env, "API_HOST": "127.0.0.1", "API_PORT": str(port)},
        log=workdir / f"service-{port}.log",
        cwd=workdir,  # no .env of the checkout
        url=f"http://127.0.0.1:{port}",
    )


def run_cli(
    env: Mapping[str, str | None], workdir: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run `sentiment ARGS` to its end, with this environment updated by `env` (None: removed)."""
    environment = {k: v for k, v in (os.environ | env).items() if v is not None}
    return subprocess.run(
        [sys.executable, "-m", "sentiment_mlops", *args],
        env=environment,
        cwd=workdir,  # no .env of the checkout
        capture_output=True,
        text=True,
        timeout=120,
    )


def alias_event(
    name: str = MODEL_NAME, alias: str = "champion", version: str = "1"
) -> dict[str, Any]:
    """The body of MLflow's `model_version_alias.created` webhook event."""
    return {
        "entity": "model_version_alias",
        "action": "created",
        "timestamp": "2025-01-01T00:00:00+00:00",
        "data": {"name": name, "alias": alias, "version": version},
    }


def signed_delivery(
    event: dict[str, Any], secret: str = WEBHOOK_SECRET, age: float = 0, delivery_id: str = ""
) -> dict[str, Any]:
    """`httpx`/TestClient keyword arguments of a webhook delivery signed as MLflow signs it."""
    body = json.dumps(event).encode()
    delivery_id = delivery_id or f"d-{time.time_ns()}"
    timestamp = str(int(time.time() - age))
    headers = {
        "content-type": "application/json",
        "X-MLflow-Delivery-Id": delivery_id,
        "X-MLflow-Timestamp": timestamp,
        "X-MLflow-Signature": sign(secret, delivery_id, timestamp, body),
    }
    return {"content": body, "headers": headers}


@contextmanager
def mlflow_server(db: Path, port: int, workdir: Path) -> Iterator[str]:
    """A real tracking server on `db` that may deliver webhooks to 127.0.0.1."""
    env = {
        "MLFLOW_TRACKING_URI": None,  # the session store's
        "MLFLOW_REGISTRY_URI": None,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": FERNET_KEY,
        "MLFLOW_WEBHOOK_CACHE_TTL": "1",
    }
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{db}",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    log = workdir / "mlflow-server.log"
    with processes.ServerProcess(command, env, log, cwd=workdir) as server:
        server.wait_ready(processes.http_ok(f"{url}/health"), 90, "mlflow server")
        yield url
