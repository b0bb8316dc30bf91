"""sloserve.scheduling: the SLO scheduling core, shared by the gateway and the simulator.

Pure: no I/O while scheduling, no wall-clock reads (time comes from an injected `clock.Clock`),
no web or Kubernetes libraries. Modules, one job each:

- `slo`: SLO classes and requests; deadline = arrival + TTFT, slack = deadline − now.
- `request_queue`: the waiting queue, least deadline first (or first come first served).
- `latency_profile`, `profile_files`: the measured-profile file format and the shipped profiles.
- `latency_model`, `latency_fit`: prefill and decode-step time models, fitted on a profile.
- `engine_state`: the engine snapshot callers fill in.
- `ttft_guard`, `tpot_guard`: SCORPIO's admission checks.
- `routing`: choosing an engine, or saying whether to wait or reject.
- `output_length`: output-length estimate from max_tokens and recent outputs.
- `policy`: policies as configuration (`fcfs`, `deadline`, `scorpio`).
- `scheduler`: the per-model scheduler that ties them together.
- `outcomes`, `rejections`: decisions, terminal outcomes, and the words a rejected client reads.
"""
