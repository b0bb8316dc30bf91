from __future__ import annotations

import asyncio

from placement.placement_fakes import assessor, gpu_pod, node
from sloserve.placement import status


def test_the_record_holds_node_and_predicted_slowdown_and_names_the_neighbours() -> None:
    mine = gpu_pod("engine-1", kind="decode_b32_c1024", node="gpu-a")
    neighbour = gpu_pod("trainer", kind="lora_ft_1b", node="gpu-a")
    record = asyncio.run(
        status.record_placement(assessor([mine, neighbour]), pod=mine, node=node("gpu-a"))
    )
    assert record.entry.pod == "engine-1"
    assert record.entry.node == "gpu-a"
    assert record.entry.predicted_slowdown == record.assessment.candidate_slowdown
    assert record.entry.predicted_slowdown is not None
    assert record.entry.predicted_slowdown > 1.0
    assert "team/trainer" in record.message
    assert record.entry.model_dump(by_alias=True)["predictedSlowdown"] > 1.0


def test_a_pod_alone_on_its_node_is_predicted_no_slowdown() -> None:
    mine = gpu_pod("engine-1", kind="decode_b32_c1024", node="gpu-a")
    record = asyncio.run(status.record_placement(assessor([mine]), pod=mine, node=node("gpu-a")))
    assert record.entry.predicted_slowdown == 1.0
    assert "no other GPU pod" in record.message
