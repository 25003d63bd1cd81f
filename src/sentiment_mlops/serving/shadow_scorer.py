"""The shadow scorer: a child process that scores shadow texts with the challenger.

In the serving process, challenger scoring held the GIL for a millisecond per call and pushed
the champion's p99 up (bench/README.md "Challenger rollout"). Here it runs in its own process
(`serving.shadow_child`) at idle priority (`SCHED_IDLE`, else nice 19), so it only uses CPU the
champion leaves unused: on a saturated machine shadow scoring falls behind and drops texts
(counted), by design.

The hand-off adds no thread to the server: a thread that wants the GIL delays the event loop by
up to the switch interval (5 ms), straight into the champion's p99 (a multiprocessing queue's
feeder thread and a results thread did, +92% p99 on a quiet machine). Everything here runs on
the event loop and never waits, and does as little per request as it can:
- Texts go to the child over a pipe as length-prefixed frames (a flag byte with the champion's
  class, then the UTF-8 text), appended to a buffer; a timer writes the buffer every
  _WRITE_INTERVAL in one non-blocking write, so neither process is woken per request. What the
  pipe cannot take stays in the buffer, which a writer callback sends when the child catches
  up; until then new texts are dropped (and counted), as are texts beyond SHADOW_QUEUE_SIZE
  sent and not scored yet.
- Results come back on a second pipe, read with `loop.add_reader`: one frame per gathering of
  texts in the child, with the labels counted and compared there, and scores only for the texts
  whose champion answer was logged (paired, in order, with what the server kept of them to log
  them). Each frame is folded by `on_batch`.
- The parent sends the challenger's `ModelRef` whenever its store swaps (the store stays the one
  place that finds, validates and refuses versions); the child loads that version.
- A child that dies closes the scores pipe: its texts are counted as lost and a new child is
  started after a backoff.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import logging
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import sentiment_mlops
from sentiment_mlops.core.labels import LABEL_NAMES
from sentiment_mlops.serving.shadow_child import (
    BOOT,
    CONFIG,
    HEADER,
    LOGGED,
    MODEL,
    TEXT,
    Score,
    Scored,
    child_settings,
    frame,
    split_frames,
)
from sentiment_mlops.settings import Settings

if TYPE_CHECKING:
    from sentiment_mlops.serving.served_model import ServedModel

logger = logging.getLogger(__name__)

_MAX_RESTART_BACKOFF = 30.0
_PIPE_BYTES = 1 << 20  # Linux's default pipe-max-size; 64 KiB if the kernel refuses
_READ_BYTES = 1 << 16
# Texts wait this long in the server before they are written to the child: one write (and one
# wake-up of the child) for many requests. Shadow scores are not waited for.
_WRITE_INTERVAL = 0.01
# The flag byte of a TEXT frame, by the champion's label, for a text logged or not.
_FLAGS = {name: (bytes([c]), bytes([c | LOGGED])) for c, name in LABEL_NAMES.items()}
# The folder the server's own package came from: the child imports the same one.
_PACKAGE_FOLDER = str(Path(sentiment_mlops.__file__).resolve().parents[1])


class LoggedText(NamedTuple):
    """A text whose champion answer is in the prediction log: its shadow score goes there too."""

    text: str
    created_at: float  # the champion's row has the same, so the report can pair them


@dataclass
class ScoredBatch:
    """One frame back from the child, its logged scores paired with the server's texts."""

    scored: Scored
    logged: list[tuple[LoggedText, Score]]


@dataclass
class _Channel:
    """One child and its pipes; replaced as a whole when the child is restarted."""

    process: subprocess.Popen[bytes]
    texts: int  # write end, non-blocking
    scores: int  # read end, non-blocking
    sent: int = 0  # texts written or to be written, not scored yet
    logged: collections.deque[LoggedText] = field(default_factory=collections.deque)
    model: ServedModel | None = None  # the snapshot whose ref the child was sent last
    unsent: bytearray = field(default_factory=bytearray)  # frames not written yet
    flush_due: bool = False  # a timer will write `unsent`
    blocked: bool = False  # the pipe was full: a writer callback waits, new texts are dropped
    received: bytearray = field(default_factory=bytearray)  # a partial frame of scores


class ShadowScorer:
    """Starts, feeds, watches and restarts the scoring child from the event loop; `on_batch`
    runs on the loop too. `start` and `submit` must be called on the loop; `stop` anywhere."""

    def __init__(
        self, settings: Settings, capacity: int, on_batch: Callable[[ScoredBatch], None]
    ) -> None:
        self._config = pickle.dumps(child_settings(settings))
        self._capacity = capacity
        self._on_batch = on_batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._channel: _Channel | None = None
        self._stopping = False
        self._backoff = 1.0
        self.restarts = 0  # children started again after one died
        self.lost = 0  # texts sent to a child that died before scoring them

    @property
    def pid(self) -> int | None:
        channel = self._channel
        return channel.process.pid if channel else None

    @property
    def up(self) -> bool:
        channel = self._channel
        return channel is not None and channel.process.poll() is None

    @property
    def waiting(self) -> int:
        channel = self._channel
        return channel.sent if channel else 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._channel = self._spawn()

    def stop(self) -> None:
        """The loop lets go of the pipes (its selector is not thread-safe), then the child ends."""
        self._stopping = True
        channel, self._channel = self._channel, None
        if channel is None:
            return
        self._on_loop(self._detach, channel)
        channel.process.terminate()
        try:
            channel.process.wait(5.0)
        except subprocess.TimeoutExpired:
            channel.process.kill()
            channel.process.wait()

    def submit(
        self,
        challenger: ServedModel,
        texts: list[str],
        answers: list[dict[str, Any]],
        created_at: float,
    ) -> int:
        """Queue the texts of one answer, with the champion's labels, for the next write;
        returns how many were dropped (no room)."""
        channel = self._channel
        if channel is None or channel.blocked:
            return len(texts)
        unsent = channel.unsent
        if channel.model is not challenger:  # the store swapped: the child loads that version
            channel.model = challenger
            unsent += frame(MODEL, pickle.dumps(challenger.ref))
        room = self._capacity - channel.sent
        taken = len(texts) if room >= len(texts) else max(room, 0)
        for i in range(taken):
            text, answer = texts[i], answers[i]
            data = text.encode("utf-8", "surrogatepass")
            logged = answer["prediction_id"] is not None
            unsent += HEADER.pack(TEXT, len(data) + 1)
            unsent += _FLAGS[answer["sentiment"]][logged]
            unsent += data
            if logged:
                channel.logged.append(LoggedText(text, created_at))
        channel.sent += taken
        if taken and not channel.flush_due:
            channel.flush_due = True
            assert self._loop is not None
            self._loop.call_later(_WRITE_INTERVAL, self._flush, channel)
        return len(texts) - taken

    # --- on the event loop ------------------------------------------------------------------
    def _flush(self, channel: _Channel) -> None:
        """One non-blocking write; what the pipe cannot take waits for it to drain."""
        channel.flush_due = False
        if channel is not self._channel:
            return
        try:
            written = os.write(channel.texts, channel.unsent)
        except BlockingIOError:
            written = 0
        except OSError:  # the child is gone: its scores pipe says so too
            self._lose(channel)
            return
        del channel.unsent[:written]
        assert self._loop is not None
        if channel.unsent and not channel.blocked:
            channel.blocked = True
            self._loop.add_writer(channel.texts, self._flush, channel)
        elif not channel.unsent and channel.blocked:
            channel.blocked = False
            self._loop.remove_writer(channel.texts)

    def _read(self, channel: _Channel) -> None:
        """Scores from the child: fold each batch; end of file means the child is gone."""
        try:
            chunk = os.read(channel.scores, _READ_BYTES)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._lose(channel)
            return
        channel.received += chunk
        for _, payload in split_frames(channel.received):
            scored: Scored = pickle.loads(payload)
            self._backoff = 1.0
            channel.sent -= scored.texts
            logged = [(channel.logged.popleft(), score) for score in scored.logged]
            try:
                self._on_batch(ScoredBatch(scored, logged))
            except Exception:  # a bug must not end shadow scoring for good
                logger.exception("folding %d shadow scores failed", scored.texts)

    def _lose(self, channel: _Channel) -> None:
        if channel is not self._channel:
            return
        self._channel = None
        self._detach(channel)
        if channel.process.poll() is None:  # it closed its pipe but lives on: end it
            channel.process.kill()
        self.lost += channel.sent
        logger.warning(
            "shadow scorer (pid %s) exited with %s; %d texts lost; restarting in %.0f s",
            channel.process.pid, channel.process.returncode, channel.sent, self._backoff,
        )  # fmt: skip
        if not self._stopping:
            assert self._loop is not None
            self._loop.call_later(self._backoff, self._restart, channel.process)
            self._backoff = min(self._backoff * 2, _MAX_RESTART_BACKOFF)

    def _restart(self, dead: subprocess.Popen[bytes]) -> None:
        dead.poll()  # reap it
        if self._stopping:
            return
        try:
            self._channel = self._spawn()
        except OSError:
            logger.exception("shadow scorer could not be started; trying again")
            assert self._loop is not None
            self._loop.call_later(self._backoff, self._restart, dead)
            return
        self.restarts += 1

    def _spawn(self) -> _Channel:
        texts_in, texts = os.pipe()
        scores, scores_out = os.pipe()
        with contextlib.suppress(OSError):  # over the user's pipe quota: the default size
            fcntl.fcntl(texts, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        try:
            process = subprocess.Popen(
                [sys.executable, "-P", "-c", BOOT, _PACKAGE_FOLDER,
                 str(texts_in), str(scores_out), str(os.getpid())],
                pass_fds=(texts_in, scores_out),
            )  # fmt: skip
        except OSError:
            os.close(texts)
            os.close(scores)
            raise
        finally:
            os.close(texts_in)  # the child's ends: its exit closes them, and we see end of file
            os.close(scores_out)
        os.write(texts, frame(CONFIG, self._config))  # an empty pipe: no wait
        os.set_blocking(texts, False)
        os.set_blocking(scores, False)
        channel = _Channel(process, texts, scores)
        assert self._loop is not None
        self._loop.add_reader(scores, self._read, channel)
        return channel

    def _detach(self, channel: _Channel) -> None:
        assert self._loop is not None
        self._loop.remove_reader(channel.scores)
        if channel.blocked:
            self._loop.remove_writer(channel.texts)
        os.close(channel.scores)
        os.close(channel.texts)

    def _on_loop(self, function: Callable[..., Any], *args: Any) -> None:
        """Run `function` on the loop and wait for it, from whichever thread calls."""
        loop = self._loop
        assert loop is not None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop or not loop.is_running():
            function(*args)
            return
        done = threading.Event()

        def run() -> None:
            try:
                function(*args)
            finally:
                done.set()

        loop.call_soon_threadsafe(run)
        done.wait(5.0)
