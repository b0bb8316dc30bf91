"""Which GPU product and sharing mode a node's labels name, and how the models encode a mode."""

from __future__ import annotations

import pytest

from sloserve.placement.gpus import GPU_PRODUCT_LABEL, gpu_key
from sloserve.placement.metrics import SharingMode
from sloserve.placement.workloads import (
    REPLICAS_LABEL,
    SHARING_LABEL,
    THREAD_PERCENTAGE_LABEL,
    gpu_product,
    sharing_mode,
)


def _node(**labels: str) -> dict[str, object]:
    return {"metadata": {"name": "n", "labels": labels}}


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("NVIDIA-H100-80GB-HBM3", "H100"),
        ("NVIDIA H100 80GB HBM3", "H100"),
        ("NVIDIA-H200", "H200"),
        ("NVIDIA-A100-SXM4-80GB", "A100"),
        ("synthetic", None),
        ("", None),
    ],
)
def test_the_product_key_is_the_family_and_generation_word(name: str, key: str | None) -> None:
    assert gpu_key(name) == key


def test_a_node_names_its_gpu_through_feature_discovery() -> None:
    assert gpu_product(_node(**{GPU_PRODUCT_LABEL: "NVIDIA-H200"})) == "H200"
    assert gpu_product(_node()) is None


def test_an_mps_node_with_replicas_limits_each_client_to_its_share() -> None:
    labels = {SHARING_LABEL: "mps", REPLICAS_LABEL: "2"}
    assert sharing_mode(_node(**labels)) == "mps_t50"
    assert sharing_mode(_node(**{SHARING_LABEL: "mps"})) == "mps"
    assert sharing_mode(_node(**{SHARING_LABEL: "time-slicing", REPLICAS_LABEL: "4"})) == (
        "timeslice"
    )


def test_the_explicit_thread_percentage_wins_and_a_bad_one_is_named() -> None:
    labels = {SHARING_LABEL: "mps", REPLICAS_LABEL: "2", THREAD_PERCENTAGE_LABEL: "30"}
    assert sharing_mode(_node(**labels)) == "mps_t30"
    labels[THREAD_PERCENTAGE_LABEL] = "half"
    with pytest.raises(ValueError, match=THREAD_PERCENTAGE_LABEL):
        sharing_mode(_node(**labels))


def test_a_limited_mps_mode_reads_as_mps_with_its_thread_fraction() -> None:
    assert SharingMode.code("mps_t50") == 1.0
    assert SharingMode.thread_fraction("mps_t50") == 0.5
    assert SharingMode.thread_fraction("mps") == 1.0
    assert SharingMode.code("timeslice") == 0.0
    with pytest.raises(ValueError, match="mps_tNN"):
        SharingMode.code("mps_t500")


def test_a_kind_measured_on_the_other_gpu_only_uses_that_gpus_series() -> None:
    from placement.placement_fakes import catalogue_source
    from sloserve.placement.workloads import GpuWorkload

    source = catalogue_source()
    encoder = GpuWorkload(namespace="team", name="embed", kind="encode_b64_s256")

    resolved = source.resolve_now(encoder, "timeslice", "H100")

    assert resolved.origin == "kind encode_b64_s256 as measured on H200"
