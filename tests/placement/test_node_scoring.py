from __future__ import annotations

import asyncio

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
