"""The vLLM engine image's entrypoint: the KV cache sized to the container's memory limit, and
an environment that reports nothing and fetches nothing."""

from __future__ import annotations

import pathlib

import pytest

from sloserve_dev.real_vllm import engine_entrypoint as entrypoint

GIB = 1024**3


def test_the_kv_cache_is_the_memory_limit_less_what_vllm_takes_besides() -> None:
    assert entrypoint.kv_cache_gib(5 * GIB) == 2.0
    assert entrypoint.kv_cache_gib(int(6.6 * GIB)) == 3.5  # rounded down to a quarter GiB


def test_no_memory_limit_gets_a_small_kv_cache() -> None:
    assert entrypoint.kv_cache_gib(None) == entrypoint.UNLIMITED_KV_CACHE_GIB


def test_a_limit_that_leaves_no_kv_cache_is_refused_naming_the_field() -> None:
    with pytest.raises(
        entrypoint.EntrypointError, match=r"spec\.engine\.resources\.limits\.memory"
    ):
        entrypoint.kv_cache_gib(3 * GIB)


def test_the_limit_is_read_from_cgroup_v2(tmp_path: pathlib.Path) -> None:
    limit = tmp_path / "sys/fs/cgroup/memory.max"
    limit.parent.mkdir(parents=True)
    limit.write_text(f"{5 * GIB}\n")
    assert entrypoint.memory_limit_bytes(tmp_path) == 5 * GIB
    limit.write_text("max\n")
    assert entrypoint.memory_limit_bytes(tmp_path) is None


def test_the_limit_is_read_from_cgroup_v1_where_no_limit_is_a_huge_number(
    tmp_path: pathlib.Path,
) -> None:
    limit = tmp_path / "sys/fs/cgroup/memory/memory.limit_in_bytes"
    limit.parent.mkdir(parents=True)
    limit.write_text(f"{4 * GIB}\n")
    assert entrypoint.memory_limit_bytes(tmp_path) == 4 * GIB
    limit.write_text("9223372036854771712\n")
    assert entrypoint.memory_limit_bytes(tmp_path) is None


def test_the_environment_sizes_the_cache_and_switches_reporting_and_the_hub_off() -> None:
    env = entrypoint.engine_env(
        {"DO_NOT_TRACK": "0", "HF_HOME": "/models"}, limit_bytes=5 * GIB, temp_dir="/scratch"
    )
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert (env["VLLM_NO_USAGE_STATS"], env["DO_NOT_TRACK"], env["HF_HUB_OFFLINE"]) == (
        "1",
        "1",
        "1",
    )
    assert env["VLLM_CACHE_ROOT"].startswith("/scratch/")
    assert env["HF_HOME"] == "/models"


def test_a_kv_cache_size_the_pod_sets_is_kept() -> None:
    env = entrypoint.engine_env({"VLLM_CPU_KVCACHE_SPACE": "0.5"}, limit_bytes=None)
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "0.5"


def test_without_the_mounted_virtualenv_the_engine_exits_saying_what_to_mount(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    monkeypatch.setattr(entrypoint, "SITE_PACKAGES", str(tmp_path / "absent"))
    assert entrypoint.main(["--model=/models/x"]) == 1
    assert f"mount the vllm-cpu virtualenv at {entrypoint.VENV_MOUNT}" in capsys.readouterr().err
