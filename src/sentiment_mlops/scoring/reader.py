"""Read a CSV or Parquet input as a stream of record batches of bounded size.

Only one batch (and pyarrow's read buffers: a few CSV blocks ahead, or a Parquet row group's
column chunks) is in memory at a time, whatever the file's size.
Every way an input can be unusable (empty, not CSV/Parquet, no text column, a text column that
is not text, no rows) is a UserError naming the file, raised before any output is opened.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sentiment_mlops.errors import UserError
from sentiment_mlops.scoring.files import Location, first_line
from sentiment_mlops.scoring.request import OUTPUT_COLUMNS

if TYPE_CHECKING:
    import pyarrow as pa

# CSV is parsed in blocks of about 1 KiB per row of a batch (a review is ~1 KB), within these
# bounds; each block is cut into batches of the batch size. pyarrow reads a bounded number of
# blocks ahead, so memory grows with the batch size, never with the file.
CSV_BLOCK_BYTES_PER_ROW = 1 << 10
CSV_BLOCK_BYTES = (1 << 16, 1 << 26)


@dataclass
class InputStream:
    """The input's columns, its row count when the format says it, and its batches."""

    schema: pa.Schema
    total_rows: int | None
    batches: Iterator[pa.RecordBatch]


@contextmanager
def open_input(location: Location, text_column: str, batch_size: int) -> Iterator[InputStream]:
    """The input as batches of at most `batch_size` rows; checked before it is yielded."""
    import pyarrow as pa

    with ExitStack() as stack:
        try:
            if location.filesystem.get_file_info(location.path).size == 0:
                raise UserError(f"{location.uri} is empty")
            source = stack.enter_context(location.filesystem.open_input_file(location.path))
            reader = _csv if location.format == "csv" else _parquet
            schema, total, batches = reader(source, text_column, batch_size)
        except (pa.ArrowException, OSError) as error:  # unreadable, or not this format
            raise UserError(f"cannot read {location.uri}: {first_line(error)}") from error
        check_columns(location.uri, schema.names, text_column)
        text_type = schema.field(text_column).type
        if not _is_text(text_type):
            raise UserError(f"{location.uri}: column {text_column!r} holds {text_type}, not text")
        batches = _translated(location.uri, _split(batches, batch_size))
        first = next(batches, None)  # a CSV's row count is known only once read
        if first is None or total == 0:
            raise UserError(f"{location.uri} has no rows to score")
        yield InputStream(schema, total, _chain(first, batches))


def check_columns(uri: str, columns: list[str], text_column: str) -> None:
    """The text column is there, and none of the columns a run adds is."""
    if text_column not in columns:
        found = ", ".join(repr(c) for c in columns) or "none"
        raise UserError(
            f"{uri} has no column {text_column!r} (columns found: {found}); "
            "choose one with --text-column"
        )
    taken = [c for c in OUTPUT_COLUMNS if c in columns]
    if taken:
        raise UserError(
            f"{uri} already has column(s) {', '.join(taken)}, which scoring adds: rename them"
        )


def _is_text(kind: pa.DataType) -> bool:
    import pyarrow as pa

    # A column of nulls only is read as the null type: scored as null texts.
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)


def _csv(source: Any, text_column: str, batch_size: int) -> tuple[Any, None, Iterator[Any]]:
    import pyarrow as pa
    from pyarrow import csv

    low, high = CSV_BLOCK_BYTES
    block_size = min(max(batch_size * CSV_BLOCK_BYTES_PER_ROW, low), high)
    reader = csv.open_csv(
        source,
        read_options=csv.ReadOptions(block_size=block_size),
        # Reviews may hold line breaks inside their quotes.
        parse_options=csv.ParseOptions(newlines_in_values=True),
        # Text stays text even where a block holds only digits; "" stays "" (not null).
        convert_options=csv.ConvertOptions(column_types={text_column: pa.string()}),
    )
    return reader.schema, None, iter(reader)


def _parquet(source: Any, _text_column: str, batch_size: int) -> tuple[Any, int, Iterator[Any]]:
    from pyarrow import parquet

    file = parquet.ParquetFile(source)
    return file.schema_arrow, file.metadata.num_rows, file.iter_batches(batch_size=batch_size)


def _split(batches: Iterator[Any], size: int) -> Iterator[Any]:
    for batch in batches:
        for start in range(0, batch.num_rows, size):
            yield batch.slice(start, size)


def _translated(uri: str, batches: Iterator[Any]) -> Iterator[Any]:
    """A malformed row deep in the file is found while streaming: one line naming the file."""
    import pyarrow as pa

    try:
        for batch in batches:
            if batch.num_rows:
                yield batch
    except pa.ArrowException as error:
        raise UserError(f"cannot read {uri}: {first_line(error)}") from error


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest
