"""Pure ASGI middleware: a guard that refuses request bodies over a byte limit before anything
parses them, and the direct dispatch of the hot routes past the framework's routing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class DirectRoutes:
    """POSTs to `routes` (the predict routes) go straight to their endpoint through `inner`,
    the app's own middleware, and Starlette's `ExceptionMiddleware` with the app's handlers;
    every other request goes on to the app as usual.

    What is skipped costs about a tenth of a `/predict` request and does nothing for these
    routes: route matching through the included routers, FastAPI's `AsyncExitStack`s (for
    uploaded files and dependencies with `yield`; these routes have neither) and a second
    exception wrapper. What stays is what the routes rely on: the metrics and body limit
    (`inner`, the same middleware as every other route), the 422/4xx handlers, and the 500 of
    the `ServerErrorMiddleware` outside. Added as the outermost user middleware; an app mounted
    under a root path is left alone.
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute], inner: list[Middleware]):
        self.app = app
        self._routes = [route for route in routes if "POST" in (getattr(route, "methods", ()))]
        self._inner = inner
        self._direct: dict[str, ASGIApp] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        direct = None
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            if self._direct is None:
                self._direct = self._build(scope["app"])
            direct = self._direct.get(scope["path"])
        if direct is None:
            await self.app(scope, receive, send)
            return
        await direct(scope, receive, send)

    def _build(self, app: Any) -> dict[str, ASGIApp]:
        """Per route, the chain `build_middleware_stack` makes, from the app at its first POST."""
        handlers = {
            key: handler
            for key, handler in app.exception_handlers.items()
            if key not in (500, Exception)  # the ServerErrorMiddleware's, outside
        }
        chains: dict[str, ASGIApp] = {}
        for route in self._routes:
            chain: ASGIApp = ExceptionMiddleware(_Endpoint(route), handlers, app.debug)
            for cls, args, kwargs in reversed(self._inner):
                chain = cls(chain, *args, **kwargs)
            chains[getattr(route, "path", "")] = chain
        return chains


class _Endpoint:
    """A `RequestRoute` endpoint as an ASGI app: the `Request` in, a `Response` out; the scope's
    route set where routing would set it (inside the middleware: a 413 stays `unmatched`)."""

    def __init__(self, route: Any) -> None:
        self.route, self.endpoint = route, route.endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"], scope["endpoint"], scope["path_params"] = self.route, self.endpoint, {}
        response = await self.endpoint(Request(scope, receive, send))
        await response(scope, receive, send)


class BodySizeLimitMiddleware:
    """413 for a body over `max_bytes`, whether it declares a Content-Length or streams.

    A declared length is checked from the header alone, and the body is then passed through
    untouched (the HTTP parser stops at the declared length). A chunked body is read here,
    counting bytes, and replayed to the app only when it stays within the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            if declared > self.max_bytes:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
            return
        if scope["method"] in {"GET", "HEAD", "OPTIONS", "DELETE"}:
            await self.app(scope, receive, send)
            return
        body = await self._read_within_limit(receive)
        if body is None:
            await self._refuse(send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_within_limit(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse(self, send: Send) -> None:
        body = orjson.dumps(
            {"detail": f"request body is larger than the limit of {self.max_bytes} bytes"}
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    # The unread rest of the body makes the connection unusable for a next request.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
