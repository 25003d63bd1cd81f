from pathlib import Path

import pytest

from sentiment_mlops.core.params import ParamsError, load_params
from tests.conftest import PARAMS_FILE


def test_project_params_load_and_flatten() -> None:
    params = load_params(PARAMS_FILE)
    flat = params.flat()
    assert flat["model.C"] == params.model.C
    assert flat["vectorizer.ngram_range"] == params.vectorizer.ngram_range
    assert set(flat) >= {"data.test_size", "data.random_state", "vectorizer.max_features"}


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")


def test_invalid_value_names_the_key(tmp_path: Path) -> None:
    text = PARAMS_FILE.read_text().replace("test_size: 0.2", "test_size: 1.5")
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=r"data\.test_size"):
        load_params(path)


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS_FILE.read_text().replace("max_iter:", "max_iters:"))
    with pytest.raises(ParamsError, match="max_iter"):
        load_params(path)
