"""The local kubelet process: one NodeAgent per node, in one event loop, until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import ssl
import urllib.parse
from collections.abc import AsyncIterator

from sloserve.dev import credentials, layout, pidfiles, state
from sloserve.dev.kubelet import (
    addresses,
    agent,
    api,
    config,
    container,
    context,
    events,
    gpus,
    images,
    logs_server,
    mounts,
    nodes,
)

_log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def _claimed_block(
    paths: layout.ClusterLayout, pod_range: str
) -> AsyncIterator[ipaddress.IPv4Network]:
    block = addresses.claim_block(pod_range)
    addresses.record_block(paths, block)
    try:
        yield block
    finally:
        addresses.release_block(str(block))
        addresses.forget_block(paths, block)


def _node_client(
    paths: layout.ClusterLayout, record: state.ClusterState, node_name: str
) -> api.NodeApi:
    pair = credentials.issue_node_credentials(paths, node_name=node_name)
    cert_path, key_path = paths.pki(f"node-{node_name}")
    pair.write(cert_path=cert_path, key_path=key_path)
    ca_path, _ = paths.pki("ca")
    return api.NodeApi(
        server=record.server, ca_file=ca_path, cert_file=cert_path, key_file=key_path
    )


def _serving_context(paths: layout.ClusterLayout, node_name: str, address: str) -> ssl.SSLContext:
    pair = credentials.issue_node_serving_credentials(paths, node_name=node_name, address=address)
    cert_path, key_path = paths.pki(f"node-{node_name}-serving")
    pair.write(cert_path=cert_path, key_path=key_path)
    ca_path, _ = paths.pki("ca")
    return logs_server.serving_context(cert=cert_path, key=key_path, client_ca=ca_path)


async def _close_server(server: asyncio.Server) -> None:
    server.close()
    await server.wait_closed()


async def run(paths: layout.ClusterLayout, options: config.KubeletOptions) -> None:
    """Registers the nodes and runs their pods until SIGTERM or SIGINT, then stops every pod's
    processes and releases the pod address blocks."""
    record = state.load(paths)
    if record is None:
        raise RuntimeError(f"no cluster recorded in {paths.state_dir}; start one first")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = urllib.parse.urlsplit(record.server)
    use_namespaces = options.mount_namespaces and mounts.namespaces_available()
    if not use_namespaces:
        _log.warning(
            "containers get no mount namespaces: ServiceAccount tokens reach them through "
            "KUBECONFIG, and other volume mounts are refused"
        )
    agents: list[agent.NodeAgent] = []
    clients: list[api.NodeApi] = []
    async with contextlib.AsyncExitStack() as stack:
        for name in options.node_names():
            block = await stack.enter_async_context(_claimed_block(paths, options.pod_range))
            allocator = addresses.BlockAllocator(block)
            client = _node_client(paths, record, name)
            clients.append(client)
            spec = nodes.NodeSpec(
                name=name,
                address=allocator.node_address,
                gpu_product=options.gpu_product,
                gpus=options.gpus_per_node,
                cpus=options.cpus_per_node,
                memory=options.memory_per_node,
            )
            node = context.NodeContext(
                spec=spec,
                client=client,
                paths=paths,
                pids=pidfiles.PidRegistry(paths.pids_dir),
                addresses=allocator,
                gpus=gpus.GpuAllocator(options.gpus_per_node),
                events=events.EventRecorder(client, node_name=name),
                mapping=images.ImageMapping(),
                backoff=container.Backoff(
                    initial_s=options.backoff_initial_s, max_s=options.backoff_max_s
                ),
                api_host=server.hostname or "127.0.0.1",
                api_port=server.port or 443,
                mount_namespaces=use_namespaces,
            )
            agents.append(agent.NodeAgent(node, pod_cidr=str(block)))
        for node_agent in agents:
            await node_agent.register()
            logs = await logs_server.serve(
                host=node_agent.address,
                context=_serving_context(paths, node_agent.name, node_agent.address),
                locate=node_agent.locate_log,
                still_running=lambda: not stop.is_set(),
            )
            stack.push_async_callback(_close_server, logs)
            _log.info("node %s registered", node_agent.name)
        running = [asyncio.create_task(node_agent.run()) for node_agent in agents]
        await stop.wait()
        _log.info("stopping: ending every pod's processes")
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await asyncio.gather(*(node_agent.shutdown() for node_agent in agents))
        for client in clients:
            await client.aclose()
