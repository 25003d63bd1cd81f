"""`sentiment data ...`: acquire the training data (versioning is DVC's job: see dvc.yaml).

Heavy imports (pandas, datasets) happen inside the command so that `sentiment --help` stays fast.
User errors print one line on stderr and exit with code 2, without a traceback.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sentiment_mlops.cli.errors import ErrorMappingGroup

if TYPE_CHECKING:
    from sentiment_mlops.acquire.recipe import Recipe

# Each split of IMDb (train, test) holds 25,000 reviews, 12,500 per class. The default sample is
# a whole split: more reviews make a better model, and training on all of them stays under a
# minute (bench/README.md, `bench/train.py --rows`). `--samples` asks for fewer.
IMDB_SPLIT_ROWS = 25_000

data_app = typer.Typer(
    help="Acquire the training data.",
    no_args_is_help=True,
    add_completion=False,
    cls=ErrorMappingGroup,  # also when run on its own (`data_app()`), as the tests do
)


class SourceName(StrEnum):
    hf = "hf"
    aclimdb = "aclimdb"
    csv = "csv"


class SplitName(StrEnum):
    train = "train"
    test = "test"
    all = "all"


@data_app.callback()
def _data() -> None:
    """Acquire the training data; `dvc repro` runs `prepare` as the first pipeline stage."""


@data_app.command()
def prepare(
    source: Annotated[
        SourceName,
        typer.Option(help="hf: the Hugging Face hub; aclimdb: the Stanford archive; csv: a file."),
    ] = SourceName.hf,
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="aclimdb: aclImdb_v1.tar.gz or its folder (downloaded when omitted); "
            "csv: a CSV/Parquet file with text and label columns. Empty means none.",
        ),
    ] = None,
    samples: Annotated[
        int,
        typer.Option(
            min=2,
            help="Rows to keep, half per class (default: all 25,000 of an IMDb split; "
            "fewer to train faster).",
        ),
    ] = IMDB_SPLIT_ROWS,
    seed: Annotated[int, typer.Option(help="Seed of the sample.")] = 42,
    split: Annotated[
        SplitName, typer.Option(help="Which split of the source to sample (not for csv).")
    ] = SplitName.train,
    output: Annotated[
        Path | None,
        typer.Option(help="CSV to write (default: DATA_PATH, i.e. data/imdb_sample.csv)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing output.")] = False,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where the downloaded archive is kept (default: ~/.cache/sentiment-mlops)."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Network timeout in seconds (hub probe, download).")
    ] = 5.0,
) -> None:
    """Write a balanced, seeded sample of IMDb reviews as a text,label CSV (label 1 = positive).

    Writing the DVC pipeline's file (data/imdb_sample.csv) records these options in the
    `prepare:` section of params.yaml, so that `dvc repro` makes the same file.
    """
    if output is None:
        from sentiment_mlops.settings import get_settings

        output = get_settings().data_path
    if output.exists() and not force:
        typer.echo(f"{output} exists; kept it ({_describe_existing(output)}). --force rewrites it.")
        return

    from sentiment_mlops.acquire.atomic import write_csv_atomic
    from sentiment_mlops.acquire.prepare import prepare_sample

    # An AcquireError ends the command with its one line (exit 2), as every user error does.
    prepared = prepare_sample(
        source.value,
        Path(from_) if from_ else None,
        split=split.value,
        samples=samples,
        seed=seed,
        cache_dir=cache_dir or Path.home() / ".cache" / "sentiment-mlops",
        timeout=timeout,
    )

    output.parent.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(prepared.sample, output)
    typer.echo(
        f"Read {prepared.source_rows.total:,} reviews from {prepared.origin}: "
        f"{prepared.source_rows.describe()}"
    )
    note = ""
    if prepared.balance.total < samples - samples % 2:
        note = f" (asked for {samples:,}; the smaller class limits a balanced sample)"
    typer.echo(
        f"Wrote {prepared.balance.total:,} rows to {output}: {prepared.balance.describe()}{note}"
    )
    from sentiment_mlops.acquire.recipe import Recipe

    _record_in_params(output, Recipe(source.value, from_ or "", samples, seed, split.value))


def _record_in_params(output: Path, recipe: Recipe) -> None:
    """When `output` is the DVC prepare stage's file, make params.yaml say how it was made, so
    that `dvc repro` rebuilds it from the same source instead of failing over it."""
    from sentiment_mlops.acquire.recipe import SECTION, record_recipe
    from sentiment_mlops.settings import get_settings

    params_path = get_settings().params_path
    if record_recipe(params_path, output, recipe):
        typer.echo(
            f"Recorded these options in {params_path} ({SECTION}:), "
            "so that `dvc repro` makes the same file; commit it with dvc.lock."
        )


def _describe_existing(path: Path) -> str:
    import pandas as pd

    from sentiment_mlops.acquire.sampling import class_balance

    try:
        frame = pd.read_csv(path)
        return f"{len(frame):,} rows: {class_balance(frame).describe()}"
    except (ValueError, KeyError, OSError, pd.errors.ParserError):
        return f"{path.stat().st_size:,} bytes, not a readable text,label CSV"
