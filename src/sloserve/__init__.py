"""sloserve: a Kubernetes control plane for LLM inference with per-class latency objectives."""

__version__ = "0.1.0"
