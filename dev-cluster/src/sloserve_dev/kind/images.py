"""The images the set-up builds on this machine, none of them pulled from a registry: each is
tagged with a digest of what it is built from, built once, kept by our Docker Engine and, for
those that pods run, `kind load`ed into the nodes of every new cluster.

Adding an image is a few lines: a `LocalImage` with its name, the files and settings its digest
covers, and a build function; then `register(...)`. Another engine image (real vLLM on CPU, say)
is one more entry:

    register(LocalImage(
        name="sloserve-vllm-cpu",
        inputs=lambda: [repository / "engines" / "vllm-cpu", "vllm==0.x"],
        build=build_vllm_cpu_image,          # (BuildContext, tag) -> None
        aliases=("ghcr.io/sloserve/vllm-cpu:dev",),
    ))
"""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib
import subprocess
from collections.abc import Callable, Iterable, Sequence

from sloserve_dev import paths
from sloserve_dev.kind import docker_engine

Input = pathlib.Path | str


@dataclasses.dataclass(frozen=True)
class BuildContext:
    """What a build function may use: our engine, the cache, and the repository."""

    engine: docker_engine.EngineLayout
    repository: pathlib.Path
    cache_root: pathlib.Path

    def env(self) -> dict[str, str]:
        return docker_engine.environment(self.engine)

    def docker(self, *args: str, input: bytes | None = None) -> str:
        """Runs Debian's docker client against our engine; raises ImageBuildError with its
        output when it fails."""
        completed = subprocess.run(
            [docker_engine.DOCKER, *args],
            env=self.env(),
            input=input,
            capture_output=True,
            check=False,
        )
        if completed.returncode != 0:
            raise ImageBuildError(
                f"docker {' '.join(args[:2])} failed:\n{completed.stderr.decode(errors='replace')}"
            )
        return completed.stdout.decode(errors="replace")

    def run(self, argv: Sequence[str], *, env: dict[str, str] | None = None) -> None:
        """Runs a build step with its output on this process's stderr."""
        completed = subprocess.run(list(argv), env={**self.env(), **(env or {})}, check=False)
        if completed.returncode != 0:
            raise ImageBuildError(f"{argv[0]} failed (exit {completed.returncode}); see above")


class ImageBuildError(RuntimeError):
    """An image could not be built; the message has the failing step's output."""


@dataclasses.dataclass(frozen=True)
class LocalImage:
    """An image built here. `inputs` lists files or directories (their contents count) and
    plain strings (versions, settings) that its digest covers; `build(context, tag)` makes the
    image `tag`; `aliases` are further tags it gets (what manifests and charts name); `load`
    says whether kind nodes get it (`kind load`) or it is used otherwise (the node image)."""

    name: str
    inputs: Callable[[], Iterable[Input]]
    build: Callable[[BuildContext, str], None]
    aliases: tuple[str, ...] = ()
    load: bool = True

    def tag(self) -> str:
        return f"{self.name}:{digest(self.inputs())}"

    def tags(self) -> tuple[str, ...]:
        return (self.tag(), *self.aliases)


_REGISTRY: dict[str, LocalImage] = {}


def register(image: LocalImage) -> LocalImage:
    """Adds `image` to the images the set-up builds (a later entry of one name replaces the
    earlier); returns it."""
    _REGISTRY[image.name] = image
    return image


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def registered() -> list[LocalImage]:
    return list(_REGISTRY.values())


def get(name: str) -> LocalImage:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no image {name!r} is registered; known: {sorted(_REGISTRY)}") from None


def digest(inputs: Iterable[Input]) -> str:
    """12 hex digits over the inputs: each file's path relative to its input and its bytes, in
    a stable order, and each string."""
    hasher = hashlib.sha256()
    for item in inputs:
        if isinstance(item, str):
            hasher.update(b"s\0" + item.encode() + b"\0")
            continue
        files = sorted(p for p in item.rglob("*") if p.is_file()) if item.is_dir() else [item]
        for file in files:
            if "__pycache__" in file.parts or file.suffix in (".pyc", ".so"):
                continue
            if file.name.endswith("_test.go"):
                continue
            relative = file.relative_to(item) if item.is_dir() else pathlib.Path(file.name)
            hasher.update(b"f\0" + str(relative).encode() + b"\0" + file.read_bytes())
    return hasher.hexdigest()[:12]


def present(context: BuildContext, tag: str) -> bool:
    completed = subprocess.run(
        [docker_engine.DOCKER, "image", "inspect", "--format", "{{.Id}}", tag],
        env=context.env(),
        capture_output=True,
        check=False,
    )
    return completed.returncode == 0


def ensure(context: BuildContext, image: LocalImage) -> tuple[str, bool]:
    """Builds `image` unless its digest tag exists; (re)tags its aliases. Returns the tag and
    whether it was built now."""
    tag = image.tag()
    built = not present(context, tag)
    if built:
        image.build(context, tag)
        if not present(context, tag):
            raise ImageBuildError(f"building {image.name} did not produce {tag}")
    for alias in image.aliases:
        context.docker("tag", tag, alias)
    return tag, built


def ensure_tags(context: BuildContext, image: LocalImage) -> tuple[str, ...]:
    """`ensure`, then every tag the image has."""
    ensure(context, image)
    return image.tags()


def default_context(repository: pathlib.Path) -> BuildContext:
    return BuildContext(
        engine=docker_engine.EngineLayout.default(),
        repository=repository,
        cache_root=paths.cache_root(),
    )
