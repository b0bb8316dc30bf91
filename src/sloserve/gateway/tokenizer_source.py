"""Finding and loading a model's tokenizer from where its definition says it is.

A ModelService's `tokenizer` names a directory in the model cache (`tokenizer.path`, read under
the gateway's `scheduling.model_cache_dir`, where the gateway's pod mounts the same cache) or a
ConfigMap of its namespace (`tokenizer.configMap`, read through the Kubernetes API: the gateway's
role may get ConfigMaps); the static models file names a directory of the gateway's own file
system (`tokenizer`). Either way the files are `tokenizer.json` and, optionally,
`tokenizer_config.json` (its chat template). Loading reads files or calls the API, so callers run
it off the event loop; a failure raises `TokenizerSourceError` naming the field and what to do,
and the model's prompts are estimated meanwhile.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client as _kube_client
from kubernetes import config as _kube_config

from sloserve.gateway import model_tokenizer

__all__ = ["ReadConfigMap", "TokenizerRef", "TokenizerSourceError", "kube_config_map", "load"]

#: Reads a ConfigMap's data (key → text) by namespace and name; raises on failure.
ReadConfigMap = Callable[[str, str], Mapping[str, str]]


class TokenizerSourceError(ValueError):
    """The tokenizer a model names cannot be loaded; the message names the field."""


@dataclass(frozen=True)
class TokenizerRef:
    """Where one model's tokenizer is: `path` inside the model cache, a ConfigMap
    (`config_map`, in `namespace`), or a `directory` of the gateway's file system (the static
    file). `owner` names the definition, for messages."""

    owner: str
    namespace: str = ""
    path: str | None = None
    config_map: str | None = None
    directory: str | None = None

    def field(self) -> str:
        """The field that named it, as its source spells it."""
        if self.path is not None:
            return f"tokenizer.path {self.path!r}"
        if self.config_map is not None:
            return f"tokenizer.configMap.name {self.config_map!r}"
        return f"tokenizer {self.directory!r}"


def _from_directory(directory: Path, ref: TokenizerRef) -> model_tokenizer.ModelTokenizer:
    tokenizer_file = directory / model_tokenizer.TOKENIZER_FILE
    config_file = directory / model_tokenizer.TOKENIZER_CONFIG_FILE
    try:
        tokenizer_json = tokenizer_file.read_text(encoding="utf-8")
    except OSError as error:
        raise TokenizerSourceError(
            f"{ref.owner}: {ref.field()}: cannot read {tokenizer_file} "
            f"({error.strerror or error}); point it at a directory holding "
            f"{model_tokenizer.TOKENIZER_FILE}"
        ) from error
    try:
        config_json = config_file.read_text(encoding="utf-8") if config_file.exists() else None
    except OSError as error:
        raise TokenizerSourceError(
            f"{ref.owner}: {ref.field()}: cannot read {config_file} ({error.strerror or error})"
        ) from error
    return _built(tokenizer_json, config_json, ref, source=str(directory))


def _built(
    tokenizer_json: str, config_json: str | None, ref: TokenizerRef, *, source: str
) -> model_tokenizer.ModelTokenizer:
    try:
        return model_tokenizer.ModelTokenizer.from_texts(tokenizer_json, config_json, source=source)
    except model_tokenizer.TokenizerFilesError as error:
        raise TokenizerSourceError(f"{ref.owner}: {ref.field()}: {error}") from error


def load(
    ref: TokenizerRef,
    *,
    model_cache_dir: str | None,
    read_config_map: ReadConfigMap | None,
) -> model_tokenizer.ModelTokenizer:
    """The tokenizer `ref` names; raises TokenizerSourceError. Blocking (files, API)."""
    if ref.directory is not None:
        return _from_directory(Path(ref.directory), ref)
    if ref.path is not None:
        if model_cache_dir is None:
            raise TokenizerSourceError(
                f"{ref.owner}: {ref.field()} is in the model cache, which this gateway does not "
                "see: mount the cache into the gateway and set scheduling.model_cache_dir, or "
                "use tokenizer.configMap"
            )
        return _from_directory(Path(model_cache_dir) / ref.path, ref)
    if ref.config_map is None:
        raise TokenizerSourceError(f"{ref.owner}: tokenizer names no source")
    if read_config_map is None:
        raise TokenizerSourceError(
            f"{ref.owner}: {ref.field()}: this gateway reads no ConfigMaps (no Kubernetes)"
        )
    try:
        data = read_config_map(ref.namespace, ref.config_map)
    except Exception as error:  # the API client's errors share no base worth naming
        raise TokenizerSourceError(
            f"{ref.owner}: {ref.field()}: cannot read ConfigMap "
            f"{ref.namespace}/{ref.config_map} ({error}); create it in the ModelService's "
            "namespace and let the gateway get ConfigMaps there"
        ) from error
    tokenizer_json = data.get(model_tokenizer.TOKENIZER_FILE)
    if tokenizer_json is None:
        raise TokenizerSourceError(
            f"{ref.owner}: {ref.field()}: ConfigMap {ref.namespace}/{ref.config_map} has no key "
            f"{model_tokenizer.TOKENIZER_FILE!r}; put the tokenizer's file under that key"
        )
    return _built(
        tokenizer_json,
        data.get(model_tokenizer.TOKENIZER_CONFIG_FILE),
        ref,
        source=f"configmap {ref.namespace}/{ref.config_map}",
    )


def kube_config_map(namespace: str, name: str) -> Mapping[str, str]:
    """A ConfigMap's data (and binary data, decoded as UTF-8) through the Kubernetes API, with
    the in-cluster configuration (or the kubeconfig outside a cluster)."""
    kube_config: Any = _kube_config
    try:
        kube_config.load_incluster_config()
    except kube_config.ConfigException:
        kube_config.load_kube_config()
    kube_client: Any = _kube_client
    core: Any = kube_client.CoreV1Api()
    found = core.read_namespaced_config_map(name=name, namespace=namespace)
    data: dict[str, str] = dict(found.data or {})
    for key, encoded in (found.binary_data or {}).items():
        data.setdefault(key, base64.b64decode(encoded).decode("utf-8"))
    return data
