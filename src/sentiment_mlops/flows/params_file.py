"""Write tuned settings into a params file in place, keeping its comments and other sections.

`params.yaml` also holds `prepare:` (the DVC data stage) and sections of other tools; a tuning
run replaces only the values of the sections it searched, in round-trip mode (ruamel.yaml), so
comments, key order and the rest of the file stay as the user wrote them. DVC tracks the file,
so `dvc repro` retrains with the new values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sentiment_mlops.core.params import TrainingParams, load_params
from sentiment_mlops.flows.inputs import DEFAULT_PARAMS


def write_params(path: Path, params: TrainingParams, sections: tuple[str, ...]) -> list[Path]:
    """Put `params`' values of `sections` into `path`, and into the packaged copy of the
    project's params.yaml when `path` is that file (a test keeps the two equal). Returns the
    files written; each is checked to load back to the same values."""
    written = [path]
    _update(path, params, sections)
    if _is_project_params(path):
        _update(DEFAULT_PARAMS, params, sections)
        written.append(DEFAULT_PARAMS)
    for file in written:
        loaded = load_params(file)
        if any(getattr(loaded, s) != getattr(params, s) for s in sections):
            raise RuntimeError(f"{file}: written values do not load back as written")
    return written


def _update(path: Path, params: TrainingParams, sections: tuple[str, ...]) -> None:
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    editor = YAML()  # round-trip mode
    editor.preserve_quotes = True
    editor.representer.add_representer(type(None), _represent_null)
    document = editor.load(path.read_text(encoding="utf-8"))
    for section in sections:
        target = document.get(section)
        if target is None:
            target = document[section] = CommentedMap()
        for key, value in getattr(params, section).model_dump().items():
            if isinstance(value, tuple | list):
                value = CommentedSeq(value)
                value.fa.set_flow_style()  # [1, 2] as the file writes ranges
            target[key] = value
    with path.open("w", encoding="utf-8") as stream:
        editor.dump(document, stream)


def _is_project_params(path: Path) -> bool:
    """Whether `path` is the params.yaml of the project this package is installed from."""
    project_params = DEFAULT_PARAMS.parents[2] / "params.yaml"  # src/sentiment_mlops/...
    return path.resolve() == project_params.resolve()


def _represent_null(representer: Any, _value: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")
