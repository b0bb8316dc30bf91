"""The datastore: sources feed models and engines, listeners follow every change."""

from __future__ import annotations

from sloserve.gateway import classify, datastore
from sloserve.scheduling import slo

CLASSES = {"standard": slo.SLOClass(name="standard", ttft_s=3.0, tpot_s=0.03)}


def definition(model: str) -> datastore.ModelDefinition:
    return datastore.ModelDefinition(
        classes=classify.ModelClasses(model=model, classes=CLASSES, default_class="standard"),
        profile="synthetic",
    )


def recorder(store: datastore.Datastore) -> list[tuple[str, tuple[str, ...] | None]]:
    seen: list[tuple[str, tuple[str, ...] | None]] = []
    store.subscribe(lambda model, record: seen.append((model, record and record.engines)))
    return seen


def test_engines_of_all_slices_are_merged_and_follow_changes() -> None:
    store = datastore.Datastore()
    seen = recorder(store)
    key = datastore.SourceKey(namespace="team-a", name="llama")
    store.put_definition(key, definition("meta/llama"))
    store.put_endpoints(key, "slice-1", ("http://10.0.0.1:8000",))
    store.put_endpoints(key, "slice-2", ("http://10.0.0.2:8000",))
    store.remove_endpoints(key, "slice-1")
    assert seen[-1] == ("meta/llama", ("http://10.0.0.2:8000",))
    record = store.get("meta/llama")
    assert record is not None
    assert (record.labels.namespace, record.labels.modelservice) == ("team-a", "llama")


def test_endpoints_before_their_modelservice_wait_for_it() -> None:
    store = datastore.Datastore()
    key = datastore.SourceKey(namespace="ns", name="svc")
    store.put_endpoints(key, "s", ("http://10.0.0.1:8000",))
    assert store.get("m") is None
    store.put_definition(key, definition("m"))
    record = store.get("m")
    assert record is not None
    assert record.engines == ("http://10.0.0.1:8000",)


def test_a_second_source_claiming_a_model_waits_until_the_first_is_gone() -> None:
    store = datastore.Datastore()
    first = datastore.SourceKey(namespace="a", name="x")
    second = datastore.SourceKey(namespace="b", name="y")
    store.put_definition(first, definition("m"))
    store.put_definition(second, definition("m"))
    record = store.get("m")
    assert record is not None
    assert record.labels.namespace == "a"
    store.remove_definition(first)
    record = store.get("m")
    assert record is not None
    assert record.labels.namespace == "b"


def test_removing_the_definition_removes_the_model() -> None:
    store = datastore.Datastore()
    seen = recorder(store)
    key = datastore.SourceKey(namespace="", name="m", static=True)
    store.put_definition(key, definition("m"))
    store.remove_definition(key)
    assert store.get("m") is None
    assert seen[-1] == ("m", None)
