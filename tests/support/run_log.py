"""What a flow run left in Prefect's run log (what the UI shows for a worker's run)."""

from __future__ import annotations

import asyncio
from typing import Any


def run_log(flow_run_id: Any) -> list[str]:
    """The messages of the run's log, once the handler has sent what it holds."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # the handler sends in batches, from a background worker

    async def read() -> list[str]:
        async with get_client() as client:
            logs = await client.read_logs(
                LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
            )
        return [log.message for log in logs]

    return asyncio.run(read())
