"""A vLLM-compatible engine simulator, timed by a measured GPU latency profile.

The core is pure and runs on whatever clock it is handed, so the same code serves a discrete-event
simulator (virtual time) and the HTTP server (real time):
- `core.EngineCore`: add requests, ask for the next event time, advance and collect events;
- `scheduler`: vLLM V1's iteration scheduler (continuous batching, chunked prefill, KV-cache
  blocks, preemption by recompute) under the `fcfs`, `priority` and `credit` policies;
- `timing.StepTimer`: step times interpolated from a profile, with slowdown and time scale;
- `calibration`: every profile point replayed through the engine;
- `server`: the OpenAI-compatible HTTP server around it.
"""
