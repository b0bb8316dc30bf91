"""All GPU measurements of one call on a leased machine, section by section, each in its budget.

    python3 run_all.py --call profiles --out $OUT --budget-s 555
    python3 run_all.py --call colocation --out $OUT --budget-s 500
    python3 run_all.py --call finetune --out $OUT --budget-s 300
    python3 run_all.py --call finetune-steps --out $OUT --budget-s 100

Each section is a child process (a fresh CUDA context; a hung section is killed at its limit and
the next one runs). Sections write under a work folder; after every section the folder is packed
into `results.tar.gz` under --out (written aside and renamed, so a call cut off at its limit still
returns the last whole archive). `--tiny` runs the same sections with tiny models and windows,
to check the scripts on a machine without a GPU.

Calls:
- profiles: the latency profiles of three decoder shapes (Llama-3.2-1B, Llama-3-8B,
  Qwen2.5-32B), each followed by its CPU-overhead and kernel-floor measurement; then the
  co-location dataset pass under time-slicing.
- colocation: the dataset passes under MPS, and under MPS with every client limited to 50% of
  the SMs (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE).
- finetune: the fine-tuning-beside-inference passes (time-slicing, MPS, MPS with the fine-tuning
  job limited to 30% of the SMs).
- finetune-steps: the fine-tuning step-cost table.
- mps-finetune: the step-cost table, the MPS dataset pass, then fine-tuning beside inference
  under time-slicing (and MPS when time is left): the three calls above in one lease."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROFILE_SHAPES = (
    # (shape, profile name, measuring budget in seconds)
    ("llama-3.2-1b", "h200-llama3.2-1b", 35.0),
    ("llama-3-8b", "h200-llama3-8b", 50.0),
    ("qwen2.5-32b", "h200-qwen2.5-32b", 75.0),
)
# Seconds a child needs beyond its own budget: interpreter, torch import, CUDA context, compile.
START_S = 25.0
# The engine step loops and the kernel floor after a profile's points.
OVERHEAD_S = 60.0
FINETUNE_MODES: tuple[tuple[str, str, list[str]], ...] = (
    ("timeslice", "timeslice", []),
    ("mps", "mps", []),
    ("mps", "mps_ft30", ["--mps-thread-pct", "lora=30"]),
)


class Call:
    def __init__(self, out: Path, budget_s: float, tiny: bool):
        self.out = out
        self.work = Path("/tmp/sloserve-gpu-work") if not tiny else out / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        self.budget_s = budget_s
        self.tiny = tiny
        self.sections: list[dict[str, object]] = []

    def left_s(self) -> float:
        return self.budget_s - (time.monotonic() - self.started)

    def section(self, name: str, command: list[str], *, limit_s: float) -> bool:
        """Run one child for at most `limit_s` (and never past the call's budget)."""
        limit = max(5.0, min(limit_s, self.left_s()))
        began = time.monotonic()
        print(f"=== {name}: limit {limit:.0f} s, {self.left_s():.0f} s left", flush=True)
        env = os.environ | {"PYTHONUNBUFFERED": "1"}
        try:
            done = subprocess.run(
                [sys.executable, *command], cwd=HERE, timeout=limit, env=env, check=False
            )
            status = "ok" if done.returncode == 0 else f"exit {done.returncode}"
        except subprocess.TimeoutExpired:
            status = "killed at its limit"
        seconds = round(time.monotonic() - began, 1)
        self.sections.append({"section": name, "status": status, "seconds": seconds})
        print(f"=== {name}: {status} in {seconds} s", flush=True)
        self.pack()
        return status == "ok"

    def pack(self) -> None:
        (self.work / "sections.json").write_text(json.dumps(self.sections, indent=1) + "\n")
        if self.tiny:
            return
        partial = self.out / "results.tar.gz.partial"
        with tarfile.open(partial, "w:gz") as archive:
            archive.add(self.work, arcname="work")
        partial.replace(self.out / "results.tar.gz")


def environment(call: Call) -> None:
    lines = []
    versions = (
        "import torch, transformers, peft; "
        "print(torch.__version__, transformers.__version__, peft.__version__)"
    )
    for command in (
        shlex.split(
            "nvidia-smi --format=csv --query-gpu=name,memory.total,driver_version,clocks.sm,"
            "clocks.mem,power.limit,compute_mode"
        ),
        ["which", "nvidia-cuda-mps-control", "nvidia-cuda-mps-server"],
        [sys.executable, "-c", versions],
    ):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
            lines.append(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}")
        except (OSError, subprocess.TimeoutExpired) as error:
            lines.append(f"$ {' '.join(command)}\n{error}")
    (call.work / "environment.txt").write_text("\n".join(lines))
    print("\n".join(lines)[:2000], flush=True)


def profiles(call: Call) -> None:
    for shape, name, measuring_s in PROFILE_SHAPES:
        budget = 20.0 if call.tiny else measuring_s
        out = call.work / "profiles" / f"{name}.json"
        command = shlex.split(
            f"measure_profile.py --shape {shape} --name {name} --budget-s {round(budget)} "
            f"--out {out} --results {call.work}/results/gpu_profile_{name}.json"
        )
        if call.tiny:
            command += ["--tiny", "--quick", "--elementwise", "eager", "--pool-tokens", "40000"]
        # the points, then the CPU overhead and kernel floor in the same process (one start);
        # when that process dies after writing the points, the overhead gets a process of its own
        call.section(f"profile {name}", command, limit_s=budget + START_S + OVERHEAD_S)
        if out.exists() and "samples" not in json.loads(out.read_text())["provenance"].get(
            "cpu_overhead", {}
        ):
            call.section(
                f"cpu overhead {name}",
                [*command, "--overhead-only", "--budget-s", "25"],
                limit_s=25 + START_S + 20,
            )
    (call.work / "colocation").mkdir(exist_ok=True)
    _dataset_pass(call, "timeslice", "timeslice", call.left_s() - 45, [])


def mps_and_finetune(call: Call) -> None:
    """The second call: the fine-tuning step costs, the MPS dataset pass, then fine-tuning
    beside inference under time-slicing in what is left (under MPS as well when time allows)."""
    finetune_steps(call)
    (call.work / "colocation").mkdir(exist_ok=True)
    _dataset_pass(call, "mps", "mps", max(60.0, call.left_s() * 0.5), [])
    finetune(call, modes=FINETUNE_MODES[: 1 if call.left_s() < 260 else 2])


def finetune_steps(call: Call) -> None:
    """The fine-tuning step-cost table (measured in the first call; kept for re-runs)."""
    budget = 15.0 if call.tiny else 55.0
    command = shlex.split(
        f"finetune_steps.py --out {call.work}/finetune/finetune_steps_h200.json "
        f"--budget-s {budget} --seconds-per-point 1.0"
    )
    (call.work / "finetune").mkdir(exist_ok=True)
    if call.tiny:
        command.append("--tiny")
    call.section("finetune step costs", command, limit_s=budget + START_S + 20)


def _dataset_pass(call: Call, mode: str, name: str, budget: float, extra: list[str]) -> None:
    # pass time ≈ 45 s workers + 18 kinds × (solo 2.1 s + re-check 1.1 s) + combos × 1.15 s
    fixed = 45 + 18 * 3.2
    if call.tiny and mode == "mps":
        return
    combos = max(10, int((budget - fixed) / 1.15))
    pairs, triples, quadruples = int(combos * 0.45), int(combos * 0.25), int(combos * 0.18)
    command = (
        shlex.split(
            f"collect_colocation.py --mode {mode} --mode-name {name} --pairs {pairs} "
            f"--triples {triples} --quadruples {quadruples} --idle-triples 6 --window-s 1.0 "
            f"--warmup-s 0.2 --solo-window-s 2.0 --deadline-s {round(budget - 25)} "
            f"--out {call.work}/colocation/colocation_{name}.json.gz"
        )
        + extra
    )
    if call.tiny:
        command += ["--tiny", "--kinds", "decode_b8_c1024,prefill_512,encode_b64_s256,idle"]
    call.section(f"colocation {name}", command, limit_s=budget + 40)


def colocation(call: Call) -> None:
    (call.work / "colocation").mkdir(exist_ok=True)
    half = (call.left_s() - 10) / 2
    _dataset_pass(call, "mps", "mps", half - 40, [])
    _dataset_pass(call, "mps", "mps_t50", call.left_s() - 45, ["--mps-thread-pct", "all=50"])


def finetune(call: Call, modes: tuple[tuple[str, str, list[str]], ...] = ()) -> None:
    (call.work / "finetune").mkdir(exist_ok=True)
    modes = modes or FINETUNE_MODES
    for index, (mode, name, extra) in enumerate(modes):
        if call.tiny and mode == "mps":
            continue
        budget = (call.left_s() - 5) / (len(modes) - index) - 12
        command = (
            shlex.split(
                f"collect_colocation.py --plan finetune --mode {mode} --mode-name {name} "
                "--llm-layers 32 --window-s 1.6 --warmup-s 0.3 --solo-window-s 2.0 "
                f"--deadline-s {round(budget - 20)} "
                f"--out {call.work}/finetune/finetune_coloc_{name}.json.gz"
            )
            + extra
        )
        if call.tiny:
            command += ["--tiny", "--kinds", "decode_b32_c1024,peft_1b_b4_s512_r16_d50"]
        call.section(f"finetune beside inference {name}", command, limit_s=budget + 10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--call",
        choices=("profiles", "colocation", "finetune", "finetune-steps", "mps-finetune"),
        required=True,
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget-s", type=float, required=True)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    call = Call(args.out, args.budget_s, args.tiny)
    environment(call)
    calls = {
        "profiles": profiles,
        "colocation": colocation,
        "finetune": finetune,
        "finetune-steps": finetune_steps,
        "mps-finetune": mps_and_finetune,
    }
    calls[args.call](call)
    call.pack()
    print("=== summary")
    for section in call.sections:
        print(f"{section['section']}: {section['status']} ({section['seconds']} s)")
    print(f"total {time.monotonic() - call.started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
