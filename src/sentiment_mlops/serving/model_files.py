"""A registered version's files, read and unpickled without importing MLflow.

Shared by the registry readers the API uses (`registry_client`'s REST client and
`sqlite_registry`): a version folder is an `MLmodel` file naming a pickle, read from a local
folder directly, or through MLflow's artifact repositories for other stores (S3, cloud).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sentiment_mlops.errors import RegistryError
from sentiment_mlops.settings import Settings

# Read here directly; anything else is downloaded by MLflow's repositories.
_LOCAL_SCHEMES = frozenset({"", "file"})
_SERIALIZATIONS = frozenset({"pickle", "cloudpickle"})  # cloudpickle's output is a pickle


def local_reader(location: str, settings: Settings) -> Callable[[str], bytes]:
    """A function that reads one file of the version folder at `location`: a local folder
    directly, any other store (S3, cloud storage) through MLflow's artifact repositories."""
    parts = urlsplit(location)
    if parts.scheme in _LOCAL_SCHEMES:
        folder = Path(unquote(parts.path) if parts.scheme else location)
        return lambda name: (folder / name).read_bytes()
    return _mlflow_reader(location, settings)


def load_pickled(read: Callable[[str], bytes], settings: Settings) -> Any:
    """The scikit-learn model of a version folder: its `MLmodel`, then the pickle it names.

    What `mlflow.sklearn.load_model` reads, without importing MLflow (the version's code folder
    is not put on `sys.path`: the installed package is the one the API serves with)."""
    flavor = _sklearn_flavor(read("MLmodel"))
    if not settings.mlflow_allow_pickle_deserialization:
        raise RegistryError(
            "loading a pickled model is disallowed (MLFLOW_ALLOW_PICKLE_DESERIALIZATION)"
        )
    # Unpickling imports scikit-learn and our model code; models come from our registry.
    return pickle.loads(read(flavor["pickled_model"]))


def _sklearn_flavor(mlmodel: bytes) -> dict[str, Any]:
    """The `sklearn` flavour of an `MLmodel` file, checked to name a pickle we can read."""
    import yaml

    # libyaml's loader where PyYAML has it: the pure-Python one is a few percent of a reload.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    flavors = (yaml.load(mlmodel, Loader=loader) or {}).get("flavors") or {}
    flavor = flavors.get("sklearn")
    if not isinstance(flavor, dict) or not flavor.get("pickled_model"):
        raise RegistryError("the version is not a scikit-learn model (no sklearn flavour)")
    serialization = flavor.get("serialization_format", "cloudpickle")
    if serialization not in _SERIALIZATIONS:
        raise RegistryError(f"unsupported serialization format {serialization!r}")
    return flavor


def _mlflow_reader(location: str, settings: Settings) -> Any:
    """For artifact stores the REST client does not read itself (S3, cloud storage)."""
    import tempfile

    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    repository = get_artifact_repository(location, tracking_uri=settings.mlflow_tracking_uri)

    def read(name: str) -> bytes:
        with tempfile.TemporaryDirectory(prefix="sentiment-model-") as folder:
            return Path(repository.download_artifacts(name, folder)).read_bytes()

    return read
