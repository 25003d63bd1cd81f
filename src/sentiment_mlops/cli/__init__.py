"""The `sentiment` console script: one Typer app whose command groups live beside it.

`main` builds the app (`main.py`); `data`, `serve` (serve and webhook), `stack` are its command
groups; `errors` says how every command ends on an error; `reporting` prints results.
Nothing else in the package imports from here.
"""

from sentiment_mlops.cli.main import app, main

__all__ = ["app", "main"]
