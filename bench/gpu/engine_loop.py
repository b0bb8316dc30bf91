"""A serving engine's step loop around a captured step: how the per-step CPU overhead is measured.

A latency profile's step times are GPU times of graph replays. A real engine spends host time on
every step besides: it schedules (walks its running sequences, grows their KV blocks), prepares
the step's inputs (token ids, positions, slot mapping, sequence lengths, block tables) in pinned
host buffers, copies them to the GPU, launches the graph, waits for the sampled tokens, copies
them back and updates every sequence (append the token, check its stop condition, replace a
finished sequence by a waiting one). `EngineLoop` does exactly that, in Python, the way vLLM's
engine core does it, around the same captured graph, without overlapping one step's host work
with the previous step's GPU work (vLLM's default). Each step's wall time minus the GPU time of
its replay (CUDA events around the replay alone) is the CPU overhead of that step.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Any

import torch

BLOCK_SIZE = 16


@dataclasses.dataclass
class _Sequence:
    """One running sequence as the engine's scheduler sees it."""

    request_id: int
    tokens: list[int]
    block_table: list[int]
    max_tokens: int
    generated: int = 0

    @property
    def position(self) -> int:
        return len(self.tokens)


@dataclasses.dataclass(frozen=True)
class OverheadSample:
    """Median host overhead and GPU time per step of one loop, in milliseconds."""

    batch: int
    context: int
    prefill_tokens: int
    steps: int
    overhead_ms: float
    overhead_p10_ms: float
    overhead_p90_ms: float
    gpu_ms: float
    wall_ms: float

    def record(self) -> dict[str, Any]:
        return {
            key: round(value, 4) if isinstance(value, float) else value
            for key, value in dataclasses.asdict(self).items()
        }


class EngineLoop:
    """The step loop of an engine running `captured` (one graph: a decode batch of `batch`
    sequences at about `context` cached tokens, plus `prefill_tokens` fresh prompt tokens)."""

    def __init__(
        self,
        captured: Any,
        *,
        batch: int,
        context: int,
        prefill_tokens: int = 0,
        device: torch.device,
        vocab: int = 128256,
        seed: int = 0,
    ) -> None:
        self._captured = captured
        self._device = device
        self._vocab = vocab
        self._batch = batch
        self._context = max(context, 1)
        self._prefill_tokens = prefill_tokens
        self._next_request = 0
        self._free_blocks = list(range(1_000_000))
        self._rng = torch.Generator().manual_seed(seed)
        self._running = [self._admit() for _ in range(batch)]
        rows = batch + prefill_tokens
        max_blocks = (self._context + 64) // BLOCK_SIZE + 2
        pin = device.type == "cuda"

        def host(*size: int) -> torch.Tensor:
            return torch.zeros(size, dtype=torch.int32, pin_memory=pin)

        self._host = {
            "input_ids": host(rows),
            "positions": host(rows),
            "slot_mapping": host(rows),
            "seq_lens": host(max(batch, 1)),
            "block_tables": host(max(batch, 1), max_blocks),
        }
        self._staged = {name: tensor.to(device) for name, tensor in self._host.items()}
        self._numpy = {name: tensor.numpy() for name, tensor in self._host.items()}

    def _admit(self) -> _Sequence:
        """A new sequence with `context` tokens already computed (its blocks allocated)."""
        request_id = self._next_request
        self._next_request += 1
        tokens = [(request_id * 7919 + index) % self._vocab for index in range(self._context)]
        blocks = [self._free_blocks.pop() for _ in range(-(-self._context // BLOCK_SIZE))]
        max_tokens = 64 + (request_id * 37) % 192
        return _Sequence(request_id, tokens, blocks, max_tokens)

    def _schedule(self) -> list[_Sequence]:
        """Grow each sequence's block table by one block when its next token starts a block."""
        scheduled = []
        for sequence in self._running:
            if sequence.position % BLOCK_SIZE == 0:
                sequence.block_table.append(self._free_blocks.pop())
            scheduled.append(sequence)
        return scheduled

    def _prepare(self, scheduled: list[_Sequence]) -> None:
        ids, positions = self._numpy["input_ids"], self._numpy["positions"]
        slots, lengths = self._numpy["slot_mapping"], self._numpy["seq_lens"]
        tables = self._numpy["block_tables"]
        prompt = self._prefill_tokens
        if prompt:
            ids[:prompt] = (self._next_request * 31) % self._vocab
            positions[:prompt] = range(prompt)
            slots[:prompt] = range(prompt)
        for row, sequence in enumerate(scheduled):
            position = sequence.position
            ids[prompt + row] = sequence.tokens[-1]
            positions[prompt + row] = position
            block = sequence.block_table[position // BLOCK_SIZE]
            slots[prompt + row] = block * BLOCK_SIZE + position % BLOCK_SIZE
            lengths[row] = position + 1
            width = min(len(sequence.block_table), tables.shape[1])
            tables[row, :width] = sequence.block_table[-width:]
        for name, tensor in self._host.items():
            self._staged[name].copy_(tensor, non_blocking=True)

    def _update(self, scheduled: list[_Sequence], sampled: list[int]) -> None:
        for row, sequence in enumerate(scheduled):
            token = sampled[(self._prefill_tokens > 0) + row] if sampled else 0
            sequence.tokens.append(token)
            sequence.generated += 1
            if sequence.generated >= sequence.max_tokens:
                self._free_blocks.extend(sequence.block_table)
                self._running[row] = self._admit()

    def run(self, *, steps: int, warmup: int = 5) -> OverheadSample:
        """Run `warmup` then `steps` steps; the medians of the counted steps."""
        overheads, gpu_times, walls = [], [], []
        cuda = self._device.type == "cuda"
        for index in range(warmup + steps):
            began = time.perf_counter()
            scheduled = self._schedule()
            self._prepare(scheduled)
            if cuda:
                start = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call,unused-ignore]
                end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call,unused-ignore]
                start.record()
                self._captured.replay()
                end.record()
                sampled = self._captured.output.to("cpu").tolist()
                gpu_ms = start.elapsed_time(end)
            else:
                replay_began = time.perf_counter()
                self._captured.replay()
                sampled = self._captured.output.tolist()
                gpu_ms = (time.perf_counter() - replay_began) * 1e3
            self._update(scheduled, sampled)
            wall_ms = (time.perf_counter() - began) * 1e3
            if index >= warmup:
                walls.append(wall_ms)
                gpu_times.append(gpu_ms)
                overheads.append(wall_ms - gpu_ms)
        deciles = statistics.quantiles(overheads, n=10)
        return OverheadSample(
            batch=self._batch,
            context=self._context,
            prefill_tokens=self._prefill_tokens,
            steps=steps,
            overhead_ms=statistics.median(overheads),
            overhead_p10_ms=deciles[0],
            overhead_p90_ms=deciles[-1],
            gpu_ms=statistics.median(gpu_times),
            wall_ms=statistics.median(walls),
        )


def fit_overhead(samples: list[OverheadSample]) -> tuple[float, float]:
    """Least-squares (constant ms per step, ms per decoding sequence) over the decode samples;
    the slope is clamped at zero (host work does not shrink with more sequences)."""
    decode = [s for s in samples if s.prefill_tokens == 0]
    if len(decode) < 2:
        only = decode[0].overhead_ms if decode else samples[0].overhead_ms
        return only, 0.0
    xs = [float(s.batch) for s in decode]
    ys = [s.overhead_ms for s in decode]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    slope = max(0.0, slope)
    return max(0.0, mean_y - slope * mean_x), slope
