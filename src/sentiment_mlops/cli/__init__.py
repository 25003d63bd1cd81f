"""The `sentiment` console script: one Typer app whose command groups live beside it.

`main` builds the app (`main.py`); `data`, `serve` (serve and webhook), `stack` are its command
groups; `errors` says how every command ends on an error; `reporting` prints results.
`monitor` (the drift check) reuses main's process setup, so it joins the app here rather than
being imported by `main` (which would make an import cycle).
Nothing else in the package imports from here.
"""

from sentiment_mlops.cli.main import app, main
from sentiment_mlops.cli.monitor import monitor_app

app.add_typer(monitor_app)

__all__ = ["app", "main"]
