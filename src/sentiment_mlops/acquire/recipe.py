"""The `prepare:` section of params.yaml: how the DVC `prepare` stage makes the training data.

`dvc repro` runs `sentiment data prepare` with these values and replaces the data file when they
change. A user who prepares the pipeline's data file by hand (say `--source csv --from my.csv`,
because the hub is out of reach) would otherwise leave params.yaml describing another source:
`dvc repro` would then try to rebuild the file from that source, fail offline, and record
nothing for `dvc push`. So a hand run that writes the stage's output records its options here,
and `dvc repro` rebuilds the same file from the same source. Edits keep the file's comments.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from sentiment_mlops.acquire.atomic import atomic_output

SECTION = "prepare"
STAGE = "prepare"


@dataclass(frozen=True)
class Recipe:
    """The options of `sentiment data prepare` that params.yaml holds (keys as in the file)."""

    source: str
    from_: str
    samples: int
    seed: int
    split: str

    def as_params(self, project_dir: Path) -> dict[str, Any]:
        """The section's values; `from` relative to the project when inside it, as dvc.yaml
        runs the command from there."""
        values = {key.rstrip("_"): value for key, value in asdict(self).items()}
        if self.from_:
            path = Path(self.from_).resolve()
            inside = path.is_relative_to(project_dir)
            values["from"] = path.relative_to(project_dir).as_posix() if inside else str(path)
        return values


def stage_output(project_dir: Path) -> Path | None:
    """The file the `prepare` stage of `<project_dir>/dvc.yaml` writes, or None without one."""
    path = project_dir / "dvc.yaml"
    if not path.is_file():
        return None
    stage = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("stages", {}).get(STAGE)
    outs = (stage or {}).get("outs") or []
    # An out is a path, or a one-key mapping from the path to its options (persist, cache).
    names = [next(iter(out)) if isinstance(out, dict) else out for out in outs]
    return project_dir / names[0] if len(names) == 1 else None


def record_recipe(params_path: Path, output: Path, recipe: Recipe) -> bool:
    """Write `recipe` into the `prepare:` section when `output` is the prepare stage's output.

    Returns True when params.yaml changed; False when the file written is not the pipeline's
    data (another `--output`, no dvc.yaml, no params.yaml) or the section already says this,
    which is the case whenever `dvc repro` itself runs the command.
    """
    project_dir = params_path.resolve().parent
    target = stage_output(project_dir)
    if not params_path.is_file() or target is None:
        return False
    if output.resolve() != target.resolve():
        return False
    from ruamel.yaml import YAML

    editor = YAML()  # round-trip mode: comments, order and quoting stay as they are
    editor.preserve_quotes = True
    editor.representer.add_representer(type(None), _represent_null)
    document = editor.load(params_path.read_text(encoding="utf-8"))
    section = document.setdefault(SECTION, {})
    wanted = recipe.as_params(project_dir)
    if all(section.get(key) == value for key, value in wanted.items()):
        return False
    section.update(wanted)
    with atomic_output(params_path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        editor.dump(document, handle)
    return True


def _represent_null(representer: Any, _: None) -> Any:
    # ruamel writes None as an empty value; keep the file's `null` (e.g. `class_weight: null`).
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")
