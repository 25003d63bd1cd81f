"""Errors that the CLI shows as one line on stderr, with exit code 2."""

from __future__ import annotations

from sentiment_mlops.errors import ServiceUnavailableError, UserError


class AcquireError(UserError):
    """The data cannot be acquired as asked; the message says what to change."""


class SourceUnavailableError(AcquireError, ServiceUnavailableError):
    """A remote source (the hub, the archive URL) cannot be reached; local sources still work."""


OFFLINE_HINT = (
    "use local data instead: --source aclimdb --from PATH (aclImdb_v1.tar.gz or its folder) "
    "or --source csv --from PATH (e.g. data/demo_reviews.csv)"
)
