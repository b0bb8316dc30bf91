"""The product wheel carries what a cluster user runs, and nothing of the local cluster: that
is the separate sloserve-dev package (dev-cluster/), installed beside it for development."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import zipfile

import pytest

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]


def _built_wheel(project: pathlib.Path, out: pathlib.Path, distribution: str) -> list[str]:
    """The file names in the wheel `python -m build --wheel` makes of `project` (pure Python
    here: what is compiled does not change which files ship)."""
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), "."],
        cwd=project,
        env={**os.environ, "SLOSERVE_PURE_PYTHON": "1"},
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob(f"{distribution}-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return _built_wheel(REPOSITORY, tmp_path_factory.mktemp("dist"), "sloserve")


def test_the_wheel_holds_no_local_cluster_code(wheel_files: list[str]) -> None:
    local = [
        name
        for name in wheel_files
        if name.startswith(("sloserve_dev/", "sloserve/dev/", "dev-cluster/"))
        or "kubelet" in name
        or name.endswith(".sh")
    ]
    assert local == []


def test_the_wheel_holds_what_a_cluster_user_runs(wheel_files: list[str]) -> None:
    for part in ("operator", "gateway", "engine", "placement", "report", "api", "builders"):
        assert any(name.startswith(f"sloserve/{part}/") for name in wheel_files), part
    assert "sloserve/profiles/h100-llama3-8b.json" in wheel_files


def test_the_demo_workload_is_a_file_not_code(wheel_files: list[str]) -> None:
    assert (REPOSITORY / "config" / "demo" / "workload.yaml").is_file()
    assert not any("demo" in name for name in wheel_files)


def test_the_local_cluster_package_carries_its_scripts_and_node_files(
    tmp_path: pathlib.Path,
) -> None:
    files = _built_wheel(REPOSITORY / "dev-cluster", tmp_path, "sloserve_dev")
    for name in (
        "sloserve_dev/cli.py",
        "sloserve_dev/build-binaries.sh",
        "sloserve_dev/kind/build-node-image.sh",
        "sloserve_dev/kind/manifests/coredns.yaml",
        "sloserve_dev/kind/node-files/usr/local/sbin/sloserve-service-guard",
        "sloserve_dev/kind/tools/runc-wrapper/main.go",
        "sloserve_dev/real_vllm/image/Dockerfile",
        "sloserve_dev/real_vllm/engine_entrypoint.py",
    ):
        assert name in files, name
    assert not any(name.startswith("sloserve/") for name in files)
