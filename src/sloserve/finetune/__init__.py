"""LoRA fine-tuning beside inference, under the inference SLOs.

- `step_costs` and `interference`: the measured H200 tables (a step's cost alone; how a job at a
  share of GPU time slows an engine's steps), packaged in `tables/`.
- `trainer`: the simulated training loop, clock-injected: steps timed by the step costs, a duty
  cycle, pause and resume, and checkpoints of the step counter to a directory.
- `peft_loop`: the real PEFT LoRA loop (the `finetune` extra: torch + peft), imported lazily.
- `worker`: the `sloserve finetune-worker` HTTP server: control endpoint and Prometheus metrics.
- `coserve`: the pure co-serving control core: throttle from SLO headroom, ASPEN packing.
"""
