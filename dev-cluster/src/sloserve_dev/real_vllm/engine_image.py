"""Real vLLM as an engine on the local kind cluster: its image, and what the nodes mount.

The 6 GB virtualenv is not baked into an image. An image holding it would take minutes to build
on a 2-core machine, and `kind load` would then copy and unpack those 6 GB into every node's
containerd at every cluster creation (about 12 GB more disk per two-node cluster). Instead the
cluster is made with this vLLM version's cache directory (the virtualenv and the tiny model)
mounted read-only into every node at `NODE_DIR`, and the engine pods mount the virtualenv and
the model cache from there (hostPath volumes, see config/samples/modelservice-vllm-kind.yaml).
The image itself is Python on the Debian rootfs the sloserve image is built on, the one library
vLLM's kernels need beyond it (libnuma, copied from this Debian machine) and the entrypoint
(`engine_entrypoint.py`): built in seconds, nothing pulled or downloaded.
"""

from __future__ import annotations

import dataclasses
import pathlib
import shutil
import tempfile

from sloserve_dev.kind import builtin_images, cluster, images
from sloserve_dev.real_vllm import engine_entrypoint, environment

IMAGE_NAME = "sloserve-vllm-cpu"
#: What ModelServices on the local cluster name (an alias of the digest tag).
IMAGE = f"ghcr.io/sloserve/vllm-cpu:{environment.VLLM_VERSION}"
#: Where every node of a cluster made for the vLLM engine has this version's cache directory.
NODE_DIR = f"/var/lib/sloserve/{environment.DISTRIBUTION}-{environment.VLLM_VERSION}"
NODE_VENV = f"{NODE_DIR}/venv"
NODE_MODELS = f"{NODE_DIR}/models"
_HERE = pathlib.Path(__file__).resolve().parent
_LIBNUMA_CANDIDATES = (
    pathlib.Path("/usr/lib/x86_64-linux-gnu/libnuma.so.1"),
    pathlib.Path("/lib/x86_64-linux-gnu/libnuma.so.1"),
)


def _libnuma() -> pathlib.Path:
    for candidate in _LIBNUMA_CANDIDATES:
        if candidate.exists():
            return candidate.resolve()
    raise images.ImageBuildError(
        "the vLLM engine image needs libnuma.so.1 from this machine (vLLM's CPU kernels link "
        "it): install Debian's libnuma1 (`apt-get install libnuma1`)"
    )


def _inputs() -> list[images.Input]:
    return [
        _HERE / "image" / "Dockerfile",
        pathlib.Path(engine_entrypoint.__file__),
        environment.VLLM_VERSION,
        builtin_images.PYTHON_BASE_PACKAGES,
    ]


def _build(context: images.BuildContext, tag: str) -> None:
    base = builtin_images.python_base(context)
    with tempfile.TemporaryDirectory(dir=context.cache_root) as scratch:
        build_dir = pathlib.Path(scratch)
        shutil.copy(_HERE / "image" / "Dockerfile", build_dir / "Dockerfile")
        shutil.copy(engine_entrypoint.__file__, build_dir / "entrypoint.py")
        shutil.copy(_libnuma(), build_dir / "libnuma.so.1")
        context.run(
            [
                "docker",
                "build",
                "--quiet",
                "--build-arg",
                f"BASE_IMAGE={base}",
                "-t",
                tag,
                str(build_dir),
            ],
            env={"DOCKER_BUILDKIT": "0"},
        )


#: Not loaded into every cluster: only into one made with `kind_options(...)`.
ENGINE_IMAGE = images.register(
    images.LocalImage(name=IMAGE_NAME, inputs=_inputs, build=_build, aliases=(IMAGE,), load=False)
)


def node_mount() -> cluster.HostMount:
    """This vLLM version's cache directory, read-only at `NODE_DIR` in every node."""
    return cluster.HostMount(
        host_path=str(environment.root_dir()), node_path=NODE_DIR, read_only=True
    )


def with_vllm_engine(options: cluster.KindOptions) -> cluster.KindOptions:
    """`options` for a cluster that runs vLLM engines: the cache mounted into every node and
    the engine image loaded. The virtualenv and the tiny model must be built first (see
    `environment.ensure` and `tiny_model.ensure`)."""
    mounts = tuple(m for m in options.host_mounts if m.node_path != NODE_DIR)
    extra = tuple(name for name in options.extra_images if name != IMAGE_NAME)
    return dataclasses.replace(
        options, host_mounts=(*mounts, node_mount()), extra_images=(*extra, IMAGE_NAME)
    )
