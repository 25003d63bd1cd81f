from pathlib import Path

import pytest
import yaml

from sentiment_mlops.core.params import ParamsError, load_params
from sentiment_mlops.flows.inputs import DEFAULT_PARAMS
from tests.support.paths import PARAMS_FILE


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


@pytest.mark.parametrize(
    ("section", "key", "value", "fragment"),
    [
        ("vectorizer", "min_df", 2.5, "whole number of reviews"),
        ("model", "C", float("inf"), "finite number"),
        ("data", "random_state", -1, "greater than or equal to 0"),
    ],
)
def test_values_scikit_learn_refuses_are_refused_here(
    tmp_path: Path, section: str, key: str, value: object, fragment: str
) -> None:
    params = yaml.safe_load(PARAMS_FILE.read_text())
    params[section][key] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(ParamsError, match=f"{section}.{key}: .*{fragment}"):
        load_params(path)


@pytest.mark.parametrize("min_df", [1, 3, 0.5, 1.0])
def test_min_df_counts_or_fractions_are_accepted(tmp_path: Path, min_df: float) -> None:
    params = yaml.safe_load(PARAMS_FILE.read_text())
    params["vectorizer"]["min_df"] = min_df
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    assert load_params(path).vectorizer.min_df == min_df


def test_yaml_error_is_one_line_with_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("data:\n  test_size: 0.2\n   random_state: [1\n")
    with pytest.raises(ParamsError) as raised:
        load_params(path)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:3:16: not valid YAML")


def test_params_must_be_sections(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(
        ParamsError, match="expected sections data, features, vectorizer, char_vectorizer, model"
    ):
        load_params(path)


def test_packaged_default_params_are_the_project_params() -> None:
    # The CLI falls back to the packaged copy outside the project; it must never drift. Only
    # the training parameters count: `sentiment data prepare` rewrites the `prepare` section.
    assert load_params(DEFAULT_PARAMS) == load_params(PARAMS_FILE)
    assert _without_prepare(DEFAULT_PARAMS) == _without_prepare(PARAMS_FILE)


def _without_prepare(path: Path) -> dict:
    sections = yaml.safe_load(path.read_text())
    sections.pop("prepare", None)
    return sections
