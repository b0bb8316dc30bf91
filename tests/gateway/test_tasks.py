"""Background tasks: a failure is logged when the task ends, not left for shutdown to drop."""

from __future__ import annotations

import asyncio
import logging

import pytest

from sloserve.gateway import tasks


async def test_a_failing_task_is_logged_with_its_name_and_traceback_as_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> None:
        raise RuntimeError("the dispatch loop broke")

    task = tasks.start(broken(), name="dispatch m")
    with caplog.at_level(logging.ERROR, logger=tasks.__name__):
        # The logging callback was added first, so it has run by the time `wait` returns.
        await asyncio.wait([task])
    [record] = caplog.records
    assert "'dispatch m' failed" in record.getMessage()
    assert record.exc_info is not None
    assert "the dispatch loop broke" in str(record.exc_info[1])


async def test_a_task_that_ends_well_or_is_cancelled_logs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    never = asyncio.Event()
    done = tasks.start(asyncio.sleep(0, result=7), name="quick")
    waiting = tasks.start(never.wait(), name="waits")
    with caplog.at_level(logging.ERROR, logger=tasks.__name__):
        assert await done == 7
        waiting.cancel()
        await asyncio.wait([waiting])
    assert caplog.records == []
