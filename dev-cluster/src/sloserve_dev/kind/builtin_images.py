"""The images every local kind cluster uses: the node image and the sloserve image (operator,
gateway and engine simulator). Each is built offline (see images.py for adding more)."""

from __future__ import annotations

import importlib.resources
import pathlib
import resource
import subprocess
import sys
import tempfile
import tomllib

from sloserve_dev import paths
from sloserve_dev.kind import images, tools

REPOSITORY = pathlib.Path(__file__).resolve().parents[4]
NODE_IMAGE = "sloserve-kind-node"
SLOSERVE_IMAGE = "sloserve"
PYTHON_BASE_IMAGE = "sloserve-python-base"
#: What the chart and the e2e suite name (the chart's image repository at its appVersion).
CHART_IMAGE_REPOSITORY = "ghcr.io/sloserve/sloserve"
#: A second tag of the same image, for tests that roll engines to another image.
ROLLED_TAG = "e2e-rolled"
PYTHON_BASE_PACKAGES = "python3,python3-venv,ca-certificates,iproute2"


def _kind_dir() -> pathlib.Path:
    return pathlib.Path(str(importlib.resources.files("sloserve_dev.kind")))


def _node_inputs() -> list[images.Input]:
    here = _kind_dir()
    return [
        here / "build-node-image.sh",
        here / "node-files",
        here / "cni",
        here / "tools" / "runc-wrapper",
        here / "tools" / "pause",
        here / "tools" / "coredns",
        paths.kube_version(),
        tools.kind_version(),
        tools.coredns_version(),
        # the node's file-handle limits are this host's
        str(resource.getrlimit(resource.RLIMIT_NOFILE)[1]),
    ]


def cni_image_tag() -> str:
    """The CNI agent's image, preloaded into the node image of the same digest."""
    return f"sloserve-kind-cni:{images.digest(_node_inputs())}"


def _build_node(context: images.BuildContext, tag: str) -> None:
    built = tools.build_tools()
    context.run(
        ["bash", str(_kind_dir() / "build-node-image.sh"), tag],
        env={
            "SLOSERVE_DOCKER": "docker",
            "SLOSERVE_CACHE_DIR": str(context.cache_root),
            "SLOSERVE_KUBE_VERSION": paths.kube_version(),
            "SLOSERVE_COREDNS_VERSION": tools.coredns_version(),
            "SLOSERVE_KIND_MODULE": str(built.kind_module),
            "SLOSERVE_CNI_IMAGE": cni_image_tag(),
            "SLOSERVE_DEBIAN_MIRROR": tools.debian_mirror(),
        },
    )


NODE = images.register(
    images.LocalImage(name=NODE_IMAGE, inputs=_node_inputs, build=_build_node, load=False)
)


def _chart_app_version() -> str:
    chart = (REPOSITORY / "charts" / "sloserve" / "Chart.yaml").read_text()
    for line in chart.splitlines():
        if line.startswith("appVersion:"):
            return line.split(":", 1)[1].strip().strip('"')
    raise images.ImageBuildError("charts/sloserve/Chart.yaml has no appVersion")


def _project() -> dict[str, object]:
    with (REPOSITORY / "pyproject.toml").open("rb") as file:
        project: dict[str, object] = tomllib.load(file)["project"]
    return project


def _sloserve_inputs() -> list[images.Input]:
    return [
        REPOSITORY / "src" / "sloserve",
        REPOSITORY / "pyproject.toml",
        REPOSITORY / "setup.py",
        REPOSITORY / "Dockerfile",
        f"python{sys.version_info.major}.{sys.version_info.minor}",
    ]


def python_base(context: images.BuildContext) -> str:
    """A Debian rootfs with Python and its venv module, made by debootstrap and imported."""
    tag = f"{PYTHON_BASE_IMAGE}:{images.digest(['bookworm', PYTHON_BASE_PACKAGES])}"
    if images.present(context, tag):
        return tag
    with tempfile.TemporaryDirectory(dir=context.cache_root) as scratch:
        rootfs = pathlib.Path(scratch) / "rootfs"
        context.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={PYTHON_BASE_PACKAGES}",
                "bookworm",
                str(rootfs),
                tools.debian_mirror(),
            ]
        )
        for cached in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc"):
            subprocess.run(["find", str(rootfs / cached), "-type", "f", "-delete"], check=False)
        archive = subprocess.Popen(
            ["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE
        )
        assert archive.stdout is not None
        context.docker("import", "-", tag, input=archive.stdout.read())
        archive.wait()
    return tag


def _build_sloserve(context: images.BuildContext, tag: str) -> None:
    base = python_base(context)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    dependencies = [str(d) for d in _project()["dependencies"]]  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory(dir=context.cache_root) as scratch:
        wheels = pathlib.Path(scratch) / "wheels"
        context.run(
            [
                *pip,
                "download",
                "--quiet",
                "--only-binary=:all:",
                "-d",
                str(wheels / "deps"),
                *dependencies,
            ]
        )
        context.run(
            [
                *pip,
                "wheel",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "-w",
                str(wheels),
                str(REPOSITORY),
            ],
            env={"PIP_NO_CACHE_DIR": "1"},
        )
        context.run(
            [
                "docker",
                "build",
                "--quiet",
                "-f",
                str(REPOSITORY / "Dockerfile"),
                "--build-arg",
                f"BASE_IMAGE={base}",
                "-t",
                tag,
                scratch,
            ],
            env={"DOCKER_BUILDKIT": "0"},
        )


SLOSERVE = images.register(
    images.LocalImage(
        name=SLOSERVE_IMAGE,
        inputs=_sloserve_inputs,
        build=_build_sloserve,
        aliases=(
            f"{CHART_IMAGE_REPOSITORY}:{_chart_app_version()}",
            f"{CHART_IMAGE_REPOSITORY}:{ROLLED_TAG}",
            "sloserve:dev",
        ),
    )
)


def chart_image() -> tuple[str, str]:
    """(repository, tag) the chart is installed with on a local kind cluster."""
    return CHART_IMAGE_REPOSITORY, _chart_app_version()
