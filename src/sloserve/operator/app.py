"""Running the operator: log in, win the Lease, run kopf with the ModelService controller, and
stop acting the moment the Lease is lost."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import signal
import socket
import threading
import uuid
from typing import TYPE_CHECKING

import kopf
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from sloserve.api import modelservice as resource
from sloserve.builders.defaults import EngineDefaults
from sloserve.builders.inference_pool import PoolOptions
from sloserve.controllers import autoscaling, finetunejob, modelservice, retries
from sloserve.controllers.context import OperatorContext, PlacementRuntime
from sloserve.controllers.inference_pools import PoolRuntime
from sloserve.controllers.slo_figures import FigureBoard
from sloserve.operator import health, kopf_settings, leader, login, slo_collector
from sloserve.operator.settings import OperatorSettings

if TYPE_CHECKING:
    from sloserve.placement.assessor import Assessor

__all__ = ["EXIT_LOST_LEASE", "CrdMissingError", "build_registry", "engine_defaults", "run"]

logger = logging.getLogger("sloserve.operator")

#: Exit status when the Lease was lost: the process ends at once so that it cannot act beside the
#: next leader; its supervisor (the pod's restart policy) starts it again as a standby.
EXIT_LOST_LEASE = 3


class CrdMissingError(RuntimeError):
    """The ModelService CRD is not installed in the cluster."""


def engine_defaults(settings: OperatorSettings) -> EngineDefaults:
    """The builders' engine defaults from the operator's settings."""
    engines = settings.engines
    return EngineDefaults(
        sim_image=engines.sim_image,
        image_pull_policy=engines.image_pull_policy,
        drain_seconds=engines.drain_seconds,
        drain_delay_s=engines.drain_delay_s,
        shutdown_grace_s=engines.shutdown_grace_s,
        max_surge=engines.max_surge,
        max_unavailable=engines.max_unavailable,
        progress_deadline_s=engines.progress_deadline_s,
        startup_timeout_s=engines.startup_timeout_s,
        disruption_max_unavailable=engines.disruption_max_unavailable,
        interference_aware_scheduler=(
            engines.interference_aware_scheduler if settings.placement.scheduler_deployed else None
        ),
        listen_host=engines.listen_host,
    )


def inference_pool_runtime(settings: OperatorSettings) -> PoolRuntime | None:
    """What the ModelService controller needs to create InferencePools; None when it does not."""
    pools = settings.inference_pools
    if not pools.enabled:
        return None
    return PoolRuntime(
        options=PoolOptions(
            picker_service=pools.endpoint_picker_service,
            picker_port=pools.endpoint_picker_port,
            failure_mode=pools.failure_mode,
        ),
        recheck_s=pools.api_recheck_interval_s,
    )


def _placement_runtime(
    settings: OperatorSettings, api: client.ApiClient
) -> PlacementRuntime | None:
    if not settings.placement.enabled:
        return None
    from sloserve.placement.catalogue import SoloCatalogue

    def load() -> Assessor:
        # Imported here: the predictor's runtime (onnxruntime) loads only when a prediction is
        # first needed.
        from sloserve.placement.runtime import catalogue_assessor

        return catalogue_assessor(api)

    return PlacementRuntime(known_kinds=SoloCatalogue.load().kinds, load=load)


def build_registry(settings: OperatorSettings, credentials: login.Login) -> kopf.OperatorRegistry:
    """A kopf registry with the login handler and the ModelService controller."""
    registry = kopf.OperatorRegistry()

    def log_in(**_: object) -> kopf.ConnectionInfo:
        return login.connection_info(credentials)

    kopf.on.login(registry=registry, id="login")(log_in)
    modelservice.register(registry, status_interval_s=settings.status.refresh_interval_s)
    if settings.finetune.enabled:
        finetune = settings.finetune
        finetunejob.register(
            registry,
            settings=finetunejob.FineTuneOptions(
                control_interval_s=finetune.control_interval_s,
                held_retry_s=finetune.held_retry_s,
                worker_image=finetune.worker_image,
                worker_resources=finetune.worker_resources,
                hold_s=finetune.hold_s,
                ramp_interval_s=finetune.ramp_interval_s,
                ramp=finetune.ramp,
                evict_after_s=finetune.evict_after_s,
            ),
        )
    autoscaling.register(registry, interval_s=settings.autoscaling.interval_s)
    return registry


def _identity(settings: OperatorSettings) -> str:
    configured = settings.leader_election.identity
    return configured or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


def _check_crd(api: client.ApiClient) -> None:
    try:
        client.CustomObjectsApi(api).get_api_resources(resource.GROUP, resource.VERSION)
    except ApiException as error:
        if error.status == 404:
            raise CrdMissingError(
                f"the API server does not serve {resource.GROUP}/{resource.VERSION}: install the "
                "ModelService CRD first (kubectl apply -f crds/, or the Helm chart)"
            ) from error
        raise


def _lease_namespace(settings: OperatorSettings) -> str:
    return (
        settings.leader_election.lease_namespace
        or login.own_namespace(settings.kubernetes)
        or "default"
    )


async def run(settings: OperatorSettings) -> int:
    """Runs the operator until SIGINT or SIGTERM (returns 0) or until the Lease is lost (the
    process exits with EXIT_LOST_LEASE at once). Raises LoginError or CrdMissingError before
    doing anything when the cluster is not usable."""
    credentials = login.log_in(settings.kubernetes)
    credentials.configuration.connection_pool_maxsize = settings.kubernetes.api_workers + 2
    api = client.ApiClient(credentials.configuration)
    await asyncio.to_thread(_check_crd, api)
    identity = _identity(settings)
    logger.info(
        "logged in to %s with %s as %s",
        credentials.configuration.host,
        credentials.source,
        identity,
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    leading = False
    server = None
    if settings.health.port is not None:
        server = await health.serve_health(
            host=settings.health.host, port=settings.health.port, is_leader=lambda: leading
        )
    executor = concurrent.futures.ThreadPoolExecutor(
        max_workers=settings.kubernetes.api_workers, thread_name_prefix="sloserve-api"
    )
    elector: leader.LeaseElector | None = None
    try:
        if settings.leader_election.enabled:
            elector = leader.LeaseElector(
                # A client of its own: renewals never wait for a connection reconciles hold.
                api=client.CoordinationV1Api(client.ApiClient(credentials.configuration)),
                namespace=_lease_namespace(settings),
                identity=identity,
                timing=settings.leader_election,
            )
            if not await leader.acquire(elector, stop=stop):
                return 0
        leading = True
        await _run_kopf(
            settings=settings,
            credentials=credentials,
            api=api,
            executor=executor,
            identity=identity,
            stop=stop,
            elector=elector,
        )
        return 0
    finally:
        if elector is not None and leading:
            try:
                await asyncio.get_running_loop().run_in_executor(elector.thread, elector.release)
            # The Lease then simply expires; a standby takes it after lease_duration_s.
            except Exception as error:
                logger.warning("could not release the Lease, it will expire: %s", error)
        if elector is not None:
            elector.thread.shutdown(wait=False, cancel_futures=True)
        executor.shutdown(wait=False, cancel_futures=True)
        if server is not None:
            server.close()


def _start_slo_collector(
    settings: OperatorSettings, *, board: FigureBoard | None, stopping: threading.Event
) -> asyncio.Task[None] | None:
    if board is None:
        return None
    source = slo_collector.source_name(settings.slo)
    logger.info(
        "collecting SLO figures over %s from %s every %s",
        settings.slo.window,
        source,
        settings.slo.interval,
    )
    return asyncio.create_task(
        slo_collector.run_collector(
            collect=slo_collector.collection(settings.slo, stopping=stopping),
            board=board,
            interval_s=settings.slo.interval_s,
            source=source,
        ),
        name="slo-collector",
    )


async def _run_kopf(
    *,
    settings: OperatorSettings,
    credentials: login.Login,
    api: client.ApiClient,
    executor: concurrent.futures.Executor,
    identity: str,
    stop: asyncio.Event,
    elector: leader.LeaseElector | None,
) -> None:
    context = OperatorContext(
        api=api,
        executor=executor,
        defaults=engine_defaults(settings),
        field_manager=settings.kubernetes.field_manager,
        retries=retries.RetryPolicy(
            initial_s=settings.retries.initial_backoff_s,
            max_s=settings.retries.max_backoff_s,
            jitter=settings.retries.jitter,
        ),
        request_timeout_s=settings.kubernetes.request_timeout_s,
        placement=await asyncio.to_thread(_placement_runtime, settings, api),
        slo=FigureBoard(cluster=settings.slo.cluster) if settings.slo.enabled else None,
        inference_pools=inference_pool_runtime(settings),
    )
    namespaces = settings.kubernetes.namespaces
    operator = asyncio.create_task(
        kopf.operator(
            registry=build_registry(settings, credentials),
            settings=kopf_settings.kopf_settings(settings, identity=identity),
            standalone=True,
            clusterwide=not namespaces,
            namespaces=namespaces,
            memo=kopf.Memo(context=context),
            stop_flag=stop,
        ),
        name="kopf",
    )
    watched = {operator}
    if elector is not None:
        watched.add(asyncio.create_task(leader.hold(elector), name="lease"))
    stopping = threading.Event()
    collector = _start_slo_collector(settings, board=context.slo, stopping=stopping)
    scope = ", ".join(namespaces) if namespaces else "all namespaces"
    logger.info("serving ModelServices in %s", scope)
    try:
        done, pending = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # A direct scrape sleeps in a thread between rounds; the event ends it at once.
        stopping.set()
        if collector is not None:
            collector.cancel()
    if operator not in done:
        logger.critical("the Lease was lost: exiting at once so that only the new leader acts")
        logging.shutdown()
        os._exit(EXIT_LOST_LEASE)
    for task in pending:
        task.cancel()
    operator.result()
