"""The project's own files that tests read: its root, the bundled demo reviews, params.yaml.

Here rather than in tests/conftest.py, so that test modules and other conftests import them
from a plain module (pytest owns conftest modules: importing one by name is fragile)."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEMO_DATA = PROJECT_ROOT / "data" / "demo_reviews.csv"
PARAMS_FILE = PROJECT_ROOT / "params.yaml"
SOURCE = PROJECT_ROOT / "src" / "sentiment_mlops"
