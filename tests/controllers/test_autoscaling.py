"""The real operator autoscales a ModelService on the real API server from a gateway's figures:
a load ramp takes it from 1 to 3 or more replicas through the scale subresource, with an Event
and `status.autoscaling`, and back to `minReplicas` once the load stayed away for the delay."""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

from operator_harness import (
    ABSENT_GPU,
    Kube,
    engine_with,
    eventually,
    sample,
    start_operator,
    unique,
)

from sloserve_dev import handle

_CLASSES = ("interactive", "standard", "batch")


class _Gateway:
    """A gateway's `/metrics` whose counters grow at `rate_rps` per class: every request
    served within its objectives, 1000 prompt and 200 output tokens each."""

    def __init__(self, *, namespace: str, name: str, model: str) -> None:
        self.rate_rps = 0.0
        self._labels = f'namespace="{namespace}",modelservice="{name}",model="{model}"'
        self._requests = 0.0
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def text(self) -> str:
        with self._lock:
            now = time.monotonic()
            self._requests += self.rate_rps * (now - self._at)
            self._at = now
            total = self._requests
        lines = []
        for metric, factor in (
            ("sloserve_requests_total", 1),
            ("sloserve_requests_admitted_total", 1),
            ("sloserve_requests_attained_total", 1),
            ("sloserve_prompt_tokens_total", 1000),
            ("sloserve_output_tokens_total", 200),
        ):
            lines.append(f"# TYPE {metric.removesuffix('_total')} counter")
            for slo_class in _CLASSES:
                labels = f'{self._labels},slo_class="{slo_class}"'
                lines.append(f"{metric}{{{labels}}} {total * factor}")
        lines.append("# TYPE sloserve_requests_finished counter")
        for slo_class in _CLASSES:
            labels = f'{self._labels},slo_class="{slo_class}",outcome="served"'
            lines.append(f"sloserve_requests_finished_total{{{labels}}} {total}")
        return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _serving(gateway: _Gateway) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = gateway.text().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _replicas(kube: Kube, name: str) -> int:
    return int(kube.modelservice(name)["spec"]["replicas"])


def _decision(kube: Kube, name: str) -> dict[str, Any]:
    return dict(kube.modelservice(name).get("status", {}).get("autoscaling") or {})


def test_a_load_ramp_scales_up_and_the_quiet_after_it_scales_back_down(
    kube_cluster: handle.ClusterHandle,
    module_namespace: str,
    tmp_path: Any,
) -> None:
    kube = Kube(kube_cluster, module_namespace)
    name = unique("scaled")
    manifest = engine_with(sample(name, replicas=1), gpuProduct=ABSENT_GPU)
    manifest["spec"]["autoscaling"] = {
        "minReplicas": 1,
        "maxReplicas": 5,
        "scaleDownDelay": "4s",
        "maxSurge": 4,
    }
    gateway = _Gateway(namespace=module_namespace, name=name, model=manifest["spec"]["model"])
    with _serving(gateway) as url:
        running = start_operator(
            kube_cluster,
            namespaces=[module_namespace],
            lease_name=unique("lease"),
            log_path=tmp_path / "operator.log",
            env={
                "SLOSERVE_OPERATOR__SLO__GATEWAY_URLS": url,
                "SLOSERVE_OPERATOR__SLO__WINDOW": "2s",
                "SLOSERVE_OPERATOR__SLO__INTERVAL": "1s",
                "SLOSERVE_OPERATOR__AUTOSCALING__INTERVAL_S": "1",
            },
        )
        try:
            kube.apply(manifest)
            # three classes at 40 req/s each: several engines' worth on the H100 profile
            gateway.rate_rps = 40.0
            eventually(
                lambda: _replicas(kube, name) >= 3,
                what="the ramp to scale the ModelService to 3 or more replicas",
                timeout_s=90,
                diagnose=running.log_tail,
            )
            decision = _decision(kube, name)
            eventually(
                lambda: bool(_decision(kube, name)),
                what="status.autoscaling",
                timeout_s=30,
                diagnose=running.log_tail,
            )
            decision = _decision(kube, name)
            assert decision["desiredReplicas"] >= 3
            assert decision["predictedCapacityRps"] > 0
            assert "req/s" in decision["message"]
            eventually(
                lambda: any(
                    event.get("reason") in ("DemandAboveCapacity", "SurgeLimited")
                    and "scaled up from 1" in event.get("message", "")
                    for event in kube.events(name)
                ),
                what="an Event recording the scale-up",
                timeout_s=30,
            )
            # the Deployment follows spec.replicas through the reconcile
            eventually(
                lambda: (
                    (kube.get_json("deployment", name) or {}).get("spec", {}).get("replicas")
                    == _replicas(kube, name)
                ),
                what="the Deployment to follow the scale",
                timeout_s=30,
            )
            gateway.rate_rps = 0.0
            eventually(
                lambda: _replicas(kube, name) == 1,
                what="the quiet to scale back to minReplicas after the delay",
                timeout_s=90,
                diagnose=running.log_tail,
            )
            # The scale is written before the status of the same decision: wait for the status.
            eventually(
                lambda: (
                    _decision(kube, name).get("reason") in ("DemandBelowCapacity", "AtMinReplicas")
                ),
                what="status.autoscaling to say why it stays at minReplicas",
                timeout_s=30,
                diagnose=lambda: str(_decision(kube, name)),
            )
        finally:
            running.stop()
