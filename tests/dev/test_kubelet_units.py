"""Small parts of the local kubelet: probes' thresholds, GPUs, quantities, volume files,
mount plans."""

from __future__ import annotations

import pathlib

import pytest

from sloserve.dev.kubelet import atomic_dir, downward, gpus, mounts, objects, probes


def test_probe_verdict_flips_only_after_its_thresholds() -> None:
    spec = probes.ProbeSpec(handler={}, success_threshold=2, failure_threshold=3)
    verdict = probes.ProbeVerdict(spec, initial=False)

    flips = [verdict.record(ok) for ok in (True, True, False, False, True, False, False, False)]

    assert flips == [False, True, False, False, False, False, False, True]
    assert verdict.passing is False


def test_gpus_are_handed_out_until_none_are_left() -> None:
    allocator = gpus.GpuAllocator(8)

    first = allocator.allocate("a", 4)
    second = allocator.allocate("b", 4)
    with pytest.raises(gpus.GpuAllocationError, match=r"needs 1 nvidia\.com/gpu and 0 are free"):
        allocator.allocate("c", 1)
    allocator.release("a")

    assert first == [0, 1, 2, 3]
    assert second == [4, 5, 6, 7]
    assert allocator.allocate("c", 2) == [0, 1]


def test_requested_gpus_sum_containers_and_respect_init_containers() -> None:
    def with_gpus(count: int) -> dict[str, object]:
        return {"resources": {"limits": {"nvidia.com/gpu": str(count)}}}

    pod = {"spec": {"containers": [with_gpus(2), with_gpus(1), {}], "initContainers": []}}
    greedy_init = {"spec": {"containers": [with_gpus(1)], "initContainers": [with_gpus(4)]}}

    assert gpus.requested_gpus(pod) == 3
    assert gpus.requested_gpus(greedy_init) == 4


@pytest.mark.parametrize(
    ("text", "value"), [("500m", 0.5), ("2", 2), ("16Gi", 16 * 2**30), ("1k", 1000), ("1e3", 1000)]
)
def test_quantities_parse_as_kubernetes_writes_them(text: str, value: float) -> None:
    assert float(downward.parse_quantity(text)) == value


def test_resource_field_reads_limits_rounding_up_and_falls_back_to_the_node() -> None:
    container = {"resources": {"limits": {"cpu": "1500m"}}}

    cpu = downward.resource_value(
        container=container, resource="limits.cpu", divisor=None, node_allocatable={}
    )
    memory = downward.resource_value(
        container=container,
        resource="limits.memory",
        divisor="1Gi",
        node_allocatable={"memory": "256Gi"},
    )

    assert (cpu, memory) == ("2", "256")


def test_volume_files_are_replaced_all_at_once(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "volume"

    assert atomic_dir.write(target, {"a": (b"1", 0o644), "dir/b": (b"2", 0o600)})
    assert not atomic_dir.write(target, {"a": (b"1", 0o644), "dir/b": (b"2", 0o600)})
    assert atomic_dir.write(target, {"a": (b"3", 0o644)})

    assert (target / "a").read_bytes() == b"3"
    assert not (target / "dir").exists()
    assert sorted(p.name for p in target.iterdir() if not p.name.startswith("..")) == ["a"]


def test_mount_outside_run_that_is_missing_on_the_host_is_refused(tmp_path: pathlib.Path) -> None:
    mount = mounts.Mount(source=tmp_path, target="/no/such/place", read_only=False)

    with pytest.raises(objects.ConfigError, match="'/no/such/place'"):
        mounts.launcher(mounts=[mount], staging=tmp_path / "stage", keep_visible=[])


def test_mount_that_would_hide_the_python_installation_is_refused(
    tmp_path: pathlib.Path,
) -> None:
    installation = tmp_path / "venv"
    installation.mkdir()
    mount = mounts.Mount(source=tmp_path, target=str(tmp_path), read_only=False)

    with pytest.raises(objects.ConfigError, match="would hide"):
        mounts.launcher(mounts=[mount], staging=tmp_path / "stage", keep_visible=[installation])


def test_service_account_mount_goes_into_a_private_run(tmp_path: pathlib.Path) -> None:
    mount = mounts.Mount(source=tmp_path, target=mounts.SERVICE_ACCOUNT_DIR, read_only=True)

    argv = mounts.launcher(mounts=[mount], staging=tmp_path / "stage", keep_visible=[])
    script = argv[argv.index("-c") + 1]

    assert argv[:2] == ["unshare", "--mount"]
    assert "mount -n -t tmpfs" in script
    assert "secrets/kubernetes.io/serviceaccount" in script
    assert "remount,bind,ro" in script
    assert script.index("--move") > script.index("--bind")
