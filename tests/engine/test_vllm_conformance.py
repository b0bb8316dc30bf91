"""engine-sim held to real vLLM: the same requests to both, compared by what a client, the
gateway and the report depend on (tests/engine/conformance_*.py say what is compared).

Writes bench/results/vllm_conformance.json: the vLLM version, every compared behaviour and
every difference, each marked intended (with the reason, also in docs/engine-sim.md) or not.
The test fails on an unintended difference, and on an intended one that has gone away (so the
documented list stays true).
"""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any

import httpx
import pytest
from conformance_endpoints import ENDPOINTS
from conformance_requests import BAD_INPUT, GENERATION, MAX_MODEL_LEN, Behaviour

from sloserve_dev.real_vllm import environment, server
from vllm_fixtures import plugin

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]
RECORD = REPOSITORY / "bench" / "results" / "vllm_conformance.json"

#: Differences kept on purpose, with the reason (docs/engine-sim.md repeats them).
INTENDED: dict[str, str] = {
    "prompt token count of a text": (
        "engine-sim counts one token per whitespace-separated word, so that a load generator "
        "controls prompt lengths exactly; vLLM runs the model's tokenizer"
    ),
    "message without a role": (
        "vLLM's param spells out the first branch of its message union "
        "(body.messages.0.ChatCompletionDeveloperMessageParam.role); engine-sim names the field "
        "(body.messages.0.role)"
    ),
    "n above one": (
        "engine-sim returns one choice and refuses n > 1 (param n) rather than answer wrongly; "
        "vLLM refuses n > 1 under greedy sampling with param null, and answers it when sampling"
    ),
    "logprobs": "engine-sim has no model probabilities and refuses logprobs, not inventing them",
}
BEHAVIOURS: dict[str, Behaviour] = {**GENERATION, **BAD_INPUT, **ENDPOINTS}


def _observe(url: str, model: str) -> dict[str, Any]:
    observed: dict[str, Any] = {}
    with httpx.Client(base_url=url, timeout=120) as client:
        for name, behaviour in BEHAVIOURS.items():
            try:
                observed[name] = behaviour(client, model)
            except Exception as error:  # a failure to observe is itself an observation
                observed[name] = f"failed: {type(error).__name__}: {error}"
    return observed


def test_engine_sim_answers_as_real_vllm_does(
    real_vllm: server.RunningServer, engine_sim_like_vllm: Any
) -> None:
    assert plugin.MAX_MODEL_LEN == MAX_MODEL_LEN
    model = real_vllm.served_model_name
    vllm = _observe(real_vllm.url, model)
    sim = _observe(engine_sim_like_vllm.url, model)
    differences = [
        {
            "behaviour": name,
            "engine_sim": sim[name],
            "vllm": vllm[name],
            "intended": name in INTENDED,
            **({"why": INTENDED[name]} if name in INTENDED else {}),
        }
        for name in BEHAVIOURS
        if sim[name] != vllm[name]
    ]
    record = {
        "vllm_version": environment.VLLM_VERSION,
        "vllm_distribution": f"{environment.DISTRIBUTION}=={environment.VLLM_VERSION} (CPU)",
        "command": "pytest tests/engine/test_vllm_conformance.py",
        "machine": {"platform": sys.platform, "python": sys.version.split()[0]},
        "compared": list(BEHAVIOURS),
        "differences": differences,
    }
    RECORD.write_text(json.dumps(record, indent=2) + "\n")
    unintended = [d for d in differences if not d["intended"]]
    assert not unintended, json.dumps(unintended, indent=2)
    gone = sorted(set(INTENDED) - {d["behaviour"] for d in differences})
    assert not gone, f"intended differences no longer seen (update INTENDED and docs): {gone}"


@pytest.mark.parametrize("name", list(BEHAVIOURS))
def test_every_compared_behaviour_is_listed_in_the_docs(name: str) -> None:
    docs = (REPOSITORY / "docs" / "engine-sim.md").read_text()
    assert f"`{name}`" in docs
