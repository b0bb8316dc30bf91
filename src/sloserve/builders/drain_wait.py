"""The engine's preStop hook: wait until the engine has no request left, then let it stop.

Runs inside the engine container (vLLM's image or sloserve's) as `python3 -c <this file>
PORT DEADLINE_S SETTLE_S`, so it uses the standard library only and no sloserve module. While
the pod terminates the gateway has stopped sending it work (its EndpointSlice marks the endpoint
terminating); this polls the engine's own `/metrics` every second and returns once the engine
reports no running and no waiting request (vLLM's `vllm:num_requests_running` and
`vllm:num_requests_waiting`) twice in a row, but never before SETTLE_S (so that a request already
on its way arrives first) and never after DEADLINE_S. Only then does the kubelet send SIGTERM.
An engine that stops answering has nothing left to finish: the hook returns.
"""

from __future__ import annotations

import os
import re
import sys
import time
import urllib.request

_LOAD = re.compile(r"^vllm:num_requests_(?:running|waiting)(?:\{[^}]*\})?\s+(\S+)", re.MULTILINE)
_POLL_S = 1.0
_IDLE_POLLS = 2
# A busy engine may answer one poll late; one that misses this many in a row is gone.
_SILENT_POLLS = 3


def requests_in_engine(url: str) -> float | None:
    """Running plus waiting requests the engine at `url` reports; None if it does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return None
    return sum(float(value) for value in _LOAD.findall(text))


def wait_until_idle(url: str, *, deadline_s: float, settle_s: float) -> str:
    """Polls `url` until the engine is idle (see the module's docstring); says why it ended."""
    started = time.monotonic()
    idle_polls = silent_polls = 0
    while time.monotonic() - started < deadline_s:
        time.sleep(_POLL_S)
        load = requests_in_engine(url)
        silent_polls = silent_polls + 1 if load is None else 0
        if silent_polls >= _SILENT_POLLS:
            return "the engine does not answer"
        idle_polls = idle_polls + 1 if load == 0 else 0
        if idle_polls >= _IDLE_POLLS and time.monotonic() - started >= settle_s:
            return "no request left"
    return "the drain deadline passed"


def main(argv: list[str]) -> int:
    port, deadline_s, settle_s = int(argv[1]), float(argv[2]), float(argv[3])
    # Where engines bind the pod's IP only, the operator gives them POD_IP.
    host = os.environ.get("POD_IP") or "127.0.0.1"
    started = time.monotonic()
    reason = wait_until_idle(
        f"http://{host}:{port}/metrics", deadline_s=deadline_s, settle_s=min(settle_s, deadline_s)
    )
    print(f"drained in {time.monotonic() - started:.0f} s: {reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
