"""A logged model carries only the code loading needs (the pickle's modules and the pyfunc
flavour's `core.scores`), and loads where our package is absent.

The clean environment is this interpreter, isolated, on a site-packages folder with only the
base install's libraries (MLflow's client, scikit-learn, pandas, ...: no Prefect, matplotlib or
MLflow server) and without our package, so `sentiment_mlops` can only come from the model's own
`code/` folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from sentiment_mlops import registry
from tests.registry.conftest import LoggedModel
from tests.registry.scores import assert_scores, expected_scores
from tests.support.paths import DEMO_DATA
from tests.support.roles import role_python, role_site_packages

MODEL_CODE = {
    "sentiment_mlops/__init__.py",
    "sentiment_mlops/core/__init__.py",
    "sentiment_mlops/core/labels.py",
    "sentiment_mlops/core/nb.py",
    "sentiment_mlops/core/scores.py",
    "sentiment_mlops/core/term_counts.py",
    "sentiment_mlops/core/text.py",
    "sentiment_mlops/core/vectorizer.py",
}

CLEAN_LOAD = """
import importlib.util, json

assert importlib.util.find_spec("sentiment_mlops") is None, "our package is installed"
assert importlib.util.find_spec("prefect") is None, "Prefect is installed"
import mlflow.pyfunc

model = mlflow.pyfunc.load_model(sys.argv[1])
scores = model.predict(json.loads(sys.argv[2])).to_dict(orient="records")
ours = {n: m.__file__ for n, m in sys.modules.items() if n.split(".")[0] == "sentiment_mlops"}
print(json.dumps({"scores": scores, "modules": ours}))
"""


def load_in_clean_environment(model_folder: Path, texts: list[str], tmp_path: Path) -> dict:
    """Load the model with pyfunc where only the base install's libraries are, and predict."""
    site = role_site_packages(tmp_path / "site-packages", project=False)
    result = subprocess.run(
        [*role_python(site, CLEAN_LOAD, project=False), str(model_folder), json.dumps(texts)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def model_folder(logged: LoggedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(
        mlflow.artifacts.download_artifacts(
            f"models:/registry-test-model/{logged.version}",
            dst_path=str(tmp_path_factory.mktemp("model")),
        )
    )


def test_model_ships_only_the_modules_unpickling_needs(model_folder: Path) -> None:
    code = model_folder / "code"
    shipped = {path.relative_to(code).as_posix() for path in code.rglob("*") if path.is_file()}
    assert shipped == MODEL_CODE


def assert_loads_in_a_clean_environment(
    model_folder: Path, texts: list[str], expected: list[dict], tmp_path: Path
) -> None:
    """The model predicts `expected` where our package is absent, with our modules imported
    from its own `code/` folder only."""
    loaded = load_in_clean_environment(model_folder, texts, tmp_path)
    assert_scores(loaded["scores"], expected)
    code = (model_folder / "code").resolve()
    assert loaded["modules"], "the model imported none of our modules"
    for name, file in loaded["modules"].items():
        assert Path(file).resolve().is_relative_to(code), (name, file)


# A new interpreter on a built site-packages folder (~3 s of CPU): the quick set loads the
# word+char_wb model this way (test_feature_sets.py), which ships all of this model's code.
@pytest.mark.slow
def test_model_loads_with_pyfunc_in_a_clean_environment(
    logged: LoggedModel, model_folder: Path, tmp_path: Path
) -> None:
    texts = logged.split.test_texts.tolist()
    expected = expected_scores(logged.model, texts)
    assert_loads_in_a_clean_environment(model_folder, texts, expected, tmp_path)


def test_logging_leaves_sys_path_as_it_was(logged: LoggedModel) -> None:
    client = logged.tracker.client
    texts = logged.split.train_texts.tolist()
    record = registry.RunRecord(
        params={},
        metrics={},
        training_frame=pd.DataFrame({"text": texts, "label": logged.split.train_labels}),
        data_source=str(DEMO_DATA),
        input_example=texts[:2],
        figures={},
        tags={},
    )
    experiment_id = registry.ensure_experiment(client, logged.settings, "registry-test")
    before = list(sys.path)
    registry.log_training_run(client, experiment_id, logged.model, record)
    assert sys.path == before


def test_loading_leaves_sys_path_as_it_was(logged: LoggedModel) -> None:
    ref = registry.get_version(logged.tracker.client, "registry-test-model", logged.version)
    before = list(sys.path)
    registry.load_model(logged.tracker.client, ref)
    registry.load_model(logged.tracker.client, ref)
    assert sys.path == before
