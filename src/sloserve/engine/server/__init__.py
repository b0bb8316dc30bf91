"""The engine simulator as a vLLM-compatible HTTP server (FastAPI), on the real clock.

`app.create_app(settings)` builds the application; the `sloserve engine-sim` command runs it with
uvicorn. Endpoints, flags and metrics are documented in docs/engine-sim.md.
"""
