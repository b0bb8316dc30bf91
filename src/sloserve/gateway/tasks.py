"""Background tasks whose failure is heard.

A task nobody awaits until shutdown (a model's dispatch loop, a retired model's stop, the tenant
file's watch, a drain) would keep its exception until then, and shutdown's
`gather(..., return_exceptions=True)` drops it: the gateway would go on with, say, no dispatching
for one model and nothing in its log. Started here, a task that fails is logged the moment it
ends, with its traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

_T = TypeVar("_T")


def start(work: Coroutine[Any, Any, _T], *, name: str) -> asyncio.Task[_T]:
    """Run `work` as a task of the running loop; log its exception if it fails."""
    task = asyncio.get_running_loop().create_task(work, name=name)
    task.add_done_callback(log_failure)
    return task


def log_failure(task: asyncio.Task[Any]) -> None:
    """A done-callback: log the task's exception, if it ended with one (not a cancellation)."""
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        log.error("background task %r failed", task.get_name(), exc_info=error)
