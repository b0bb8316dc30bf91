"""Waiting requests leave the gateway least-deadline-first, as the engine sees them."""

from __future__ import annotations

import threading

import openai
from gateway_processes import KEY, MODEL, Processes, metric_value, wait_until

_LOOSE_CLASSES = [
    {"name": "interactive", "ttft": "60s", "tpot": "50ms"},
    {"name": "standard", "ttft": "120s", "tpot": "50ms"},
    {"name": "batch", "ttft": "300s", "tpot": "50ms"},
]


def test_waiting_requests_reach_the_engine_in_deadline_order(procs: Processes) -> None:
    # One sequence at a time, at the engine and as the gateway knows it: the gateway holds the
    # rest, and sends the next only when the one running ends. The blocker holds the only slot
    # until every other request is queued behind it, then lets go; the order in which answers
    # start is then the order the gateway sent them in. Every step waits on an event or on the
    # gateway's queue, never on the clock. The gateway holds what it cannot start at once
    # (hold-then-reject): admission at arrival would rightly refuse the interactive request,
    # which the 8000-token blocker keeps from its slot. The classes keep the usual order of
    # deadlines but with targets of minutes, so that no wait on a loaded machine reaches one.
    engine = procs.engine(time_scale=1.0, extra=["--max-num-seqs=1"])
    gateway = procs.gateway(
        [engine],
        max_num_seqs=1,
        classes=_LOOSE_CLASSES,
        extra=["--admission=hold-then-reject"],
    )
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0)
    started: list[str] = []
    lock = threading.Lock()
    blocker_streaming = threading.Event()
    release_blocker = threading.Event()

    def send(slo_class: str, tokens: int, *, blocker: bool = False) -> None:
        stream = client.completions.create(
            model=MODEL,
            prompt="p",
            max_tokens=tokens,
            stream=True,
            extra_body={"ignore_eos": True},
            extra_headers={"x-slo-class": slo_class},
        )
        first = True
        for chunk in stream:
            if first and chunk.choices and chunk.choices[0].text:
                first = False
                with lock:
                    started.append(slo_class)
                if blocker:
                    blocker_streaming.set()
                    release_blocker.wait(timeout=60)
                    stream.close()  # the client goes away: its slot frees
                    return

    blocker = threading.Thread(target=send, args=("batch", 8000), kwargs={"blocker": True})
    blocker.start()
    assert blocker_streaming.wait(timeout=60)
    waiting = [
        threading.Thread(target=send, args=(slo_class, 20))
        for slo_class in ("batch", "standard", "interactive")
    ]
    for queued, thread in enumerate(waiting, start=1):
        thread.start()
        wait_until(
            lambda queued=queued: metric_value(gateway, "sloserve_queue_depth") == queued,
            timeout_s=60,
            what=f"{queued} requests queued",
        )
    release_blocker.set()
    for thread in [blocker, *waiting]:
        thread.join(timeout=120)
    assert started == ["batch", "interactive", "standard", "batch"]
