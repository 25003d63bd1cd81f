"""Acquire the IMDb reviews: read a source, draw a balanced sample, write it atomically.

Sources are the Hugging Face hub (`stanfordnlp/imdb`), the Stanford `aclImdb` archive or its
folder, and any CSV/Parquet file that `core.data.load_reviews` accepts. Everything here takes its
values as arguments; the CLI (`sentiment data prepare`) reads the settings.
"""

from sentiment_mlops.acquire.errors import AcquireError, SourceUnavailableError

__all__ = ["AcquireError", "SourceUnavailableError"]
