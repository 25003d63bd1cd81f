"""Opportunistic micro-batching: requests that are ready in the same turn of the event loop are
classified together in one vectorised `predict_proba` call.

Under load, the requests that arrive while one prediction runs are all parsed in the next turn of
the loop and share the next call: a call's fixed cost (about 0.6 ms of scikit-learn checks) is
paid once per batch instead of once per text. No timer waits for more requests, so a lone
request costs one extra turn of the loop (microseconds). Each request still gets exactly one
prediction, from one snapshot, and reports the version that made it. When the shared call
raises, each request is predicted alone, so that one bad request fails only itself.

Predictions too large for the loop run in worker threads, two at a time (`big_predictions`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio

from sentiment_mlops.serving.served_model import ServedModel

_Pending = tuple[ServedModel, list[str], "asyncio.Future[list[dict[str, Any]]]"]


# Scoring holds the GIL for nearly all its time: large predictions in many threads take as long as
# one after the other, plus the interpreter switching between them every few milliseconds
# (in-process, batches of 64 reviews: 83-88 CPU us a text in one thread, 91-105 in eight, and no
# more texts/s). Two at a time: one scores while the next is ready to take the GIL, so the core
# never waits for a thread to wake (one alone lost throughput on a busy machine).
BIG_PREDICTIONS = 2


def big_predictions() -> anyio.CapacityLimiter:
    """The per-app limiter of the predictions that run in a worker thread."""
    return anyio.CapacityLimiter(BIG_PREDICTIONS)


class MicroBatcher:
    """Collects small predictions queued in one loop turn and runs them as one call."""

    def __init__(self, max_chars: int = 50_000) -> None:
        # Bounds one call (about 15 ms for 50,000 characters) so the loop is never held long.
        self.max_chars = max_chars
        self._pending: list[_Pending] = []

    async def predict(self, served: ServedModel, texts: list[str]) -> list[dict[str, Any]]:
        """Results for `texts`, computed on the event loop together with other queued texts."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[dict[str, Any]]] = loop.create_future()
        self._pending.append((served, texts, future))
        if len(self._pending) == 1:
            # Runs after the request tasks already scheduled in this turn have queued theirs.
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch: list[_Pending] = []
        chars = 0
        while self._pending:
            size = sum(map(len, self._pending[0][1]))
            if batch and chars + size > self.max_chars:
                break
            batch.append(self._pending.pop(0))
            chars += size
        if self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        by_snapshot: dict[int, list[_Pending]] = {}
        for item in batch:
            by_snapshot.setdefault(id(item[0]), []).append(item)
        for items in by_snapshot.values():
            _run(items)


def _run(items: list[_Pending]) -> None:
    served = items[0][0]
    texts = [text for _, item_texts, _ in items for text in item_texts]
    try:
        results = served.predict(texts)
    except Exception as error:
        if len(items) > 1:
            # A text of one request broke the shared call: each request again on its own, so
            # that only the request that causes the error gets it.
            for item in items:
                if not item[2].done():
                    _run([item])
        elif not items[0][2].done():
            items[0][2].set_exception(error)
        return
    start = 0
    for _, item_texts, future in items:
        if not future.done():  # a cancelled request (client gone) is skipped
            future.set_result(results[start : start + len(item_texts)])
        start += len(item_texts)
