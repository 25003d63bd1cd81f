"""Where the API finds its champion: a small REST client for a tracking server, else MLflow's.

The API needs three registry answers (the version behind an alias, its files, its run's metrics)
and one load (`MLmodel` and the compact scorer or the pickle it names). Against a tracking
server (`http(s)://`), these are five GET requests of MLflow's REST API, made here with httpx,
so the API never imports MLflow: importing it and building its client was most of the time from
start to the first served model (issue 15). Artifacts come through the server when it proxies
them (`mlflow-artifacts:`, as the stack's does) or from a local folder; any other store (S3 read
directly, cloud stores) falls back to MLflow's artifact repositories for the download only. A
local store (SQLite, a folder: the embedded default) has no REST API: `sqlite_registry` reads
a SQLite store of the schema it knows, and `MlflowRegistry` asks MLflow's client (`registry`)
for any other, then loads the version's files as the two readers do (`model_files`).

Both raise our errors, as the registry adapter does: `ServiceUnavailableError` when the server
cannot be reached, `RegistryError` for anything it refuses, with credentials redacted.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

from sentiment_mlops.errors import RegistryError, ServiceUnavailableError
from sentiment_mlops.model_ref import ModelRef
from sentiment_mlops.redaction import Redactor
from sentiment_mlops.serving.model_files import load_version_model, local_reader
from sentiment_mlops.settings import Settings

if TYPE_CHECKING:
    import httpx

# MLflow's error codes for something that does not exist (an unknown alias is either).
_MISSING = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})
_ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"


class Registry(Protocol):
    """What the model store asks of the registry (blocking: call from a thread)."""

    def get_alias(self, name: str, alias: str) -> ModelRef | None: ...
    def load_model(self, ref: ModelRef) -> Any: ...
    def run_metrics(self, run_id: str | None) -> dict[str, float]: ...


def open_registry(settings: Settings, redact: Redactor) -> Registry:
    """The REST client when tracking and registry are one tracking server; the SQLite reader
    when they are one SQLite store with the schema it knows; else MLflow's client."""
    uri = settings.mlflow_tracking_uri
    if settings.registry_uri != uri:
        return MlflowRegistry(settings)
    if uri.startswith(("http://", "https://")):
        return RestRegistry(settings, redact)
    from sentiment_mlops.serving.sqlite_registry import open_sqlite_registry

    return open_sqlite_registry(settings) or MlflowRegistry(settings)


class MlflowRegistry:
    """The registry through MLflow's client (`sentiment_mlops.registry`), for other stores."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def _client(self) -> Any:
        from sentiment_mlops import registry

        return registry.make_client(self.settings)

    def get_alias(self, name: str, alias: str) -> ModelRef | None:
        from sentiment_mlops import registry

        return registry.get_alias(self._client, name, alias)

    def load_model(self, ref: ModelRef) -> Any:
        """The version's compact scorer, or its pickle, read from where MLflow keeps its files
        (`model_files`, as the other two readers load): no `mlflow.sklearn.load_model`."""
        from sentiment_mlops import registry

        location = registry.download_location(self._client, ref)
        return load_version_model(local_reader(location, self.settings), self.settings)

    def run_metrics(self, run_id: str | None) -> dict[str, float]:
        from sentiment_mlops import registry

        return registry.run_metrics(self._client, run_id)


class RestRegistry:
    """MLflow's REST API over httpx: what the API needs of a tracking server, nothing more."""

    def __init__(self, settings: Settings, redact: Redactor) -> None:
        self.settings = settings
        self.redact = redact
        parts = urlsplit(settings.mlflow_tracking_uri.rstrip("/"))
        # Credentials of the URI go in the auth header, never into a URL that could be logged.
        self.base = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
        self._uri_auth = (unquote(parts.username or ""), unquote(parts.password or ""))

    @cached_property
    def _http(self) -> httpx.Client:
        import httpx

        settings = self.settings
        verify: bool | str = not settings.mlflow_tracking_insecure_tls
        if verify and settings.mlflow_tracking_server_cert_path:
            verify = settings.mlflow_tracking_server_cert_path
        return httpx.Client(
            auth=self._auth(),
            headers=self._headers(),
            timeout=settings.mlflow_http_timeout,
            verify=verify,
            # Connection failures only; the watcher's own backoff handles the rest.
            transport=httpx.HTTPTransport(retries=settings.mlflow_http_max_retries, verify=verify),
        )

    def _auth(self) -> tuple[str, str] | None:
        """Basic auth as MLflow sends it: MLflow's user name and password, else the URI's."""
        settings = self.settings
        if settings.mlflow_tracking_username and settings.mlflow_tracking_password:
            password = settings.mlflow_tracking_password.get_secret_value()
            return settings.mlflow_tracking_username, password
        return self._uri_auth if any(self._uri_auth) else None

    def _headers(self) -> dict[str, str]:
        """A bearer token when MLflow would send one (a token, and no user name and password)."""
        settings = self.settings
        token = settings.mlflow_tracking_token
        basic = settings.mlflow_tracking_username and settings.mlflow_tracking_password
        if token is None or basic:
            return {}
        return {"Authorization": f"Bearer {token.get_secret_value()}"}

    # --- the registry's answers ---------------------------------------------------------------
    def get_alias(self, name: str, alias: str) -> ModelRef | None:
        """The version an alias points at, or None when the model or the alias does not exist."""
        path = "/api/2.0/mlflow/registered-models/alias"
        found = self._get_json(path, {"name": name, "alias": alias}, missing_ok=True)
        return None if found is None else ModelRef.from_json(found["model_version"])

    def run_metrics(self, run_id: str | None) -> dict[str, float]:
        """The metrics a run logged (latest value of each): {} when the run is unknown."""
        if not run_id:
            return {}
        found = self._get_json("/api/2.0/mlflow/runs/get", {"run_id": run_id}, missing_ok=True)
        metrics = (found or {}).get("run", {}).get("data", {}).get("metrics", ())
        return {metric["key"]: float(metric["value"]) for metric in metrics}

    def load_model(self, ref: ModelRef) -> Any:
        """Download the version's `MLmodel` and its compact scorer, or its pickle to unpickle."""
        params = {"name": ref.name, "version": ref.version}
        found = self._get_json("/api/2.0/mlflow/model-versions/get-download-uri", params)
        location = str((found or {}).get("artifact_uri") or "")
        if not location:
            raise RegistryError(f"registry: version {ref.version} has no download location")
        return load_version_model(self._reader(location), self.settings)

    # --- HTTP ---------------------------------------------------------------------------------
    def _get_json(
        self, path: str, params: dict[str, str], missing_ok: bool = False
    ) -> dict[str, Any] | None:
        response = self._get(f"{self.base}{path}", params)
        if response.status_code == 200:
            return dict(response.json())
        error = _error_of(response)
        if missing_ok and error.get("error_code") in _MISSING:
            return None
        raise self._refused(response, error)

    def _get(self, url: str, params: dict[str, str] | None = None) -> httpx.Response:
        import httpx

        try:
            return self._http.get(url, params=params)
        except httpx.TransportError as error:
            where = self.redact(self.settings.mlflow_tracking_uri)  # credentials masked
            raise ServiceUnavailableError(
                f"cannot reach the MLflow tracking server at {where} (is it running?)"
            ) from error

    def _refused(self, response: httpx.Response, error: dict[str, Any]) -> RegistryError:
        code = error.get("error_code") or f"HTTP {response.status_code}"
        message = str(error.get("message") or response.reason_phrase).strip().splitlines()
        return RegistryError(self.redact(f"registry: {code}: {message[0] if message else ''}"))

    def _reader(self, location: str) -> Any:
        """A function that reads one file of the folder at `location` (bytes)."""
        parts = urlsplit(location)
        if parts.scheme == "mlflow-artifacts":
            base = urlsplit(self.base)
            netloc = parts.netloc or base.netloc
            root = urlunsplit((base.scheme, netloc, f"{base.path}{_ARTIFACTS_API}", "", ""))
            return lambda name: self._download(f"{root}/{parts.path.strip('/')}/{name}")
        if parts.scheme in {"http", "https"}:
            return lambda name: self._download(f"{location.rstrip('/')}/{name}")
        return local_reader(location, self.settings)

    def _download(self, url: str) -> bytes:
        response = self._get(url)
        if response.status_code != 200:
            raise self._refused(response, _error_of(response))
        return response.content


def _error_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
