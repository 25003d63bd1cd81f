"""Credentials out of everything the service reports or logs.

`MLFLOW_TRACKING_URI=http://user:password@host` is the usual way to give MLflow basic auth, and
MLflow repeats that URL in its exceptions; presigned S3 or GCS URLs carry credentials in their
query. Such text reaches the unauthenticated `/model-info` and every log line unless it is
cleaned, so one function does it, applied where errors become messages and, through
`install_log_redaction`, to every log record of the process (ours, MLflow's, urllib3's and
uvicorn's, whatever handler prints them).

Both patterns use possessive quantifiers only, so the regex engine never backtracks: the cost is
linear in the length of the text, whatever it contains.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from sentiment_mlops.settings import Settings

MASK = "[REDACTED]"

# The userinfo of a URL: after "://", every "...@" segment before the host (a password may
# itself contain "@"), stopping where the authority ends.
_USERINFO = re.compile(r"(?<=://)(?:[^\s/?#@\"'<>]*+@)++")
# One query parameter: "?name=value" or "&name=value".
_QUERY_PARAM = re.compile(r"(?<=[?&])([\w.\-]++)=([^&#\s\"'<>]*+)")
# Parameter names that hold credentials, as substrings of the lower-cased name ...
_SECRET_WORDS = ("token", "password", "passwd", "pwd", "secret", "key", "signature", "credential")
# ... or as its prefix (every X-Amz-* or X-Goog-* of a presigned URL) or the whole name.
_SECRET_PREFIXES = ("x-amz-", "x-goog-")
_SECRET_NAMES = frozenset({"sig", "auth", "authorization", "session", "sessionid", "code"})


def _is_secret_name(name: str) -> bool:
    name = name.lower()
    return (
        name in _SECRET_NAMES
        or name.startswith(_SECRET_PREFIXES)
        or any(word in name for word in _SECRET_WORDS)
    )


def _mask_param(match: re.Match[str]) -> str:
    name = match.group(1)
    return f"{name}={MASK}" if _is_secret_name(name) else match.group(0)


@dataclass(frozen=True)
class Redactor:
    """Masks the given secret values wherever they appear, and credentials in any URL."""

    secrets: tuple[str, ...] = ()

    def __call__(self, text: str) -> str:
        for secret in self.secrets:  # longest first, so a secret inside another goes too
            if secret in text:
                text = text.replace(secret, MASK)
        text = _USERINFO.sub(MASK + "@", text)
        return _QUERY_PARAM.sub(_mask_param, text)


def redactor_for(settings: Settings) -> Redactor:
    """A redactor for the secrets of these settings: admin token, webhook secret, URI passwords
    (MLflow's and the reload fan-out's)."""
    values = [s.get_secret_value() for s in (settings.admin_token, settings.webhook_secret) if s]
    uris = (settings.mlflow_tracking_uri, settings.mlflow_registry_uri, settings.reload_notify_url)
    for uri in uris:
        values.extend(_uri_secrets(uri))
    unique = {value for value in values if value}
    return Redactor(tuple(sorted(unique, key=len, reverse=True)))


def _uri_secrets(uri: str | None) -> list[str]:
    """The password of a URI (or its lone user name, which is then a token), raw and decoded."""
    if not uri or "@" not in uri:
        return []
    try:
        parts = urlsplit(uri)
    except ValueError:
        return []
    secret = parts.password if parts.password is not None else parts.username
    return [secret, unquote(secret)] if secret else []


# --- logging --------------------------------------------------------------------------------
_TRACEBACKS = logging.Formatter()


class _RedactingRecordFactory:
    """Wraps the log record factory: each record is cleaned once, when it is created.

    A filter on handlers would miss the loggers that bring their own handler and do not
    propagate (MLflow's, configured when it is first imported in the watcher thread; uvicorn's).
    """

    def __init__(self, base: Callable[..., logging.LogRecord], redact: Redactor) -> None:
        self.base = base
        self.redact = redact

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.base(*args, **kwargs)
        redact_record(record, self.redact)
        return record


def install_log_redaction(redact: Redactor) -> None:
    """Clean every log record of this process from now on (a second call replaces the first)."""
    base = logging.getLogRecordFactory()
    if isinstance(base, _RedactingRecordFactory):
        base = base.base
    logging.setLogRecordFactory(_RedactingRecordFactory(base, redact))


def redact_record(record: logging.LogRecord, redact: Callable[[str], str]) -> None:
    """Clean a record's message, traceback and stack in place."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: logging reports it, without our help
        return
    clean = redact(message)
    if clean != message:
        # Keep the arguments where that suffices: some formatters (uvicorn's access log)
        # unpack them. Otherwise the record carries the finished, cleaned message.
        if isinstance(record.msg, str) and isinstance(record.args, tuple):
            record.msg = redact(record.msg)
            record.args = _redact_strings(record.args, redact)
        if _message_or_none(record) != clean:
            record.msg, record.args = clean, None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(_TRACEBACKS.formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def _redact_strings(values: Iterable[Any], redact: Callable[[str], str]) -> tuple[Any, ...]:
    return tuple(redact(value) if isinstance(value, str) else value for value in values)


def _message_or_none(record: logging.LogRecord) -> str | None:
    try:
        return record.getMessage()
    except Exception:
        return None
