"""End to end on real vLLM: one model with two SLO classes, served by vLLM's OpenAI server (the
CPU build, started from the operator's engine arguments) behind `sloserve gateway` with a
static models file, streamed to with the OpenAI SDK, while `sloserve report` scrapes the
gateway and vLLM; the report must account for every request and read vLLM's own gauges.

This is the real-engine scenario on loopback, without Kubernetes; the same processes run in a
pod each on a cluster. Marked `e2e` and (through its fixtures) `vllm`.
"""

from __future__ import annotations

import concurrent.futures
import json
import pathlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest
import yaml
from prometheus_client import parser

from sloserve.report import model
from sloserve_dev import processes
from sloserve_dev.real_vllm import server
from vllm_fixtures import plugin

pytestmark = pytest.mark.e2e

SLOSERVE = str(pathlib.Path(sys.executable).parent / "sloserve")
#: Targets a 2-core CPU meets with room to spare: the scenario checks plumbing, not speed.
CLASSES = [
    {"name": "interactive", "ttft": "60s", "tpot": "2s", "priority": 1},
    {"name": "batch", "ttft": "300s", "tpot": "5s"},
]
#: A tenant allowed every class (without a tenants file, only the default class is open).
API_KEY = "scenario-key"
REQUESTS_PER_CLASS = 6
MAX_TOKENS = 12
#: The report's window: long enough to hold the whole load on a busy 2-core machine.
WINDOW_S = 60
STEP_S = 2
_START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Gateway:
    url: str
    process: subprocess.Popen[bytes]
    log: pathlib.Path


def _wait_ready(gateway: Gateway) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if gateway.process.poll() is not None:
            raise RuntimeError(f"the gateway exited:\n{processes.log_tail(gateway.log)}")
        try:
            if httpx.get(f"{gateway.url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the gateway was not ready in time:\n{processes.log_tail(gateway.log)}")


def _wait_engine_seen(gateway: Gateway, model_name: str) -> None:
    """Until the gateway has read the engine's /metrics once it has no ready engine (503): send
    one short batch request until it is served."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    body = {"model": model_name, "prompt": "warm", "max_tokens": 1}
    headers = {"authorization": f"Bearer {API_KEY}", "x-slo-class": "batch"}
    while time.monotonic() < deadline:
        response = httpx.post(
            f"{gateway.url}/v1/completions", json=body, headers=headers, timeout=120
        )
        if response.status_code == 200:
            return
        assert response.status_code == 503, response.text
        time.sleep(0.2)
    raise RuntimeError(f"the gateway never saw the engine:\n{processes.log_tail(gateway.log)}")


@pytest.fixture(scope="module")
def gateway(
    real_vllm: server.RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """`sloserve gateway` on loopback with the one real engine in its static models file."""
    run_dir = tmp_path_factory.mktemp("gateway")
    models = run_dir / "models.yaml"
    models.write_text(
        yaml.safe_dump(
            {
                "models": [
                    {
                        "model": real_vllm.served_model_name,
                        "profile": "synthetic",
                        "maxNumSeqs": plugin.MAX_NUM_SEQS,
                        "sloClasses": CLASSES,
                        "defaultClass": "batch",
                        "engines": [real_vllm.url],
                    }
                ]
            }
        )
    )
    tenants = run_dir / "tenants.yaml"
    tenants.write_text(yaml.safe_dump({"tenants": [{"name": "scenario", "keys": [API_KEY]}]}))
    port = server.free_port()
    log = run_dir / "gateway.log"
    process = processes.spawn(
        argv=[
            SLOSERVE,
            "gateway",
            f"--host={server.LOOPBACK}",
            f"--port={port}",
            f"--config={models}",
            f"--tenants={tenants}",
            "--log-level=info",
        ],
        log_path=log,
        tie_to_parent=True,
    )
    running = Gateway(url=f"http://{server.LOOPBACK}:{port}", process=process, log=log)
    try:
        _wait_ready(running)
        _wait_engine_seen(running, real_vllm.served_model_name)
        yield running
    finally:
        processes.stop_groups([process.pid], grace_s=10)
        process.wait(timeout=5)


@dataclass(frozen=True)
class Streamed:
    slo_class: str
    text_chunks: int
    completion_tokens: int | None
    finish_reason: str | None


def _stream_one(client: openai.OpenAI, model_name: str, slo_class: str, index: int) -> Streamed:
    stream = client.chat.completions.create(
        model=model_name,
        messages=[{"role": "user", "content": f"Tell story number {index} about a lighthouse."}],
        max_tokens=MAX_TOKENS,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-slo-class": slo_class},
        extra_body={"ignore_eos": True},
    )
    chunks, tokens, finish = 0, None, None
    for chunk in stream:
        if chunk.choices:
            chunks += 1
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    return Streamed(slo_class, chunks, tokens, finish)


def _wait_window_open(report: subprocess.Popen[bytes], log: pathlib.Path) -> None:
    """Until `sloserve report` has said it is scraping, and one step more: its first scrape,
    the start of the window, follows that line."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while b"scraping" not in log.read_bytes():
        if report.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"sloserve report did not start scraping:\n{log.read_text()}")
        time.sleep(0.1)
    time.sleep(STEP_S)


@dataclass(frozen=True)
class ScenarioRun:
    streamed: list[Streamed]
    report: model.Report
    gateway_metrics: str
    gateway_log: str
    raw_stream: bytes


@pytest.fixture(scope="module")
def scenario(
    real_vllm: server.RunningServer, gateway: Gateway, tmp_path_factory: pytest.TempPathFactory
) -> ScenarioRun:
    """The report's window opens, the load streams through the gateway, the window closes."""
    run_dir = tmp_path_factory.mktemp("report")
    report_log = run_dir / "report.err"
    report_process = subprocess.Popen(
        [
            SLOSERVE,
            "report",
            f"--gateway={gateway.url}",
            f"--engine={real_vllm.url}",
            f"--window={WINDOW_S}s",
            f"--step={STEP_S}s",
            "--format=json",
            f"--output={run_dir / 'report.json'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=report_log.open("wb"),
    )
    try:
        _wait_window_open(report_process, report_log)
        window_opened = time.monotonic()
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=API_KEY, max_retries=0)
        jobs = [(c["name"], i) for i in range(REQUESTS_PER_CLASS) for c in CLASSES]
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            streamed = list(
                pool.map(lambda job: _stream_one(client, real_vllm.served_model_name, *job), jobs)
            )
        with httpx.stream(
            "POST",
            f"{gateway.url}/v1/completions",
            json={
                "model": real_vllm.served_model_name,
                "prompt": "hello",
                "max_tokens": 3,
                "ignore_eos": True,
                "stream": True,
            },
            headers={"x-slo-class": "interactive", "authorization": f"Bearer {API_KEY}"},
            timeout=120,
        ) as response:
            raw_stream = response.read()
        load_seconds = time.monotonic() - window_opened
        assert load_seconds < WINDOW_S - 2 * STEP_S, (
            f"the load took {load_seconds:.0f} s, too long for the report's {WINDOW_S} s window"
        )
        report_process.wait(timeout=WINDOW_S + 60)
    finally:
        if report_process.poll() is None:
            report_process.kill()
            report_process.wait()
    assert report_process.returncode == 0, report_log.read_text()
    report = model.Report.model_validate_json((run_dir / "report.json").read_text())
    return ScenarioRun(
        streamed=streamed,
        report=report,
        gateway_metrics=httpx.get(f"{gateway.url}/metrics", timeout=5).text,
        gateway_log=gateway.log.read_text(errors="replace"),
        raw_stream=raw_stream,
    )


def test_every_stream_through_the_gateway_ends_with_its_usage(scenario: ScenarioRun) -> None:
    assert len(scenario.streamed) == REQUESTS_PER_CLASS * len(CLASSES)
    for streamed in scenario.streamed:
        assert streamed.completion_tokens == MAX_TOKENS, streamed
        assert streamed.finish_reason == "length", streamed
        assert streamed.text_chunks >= 1, streamed


def test_a_raw_stream_through_the_gateway_keeps_vllms_framing(scenario: ScenarioRun) -> None:
    events = scenario.raw_stream.split(b"\n\n")
    assert events[-1] == b"", "the stream ends with a complete event"
    assert events[-2] == b"data: [DONE]"
    chunks = [json.loads(event.removeprefix(b"data: ")) for event in events[:-2]]
    assert all(event.startswith(b"data: ") for event in events[:-1])
    assert {chunk["object"] for chunk in chunks} == {"text_completion"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def _gateway_total(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in parser.text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def test_the_gateway_served_both_classes_and_scraped_vllm(scenario: ScenarioRun) -> None:
    for slo_class in ("interactive", "batch"):
        served = _gateway_total(
            scenario.gateway_metrics,
            "sloserve_requests_finished_total",
            slo_class=slo_class,
            outcome="served",
        )
        # one more of each: the raw interactive stream, the batch request that waited for the
        # gateway to see the engine
        expected = REQUESTS_PER_CLASS + 1
        assert served == expected, slo_class
    # The gateway routes around an engine whose /metrics it cannot read, and says so.
    assert "metrics unavailable" not in scenario.gateway_log


def test_the_report_accounts_for_every_request_per_class(scenario: ScenarioRun) -> None:
    (cluster,) = scenario.report.clusters
    (namespace,) = cluster.namespaces
    (service,) = namespace.modelservices
    assert service.model == plugin.SERVED_MODEL
    counts = {cls.name: cls.counts for cls in service.classes}
    assert set(counts) == {"interactive", "batch"}
    assert counts["interactive"].requests == REQUESTS_PER_CLASS + 1
    assert counts["batch"].requests == REQUESTS_PER_CLASS
    for name, class_counts in counts.items():
        assert class_counts.rejected_total == 0, name
        assert class_counts.attained == class_counts.requests, name


def test_the_report_reads_vllms_own_gauges(scenario: ScenarioRun) -> None:
    service = scenario.report.clusters[0].namespaces[0].modelservices[0]
    utilization = service.utilization
    # Values (not their size: a scrape every 2 s may miss a short load) show that the report
    # found vLLM's gauges, under the names this vLLM exports, and matched them to the model.
    assert utilization.engines == 1
    assert utilization.running_mean is not None
    assert utilization.waiting_mean is not None
    assert utilization.kv_cache_usage_max is not None
    assert scenario.report.warnings == []
