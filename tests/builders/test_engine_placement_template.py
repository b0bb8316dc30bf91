"""The engine template's listen address and what interference-aware placement adds to it."""

from __future__ import annotations

from typing import Any

from builder_specs import make_spec

from sloserve.builders import engine_pod
from sloserve.builders.defaults import EngineDefaults


def _template(defaults: EngineDefaults, **kwargs: Any) -> dict[str, Any]:
    spec = make_spec(engine={"kind": "sim", "gpus": 1, "gpuProduct": "H100"})
    return engine_pod.engine_pod_template(name="llama", spec=spec, defaults=defaults, **kwargs)


def test_a_pod_ip_listen_host_binds_the_pod_ip_from_the_downward_api() -> None:
    template = _template(EngineDefaults(sim_image="sim:1", listen_host="$(POD_IP)"))
    (container,) = template["spec"]["containers"]
    assert "--host=$(POD_IP)" in container["args"]
    assert container["env"][0] == {
        "name": "POD_IP",
        "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
    }


def test_the_default_listen_host_is_every_interface_without_extra_env() -> None:
    (container,) = _template(EngineDefaults(sim_image="sim:1"))["spec"]["containers"]
    assert "--host=0.0.0.0" in container["args"]
    assert "env" not in container


def test_placement_annotations_and_preferred_affinity_join_the_template() -> None:
    preferred = {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 7}]}
    template = _template(
        EngineDefaults(sim_image="sim:1"),
        placement=engine_pod.PlacementTemplate(
            annotations={"placement.sloserve.io/workload-kind": "decode_b32_c1024"},
            preferred_affinity=preferred,
        ),
    )
    annotations = template["metadata"]["annotations"]
    assert annotations["placement.sloserve.io/workload-kind"] == "decode_b32_c1024"
    affinity = template["spec"]["affinity"]["nodeAffinity"]
    assert affinity["preferredDuringSchedulingIgnoredDuringExecution"] == [{"weight": 7}]
    assert "requiredDuringSchedulingIgnoredDuringExecution" in affinity


def test_without_a_deployed_scheduler_interference_aware_engines_use_the_default_one() -> None:
    spec = make_spec(engine={"kind": "sim", "gpus": 1}, placement={"interferenceAware": True})
    defaults = EngineDefaults(sim_image="sim:1", interference_aware_scheduler=None)
    assert engine_pod.scheduler_name(spec, defaults) is None
