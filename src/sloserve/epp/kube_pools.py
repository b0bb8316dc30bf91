"""Live discovery for the picker: ModelServices (as the gateway reads them), InferencePools and
the pods they select.

The watches are the gateway's (`gateway.kube_discovery`: list, watch, re-list after a watch
expires, in threads that hand events to the event loop); here EndpointSlices are not read: the
engines of a ModelService are the endpoints of the pools that name it (`pools`). Every change of
a pool or a pod recomputes the pools of its namespace. Needs RBAC to list and watch
`modelservices.sloserve.io`, `inferencepools.inference.networking.k8s.io` and `pods`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from kubernetes import client as _kube_client

from sloserve.epp import pools
from sloserve.gateway import datastore, kube_discovery

log = logging.getLogger(__name__)

_Object = Mapping[str, Any]
_Key = tuple[str, str]
_GROUP_PREFIX = "pool/"

kube_client: Any = _kube_client


class PoolDiscovery:
    """Feeds `store` from the cluster until stopped. `namespace` None watches every namespace;
    `pool_names` limits the InferencePools served to those names (empty: all that name a
    ModelService)."""

    def __init__(
        self,
        *,
        store: datastore.Datastore,
        loop: asyncio.AbstractEventLoop,
        namespace: str | None,
        pool_names: frozenset[str] = frozenset(),
    ) -> None:
        self._store = store
        self._namespace = namespace
        self._wanted = pool_names
        self._discovery = kube_discovery.KubernetesDiscovery(
            store=store, loop=loop, namespace=namespace, endpoint_slices=False
        )
        self._pools: dict[_Key, pools.Pool] = {}
        self._pods: dict[_Key, pools.Pod] = {}
        self._published: dict[_Key, datastore.SourceKey] = {}

    def synced(self) -> bool:
        return self._discovery.synced()

    def start(self) -> None:
        """Log in (in-cluster, else the kubeconfig) and start the three watches."""
        self._discovery.start()
        api = kube_client.ApiClient()
        custom = kube_client.CustomObjectsApi(api)
        core = kube_client.CoreV1Api(api)
        pool_kwargs: dict[str, Any] = {
            "group": pools.GROUP,
            "version": pools.VERSION,
            "plural": pools.PLURAL,
        }
        if self._namespace is None:
            list_pools = custom.list_cluster_custom_object
            list_pods = core.list_pod_for_all_namespaces
            pod_kwargs: dict[str, Any] = {}
        else:
            list_pools = custom.list_namespaced_custom_object
            list_pods = core.list_namespaced_pod
            pool_kwargs["namespace"] = self._namespace
            pod_kwargs = {"namespace": self._namespace}
        self._discovery.watch("inferencepools", list_pools, pool_kwargs, self.on_pools)
        self._discovery.watch("pods", list_pods, pod_kwargs, self.on_pods)

    def stop(self) -> None:
        self._discovery.stop()

    def on_pools(self, listing: list[_Object], events: list[tuple[str, _Object]]) -> None:
        """A full listing (no events) or watch events of InferencePools."""
        touched: set[str] = set()
        if not events:
            touched.update(namespace for namespace, _ in self._pools)
            self._pools = {}
            events = [("ADDED", obj) for obj in listing]
        for kind, obj in events:
            key = pools.key_of(obj)
            touched.add(key[0])
            self._pools.pop(key, None)
            if kind == "DELETED" or (self._wanted and key[1] not in self._wanted):
                continue
            try:
                pool = pools.read_pool(obj)
            except ValueError as error:
                log.error("ignoring %s", error)
                continue
            if pool.modelservice is None:
                log.info(
                    "InferencePool %s/%s names no ModelService (label %s); not served",
                    *key,
                    pools.MODEL_SERVICE_LABEL,
                )
                continue
            self._pools[key] = pool
        self._publish(touched)

    def on_pods(self, listing: list[_Object], events: list[tuple[str, _Object]]) -> None:
        """A full listing (no events) or watch events of pods."""
        touched: set[str] = set()
        if not events:
            touched.update(namespace for namespace, _ in self._pods)
            self._pods = {}
            events = [("ADDED", obj) for obj in listing]
        for kind, obj in events:
            key = pools.key_of(obj)
            touched.add(key[0])
            if kind == "DELETED":
                self._pods.pop(key, None)
            else:
                self._pods[key] = pools.read_pod(obj)
        self._publish(touched)

    def _publish(self, namespaces: set[str]) -> None:
        """Recompute the endpoints of every pool of `namespaces`, and drop those of pools gone."""
        for key, source in list(self._published.items()):
            if key[0] in namespaces and (
                key not in self._pools or self._source_of(self._pools[key]) != source
            ):
                self._store.remove_endpoints(source, _GROUP_PREFIX + key[1])
                del self._published[key]
        members = [pod for pod in self._pods.values() if pod.namespace in namespaces]
        for key, pool in self._pools.items():
            if key[0] not in namespaces:
                continue
            source = self._source_of(pool)
            self._store.put_endpoints(
                source, _GROUP_PREFIX + pool.name, pools.engine_urls(pool, members)
            )
            self._published[key] = source

    @staticmethod
    def _source_of(pool: pools.Pool) -> datastore.SourceKey:
        assert pool.modelservice is not None
        return datastore.SourceKey(namespace=pool.namespace, name=pool.modelservice)
