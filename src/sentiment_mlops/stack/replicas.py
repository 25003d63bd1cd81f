"""The API replicas behind HAProxy: started in an order that avoids races, restarted one at a
time without dropping a request, and shown with the balancer's view of each.

A replica is restarted so: HAProxy puts it in maintenance (no new request goes to it), the
requests it is answering finish (HAProxy counts them), supervisord stops it with SIGTERM (uvicorn
stops listening and finishes what is in flight, `timeout_graceful_shutdown`), starts it again,
and once it answers `/health` as before HAProxy makes it ready. Taking it out through the runtime
API, rather than waiting for failed checks, means no request is sent to a replica that is going
away; the retries of `stack.haproxy` cover a replica that dies unannounced.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from sentiment_mlops.settings import StackSettings
from sentiment_mlops.stack import StackError, haproxy
from sentiment_mlops.stack.health import answers_ok, poll
from sentiment_mlops.stack.services import ServiceSpec, replicas_of
from sentiment_mlops.stack.supervisord import Supervisord


class Stack(Protocol):
    """What this module uses of `lifecycle.Stack` (which imports this module)."""

    settings: StackSettings
    supervisord: Supervisord

    def report(self, line: str) -> None: ...
    def specs(self) -> dict[str, ServiceSpec]: ...
    def start(self, spec: ServiceSpec) -> None: ...
    def wait_healthy(self, spec: ServiceSpec) -> float: ...


# How long the requests in flight on a replica in maintenance may take to finish.
_DRAIN_SECONDS = 30.0


def start_api(stack: Stack, specs: dict[str, ServiceSpec], before_rest: Callable[[], None]) -> None:
    """Start the first replica; run `before_rest` (the other services' waits) meanwhile; once
    it answers, the other replicas and the balancer. The first replica creates the prediction
    log's tables and registers the webhook alone, so no two processes race to do either."""
    replicas = list(replicas_of(specs).values())
    first, rest = replicas[0], replicas[1:]
    stack.start(first)
    before_rest()
    stack.wait_healthy(first)
    for spec in rest:
        stack.start(spec)
    haproxy.write_config(stack.settings, {spec.name: _port(spec) for spec in replicas})
    stack.start(specs["api"])
    for spec in rest:
        stack.wait_healthy(spec)
    stack.wait_healthy(specs["api"])


def rolling_restart(stack: Stack) -> float:
    """Restart every replica, one at a time (see the module's docstring); returns the seconds."""
    started = time.monotonic()
    for spec in replicas_of(stack.specs()).values():
        restart_replica(stack, spec)
    return time.monotonic() - started


def restart_replica(stack: Stack, spec: ServiceSpec) -> float:
    """Restart one replica without dropping a request; returns the seconds it took to serve
    again. It must serve a model again if it served one before."""
    settings = stack.settings
    served = _serves(spec)
    haproxy.set_state(settings, spec.name, "maint")
    try:
        _wait(lambda: _in_flight(stack, spec) == 0, _DRAIN_SECONDS, f"{spec.name} to drain")
        stack.supervisord.stop(spec.name)  # SIGTERM: uvicorn finishes what is in flight
        stack.start(spec)
        seconds = stack.wait_healthy(spec)
        if served:
            _wait(lambda: _serves(spec), settings.start_timeout, f"{spec.name} to serve a model")
    finally:
        haproxy.set_state(settings, spec.name, "ready")
    backend = haproxy.BACKEND if served else haproxy.LIVE_BACKEND
    _wait(
        lambda: haproxy.servers(settings, backend)[spec.name]["status"] == "UP",
        settings.start_timeout,
        f"HAProxy to send requests to {spec.name} again",
    )
    stack.report(f"{spec.name} restarted, serving again after {seconds:.1f} s")
    return seconds


def balancer_states(stack: Stack) -> dict[str, str]:
    """HAProxy's state of each replica (UP, DOWN, MAINT, ...) as it routes predictions; empty
    when HAProxy does not answer."""
    try:
        return {name: row["status"] for name, row in haproxy.servers(stack.settings).items()}
    except haproxy.BalancerError:
        return {}


def _in_flight(stack: Stack, spec: ServiceSpec) -> int:
    return sum(
        int(haproxy.servers(stack.settings, backend)[spec.name]["scur"] or 0)
        for backend in (haproxy.BACKEND, haproxy.LIVE_BACKEND)
    )


def _serves(spec: ServiceSpec) -> bool:
    """Whether the replica's /health answers 200 (it serves a model)."""
    return answers_ok(str(spec.readiness_url))


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    if not poll(check, timeout, interval=0.1):
        raise StackError(f"gave up waiting for {what} after {timeout:.0f} s")


def _port(spec: ServiceSpec) -> int:
    assert spec.port is not None  # replicas_of keeps those with a port
    return spec.port
