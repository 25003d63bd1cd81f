"""Kill what the stack's services leave behind: after a service crashes, and after supervisord.

supervisord restarts a crashed service, but only its main process was watched: the processes it
had started (the uvicorn workers under `mlflow server`, say) live on in its process group and
keep the port, so the restarted service could not listen. supervisord starts each program as
the leader of its own group (`pgid == pid`), so the leftovers are exactly that group. `main`
runs under supervisord as `[eventlistener:reaper]` on PROCESS_STATE_EXITED.

When supervisord itself is killed (SIGKILL, the OOM killer) its programs live on, unsupervised,
holding the stack's ports, and its socket no longer answers `sentiment stack down`. They are
still recognisable: supervisord gives every program, and so every process a program starts, its
socket's URL in SUPERVISOR_SERVER_URL. `find_orphans` finds them by it (Linux's /proc) and
`stop_orphans` stops them in supervisord's own order: clients first, SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import configparser
import os
import signal
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_URL_VARIABLE = b"SUPERVISOR_SERVER_URL="
_NAME_VARIABLE = b"SUPERVISOR_PROCESS_NAME="
_DEFAULTS = (999, 10.0)  # supervisord's own defaults: priority, stopwaitsecs


@dataclass(frozen=True)
class Orphan:
    """A process that a program of the stack started (or the program itself)."""

    pid: int
    pgid: int
    name: str  # the program's name in supervisord's config

    @property
    def leads(self) -> bool:
        """The program's main process: supervisord made it the leader of its group."""
        return self.pid == self.pgid


def kill_group(pid: int) -> bool:
    """SIGKILL what is left of the process group led by `pid`; False when nothing was left."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def find_orphans(socket: Path) -> list[Orphan]:
    """The live processes started by the supervisord whose socket is `socket` (none where
    there is no /proc). Meant for when that supervisord is gone: while it runs, ask it."""
    marker = _URL_VARIABLE + f"unix://{socket}".encode()
    found = []
    for entry in _PROC.glob("[0-9]*"):
        pid = int(entry.name)
        try:
            variables = (entry / "environ").read_bytes().split(b"\0")
            pgid = os.getpgid(pid)
        except (OSError, ValueError):  # gone meanwhile, or another user's
            continue
        if marker not in variables or pid == os.getpid() or not _alive(pid):
            continue
        name = next((v for v in variables if v.startswith(_NAME_VARIABLE)), _NAME_VARIABLE)
        found.append(Orphan(pid, pgid, name.removeprefix(_NAME_VARIABLE).decode()))
    return sorted(found, key=lambda orphan: orphan.pid)


def stop_orphans(orphans: Iterable[Orphan], conf: Path) -> list[str]:
    """Stop `orphans` as supervisord would have (its `conf`: each program's priority and
    stopwaitsecs): by descending priority, SIGTERM to their groups, SIGKILL to what remains
    after the wait. Returns the names of the programs stopped, in that order."""
    order = _stop_order(conf)
    waves: dict[int, list[Orphan]] = {}
    for orphan in orphans:
        waves.setdefault(order.get(orphan.name, _DEFAULTS)[0], []).append(orphan)
    stopped: list[str] = []
    for priority in sorted(waves, reverse=True):
        wave = waves[priority]
        wait = max(order.get(o.name, _DEFAULTS)[1] for o in wave)
        _signal_groups(wave, signal.SIGTERM)
        deadline = time.monotonic() + wait
        while any(_alive(o.pid) for o in wave) and time.monotonic() < deadline:
            time.sleep(0.1)
        _signal_groups([o for o in wave if _alive(o.pid)], signal.SIGKILL)
        stopped += dict.fromkeys(o.name for o in wave)
    return stopped


def _stop_order(conf: Path) -> dict[str, tuple[int, float]]:
    """Each program's (priority, stopwaitsecs) as the config gave them to supervisord."""
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(conf.read_text())
    except (OSError, configparser.Error):
        return {}
    order = {}
    for section in parser.sections():
        kind, _, name = section.partition(":")
        if kind in {"program", "eventlistener"} and name:
            values = parser[section]
            priority = int(values.get("priority", _DEFAULTS[0]))
            order[name] = (priority, float(values.get("stopwaitsecs", _DEFAULTS[1])))
    return order


def _signal_groups(orphans: Iterable[Orphan], signum: signal.Signals) -> None:
    own_group = os.getpgid(0)
    for orphan in orphans:
        try:
            if orphan.pgid == own_group:  # never our own group, whatever its members say
                os.kill(orphan.pid, signum)
            else:
                os.killpg(orphan.pgid, signum)
        except (ProcessLookupError, PermissionError):
            continue


def _alive(pid: int) -> bool:
    """Running, not a zombie that nobody has reaped yet (it holds no port)."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def main() -> None:
    from supervisor import childutils

    while True:
        _, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        fields, _ = childutils.eventdata(payload + "\n")
        pid = int(fields.get("pid", 0))
        if pid > 1 and kill_group(pid):
            # stderr goes to the reaper's log; stdout is its conversation with supervisord.
            print(  # noqa: T201
                f"{fields['processname']} exited; killed its leftover group {pid}", file=sys.stderr
            )
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main()
