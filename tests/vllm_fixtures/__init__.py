"""Fixtures for tests against real vLLM on the CPU (`sloserve_dev.real_vllm`), registered for
the whole suite by tests/conftest.py."""
