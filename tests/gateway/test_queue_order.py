"""Waiting requests leave the gateway least-deadline-first, as the engine sees them."""

from __future__ import annotations

import threading
import time

import openai
from gateway_processes import KEY, MODEL, Processes


def test_waiting_requests_reach_the_engine_in_deadline_order(procs: Processes) -> None:
    # One sequence at a time, at the engine and as the gateway knows it: the gateway holds the
    # rest, and the engine serves what it gets in arrival order, so the order in which answers
    # start is the order the gateway sent them in.
    engine = procs.engine(time_scale=1.0, extra=["--max-num-seqs=1"])
    gateway = procs.gateway([engine], max_num_seqs=1)
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0)
    started: list[str] = []
    lock = threading.Lock()

    def send(slo_class: str, tokens: int) -> None:
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

    blocker = threading.Thread(target=send, args=("batch", 60))
    blocker.start()
    time.sleep(0.15)  # the blocker holds the only slot; the others queue behind it
    waiting = [
        threading.Thread(target=send, args=(slo_class, 3))
        for slo_class in ("batch", "standard", "interactive")
    ]
    for thread in waiting:
        thread.start()
        time.sleep(0.02)
    for thread in [blocker, *waiting]:
        thread.join(timeout=30)
    assert started == ["batch", "interactive", "standard", "batch"]
