"""The stack's load balancer: HAProxy (the Debian package) on the API port, in front of the
`STACK_API_REPLICAS` API processes, each on a free port of its own.

- Routing: every request goes to a replica whose `/health` answers 200 (it serves a model),
  checked every 500 ms; two failed checks take a replica out, one good check puts it back. When
  no replica serves a model (a fresh stack, no champion yet) requests go to the live ones
  (`/health/live`), so that the API answers for itself (its 503 says why) and MLflow's webhook
  still gets in.
- Retries: a request whose connection to a replica fails (refused: the replica is dead, or its
  port closed while it drains) never reached it, so HAProxy sends it to another replica
  (`retries`, `option redispatch`); that is safe for any request. A request that reached a
  replica which then died without answering (`empty-response`) is sent again only when sending
  it twice does no harm: GET and HEAD, predictions (a pure function of the body), the webhook
  and `/admin/reload` (each a champion check). Feedback is not: it would be stored twice.
  Only a request HAProxy holds whole can be sent again: `option http-buffer-request` waits
  for the body up to one buffer (`tune.bufsize`, 16 kB), so a larger body (a `/predict/batch`
  of a hundred reviews, a text near `MAX_TEXT_CHARS`) streams to the replica and is not resent
  after an empty response; a refused connection is still retried. `tune.bufsize` stays at its
  default rather than the API's `MAX_BODY_BYTES` (6 MB): HAProxy gives every stream a request
  and a response buffer of that size, 12 MB per request in flight, 3 GB at the API's 256
  concurrent connections, to cover a case (a replica dying with a large batch in hand) that
  the client's own retry covers too.
- Draining: the rolling restart (`stack.replicas`) puts a replica in maintenance through the
  runtime API (`stats socket`, in the stack folder, or a private runtime folder when that path
  is too long for a socket) before stopping it, and makes it ready again once it serves.
- Logs: a replica going DOWN or UP or into maintenance (HAProxy's warnings); no request lines.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from sentiment_mlops.settings import STACK_HOST, StackSettings
from sentiment_mlops.stack import StackError

# Requests go to replicas that serve a model; when none does, to the live ones.
BACKEND = "replicas"
LIVE_BACKEND = "replicas_live"
# How often a replica is checked, and how many checks move it out (fall) and back in (rise).
CHECK = "inter 500ms fall 2 rise 1"
CHECK_SECONDS = 0.5 * 2  # how long a dead replica may still be chosen (its refusals are retried)
INSTALL_HINT = "install the Debian package `haproxy` (apt-get install haproxy)"
# Requests a replica may have seen before it died and that may be sent again (see the docstring).
_REPEATABLE = "METH_GET || { path /predict /predict/batch /webhooks/mlflow /admin/reload }"
# Debian puts the binary in /usr/sbin, which is not on every user's PATH.
_SBIN = "/usr/local/sbin:/usr/sbin:/sbin"
# The longest `stats socket` path HAProxy takes (a UNIX socket's address is ~108 bytes).
_MAX_SOCKET_PATH = 97


class BalancerError(StackError):
    """HAProxy's runtime API did not answer or refused a command (exit 1)."""


def binary() -> str | None:
    """The `haproxy` executable (PATH, then the sbin folders), or None when not installed."""
    return shutil.which("haproxy", path=f"{os.environ.get('PATH', '')}:{_SBIN}")


def folder(settings: StackSettings) -> Path:
    return (settings.stack_dir / "haproxy").resolve()


def socket_path(settings: StackSettings) -> Path:
    """The runtime API's socket: in the stack folder when its path is short enough for a UNIX
    socket, else in a private folder named after the stack folder in the user's runtime folder
    (`XDG_RUNTIME_DIR`, else the temporary folder): a project deep in a file system still runs."""
    path = folder(settings) / "admin.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(folder(settings)).encode()).hexdigest()[:16]
    runtime = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    return runtime / f"sentiment-stack-{digest}" / "admin.sock"


def _private_folder(path: Path) -> None:
    """Create `path` for this user alone, refusing one that someone else made or can enter
    (a shared temporary folder: another user could otherwise plant it first)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = os.lstat(path)
    if (
        not stat.S_ISDIR(found.st_mode)
        or found.st_uid != os.getuid()
        or found.st_mode & (stat.S_IRWXG | stat.S_IRWXO)
    ):
        raise StackError(f"{path} is not a private folder of this user: remove it and retry")


def config_path(settings: StackSettings) -> Path:
    return folder(settings) / "haproxy.cfg"


def command(settings: StackSettings, executable: str) -> list[str]:
    """In the foreground (`-db`), as supervisord wants it. Without a `log` line in the config
    HAProxy writes only its warnings, to stderr: a replica going DOWN or UP, in maintenance."""
    return [executable, "-db", "-f", str(config_path(settings))]


def render_config(settings: StackSettings, replicas: Mapping[str, int]) -> str:
    """haproxy.cfg for `replicas` (name -> port): the API port in front of them."""
    servers = [f"    server {name} {STACK_HOST}:{port}" for name, port in replicas.items()]
    lines = [
        "# written by `sentiment stack up` from the stack's settings",
        "global",
        "    nbthread 1",
        f"    stats socket {socket_path(settings)} mode 600 level admin",
        "",
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        # A client must send its request head within 10 s: slow senders do not hold a replica.
        "    timeout http-request 10s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    retries 3",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response",
        # The whole request is read before it goes to a replica: only then can it be resent.
        "    option http-buffer-request",
        f"    default-server check {CHECK}",
        "",
        "frontend api",
        f"    bind {STACK_HOST}:{settings.api_port}",
        f"    use_backend {LIVE_BACKEND} if {{ nbsrv({BACKEND}) eq 0 }}",
        f"    default_backend {BACKEND}",
    ]
    for backend, check in ((BACKEND, "/health"), (LIVE_BACKEND, "/health/live")):
        lines += [
            "",
            f"backend {backend}",
            "    balance leastconn",
            # A client's next request goes to the replica its last one went to, over the same
            # connection, while that replica is up: no new connection per request.
            "    option prefer-last-server",
            f"    option httpchk GET {check}",
            "    http-check expect status 200",
            f"    http-request disable-l7-retry unless {_REPEATABLE}",
            *servers,
        ]
    return "\n".join(lines) + "\n"


def write_config(settings: StackSettings, replicas: Mapping[str, int]) -> Path:
    path = config_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    runtime = socket_path(settings).parent
    if runtime != path.parent:  # the stack folder is the user's own (`stack up` makes it 0700)
        _private_folder(runtime)
    path.write_text(render_config(settings, replicas), encoding="utf-8")
    return path


def ask(settings: StackSettings, line: str, timeout: float = 5.0) -> str:
    """Send one command to HAProxy's runtime API and return its answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(socket_path(settings)))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except OSError as error:
        raise BalancerError(f"HAProxy's runtime API did not answer: {error}") from None
    return b"".join(chunks).decode()


def set_state(settings: StackSettings, server: str, state: str) -> None:
    """`maint` (no new request goes to the replica) or `ready`, in both backends."""
    for backend in (BACKEND, LIVE_BACKEND):
        answer = ask(settings, f"set server {backend}/{server} state {state}").strip()
        if answer:  # HAProxy answers nothing when the command worked
            raise BalancerError(f"HAProxy refused `set server {backend}/{server}`: {answer}")


def servers(settings: StackSettings, backend: str = BACKEND) -> dict[str, dict[str, str]]:
    """`show stat` for the replicas of `backend`, by name: `status` (UP, DOWN, MAINT, ...),
    `scur` (requests in progress), and the rest of HAProxy's columns."""
    text = ask(settings, "show stat").removeprefix("# ")
    rows = csv.DictReader(text.splitlines())
    return {
        row["svname"]: row
        for row in rows
        if row["pxname"] == backend and row["svname"] not in {"FRONTEND", "BACKEND"}
    }
