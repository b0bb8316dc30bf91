"""Pick latency of `sloserve epp`: how long a proxy waits for the endpoint of a request.

Side by side in one run, over 16 idle engines (their `/metrics` served by the load generator):

- `in_process`: the gateway's own decision, measured in this process: body parse, model lookup,
  classification, the scheduler's admission and dispatch (scorpio policy, the H100 profile), and
  the request's end, with no network and no protocol: the floor of sloserve's decision itself.
- `trivial`: a picker that answers at once with a fixed endpoint (Go, in the load generator): the
  floor of gRPC and of the load generator, what a random picker costs.
- `trivial_python`: the same, on the Python gRPC runtime `sloserve epp` runs on
  (`epp_trivial_picker.py`): the floor of the protocol in Python, so that what sloserve's picker
  adds to it is its own work.
- `sloserve_epp`: `sloserve epp` as a process, over plaintext HTTP/2, and `sloserve_epp_tls` over
  TLS, as the inference extension's gateways connect.

The load generator (`bench/gateway/epp_loadgen`, Go, built here) plays Envoy's side of the
ext_proc protocol at a fixed rate: request headers, the body with end of stream, then, once the
endpoint comes back, the body handed back, response headers and a streamed body (so that the
picker closes each request's accounting), then the end of the stream. The pick latency is from
the headers leaving to the answer naming the endpoint. Each target is measured at 500 and 2,000
picks per second for `--seconds` (after a second of warm-up), `--rounds` times interleaved; the
medians are reported, with the picker's CPU time per pick.

    python bench/gateway/epp.py            # writes bench/results/epp.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from sloserve import build_info
from sloserve.gateway import datastore, metrics, runtime, runtimes, static_config
from sloserve.gateway import settings as gateway_settings
from sloserve.gateway import tenants as gateway_tenants
from sloserve.gateway.serving import admission
from sloserve.scheduling import outcomes

MODEL = "bench-model"
PROFILE = "h100-llama3-8b"
ENGINES = 16
RATES = (500.0, 2000.0)
LONG_RATE, LONG_CHUNKS = 50.0, 64
RESULTS = Path(__file__).resolve().parents[1] / "results" / "epp.json"
LOADGEN_SOURCE = Path(__file__).resolve().parent / "epp_loadgen"
TRIVIAL_PYTHON = Path(__file__).resolve().parent / "epp_trivial_picker.py"
CLASSES = [
    {"name": "interactive", "ttft": "500ms", "tpot": "50ms"},
    {"name": "standard", "ttft": "3s", "tpot": "30ms"},
    {"name": "batch", "ttft": "15s", "tpot": "50ms"},
]
# A chat-sized prompt: about 250 tokens.
BODY = {
    "model": MODEL,
    "prompt": "Summarise the following paragraph for a newsletter. " * 20,
    "max_tokens": 64,
    "stream": True,
}


USAGE = b'{"choices": [{"text": "ab"}], "usage": {"completion_tokens": 2}}'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_loadgen(directory: Path) -> Path:
    if shutil.which("go") is None:
        raise SystemExit("the Go toolchain (go) is needed to build bench/gateway/epp_loadgen")
    binary = directory / "epp_loadgen"
    subprocess.run(
        ["go", "build", "-o", str(binary), "."],
        cwd=LOADGEN_SOURCE,
        check=True,
        env={**os.environ, "CGO_ENABLED": "0"},
    )
    return binary


def wait_until(check: Any, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


def accepting(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def process(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield child
    finally:
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_models(directory: Path, engine_ports: list[int]) -> Path:
    path = directory / "models.yaml"
    entry = {
        "model": MODEL,
        "profile": PROFILE,
        "sloClasses": CLASSES,
        "defaultClass": "standard",
        "engines": [f"http://127.0.0.1:{port}" for port in engine_ports],
    }
    path.write_text(yaml.safe_dump({"models": [entry]}))
    return path


# The gateway's own decision, in process.


async def _in_process(models: Path, decisions: int) -> dict[str, Any]:
    config = gateway_settings.SchedulingSettings()
    idle = (
        'vllm:num_requests_running{model_name="m"} 0\nvllm:num_requests_waiting{model_name="m"} 0\n'
    )
    transport = httpx.MockTransport(lambda _: httpx.Response(200, text=idle))
    async with httpx.AsyncClient(transport=transport) as client:
        store = datastore.Datastore()
        gateway_metrics = metrics.GatewayMetrics()
        model_runtimes = runtimes.Runtimes(
            config=config,
            client=client,
            clock=runtime.MonotonicClock(),
            gateway_metrics=gateway_metrics,
        )
        store.subscribe(model_runtimes.on_record)
        static_config.feed(store, static_config.load_static_config(models))
        tenant = gateway_tenants.TenantBook.open_access().identify(None)
        body = json.dumps(BODY).encode()
        headers = {"content-type": "application/json"}
        clock = time.perf_counter
        times: list[float] = []
        for _ in range(decisions):
            started = clock()
            parsed = admission.parse_body("completions", body)
            model_runtime = admission.runtime_for(model_runtimes, store, parsed.model)
            prepared = admission.prepare(
                request_id=admission.new_request_id(),
                parsed=parsed,
                headers=headers,
                tenant=tenant,
                model_runtime=model_runtime,
                gateway_metrics=gateway_metrics,
                scheduling=config,
                arrival_s=model_runtime.clock.now(),
                draining=False,
            )
            current = admission.admitted(prepared, model_runtime.submit(prepared.request))
            dispatch = await model_runtime.wait_for_engine(current.request.request_id)
            times.append(clock() - started)
            assert isinstance(dispatch, outcomes.Dispatch)
            current.end_served_whole(body=USAGE, answered_s=model_runtime.clock.now())
        await model_runtimes.stop_all()
    times.sort()
    return {
        "decisions": decisions,
        "decision_ms": {
            "p50": round(1000 * times[len(times) // 2], 4),
            "p99": round(1000 * times[int(0.99 * (len(times) - 1))], 4),
            "mean": round(1000 * statistics.fmean(times), 4),
        },
    }


def in_process(models: Path, decisions: int) -> dict[str, Any]:
    return asyncio.run(_in_process(models, decisions))


# Through the protocol.


def run_load(
    loadgen: Path,
    *,
    target: str,
    rate: float,
    seconds: float,
    body_file: Path,
    tls: bool = False,
    pid: int | None = None,
    chunks: int = 1,
) -> dict[str, Any]:
    argv = [
        str(loadgen),
        "-mode=load",
        f"-target={target}",
        f"-rate={rate}",
        f"-seconds={seconds}",
        f"-body={body_file}",
        f"-chunks={chunks}",
    ]
    if tls:
        argv.append("-tls")
    before = cpu_seconds(pid) if pid is not None else None
    completed = subprocess.run(argv, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(completed.stdout)
    if pid is not None and before is not None and result["counted"]:
        spent = cpu_seconds(pid) - before
        # Warm-up streams count too: the picker served them.
        served = result["counted"] + rate
        result["picker_cpu_ms_per_pick"] = round(1000 * spent / served, 3)
        result["picker_cpu_ms_per_chunk"] = round(1000 * spent / served / chunks, 4)
    return result


def medians(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    def median(path: tuple[str, ...]) -> float | None:
        values = []
        for entry in rounds:
            value: Any = entry
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, int | float):
                values.append(float(value))
        return round(statistics.median(values), 3) if values else None

    return {
        "pick_p50_ms": median(("pick_ms", "p50")),
        "pick_p99_ms": median(("pick_ms", "p99")),
        "stream_p50_ms": median(("stream_ms", "p50")),
        "achieved_rate": median(("achieved_rate",)),
        "picker_cpu_ms_per_pick": median(("picker_cpu_ms_per_pick",)),
        "picker_cpu_ms_per_chunk": median(("picker_cpu_ms_per_chunk",)),
        "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    load_before = os.getloadavg()
    started = time.time()
    sloserve = str(Path(sys.executable).parent / "sloserve")
    with tempfile.TemporaryDirectory(prefix="sloserve-epp-bench-") as scratch:
        directory = Path(scratch)
        loadgen = build_loadgen(directory)
        engine_ports = [free_port() for _ in range(ENGINES)]
        models = write_models(directory, engine_ports)
        body_file = directory / "body.json"
        body_file.write_text(json.dumps(BODY))
        metrics_listen = ",".join(f"127.0.0.1:{port}" for port in engine_ports)
        trivial_port = free_port()
        trivial_python_port = free_port()
        ports = {name: (free_port(), free_port()) for name in ("plain", "tls")}
        results: dict[str, dict[float, list[dict[str, Any]]]] = {
            "trivial": {rate: [] for rate in RATES},
            "trivial_python": {rate: [] for rate in RATES},
            "sloserve_epp": {rate: [] for rate in RATES},
            "sloserve_epp_tls": {RATES[0]: []},
            # Streams of LONG_CHUNKS response chunks: the cost of passing a token through.
            "sloserve_epp_long_streams": {LONG_RATE: []},
            "trivial_python_long_streams": {LONG_RATE: []},
        }
        with (
            process(
                [str(loadgen), "-mode=metrics", f"-listen={metrics_listen}"],
                directory / "metrics.log",
            ),
            process(
                [str(loadgen), "-mode=trivial", f"-listen=127.0.0.1:{trivial_port}"],
                directory / "trivial.log",
            ),
            process(
                [sys.executable, str(TRIVIAL_PYTHON), str(trivial_python_port)],
                directory / "trivial-python.log",
            ) as trivial_python,
            process(
                _epp_argv(sloserve, models, *ports["plain"], secure=False),
                directory / "epp.log",
            ) as plain,
            process(
                _epp_argv(sloserve, models, *ports["tls"], secure=True),
                directory / "epp-tls.log",
            ) as secure,
        ):
            wait_until(lambda: accepting(trivial_port), "the trivial picker")
            wait_until(lambda: accepting(trivial_python_port), "the Python trivial picker")
            for name, (grpc_port, http_port) in ports.items():
                wait_until(
                    lambda http_port=http_port: (
                        httpx.get(f"http://127.0.0.1:{http_port}/readyz").status_code == 200
                    ),
                    f"sloserve epp ({name})",
                )
                wait_until(lambda grpc_port=grpc_port: accepting(grpc_port), "its gRPC port")
            in_process_result = in_process(models, args.decisions)
            for _ in range(args.rounds):
                for rate in RATES:
                    results["trivial"][rate].append(
                        run_load(
                            loadgen,
                            target=f"127.0.0.1:{trivial_port}",
                            rate=rate,
                            seconds=args.seconds,
                            body_file=body_file,
                        )
                    )
                    results["trivial_python"][rate].append(
                        run_load(
                            loadgen,
                            target=f"127.0.0.1:{trivial_python_port}",
                            rate=rate,
                            seconds=args.seconds,
                            body_file=body_file,
                            pid=trivial_python.pid,
                        )
                    )
                    results["sloserve_epp"][rate].append(
                        run_load(
                            loadgen,
                            target=f"127.0.0.1:{ports['plain'][0]}",
                            rate=rate,
                            seconds=args.seconds,
                            body_file=body_file,
                            pid=plain.pid,
                        )
                    )
                for target, port, pid in (
                    ("sloserve_epp_long_streams", ports["plain"][0], plain.pid),
                    ("trivial_python_long_streams", trivial_python_port, trivial_python.pid),
                ):
                    results[target][LONG_RATE].append(
                        run_load(
                            loadgen,
                            target=f"127.0.0.1:{port}",
                            rate=LONG_RATE,
                            seconds=args.seconds,
                            body_file=body_file,
                            pid=pid,
                            chunks=LONG_CHUNKS,
                        )
                    )
                results["sloserve_epp_tls"][RATES[0]].append(
                    run_load(
                        loadgen,
                        target=f"127.0.0.1:{ports['tls'][0]}",
                        rate=RATES[0],
                        seconds=args.seconds,
                        body_file=body_file,
                        tls=True,
                        pid=secure.pid,
                    )
                )
    summary = {
        target: {f"{int(rate)}_per_s": medians(rounds) for rate, rounds in by_rate.items()}
        for target, by_rate in results.items()
    }
    headline = summary["sloserve_epp"]["500_per_s"]
    report = {
        "benchmark": "endpoint picker pick latency (ext_proc), 16 engines",
        "command": shlex.join(["python", "bench/gateway/epp.py", *sys.argv[1:]]),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration_s": round(time.time() - started, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": _cpu_model(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "settings": {
            "engines": ENGINES,
            "profile": PROFILE,
            "policy": "scorpio",
            "rates_per_s": list(RATES),
            "seconds": args.seconds,
            "rounds": args.rounds,
            "body_bytes": len(json.dumps(BODY)),
            "load_generator": "bench/gateway/epp_loadgen (Go, grpc-go), a separate process",
            "compiled_modules": len(build_info.compiled_modules()),
            "compilable_modules": len(build_info.COMPILED_MODULES),
        },
        "target": {"pick_p50_ms_at_500": 1.0, "pick_p99_ms_at_500": 5.0},
        "met": {
            "p50": headline["pick_p50_ms"] is not None and headline["pick_p50_ms"] <= 1.0,
            "p99": headline["pick_p99_ms"] is not None and headline["pick_p99_ms"] <= 5.0,
        },
        "in_process": in_process_result,
        "results": summary,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("machine", "in_process", "met")}, indent=2))
    for target, by_rate in summary.items():
        for rate, figures in by_rate.items():
            print(
                f"{target:18} {rate:>10}: pick p50 {figures['pick_p50_ms']} ms, "
                f"p99 {figures['pick_p99_ms']} ms, achieved {figures['achieved_rate']}/s, "
                f"picker CPU {figures['picker_cpu_ms_per_pick']} ms/pick"
            )


def _epp_argv(
    sloserve: str, models: Path, grpc_port: int, http_port: int, *, secure: bool
) -> list[str]:
    return [
        sloserve,
        "epp",
        f"--config={models}",
        "--host=127.0.0.1",
        f"--port={grpc_port}",
        f"--metrics-port={http_port}",
        "--secure-serving" if secure else "--insecure",
        "--log-level=warning",
    ]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
