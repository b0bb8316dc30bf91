"""Live discovery from Kubernetes: ModelServices and their engines' EndpointSlices.

Each resource is listed, then watched from the listing's resource version, in a daemon thread of
its own (the `kubernetes` client is synchronous); events are handed to the event loop, which alone
touches the datastore. A watch that expires (410 Gone) or breaks is re-listed, and a re-listing
replaces what the previous one said, so that objects deleted while no watch ran disappear too.
Needs RBAC to list and watch `modelservices.sloserve.io` and `endpointslices.discovery.k8s.io`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import client as _kube_client
from kubernetes import config as _kube_config
from kubernetes import watch as _kube_watch
from kubernetes.client.exceptions import ApiException

from sloserve.gateway import datastore, kube_objects

log = logging.getLogger(__name__)

GROUP = "sloserve.io"
VERSION = "v1alpha1"
PLURAL = "modelservices"
_WATCH_TIMEOUT_S = 60
_RETRY_DELAY_S = 2.0

_Object = Mapping[str, Any]

# The client's functions carry no annotations; these aliases keep that from spreading.
kube_client: Any = _kube_client
kube_config: Any = _kube_config
kube_watch: Any = _kube_watch


class KubernetesDiscovery:
    """Feeds `store` from the cluster until stopped. `namespace` None watches every namespace.
    `endpoint_slices` False leaves the engines to another source (the endpoint picker reads them
    from InferencePools, through `watch`)."""

    def __init__(
        self,
        *,
        store: datastore.Datastore,
        loop: asyncio.AbstractEventLoop,
        namespace: str | None,
        endpoint_slices: bool = True,
    ) -> None:
        self._store = store
        self._loop = loop
        self._namespace = namespace
        self._endpoint_slices = endpoint_slices
        self._stopped = threading.Event()
        self._listed: set[str] = set()
        self._watched: set[str] = set()
        self._modelservices: set[datastore.SourceKey] = set()
        self._slices: set[tuple[datastore.SourceKey, str]] = set()
        self._threads: list[threading.Thread] = []

    def synced(self) -> bool:
        """Whether every resource watched has been listed once."""
        return bool(self._watched) and self._listed >= self._watched

    def start(self) -> None:
        """Load the in-cluster configuration (or the kubeconfig outside a cluster) and watch."""
        try:
            kube_config.load_incluster_config()
        except kube_config.ConfigException:
            kube_config.load_kube_config()
        api = kube_client.ApiClient()
        custom = kube_client.CustomObjectsApi(api)
        discovery = kube_client.DiscoveryV1Api(api)
        selector = kube_objects.MODEL_SERVICE_LABEL
        if self._namespace is None:
            list_modelservices: Callable[..., Any] = custom.list_cluster_custom_object
            list_slices: Callable[..., Any] = discovery.list_endpoint_slice_for_all_namespaces
            ms_kwargs: dict[str, Any] = {"group": GROUP, "version": VERSION, "plural": PLURAL}
            slice_kwargs: dict[str, Any] = {"label_selector": selector}
        else:
            list_modelservices = custom.list_namespaced_custom_object
            list_slices = discovery.list_namespaced_endpoint_slice
            ms_kwargs = {
                "group": GROUP,
                "version": VERSION,
                "plural": PLURAL,
                "namespace": self._namespace,
            }
            slice_kwargs = {"label_selector": selector, "namespace": self._namespace}
        self.watch("modelservices", list_modelservices, ms_kwargs, self._on_modelservices)
        if self._endpoint_slices:
            self.watch("endpointslices", list_slices, slice_kwargs, self._on_slices)

    def stop(self) -> None:
        """Ask the watches to end; they do within one watch timeout (threads are daemons)."""
        self._stopped.set()

    def watch(
        self,
        resource: str,
        list_function: Callable[..., Any],
        kwargs: dict[str, Any],
        handler: Callable[[list[_Object], list[tuple[str, _Object]]], None],
    ) -> None:
        """List and watch one more resource with `list_function(**kwargs)`, in a thread of its
        own; `handler` gets, on the event loop, a full listing (with no events) after every
        (re-)listing, else the watch's events as (type, object) pairs."""
        self._watched.add(resource)
        thread = threading.Thread(
            target=self._list_and_watch,
            args=(resource, list_function, kwargs, handler),
            name=f"watch {resource}",
            daemon=True,
        )
        thread.start()
        self._threads.append(thread)

    def _list_and_watch(
        self,
        resource: str,
        list_function: Callable[..., Any],
        kwargs: dict[str, Any],
        handler: Callable[[list[_Object], list[tuple[str, _Object]]], None],
    ) -> None:
        sanitize = kube_client.ApiClient().sanitize_for_serialization
        while not self._stopped.is_set():
            try:
                listing = sanitize(list_function(**kwargs))
                self._hand_over(handler, listing.get("items") or [], None, resource)
                version = (listing.get("metadata") or {}).get("resourceVersion")
                watcher = kube_watch.Watch()
                for event in watcher.stream(
                    list_function,
                    resource_version=version,
                    timeout_seconds=_WATCH_TIMEOUT_S,
                    **kwargs,
                ):
                    if self._stopped.is_set():
                        watcher.stop()
                        return
                    if event["type"] == "ERROR":
                        break
                    obj = sanitize(event["object"])
                    self._hand_over(handler, None, [(event["type"], obj)], resource)
            except ApiException as error:
                if error.status != 410:
                    log.error(
                        "watching %s failed (HTTP %s): %s", resource, error.status, error.reason
                    )
                    self._stopped.wait(_RETRY_DELAY_S)
            except Exception:
                log.exception(
                    "watching %s failed; listing again in %.0f s", resource, _RETRY_DELAY_S
                )
                self._stopped.wait(_RETRY_DELAY_S)

    def _hand_over(
        self,
        handler: Callable[[list[_Object], list[tuple[str, _Object]]], None],
        listing: list[_Object] | None,
        events: list[tuple[str, _Object]] | None,
        resource: str,
    ) -> None:
        def deliver() -> None:
            if listing is not None:
                handler(listing, [])
                self._listed.add(resource)
            else:
                handler([], events or [])

        self._loop.call_soon_threadsafe(deliver)

    def _on_modelservices(self, listing: list[_Object], events: list[tuple[str, _Object]]) -> None:
        if not events:
            keep = {kube_objects.modelservice_key(obj) for obj in listing}
            for key in self._modelservices - keep:
                self._store.remove_definition(key)
            self._modelservices = set()
            events = [("ADDED", obj) for obj in listing]
        for kind, obj in events:
            key = kube_objects.modelservice_key(obj)
            if kind == "DELETED":
                self._modelservices.discard(key)
                self._store.remove_definition(key)
                continue
            try:
                definition = kube_objects.modelservice_definition(obj)
            except ValueError as error:
                log.error("ignoring %s", error)
                self._modelservices.discard(key)
                self._store.remove_definition(key)
                continue
            self._modelservices.add(key)
            self._store.put_definition(key, definition)

    def _on_slices(self, listing: list[_Object], events: list[tuple[str, _Object]]) -> None:
        if not events:
            keep = {owner for obj in listing if (owner := kube_objects.slice_owner(obj))}
            for key, group in self._slices - keep:
                self._store.remove_endpoints(key, group)
            self._slices = set()
            events = [("ADDED", obj) for obj in listing]
        for kind, obj in events:
            owner = kube_objects.slice_owner(obj)
            if owner is None:
                continue
            key, group = owner
            if kind == "DELETED":
                self._slices.discard(owner)
                self._store.remove_endpoints(key, group)
                continue
            self._slices.add(owner)
            self._store.put_endpoints(key, group, kube_objects.slice_engine_urls(obj))
