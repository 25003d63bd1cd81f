"""The `sentiment` console script: one Typer app whose command groups live beside it.

`main` builds the app (`main.py`); `data`, `serve` (serve and webhook), `stack` are its command
groups; `errors` says how every command ends on an error; `reporting` prints results.
`monitor` (the drift check) and `tune` reuse main's process setup, so they join the app here
rather than being imported by `main` (which would make an import cycle).
Nothing else in the package imports from here.
"""

from sentiment_mlops.cli.main import app, main
from sentiment_mlops.cli.monitor import monitor_app
from sentiment_mlops.cli.tune import tune_app

app.add_typer(monitor_app)
app.add_typer(tune_app)

__all__ = ["app", "main"]
