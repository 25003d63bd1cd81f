"""What a flow run left in Prefect's API: its task runs' states (its log: support/run_log.py)."""

from __future__ import annotations

import asyncio
from typing import Any


def task_run_states(flow_run_id: Any) -> dict[str, str]:
    """Each task run's name (without Prefect's suffix) and its state type."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read() -> dict[str, str]:
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
        return {run.name.rsplit("-", 1)[0]: run.state.type.value for run in runs if run.state}

    return asyncio.run(read())
