"""The in-memory picture of what the gateway serves: models, their classes and their engines.

Sources feed it (the static config file, or the Kubernetes watches of ModelServices and
EndpointSlices); routing reads it and never calls an API. It is touched only from the event loop;
watches running in threads hand their events over with `loop.call_soon_threadsafe`. Listeners hear
of every model whose record changed (or vanished), so the per-model scheduling can follow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sloserve.gateway import classify, metrics, tokenizer_source

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceKey:
    """Who defines a model: a ModelService (namespace, name), or the static file (`static`).

    Static entries are keyed by model id in `name`; their metric labels leave namespace and
    modelservice empty.
    """

    namespace: str
    name: str
    static: bool = False

    def labels(self, model: str) -> metrics.ModelLabels:
        if self.static:
            return metrics.ModelLabels(namespace="", modelservice="", model=model)
        return metrics.ModelLabels(namespace=self.namespace, modelservice=self.name, model=model)


@dataclass(frozen=True)
class ModelDefinition:
    """What a source says about a model, without its engines.

    `max_num_seqs`: the engines' batch limit (vLLM's `--max-num-seqs`), which their metrics do not
    publish. `max_model_len`: the engines' context limit (vLLM's `--max-model-len`), None when the
    source does not say (the gateway then reads it from the engines' `/v1/models`).
    `prefill_scale`, `decode_scale`: factors on the profile's times when it was chosen for
    another GPU or model size (`sloserve.builders.profile_choice`); `profile_rule` how it was
    chosen ("none": nothing fits and `profile` is the conservative prior, which online
    calibration corrects). `tokenizer`: where the model's tokenizer is, None to estimate prompt
    tokens.
    `desired_replicas`: the engines asked for (a ModelService's `spec.replicas`; None when the
    source does not say), so that engines still starting are known. `start_time_s`: an engine's
    start time measured on the model's pods (`status.autoscaling.startSeconds`), None while
    unmeasured.
    """

    classes: classify.ModelClasses
    profile: str
    max_num_seqs: int = 256
    max_model_len: int | None = None
    prefill_scale: float = 1.0
    decode_scale: float = 1.0
    profile_rule: str = "named"
    tokenizer: tokenizer_source.TokenizerRef | None = None
    desired_replicas: int | None = None
    start_time_s: float | None = None

    @property
    def latency_key(self) -> tuple[str, float, float]:
        """What the model's latency model is built from."""
        return (self.profile, self.prefill_scale, self.decode_scale)

    @property
    def model(self) -> str:
        return self.classes.model


@dataclass(frozen=True)
class ModelRecord:
    """A model as routing sees it. `engines` are base URLs such as `http://10.0.0.7:8000`."""

    labels: metrics.ModelLabels
    definition: ModelDefinition
    engines: tuple[str, ...]

    @property
    def model(self) -> str:
        return self.definition.model


@dataclass
class _Entry:
    definition: ModelDefinition | None = None
    endpoints: dict[str, tuple[str, ...]] = field(default_factory=dict)


Listener = Callable[[str, ModelRecord | None], None]


class Datastore:
    """Models by the id clients send. Two sources claiming one model id: the first keeps it."""

    def __init__(self) -> None:
        self._entries: dict[SourceKey, _Entry] = {}
        self._owner: dict[str, SourceKey] = {}
        self._records: dict[str, ModelRecord] = {}
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def get(self, model: str) -> ModelRecord | None:
        return self._records.get(model)

    def models(self) -> list[ModelRecord]:
        return sorted(self._records.values(), key=lambda record: record.model)

    def class_names(self) -> frozenset[str]:
        """Every SLO class of every model held."""
        return frozenset(
            name for record in self._records.values() for name in record.definition.classes.classes
        )

    def put_definition(self, key: SourceKey, definition: ModelDefinition) -> None:
        entry = self._entries.setdefault(key, _Entry())
        previous = entry.definition
        entry.definition = definition
        if previous is not None and previous.model != definition.model:
            self._release(previous.model, key)
        self._refresh(key)

    def remove_definition(self, key: SourceKey) -> None:
        entry = self._entries.get(key)
        if entry is None or entry.definition is None:
            return
        model = entry.definition.model
        entry.definition = None
        if not entry.endpoints:
            del self._entries[key]
        self._release(model, key)

    def put_endpoints(self, key: SourceKey, group: str, urls: tuple[str, ...]) -> None:
        """Engines of `key` from one group (an EndpointSlice, or the static file's list)."""
        self._entries.setdefault(key, _Entry()).endpoints[group] = urls
        self._refresh(key)

    def remove_endpoints(self, key: SourceKey, group: str) -> None:
        entry = self._entries.get(key)
        if entry is None or entry.endpoints.pop(group, None) is None:
            return
        if entry.definition is None and not entry.endpoints:
            del self._entries[key]
            return
        self._refresh(key)

    def _refresh(self, key: SourceKey) -> None:
        entry = self._entries.get(key)
        if entry is None or entry.definition is None:
            return
        model = entry.definition.model
        owner = self._owner.setdefault(model, key)
        if owner != key:
            log.error(
                "model %r is served by %s/%s already; ignoring %s/%s until that one is gone",
                model,
                owner.namespace,
                owner.name,
                key.namespace,
                key.name,
            )
            return
        engines = tuple(sorted({url for urls in entry.endpoints.values() for url in urls}))
        record = ModelRecord(
            labels=key.labels(model),
            definition=entry.definition,
            engines=engines,
        )
        if self._records.get(model) == record:
            return
        self._records[model] = record
        self._notify(model, record)

    def _release(self, model: str, key: SourceKey) -> None:
        if self._owner.get(model) != key:
            return
        del self._owner[model]
        self._records.pop(model, None)
        self._notify(model, None)
        for other_key, entry in self._entries.items():
            if entry.definition is not None and entry.definition.model == model:
                self._refresh(other_key)
                break

    def _notify(self, model: str, record: ModelRecord | None) -> None:
        for listener in self._listeners:
            listener(model, record)
