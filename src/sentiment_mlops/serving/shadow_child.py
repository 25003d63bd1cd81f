"""The shadow scorer's child process, and the frames it exchanges with the server.

The server (`serving.shadow_scorer`) starts it as a fresh interpreter: `python -P -c BOOT
<package folder> <texts fd> <results fd> <server pid>`. Its `sys.path` starts with the folder
the server's own `sentiment_mlops` was imported from, so it cannot import another package of
that name (a pyfunc load puts a model's code folder, a partial `sentiment_mlops`, first on the
loading process's `sys.path`, and a multiprocessing spawn copied that path into the child).

Frames, both ways: a 5-byte header (kind, payload length), then the payload.
- server -> child: CONFIG (once, first: the registry part of the server's settings, pickled,
  from `child_settings`; nothing else of them); MODEL (a pickled `ModelRef`:
  load that version, as the server's store validated it); TEXT (one flag byte, the champion's
  class and whether its answer was logged, then the text as UTF-8: the server encodes texts on
  its event loop, a pickle per text would cost it more).
- child -> server: SCORES, one per gathering of texts (and per model within it), in order: a
  pickled `Scored`. The child compares the labels itself, so the server adds up counts instead
  of handling a score per text; it gets scores only for texts whose champion answer was logged
  (to log them beside it). Texts scored without a loaded model come back with version None (the
  server counts them as unscored).
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import struct
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from sentiment_mlops.model_ref import ModelRef
    from sentiment_mlops.serving.served_model import ServedModel
    from sentiment_mlops.settings import Settings

logger = logging.getLogger(__name__)

HEADER = struct.Struct("<BI")
CONFIG, MODEL, TEXT, SCORES = range(4)
LOGGED = 0x80  # in a TEXT frame's flag byte; the low bits are the champion's class
BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from sentiment_mlops.serving.shadow_child import main; main(sys.argv[2:])"
)
# Texts the child scores in one call: a call's fixed cost (about 1 ms) is paid once per batch.
_BATCH = 64
_READ_BYTES = 1 << 20
# After a read, the child sleeps this long and then takes what else arrived: one call for many
# texts, and neither process woken per write (shadow scores are not waited for).
_LINGER = 0.02
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


# What the child reads of the server's settings: where the registry is, how to reach it (the
# credentials, which its log redaction masks too) and the log level. Nothing else is sent.
CHILD_FIELDS = frozenset({
    "mlflow_tracking_uri", "mlflow_registry_uri", "mlflow_tracking_username",
    "mlflow_tracking_password", "mlflow_tracking_token", "mlflow_tracking_insecure_tls",
    "mlflow_tracking_server_cert_path", "mlflow_allow_pickle_deserialization",
    "mlflow_http_max_retries", "mlflow_http_timeout", "log_level",
})  # fmt: skip


def child_settings(settings: Settings) -> Settings:
    """The registry part of the server's settings; the other fields keep their defaults."""
    return type(settings).model_construct(**settings.model_dump(include=set(CHILD_FIELDS)))


class Score(NamedTuple):
    """The challenger's answer to one text."""

    label: str
    p_negative: float
    p_positive: float


@dataclass
class Scored:
    """The outcome of consecutive texts scored by one model (or none: `version` None)."""

    version: str | None
    texts: int = 0
    seconds: list[float] = field(default_factory=list)  # each model call's
    labels: dict[str, int] = field(default_factory=dict)  # the challenger's, counted
    agreed: int = 0  # texts on which the champion and the challenger agree
    logged: list[Score] = field(default_factory=list)  # of the texts flagged LOGGED, in order


def frame(kind: int, payload: bytes) -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def split_frames(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Take the complete frames off the front of `buffer`; a partial last frame stays in it."""
    frames, start, size = [], 0, len(buffer)
    while size - start >= HEADER.size:
        kind, length = HEADER.unpack_from(buffer, start)
        end = start + HEADER.size + length
        if end > size:
            break
        frames.append((kind, bytes(buffer[start + HEADER.size : end])))
        start = end
    del buffer[:start]
    return frames


def main(argv: list[str]) -> None:
    """Score what the server sends until it closes the pipe or is gone (even killed)."""
    texts, results, server = (int(arg) for arg in argv)
    settings: Settings | None = None
    model: ServedModel | None = None
    idle = False
    received = bytearray()
    try:
        while chunk := _gather(texts, server):
            received += chunk
            batch: list[bytes] = []
            scored = Scored(model.version if model else None)
            for kind, payload in split_frames(received):
                if kind == TEXT:
                    batch.append(payload)
                    if len(batch) == _BATCH:
                        _score(model, batch, scored)
                        batch = []
                    continue
                # Texts before a message were sent for the old model.
                _score(model, batch, scored)
                _send(results, scored)
                batch = []
                if kind == CONFIG:
                    settings = pickle.loads(payload)
                    _configure_logging(settings)
                elif kind == MODEL and settings is not None:
                    model = _load(settings, pickle.loads(payload))
                    # Imports and the first load are a start-up cost, like the server's.
                    idle = idle or _lower_priority()
                scored = Scored(model.version if model else None)
            _score(model, batch, scored)
            _send(results, scored)
    except BrokenPipeError:  # the server closed its end: it is stopping
        pass


def _configure_logging(settings: Settings) -> None:
    """As the server logs (`serving.app`): its level and format, and every record cleaned of
    the credentials it holds and of any URL's (`redaction`)."""
    from sentiment_mlops.redaction import install_log_redaction, redactor_for

    install_log_redaction(redactor_for(settings))
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT)
    logging.getLogger("sentiment_mlops").setLevel(settings.log_level.upper())


def _gather(fd: int, server: int) -> bytes:
    """The next bytes from the server and what follows within _LINGER s; b"" at the end."""
    first = _read(fd, server)
    if not first:
        return b""
    time.sleep(_LINGER)  # not select: that would wake up for every write of the server
    chunks = [first]
    while select.select([fd], [], [], 0)[0]:
        chunk = os.read(fd, _READ_BYTES)
        if not chunk:  # the server closed the pipe: score what came, end on the next read
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _read(fd: int, server: int) -> bytes:
    """The next bytes from the server; b"" once it closed the pipe or is no longer our parent."""
    while os.getppid() == server:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            return os.read(fd, _READ_BYTES)
    return b""


def _lower_priority() -> bool:
    """SCHED_IDLE: run only on CPU nobody else wants; nice 19 where that is not allowed."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(19)
    return True


def _load(settings: Settings, ref: ModelRef) -> ServedModel | None:
    """The version the server's store validated, loaded as the store loads it (its compact
    scorer when it has one: then scikit-learn is not imported here either)."""
    from datetime import UTC, datetime

    from sentiment_mlops.redaction import redactor_for
    from sentiment_mlops.serving.registry_client import open_registry
    from sentiment_mlops.serving.served_model import ServedModel, validate_model

    try:
        model = open_registry(settings, redactor_for(settings)).load_model(ref)
        return ServedModel(model, ref, validate_model(model), {}, datetime.now(UTC))
    except Exception:  # the server counts its texts as unscored; the next swap tries again
        logger.exception("shadow scorer could not load version %s of %s", ref.version, ref.name)
        return None


def _score(model: ServedModel | None, batch: list[bytes], scored: Scored) -> None:
    """Score `batch` (TEXT payloads) and add the outcome to `scored`."""
    if not batch:
        return
    scored.texts += len(batch)
    if model is None:
        return
    from sentiment_mlops.core.labels import LABEL_NAMES, NEGATIVE, POSITIVE

    negative, positive = LABEL_NAMES[NEGATIVE], LABEL_NAMES[POSITIVE]
    started = time.perf_counter()
    answers = model.predict([payload[1:].decode("utf-8", "surrogatepass") for payload in batch])
    scored.seconds.append(time.perf_counter() - started)
    labels = scored.labels
    for payload, answer in zip(batch, answers, strict=True):
        label = answer["sentiment"]
        labels[label] = labels.get(label, 0) + 1
        scored.agreed += LABEL_NAMES[payload[0] & ~LOGGED] == label
        if payload[0] & LOGGED:
            p = answer["probabilities"]
            scored.logged.append(Score(label, p[negative], p[positive]))


def _send(fd: int, scored: Scored) -> None:
    if not scored.texts:
        return
    view = memoryview(frame(SCORES, pickle.dumps(scored)))
    while view:
        view = view[os.write(fd, view) :]
