"""`sentiment score`: a file of reviews in, the same rows with their sentiment out.

Progress goes to stderr (a bar with rows/s), the one-line summary to stdout. Errors go through
`cli.errors`, like every command's: one line, exit 2, or 1 for a model that does not exist.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from sentiment_mlops.settings import get_settings

if TYPE_CHECKING:
    from rich.progress import Task

    from sentiment_mlops.scoring.request import ScoringResult
    from sentiment_mlops.scoring.run import OnRows

# Mounted without a group name: the top-level `sentiment score`.
score_app = typer.Typer()


@score_app.command()
def score(
    input_path: Annotated[
        str, typer.Option("--input", help="CSV or Parquet file of reviews (a path or s3:// URI)")
    ],
    output: Annotated[
        str, typer.Option(help="Where to write: .parquet or .csv (a path or s3:// URI)")
    ],
    engine: Annotated[str, typer.Option(help="local (pyarrow, one process) or spark")] = "local",
    model_uri: Annotated[
        str | None,
        typer.Option(
            help="models:/<name>@<alias> or models:/<name>/<version> "
            "(default: models:/MODEL_NAME@MODEL_ALIAS)"
        ),
    ] = None,
    text_column: Annotated[str, typer.Option(help="Column holding the review text")] = "text",
    batch_size: Annotated[
        int | None, typer.Option(help="Rows per prediction (default: SCORE_BATCH_SIZE)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output")] = False,
) -> None:
    """Score every row of a CSV/Parquet file with a registered model version."""
    from sentiment_mlops.scoring.request import ScoringRequest
    from sentiment_mlops.scoring.run import run_scoring

    settings = get_settings()
    _quiet_libraries(settings.log_level)
    request = ScoringRequest(
        input=input_path,
        output=output,
        engine=engine,  # type: ignore[arg-type]  # checked by ScoringRequest
        model_uri=model_uri,
        text_column=text_column,
        batch_size=batch_size,
        force=force,
    )
    with _progress() as on_rows:
        result = run_scoring(request, settings, on_rows=on_rows)
    typer.echo(_summary(result))


def _quiet_libraries(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(levelname)s %(name)s: %(message)s")
    for name in ("mlflow", "alembic", "py4j", "urllib3", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("mlflow.sklearn").setLevel(logging.ERROR)  # the pickle warning: known
    warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow\..*")
    warnings.filterwarnings("ignore", category=FutureWarning)


@contextmanager
def _progress() -> Iterator[OnRows]:
    """A rich progress bar on stderr: rows scored, of how many when known, and rows/s."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
    from rich.text import Text

    class RowsPerSecond(ProgressColumn):
        def render(self, task: Task) -> Text:
            return Text(f"{task.speed or 0:,.0f} rows/s")

    columns = (TextColumn("{task.completed:,} rows"), RowsPerSecond(), TimeElapsedColumn())
    with Progress(
        TextColumn("scoring"), BarColumn(), *columns, console=Console(stderr=True), transient=True
    ) as bar:
        task = bar.add_task("scoring", total=None)
        yield lambda rows, total: bar.update(task, advance=rows, total=total)


def _summary(result: ScoringResult) -> str:
    nulls = f" ({result.null_texts:,} without text: left unscored)" if result.null_texts else ""
    return (
        f"scored {result.rows:,} rows{nulls} with {result.model_name} "
        f"v{result.model_version} ({result.engine}) in {result.seconds:.1f} s "
        f"({result.rows_per_second:,.0f} rows/s) -> {result.output}"
    )
