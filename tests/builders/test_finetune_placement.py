"""Where a co-served job's worker may go: the nodes where the predictor says every engine
already there keeps its slowdown limit (the extender's judgement, residents only)."""

from __future__ import annotations

from pathlib import Path

import yaml

from sloserve.api import finetunejob
from sloserve.builders import finetune_placement
from sloserve.placement.scoring import NodeAssessment

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "samples" / "finetunejob-sim.yaml"
KINDS = ("decode_b128_c1024", "peft_1b_b4_s512_r16", "peft_1b_b1_s2048_r64")


def _spec(**adapter: object) -> finetunejob.FineTuneJobSpec:
    document = yaml.safe_load(SAMPLE.read_text())
    document["spec"]["adapter"].update(adapter)
    return finetunejob.FineTuneJob.model_validate(document).spec


def _node(name: str, *, worker: float, engine: float, limit: float | None = None) -> NodeAssessment:
    return NodeAssessment(
        node=name,
        mode="timeslice",
        candidate_slowdown=worker,
        resident_slowdowns=((f"team-a/{name}-engine", engine),),
        gpu="H200",
        resident_before=(1.0,),
        resident_limits=(limit,),
    )


def test_a_node_where_an_engine_would_pass_its_limit_is_refused_naming_it() -> None:
    choice = finetune_placement.choose_nodes(
        [_node("busy", worker=1.1, engine=1.6), _node("calm", worker=1.1, engine=1.1)],
        limit=1.25,
    )
    assert choice.nodes == ("calm",)
    ((node, why),) = choice.refused
    assert node == "busy"
    assert "team-a/busy-engine (already there)" in why
    assert "1.60x" in why
    assert "busy" in choice.message()


def test_the_workers_own_slowdown_refuses_no_node() -> None:
    # the worker yields to inference: being slowed itself breaks no objective
    choice = finetune_placement.choose_nodes([_node("a", worker=3.0, engine=1.1)], limit=1.25)
    assert choice.nodes == ("a",)


def test_an_engines_own_limit_wins_over_the_modelservices() -> None:
    lenient = _node("a", worker=1.0, engine=1.4, limit=1.5)
    strict = _node("b", worker=1.0, engine=1.15, limit=1.1)
    choice = finetune_placement.choose_nodes([lenient, strict], limit=1.25)
    assert choice.nodes == ("a",)
    assert [node for node, _ in choice.refused] == ["b"]


def test_no_node_with_headroom_says_why_for_each() -> None:
    choice = finetune_placement.choose_nodes(
        [_node("a", worker=1.0, engine=2.0), _node("b", worker=1.0, engine=1.9)], limit=1.25
    )
    assert choice.nodes == ()
    message = choice.message()
    assert message.startswith("no node of the ModelService's engines keeps")
    assert "a: " in message
    assert "b: " in message


def test_the_worker_stands_in_as_the_measured_peft_kind_nearest_its_rank() -> None:
    assert finetune_placement.worker_kind(_spec(rank=16), KINDS) == "peft_1b_b4_s512_r16"
    assert finetune_placement.worker_kind(_spec(rank=64), KINDS) == "peft_1b_b1_s2048_r64"
    assert finetune_placement.worker_kind(_spec(rank=16), ("decode_b128_c1024",)) is None
