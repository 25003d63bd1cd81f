"""sentiment-mlops: train, track, register and serve a movie-review sentiment classifier."""

__version__ = "0.1.0"
