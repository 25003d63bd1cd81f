"""The shadow scorer's child process, and the frames it exchanges with the server.

The server (`serving.shadow_scorer`) starts it as a fresh interpreter: `python -P -c BOOT
<package folder> <texts fd> <results fd> <server pid>`. Its `sys.path` starts with the folder
the server's own `sentiment_mlops` was imported from, so it cannot import another package of
that name (a pyfunc load puts a model's code folder, a partial `sentiment_mlops`, first on the
loading process's `sys.path`, and a multiprocessing spawn copied that path into the child).

Frames, both ways: a 5-byte header (kind, payload length), then the payload.
- server -> child: SETTINGS (pickled `Settings`, once, first); MODEL (a pickled `ModelRef`:
  load that version, as the server's store validated it); TEXT (the text as UTF-8: the server
  encodes texts on its event loop, a pickle per text would cost it more).
- child -> server: SCORES, one per batch in order: a pickled
  `(version or None, seconds, [(label, p_negative, p_positive), ...])`; a batch without a
  loaded model comes back with version None (the server counts it as unscored).
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import struct
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentiment_mlops.model_ref import ModelRef
    from sentiment_mlops.serving.served_model import ServedModel
    from sentiment_mlops.settings import Settings

logger = logging.getLogger(__name__)

HEADER = struct.Struct("<BI")
SETTINGS, MODEL, TEXT, SCORES = range(4)
BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from sentiment_mlops.serving.shadow_child import main; main(sys.argv[2:])"
)
# Texts the child scores in one call: a call's fixed cost (about 1 ms) is paid once per batch.
_BATCH = 64
_READ_BYTES = 1 << 20
# After a read, what else arrives this long joins it: one call for many texts, fewer wake-ups
# of the server for scores (shadow scores are not waited for: their latency does not matter).
_LINGER = 0.02


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
            batch: list[str] = []
            for kind, payload in split_frames(received):
                if kind == TEXT:
                    batch.append(payload.decode("utf-8", "surrogatepass"))
                    if len(batch) < _BATCH:
                        continue
                _score(model, batch, results)  # texts before a message were sent for the old model
                batch = []
                if kind == SETTINGS:
                    settings = pickle.loads(payload)
                elif kind == MODEL and settings is not None:
                    model = _load(settings, pickle.loads(payload))
                    # Imports and the first load are a start-up cost, like the server's.
                    idle = idle or _lower_priority()
            _score(model, batch, results)
    except BrokenPipeError:  # the server closed its end: it is stopping
        pass


def _gather(fd: int, server: int) -> bytes:
    """The next bytes from the server and what follows within _LINGER s; b"" at the end."""
    chunks = [_read(fd, server)]
    deadline = time.monotonic() + _LINGER
    while chunks[-1] and (left := deadline - time.monotonic()) > 0:
        if not select.select([fd], [], [], left)[0]:
            break
        chunks.append(os.read(fd, _READ_BYTES))
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
        logger.exception("shadow scorer could not load version %s", ref.version)
        return None


def _score(model: ServedModel | None, batch: list[str], results: int) -> None:
    if not batch:
        return
    scores: list[Any]
    if model is None:
        version, seconds, scores = None, 0.0, [("", 0.0, 0.0)] * len(batch)
    else:
        from sentiment_mlops.core.labels import LABEL_NAMES, NEGATIVE, POSITIVE

        negative, positive = LABEL_NAMES[NEGATIVE], LABEL_NAMES[POSITIVE]
        started = time.perf_counter()
        scored = model.predict(batch)
        version, seconds = model.version, time.perf_counter() - started
        scores = [(r["sentiment"], r["probabilities"][negative], r["probabilities"][positive])
                  for r in scored]  # fmt: skip
    _write_all(results, frame(SCORES, pickle.dumps((version, seconds, scores))))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
