"""The `sentiment` console script: one Typer app whose command groups live beside it.

`main` builds the app (`main.py`) from the command modules: `data`, `serve` (serve and webhook),
`score`, `monitor`, `tune`, `rollout` and `stack`. What they share lives in `runtime` (logging,
SIGTERM, Prefect's temporary server, the registry client) and `errors` (how every command ends
on an error); `reporting` prints results. No command module imports another.
Nothing else in the package imports from here.
"""

from sentiment_mlops.cli.main import app, main

__all__ = ["app", "main"]
