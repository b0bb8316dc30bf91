"""A second `sloserve dev up` reuses the recorded cluster only when it was asked for the same
cluster; what differs is named."""

from __future__ import annotations

import pathlib

from sloserve_dev.kind import cluster, lifecycle


def _record(options: cluster.KindOptions) -> lifecycle.KindRecord:
    return lifecycle.KindRecord(
        name=options.name,
        kubeconfig=pathlib.Path("kubeconfig"),
        dockerd_pid=None,
        nodes=tuple(options.node_names()),
        gpu_product=options.gpu_product,
        gpus_per_node=options.gpus_per_node,
        port_mappings=tuple((m.container_port, m.host_port) for m in options.port_mappings),
    )


def test_the_same_options_find_no_difference() -> None:
    options = cluster.KindOptions(port_mappings=(cluster.PortMapping(30080, 8080),))
    assert lifecycle.differences(_record(options), options) == []


def test_each_differing_option_is_named_with_what_runs_and_what_was_asked() -> None:
    record = _record(cluster.KindOptions())
    asked = cluster.KindOptions(
        name="other", nodes=3, gpu_product="NVIDIA-A100-SXM4-80GB", gpus_per_node=4
    )
    assert lifecycle.differences(record, asked) == [
        "name: sloserve (asked other)",
        "nodes: 2 (asked 3)",
        "GPU product: NVIDIA-H100-80GB-HBM3 (asked NVIDIA-A100-SXM4-80GB)",
        "GPUs per node: 8 (asked 4)",
    ]


def test_session_cluster_names_differ_between_sessions() -> None:
    first, second = lifecycle.session_cluster_name(), lifecycle.session_cluster_name()
    assert first != second
    assert first.startswith("sloserve-test-")


def test_a_cluster_made_without_the_vllm_engine_is_not_reused_for_it() -> None:
    from sloserve_dev.real_vllm import engine_image

    plain = cluster.KindOptions()
    changed = lifecycle.differences(_record(plain), engine_image.with_vllm_engine(plain))
    assert [line.split(":")[0] for line in changed] == ["mounts", "extra images"]
    assert engine_image.IMAGE_NAME in changed[1]


def test_the_vllm_engine_options_are_found_again_in_the_record() -> None:
    from sloserve_dev.real_vllm import engine_image

    options = engine_image.with_vllm_engine(cluster.KindOptions(name="vllm"))
    record = _record(options).model_copy(
        update={
            "host_mounts": tuple(
                (m.host_path, m.node_path, m.read_only) for m in options.host_mounts
            ),
            "extra_images": options.extra_images,
        }
    )
    assert lifecycle.differences(record, options) == []
    # asking twice adds nothing twice
    assert engine_image.with_vllm_engine(options) == options
