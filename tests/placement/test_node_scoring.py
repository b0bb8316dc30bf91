from __future__ import annotations

import asyncio
import math

import pytest

from placement.placement_fakes import assessor, gpu_pod, node
from sloserve.placement.scoring import NodeAssessment


def _assess(pods: list[dict[str, object]], nodes: list[dict[str, object]]) -> list[NodeAssessment]:
    candidate = gpu_pod("new", kind="decode_b32_c1024")
    return asyncio.run(assessor(pods).assess(candidate, nodes))


def test_an_empty_node_predicts_no_slowdown_and_scores_ten() -> None:
    (empty,) = _assess([], [node("empty")])
    assert empty.candidate_slowdown == 1.0
    assert empty.resident_slowdowns == ()
    assert empty.score() == 10


def test_a_busy_node_predicts_slowdown_for_the_new_engine_and_its_neighbour() -> None:
    pods = [gpu_pod("prefill", kind="prefill_8192", node="busy")]
    (busy,) = _assess(pods, [node("busy", mps=True)])
    assert busy.candidate_slowdown > 2.0
    assert [name for name, _ in busy.resident_slowdowns] == ["team/prefill"]
    assert busy.worst[0] == "candidate"
    assert busy.score() < 5


def test_two_neighbours_slow_more_than_one() -> None:
    one = [gpu_pod("a", kind="decode_b128_c1024", node="n")]
    two = [*one, gpu_pod("b", kind="prefill_2048", node="n")]
    (with_one,) = _assess(one, [node("n")])
    (with_two,) = _assess(two, [node("n")])
    assert with_two.candidate_slowdown > with_one.candidate_slowdown


def test_pods_on_other_nodes_and_the_pod_itself_are_not_neighbours() -> None:
    pods = [
        gpu_pod("elsewhere", kind="prefill_8192", node="other"),
        gpu_pod("new", kind="decode_b32_c1024", node="mine"),
    ]
    (mine,) = _assess(pods, [node("mine")])
    assert mine.resident_slowdowns == ()


def test_a_neighbour_without_a_kind_is_taken_as_the_heaviest() -> None:
    unknown = [gpu_pod("mystery", kind=None, node="n")]
    light = [gpu_pod("small", kind="decode_b8_c1024", node="n")]
    (with_unknown,) = _assess(unknown, [node("n", mps=True)])
    (with_light,) = _assess(light, [node("n", mps=True)])
    assert with_unknown.candidate_slowdown >= with_light.candidate_slowdown


def test_joining_a_node_costs_what_every_engine_on_it_loses() -> None:
    pods = [gpu_pod("decode", kind="decode_b32_c1024", node="n")]
    (pair,) = _assess(pods, [node("n")])

    ((_, resident_after),) = pair.resident_slowdowns
    expected = math.log(pair.candidate_slowdown) + math.log(resident_after)
    assert pair.resident_before == (1.0,)
    assert pair.predicted_loss == pytest.approx(expected)
    assert pair.score() == round(10 * math.exp(-expected))


def test_with_two_residents_their_slowdown_before_the_newcomer_is_predicted() -> None:
    pods = [
        gpu_pod("a", kind="decode_b32_c1024", node="n"),
        gpu_pod("b", kind="decode_b8_c1024", node="n"),
    ]
    (three,) = _assess(pods, [node("n")])

    assert all(before > 1.2 for before in three.resident_before)
    for (_, after), before in zip(three.resident_slowdowns, three.resident_before, strict=True):
        assert after >= before


def test_a_resident_is_held_to_its_own_limit_even_when_the_newcomer_sets_none() -> None:
    pods = [gpu_pod("service", kind="decode_b8_c1024", node="n", limit="1.2")]
    (busy,) = _assess(pods, [node("n")])

    assert busy.exceeds(None)
    assert "team/service (already there)" in busy.reason(None)
    assert "above maxPredictedSlowdown 1.2" in busy.reason(None)


def test_a_resident_without_a_limit_is_held_to_the_newcomers() -> None:
    pods = [gpu_pod("batch", kind="prefill_8192", node="n")]
    (busy,) = _assess(pods, [node("n", mps=True)])

    assert not busy.exceeds(None)
    assert busy.exceeds(1.5)


def test_the_gpu_product_of_the_node_changes_the_prediction() -> None:
    pods = [gpu_pod("prefill", kind="prefill_2048", node="n")]
    (h100,) = _assess(pods, [node("n", mps=True, product="NVIDIA-H100-80GB-HBM3")])
    (h200,) = _assess(pods, [node("n", mps=True, product="NVIDIA-H200")])

    assert h100.gpu == "H100"
    assert h200.gpu == "H200"
    assert h100.candidate_slowdown != h200.candidate_slowdown
