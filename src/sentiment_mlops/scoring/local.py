"""The local engine: stream the input through the model in batches, in one process.

Memory holds one batch of input and output at a time (plus the model), so a file of any size
scores in the same footprint. Each batch is one vectorised `predict_proba` call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sentiment_mlops.core.scores import BatchScores, score_texts
from sentiment_mlops.scoring.files import Location, atomic_output
from sentiment_mlops.scoring.predict import Scorer
from sentiment_mlops.scoring.reader import open_input

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Counts:
    rows: int
    null_texts: int


def score_file(
    source: Location,
    target: Location,
    scorer: Scorer,
    on_rows: Callable[[int, int | None], None] | None = None,
) -> Counts:
    """Score `source` into `target` (atomically); `on_rows(rows, total)` after each batch."""
    rows = null_texts = 0
    with open_input(source, scorer.text_column, scorer.batch_size) as stream:
        schema = output_schema(stream.schema)
        with atomic_output(target) as temporary, _writer(target, temporary, schema) as write:
            for batch in stream.batches:
                scores = score_texts(scorer.model, batch.column(scorer.text_column).to_pylist())
                write(with_scores(batch, scores, scorer.version, schema))
                rows, null_texts = rows + batch.num_rows, null_texts + scores.null_texts
                if on_rows is not None:
                    on_rows(batch.num_rows, stream.total_rows)
    return Counts(rows, null_texts)


def output_schema(schema: pa.Schema) -> pa.Schema:
    """The input's columns, then sentiment, confidence and model_version."""
    import pyarrow as pa

    return (
        schema.append(pa.field("sentiment", pa.string()))
        .append(pa.field("confidence", pa.float64()))
        .append(pa.field("model_version", pa.string()))
    )


def with_scores(
    batch: pa.RecordBatch, scores: BatchScores, version: str, schema: pa.Schema
) -> pa.RecordBatch:
    import pyarrow as pa

    added = [
        pa.array(scores.sentiment, type=pa.string()),
        pa.array(scores.confidence, type=pa.float64(), mask=~scores.valid),
        pa.repeat(pa.scalar(version, type=pa.string()), batch.num_rows),
    ]
    return pa.RecordBatch.from_arrays([*batch.columns, *added], schema=schema)


@contextmanager
def _writer(
    target: Location, path: str, schema: pa.Schema
) -> Iterator[Callable[[pa.RecordBatch], None]]:
    """A function that appends a batch to `path` in the target's format; closed on exit."""
    from pyarrow import csv, parquet

    with target.filesystem.open_output_stream(path) as sink:
        if target.format == "csv":
            with csv.CSVWriter(sink, schema) as writer:
                yield writer.write_batch
        else:
            with parquet.ParquetWriter(sink, schema) as writer:
                yield writer.write_batch
