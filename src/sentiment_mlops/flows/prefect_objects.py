"""Prefect server objects (work pools, concurrency limits) created on first use.

Several processes may start at once (two trainings, `stack up` and a worker), so "create if
missing" must treat losing the race to another creator as success.
"""

from __future__ import annotations

from collections.abc import Callable


def create_if_missing(read: Callable[[], object], create: Callable[[], object]) -> bool:
    """Call `create` unless `read` finds the object; True only when this call created it."""
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    try:
        read()
        return False
    except ObjectNotFound:
        pass
    try:
        create()
    except ObjectAlreadyExists:  # another process created it in between
        return False
    return True
