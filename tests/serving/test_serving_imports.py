"""The serving app imports only what it needs before its first request (issue 15).

The port opens as soon as the app is built; MLflow and scikit-learn are imported by the model
watcher in the background, and nothing of training (Prefect, matplotlib, the flows) ever is.
Checked in a fresh interpreter, where `sys.modules` shows exactly what the import pulled in.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.serving.helpers import REPO_ROOT

# Never in a serving process: training and plotting.
TRAINING_ONLY = ("prefect", "matplotlib", "sentiment_mlops.flows", "sentiment_mlops.core.plots")
# Not before the port opens: the watcher imports these in the background.
LOADED_LATER = ("mlflow", "sklearn", "sentiment_mlops.registry")

BUILD_APP = """
import json, sys
from sentiment_mlops.serving.app import create_app
from sentiment_mlops.settings import Settings
create_app(Settings(_env_file=None, prediction_log_url="off"))
print(json.dumps(sorted(sys.modules)))
"""


def test_building_the_app_imports_nothing_of_training_or_the_model() -> None:
    result = subprocess.run(
        [sys.executable, "-c", BUILD_APP],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    modules = json.loads(result.stdout.splitlines()[-1])
    unwanted = TRAINING_ONLY + LOADED_LATER
    imported = [m for m in modules if any(m == u or m.startswith(u + ".") for u in unwanted)]
    assert imported == []
