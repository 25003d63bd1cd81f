"""A registered version's files, read and loaded without importing MLflow.

Shared by the registry readers the API uses (`registry_client`'s REST client and its MLflow
client fallback, and `sqlite_registry`): a version folder is an `MLmodel` file naming a
pickle, read from a local folder directly, or through MLflow's artifact repositories for other
stores (S3, cloud).
A version logged with a compact scorer (`core.compact_scorer`, named in the `MLmodel`
metadata) is loaded from that file instead: numpy arrays, no unpickling, no scikit-learn.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sentiment_mlops.core.compact_file import (
    COMPACT_FILE,
    COMPACT_METADATA_KEY,
    CompactCollisionError,
    CompactScorerError,
)
from sentiment_mlops.core.compact_scorer import CompactScorer
from sentiment_mlops.errors import RegistryError
from sentiment_mlops.serving.served_model import LEAN_TOLERANCE
from sentiment_mlops.settings import Settings

logger = logging.getLogger(__name__)

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


def load_version_model(read: Callable[[str], bytes], settings: Settings) -> Any:
    """The model of a version folder: its `MLmodel`, then the compact scorer it names, or else
    the pickle of its scikit-learn flavour.

    The pickle is what `mlflow.sklearn.load_model` reads, without importing MLflow (the
    version's code folder is not put on `sys.path`: the installed package is the one the API
    serves with). A compact scorer that is damaged, altered or scores its probe texts otherwise
    than the pipeline did refuses the version (`RegistryError`)."""
    mlmodel = _parse_mlmodel(read("MLmodel"))
    flavor = _sklearn_flavor(mlmodel)
    compact = _load_compact(mlmodel, read)
    if compact is not None:
        return compact
    if not settings.mlflow_allow_pickle_deserialization:
        raise RegistryError(
            "loading a pickled model is disallowed (MLFLOW_ALLOW_PICKLE_DESERIALIZATION)"
        )
    # Unpickling imports scikit-learn and our model code; models come from our registry.
    return pickle.loads(read(flavor["pickled_model"]))


def _load_compact(mlmodel: dict[str, Any], read: Callable[[str], bytes]) -> Any:
    """The version's compact scorer, checked; None when it has none or its terms collide here."""
    named = (mlmodel.get("metadata") or {}).get(COMPACT_METADATA_KEY)
    if named is None:  # logged before compact scorers, or a pipeline they cannot score
        return None
    if named != COMPACT_FILE:
        raise RegistryError(f"the version names an unexpected compact scorer file {named!r}")
    try:
        return CompactScorer.load(read(COMPACT_FILE), LEAN_TOLERANCE)
    except CompactCollisionError as collision:  # one process in billions: unpickle instead
        logger.info("compact scorer not used (%s): unpickling the model", collision)
        return None
    except CompactScorerError as error:
        raise RegistryError(f"compact scorer refused: {error}") from error


def _parse_mlmodel(mlmodel: bytes) -> dict[str, Any]:
    import yaml

    # libyaml's loader where PyYAML has it: the pure-Python one is a few percent of a reload.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    parsed = yaml.load(mlmodel, Loader=loader) or {}
    if not isinstance(parsed, dict):
        raise RegistryError("the version's MLmodel file is not a mapping")
    return parsed


def _sklearn_flavor(mlmodel: dict[str, Any]) -> dict[str, Any]:
    """The `sklearn` flavour of an `MLmodel` file, checked to name a pickle we can read."""
    flavors = mlmodel.get("flavors") or {}
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
