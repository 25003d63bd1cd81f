"""The code a logged model needs to load: the modules its pickle names and what they import.

MLflow copies a model's `code_paths` into it and puts them on `sys.path` when loading, so the
model loads where this package is not installed (`mlflow models serve`, a notebook). Shipping
the whole package would put the CLI, the stack and its secrets module into every model
version; this finds the modules from the pickled model itself (the classes and functions it
names), adds the modules those import from this package and the `__init__` files above them,
and copies only those, so the list cannot drift from what the model really is.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import pickle
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cloudpickle

PACKAGE = __name__.partition(".")[0]


def referenced_modules(model: Any) -> set[str]:
    """Modules of this package that the pickled `model` names (what unpickling imports)."""
    found: set[str] = set()

    class _Recorder(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if _is_ours(module):
                found.add(module)
            return super().find_class(module, name)

    # cloudpickle, as MLflow's sklearn flavour pickles with it (serialization_format).
    _Recorder(io.BytesIO(cloudpickle.dumps(model))).load()
    return found


def required_modules(model: Any, extra: Iterable[str] = ()) -> set[str]:
    """`referenced_modules` and `extra`, the modules of this package they import, and their
    packages."""
    required: set[str] = set()
    pending = [*referenced_modules(model), *extra]
    while pending:
        name = pending.pop()
        if name in required:
            continue
        required.add(name)
        parent = name.rpartition(".")[0]
        pending += ([parent] if parent else []) + sorted(_imports_of(name))
    return required


def stage_model_code(model: Any, folder: Path, extra: Iterable[str] = ()) -> Path:
    """Copy the modules `model` needs into `folder`, laid out as a package; returns its root.

    `extra` names modules loading needs beyond the pickle's (the pyfunc flavour's loader).
    Give MLflow's `code_paths` the returned folder: it lands in the model as `code/<package>`.
    """
    for name in required_modules(model, extra):
        source = _source_file(name)
        relative = Path(*name.split("."))
        target = folder / (relative / source.name if _is_package(source) else f"{relative}.py")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return folder / PACKAGE


def _is_ours(module: str) -> bool:
    return module == PACKAGE or module.startswith(f"{PACKAGE}.")


def _source_file(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise RuntimeError(f"cannot ship {module}: it has no Python source file")
    return Path(spec.origin)


def _is_package(source: Path) -> bool:
    return source.name == "__init__.py"


def _imports_of(module: str) -> set[str]:
    """Modules of this package that `module`'s source imports (wherever the import statement is)."""
    source = _source_file(module)
    package = module if _is_package(source) else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            names.add(base)
            if _is_ours(base) and _is_package(_source_file(base)):
                # `from package import module` imports a module, `from module import name` not.
                names.update(
                    f"{base}.{alias.name}"
                    for alias in node.names
                    if importlib.util.find_spec(f"{base}.{alias.name}") is not None
                )
    return {name for name in names if _is_ours(name)}
