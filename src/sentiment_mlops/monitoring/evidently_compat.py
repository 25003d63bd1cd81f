"""Import Evidently under pandas 3.

Evidently 0.7 (the current release) imports `pandas.core.dtypes.common.infer_dtype_from_object`
at import time, in one legacy test class we never use (`TestColumnsType`); pandas 3 removed that
helper, so `import evidently` fails. Before the import we put back an equivalent (the scalar
type of a dtype), and only when it is missing: with pandas 2, or an Evidently that no longer
needs it, this does nothing. `tests/unit/test_drift.py` runs a real report through it.
"""

from __future__ import annotations

from typing import Any


def _infer_dtype_from_object(dtype: Any) -> type:
    import pandas as pd

    return pd.api.types.pandas_dtype(dtype).type


def ensure_importable() -> None:
    """Restore the pandas helper Evidently 0.7 imports, if pandas lacks it."""
    from pandas.core.dtypes import common

    if not hasattr(common, "infer_dtype_from_object"):
        common.infer_dtype_from_object = _infer_dtype_from_object  # type: ignore[attr-defined]
