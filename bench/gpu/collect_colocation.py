"""Collect one pass of the GPU co-location dataset: workloads alone, in pairs, triples, quadruples.

    python bench/gpu/collect_colocation.py --mode timeslice --out OUT/colocation_timeslice.json.gz
    python bench/gpu/collect_colocation.py --mode mps --out OUT/colocation_mps.json.gz
    python bench/gpu/collect_colocation.py --mode mps --mps-thread-pct all=50 --mode-name mps_t50 \
        --out OUT/colocation_mps_t50.json.gz
    python bench/gpu/merge_colocation.py --out data/colocation/h200_colocation.json.gz OUT/*.json.gz

Long-lived worker processes (up to four LLM workers, two fine-tuning workers; each its own CUDA
context) run timed windows on command. Every workload first runs alone while NVML is sampled (its
solo series and solo step time), then each combo runs together for one window, and each
workload's step time there becomes one labelled row. Under `--mode mps` an MPS control daemon is
started before the workers and stopped at the end; `--mps-thread-pct` starts workers of a family
(or all) with CUDA_MPS_ACTIVE_THREAD_PERCENTAGE set, the client-side limit (no GPU setting is
changed in any mode). `--plan finetune` runs every inference kind of the fine-tuning catalogue
beside every fine-tuning kind instead of the dataset's combos. Rows are appended to a
`.rows.jsonl` file beside `--out` as they are measured, so an interrupted pass still leaves data.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gzip
import json
import multiprocessing
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import colocation_plan
import colocation_worker
import colocation_workloads
import gpu_metrics
from colocation_plan import Combo, StepStats

READY_TIMEOUT_S = 600.0
START_DELAY_S = 0.1
PASS_SCHEMA = "sloserve.colocation-pass/v1"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    catalogue = (
        colocation_workloads.FINETUNE_CATALOGUE
        if args.plan == "finetune"
        else colocation_workloads.CATALOGUE
    )
    names = (
        colocation_workloads.QUICK_KIND_NAMES
        if args.quick and args.plan == "dataset"
        else tuple(kind.name for kind in catalogue)
    )
    kinds = colocation_workloads.kinds_named(
        tuple(args.kinds.split(",")) if args.kinds else names, catalogue
    )
    if args.plan == "finetune":
        combos = colocation_plan.finetune_combos(kinds)
    else:
        combos = colocation_plan.build_combos(
            kinds,
            triples=args.triples,
            idle_triples=args.idle_triples,
            seed=args.seed,
            pairs=args.pairs if args.pairs >= 0 else None,
            quadruples=args.quadruples,
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows_log = out.parent / (out.name.removesuffix(".gz").removesuffix(".json") + ".rows.jsonl")
    rows_log.write_text("")
    print(f"{len(kinds)} kinds, {len(combos)} combos, mode {args.mode_name}", flush=True)
    started = time.monotonic()
    with _gpu_sharing(args.mode) as mps_note:
        if mps_note is not None:
            mps_note["active_thread_percentage"] = args.thread_limits
        sampler = gpu_metrics.MetricSampler(period_s=args.sample_period_ms / 1000).start()
        print(f"metrics {sampler.metric_names}; not offered: {sampler.rejected}", flush=True)
        workers = _Workers.start(kinds, combos, args)
        try:
            if mps_note is not None:
                mps_note["server_list"] = _mps_servers()
                if not mps_note["server_list"]:
                    raise RuntimeError("MPS control daemon lists no server: workers bypassed MPS")
            record = _collect(args, kinds, combos, workers, sampler, rows_log, started)
            record["mps"] = mps_note
        finally:
            workers.stop()
            sampler.stop()
    record["metrics"] = sampler.metric_names
    record["metrics_rejected"] = sampler.rejected
    with gzip.open(out, "wt") as sink:
        json.dump(record, sink, separators=(",", ":"))
    print(f"wrote {out}: {len(record['rows'])} rows in {time.monotonic() - started:.0f} s")
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="pass file to write (.json.gz)")
    parser.add_argument("--mode", choices=("timeslice", "mps"), default="timeslice")
    parser.add_argument(
        "--mode-name", default="", help="the mode recorded in the rows (default: --mode)"
    )
    parser.add_argument(
        "--mps-thread-pct",
        action="append",
        default=[],
        metavar="FAMILY=PCT",
        help="start the workers of FAMILY (llm, lora or all) with "
        "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=PCT (MPS only; repeatable)",
    )
    parser.add_argument("--plan", choices=("dataset", "finetune"), default="dataset")
    parser.add_argument(
        "--pairs", type=int, default=-1, help="pairs to sample (default: every pair)"
    )
    parser.add_argument("--quadruples", type=int, default=0, help="active quadruples to sample")
    parser.add_argument("--tiny", action="store_true", help="tiny models: checks the script")
    parser.add_argument("--kinds", default="", help="comma-separated kind names (default: all)")
    parser.add_argument(
        "--quick", action="store_true", help="four kinds, short windows: a smoke run"
    )
    parser.add_argument("--window-s", type=float, default=2.0, help="co-located window length")
    parser.add_argument(
        "--warmup-s", type=float, default=0.3, help="start of each window not measured"
    )
    parser.add_argument("--solo-window-s", type=float, default=5.0, help="solo window length")
    parser.add_argument("--triples", type=int, default=70, help="active triples to sample")
    parser.add_argument(
        "--idle-triples", type=int, default=6, help="(a, b, idle) triples to sample"
    )
    parser.add_argument(
        "--sample-period-ms", type=float, default=100.0, help="NVML sampling period"
    )
    parser.add_argument(
        "--llm-layers", type=int, default=8, help="depth of the Llama-3-8B-shaped model"
    )
    parser.add_argument(
        "--deadline-s", type=float, default=500.0, help="start no window after this"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    args.mode_name = args.mode_name or args.mode
    args.thread_limits = {}
    for item in args.mps_thread_pct:
        family, _, percent = item.partition("=")
        if family not in ("llm", "lora", "all") or not percent.isdigit():
            parser.error(f"--mps-thread-pct {item!r}: use FAMILY=PCT with FAMILY llm, lora or all")
        if not 1 <= int(percent) <= 100:
            parser.error(f"--mps-thread-pct {item!r}: PCT must be 1 to 100")
        args.thread_limits[family] = int(percent)
    if args.thread_limits and args.mode != "mps":
        parser.error("--mps-thread-pct needs --mode mps")
    if args.quick:
        args.window_s, args.warmup_s, args.solo_window_s = 1.0, 0.2, 1.5
        args.triples, args.idle_triples = min(args.triples, 2), min(args.idle_triples, 1)
        args.quadruples = min(args.quadruples, 1)
    return args


def _collect(
    args: argparse.Namespace,
    kinds: tuple[colocation_workloads.WorkloadKind, ...],
    combos: list[Combo],
    workers: _Workers,
    sampler: gpu_metrics.MetricSampler,
    rows_log: Path,
    started: float,
) -> dict[str, Any]:
    device = gpu_metrics.device_info()
    solo: dict[str, StepStats] = {}
    solo_record: dict[str, Any] = {}
    for kind in kinds:
        stats, series = workers.window(
            ((kind.name, 0),), args.solo_window_s, args.warmup_s, sampler
        )
        if kind.family != "idle":
            if stats[0] is None:
                raise RuntimeError(f"{kind.name} completed no step in its solo window")
            solo[kind.name] = stats[0]
        solo_record[kind.name] = (stats[0].record() if stats[0] else {}) | {"series": series}
        print(f"solo {kind.name}: {_ms(stats[0])}", flush=True)
    runs, rows = [], []
    skipped = 0
    for number, combo in enumerate(combos):
        if time.monotonic() - started > args.deadline_s:
            skipped = len(combos) - number
            print(f"deadline reached: {skipped} combos not run", flush=True)
            break
        placed = colocation_plan.assign(combo, kinds)
        measured, series = workers.window(
            tuple((kind, index) for kind, _, index in placed), args.window_s, args.warmup_s, sampler
        )
        run_id = f"{args.mode_name}-{number:04d}"
        new_rows = colocation_plan.label_rows(
            run_id=run_id,
            mode=args.mode_name,
            combo=combo,
            placed=placed,
            measured=measured,
            solo=solo,
            gpu=device.name,
        )
        runs.append({"run_id": run_id, "kinds": list(combo), "series": series})
        rows.extend(new_rows)
        with rows_log.open("a") as sink:
            sink.writelines(json.dumps(row) + "\n" for row in new_rows)
        slowdowns = " ".join(f"{r['kind']}={r['slowdown']}" for r in new_rows)
        print(f"[{number + 1}/{len(combos)}] {'+'.join(combo)}: {slowdowns}", flush=True)
    recheck = {}
    for name in solo if time.monotonic() - started < args.deadline_s + 60 else ():
        stats, _ = workers.window(((name, 0),), args.window_s, args.warmup_s, sampler)
        recheck[name] = stats[0].record() if stats[0] else None
    return {
        "schema": PASS_SCHEMA,
        "mode": args.mode_name,
        "sharing": args.mode,
        "plan": args.plan,
        "gpu": device.name,
        "device": {
            "name": device.name,
            "memory_bytes": device.memory_bytes,
            "driver": device.driver,
        },
        "torch": workers.torch_version,
        "command": shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv]),
        "collected_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "settings": {
            "window_s": args.window_s,
            "warmup_s": args.warmup_s,
            "solo_window_s": args.solo_window_s,
            "sample_period_ms": args.sample_period_ms,
            "llm_layers": args.llm_layers,
            "seed": args.seed,
            "mps_active_thread_percentage": args.thread_limits,
            "tiny": args.tiny,
        },
        "kinds": {kind.name: _describe(kind) for kind in kinds},
        "workers": workers.infos,
        "solo": solo_record,
        "solo_recheck": recheck,
        "combos_not_run": skipped,
        "runs": runs,
        "rows": rows,
    }


def _describe(kind: colocation_workloads.WorkloadKind) -> dict[str, Any]:
    return kind.describe()


def _ms(stats: StepStats | None) -> str:
    return f"{stats.mean_ms:.3f} ms/step ({stats.steps} steps)" if stats else "no steps"


class _Workers:
    """The worker processes, by family, and the timed windows they run together."""

    def __init__(
        self,
        connections: dict[str, list[Connection]],
        processes: Sequence[multiprocessing.process.BaseProcess],
        infos: list[dict[str, Any]],
        kinds: tuple[colocation_workloads.WorkloadKind, ...],
    ):
        self._connections = connections
        self._processes = processes
        self.infos = infos
        self._family = {kind.name: kind.worker_family for kind in kinds}
        self.torch_version = str(infos[0]["torch"])

    @classmethod
    def start(
        cls,
        kinds: tuple[colocation_workloads.WorkloadKind, ...],
        combos: list[Combo],
        args: argparse.Namespace,
    ) -> _Workers:
        context = multiprocessing.get_context("spawn")
        connections: dict[str, list[Connection]] = {}
        processes = []
        for family, count in colocation_plan.workers_needed(combos, kinds).items():
            family_kinds = tuple(k for k in kinds if k.worker_family == family)
            limit = args.thread_limits.get(family, args.thread_limits.get("all"))
            for index in range(count):
                spec = colocation_workloads.WorkerSpec(
                    family=family,  # type: ignore[arg-type]
                    kinds=family_kinds,
                    llm_layers=args.llm_layers,
                    seed=args.seed + 100 * index,
                    tiny=args.tiny,
                )
                parent, child = context.Pipe()
                process = context.Process(
                    target=colocation_worker.serve, args=(child, spec), daemon=True
                )
                # a spawned child starts from this environment: the MPS client limit is read
                # when its CUDA context is made
                with _environment("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", limit):
                    process.start()
                connections.setdefault(family, []).append(parent)
                processes.append(process)
        infos = []
        for family, family_connections in connections.items():
            for index, connection in enumerate(family_connections):
                if not connection.poll(READY_TIMEOUT_S):
                    raise RuntimeError(f"{family} worker {index} not ready in {READY_TIMEOUT_S} s")
                status, payload = connection.recv()
                if status != "ready":
                    raise RuntimeError(f"{family} worker {index} failed to start:\n{payload}")
                infos.append(payload | {"index": index})
                print(f"worker {family}[{index}] ready: {payload}", flush=True)
        return cls(connections, processes, infos, kinds)

    def window(
        self,
        placed: tuple[tuple[str, int], ...],
        window_s: float,
        warmup_s: float,
        sampler: gpu_metrics.MetricSampler,
    ) -> tuple[list[StepStats | None], list[list[float | None]]]:
        """Run each (kind, worker index) together for one window; idle kinds only wait."""
        start_at = time.monotonic() + START_DELAY_S
        measure_from, stop_at = start_at + warmup_s, start_at + window_s
        busy = []
        for kind, index in placed:
            family = self._family[kind]
            if family is None:
                continue
            connection = self._connections[family][index]
            connection.send(("run", kind, start_at, measure_from, stop_at))
            busy.append(connection)
        time.sleep(max(0.0, stop_at - time.monotonic()))
        stats = []
        for connection in busy:
            if not connection.poll(window_s + READY_TIMEOUT_S):
                raise RuntimeError("a worker did not finish its window; it may have crashed")
            _, durations, _ = connection.recv()
            stats.append(StepStats.of(durations))
        series = [
            [None if value is None else round(value, 3) for value in sample]
            for sample in sampler.between(measure_from, stop_at)
        ]
        return (stats or [None]), series

    def stop(self) -> None:
        for family_connections in self._connections.values():
            for connection in family_connections:
                with contextlib.suppress(OSError):
                    connection.send(("quit",))
        for process in self._processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()


@contextlib.contextmanager
def _environment(name: str, value: int | None) -> Iterator[None]:
    previous = os.environ.pop(name, None)
    if value is not None:
        os.environ[name] = str(value)
    try:
        yield
    finally:
        os.environ.pop(name, None)
        if previous is not None:
            os.environ[name] = previous


@contextlib.contextmanager
def _gpu_sharing(mode: str) -> Iterator[dict[str, Any] | None]:
    """Time-slicing needs no daemon (and must not find one); MPS gets a daemon for the pass."""
    # NVML, not torch: this process must make no CUDA call before the MPS daemon is up
    if gpu_metrics.device_info().name == "cpu":
        if mode != "timeslice":
            raise SystemExit("no GPU here: only --mode timeslice can be checked")
        yield None
        return
    if _mps_running():
        raise SystemExit(
            "an MPS daemon is already running: stop it with "
            "`echo quit | nvidia-cuda-mps-control` before collecting"
        )
    if mode == "timeslice":
        yield None
        return
    control = shutil.which("nvidia-cuda-mps-control")
    if control is None:
        raise SystemExit("nvidia-cuda-mps-control is not on PATH: collect with --mode timeslice")
    subprocess.run([control, "-d"], check=True)
    try:
        yield {"control": "nvidia-cuda-mps-control -d"}
    finally:
        subprocess.run([control], input="quit\n", text=True, check=False, timeout=60)


def _mps_running() -> bool:
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if comm.read_text().startswith("nvidia-cuda-mps"):
                return True
    return False


def _mps_servers() -> str:
    """What the control daemon lists as running servers: proof the workers went through MPS."""
    control = shutil.which("nvidia-cuda-mps-control") or "nvidia-cuda-mps-control"
    done = subprocess.run(
        [control], input="get_server_list\n", text=True, capture_output=True, timeout=30
    )
    return done.stdout.strip()


if __name__ == "__main__":
    raise SystemExit(main())
