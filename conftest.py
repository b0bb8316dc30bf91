"""Fixtures shared by the test suite (tests/) and the end-to-end suite (e2e/).

`kind_cluster` is the session's local kind cluster: two nodes with simulated GPUs and real
kubelets, built offline (see docs/local-cluster.md), made on first use and deleted with
everything it started at the end of the session. The tests that need running pods and the e2e
suite share it, so a session makes at most one; its name is the session's own
(`sloserve-test-<4 hex digits>`), so that sessions run side by side, each on its cluster, and
never on a cluster someone made with `sloserve dev up` (the demo's, say). When the session runs
the e2e test of real vLLM (e2e/test_real_vllm.py), the cluster is made with the vLLM cache
mounted into its nodes and the vLLM engine image loaded (sloserve_dev.real_vllm.engine_image)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sloserve_dev import handle
from sloserve_dev.kind import cluster, lifecycle


def _e2e_on_real_vllm(session: pytest.Session) -> bool:
    """Whether an e2e test marked `vllm` (e2e/test_real_vllm.py) is to run in this session."""
    from sloserve_dev.real_vllm import environment

    wanted = any(
        item.nodeid.startswith("e2e/") and item.get_closest_marker("vllm") is not None
        for item in session.items
    )
    return wanted and environment.switched_off() is None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Builds the vLLM virtualenv and the tiny model (minutes, once per machine) before any test
    runs when the session runs the e2e test of real vLLM: built inside the first test that asks
    for the kind cluster, the build would count against that test's timeout. A failed build is
    kept for the e2e vLLM tests to fail with; the rest of the suite runs on."""
    if session.config.option.collectonly or not _e2e_on_real_vllm(session):
        return
    from e2e import providers

    from sloserve_dev.real_vllm import environment, tiny_model

    try:
        tiny_model.ensure(environment.ensure())
    except (environment.BuildError, tiny_model.ModelError) as error:
        session.config.stash[providers.VLLM_SETUP_FAILURE] = str(error)


def _with_vllm_engine(options: cluster.KindOptions, config: pytest.Config) -> cluster.KindOptions:
    """`options` with the vLLM cache mounted into the nodes and the engine image loaded, unless
    building the virtualenv failed (see `pytest_collection_finish`)."""
    from e2e import providers

    from sloserve_dev.real_vllm import engine_image, environment

    if config.stash.get(providers.VLLM_SETUP_FAILURE, None) is not None:
        return options
    if environment.built() is None:
        config.stash[providers.VLLM_SETUP_FAILURE] = "the vLLM virtualenv was not built"
        return options
    return engine_image.with_vllm_engine(options)


@pytest.fixture(scope="session")
def kind_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[handle.ClusterHandle]:
    options = cluster.KindOptions(name=lifecycle.session_cluster_name())
    if _e2e_on_real_vllm(request.session):
        options = _with_vllm_engine(options, request.config)
    with lifecycle.kind_cluster(tmp_path_factory.mktemp("kind"), options) as running:
        yield running


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that make a kind cluster of their own run first, before the shared one exists:
    one cluster at a time on the machine."""
    first = [item for item in items if item.get_closest_marker("kind") is not None]
    items[:] = first + [item for item in items if item.get_closest_marker("kind") is None]
