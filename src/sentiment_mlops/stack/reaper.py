"""A supervisord event listener: when a service's main process dies, kill what it left behind.

supervisord restarts a crashed service, but only its main process was watched: the processes it
had started (the uvicorn workers under `mlflow server`, say) live on in its process group and
keep the port, so the restarted service could not listen. supervisord starts each program as
the leader of its own group (`pgid == pid`), so the leftovers are exactly that group. Run by
supervisord as `[eventlistener:reaper]` on PROCESS_STATE_EXITED; not imported by the package.
"""

from __future__ import annotations

import os
import signal
import sys

from supervisor import childutils


def kill_group(pid: int) -> bool:
    """SIGKILL what is left of the process group led by `pid`; False when nothing was left."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def main() -> None:
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
