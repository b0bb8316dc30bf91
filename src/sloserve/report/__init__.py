"""Cluster-level SLO reports: collect → compute → render.

- `collect.prometheus` / `collect.scrape`: a window's samples (`samples.WindowSamples`) from a
  Prometheus server's HTTP API, or from scraping the gateways (and engines) over the window.
- `compute.build_report`: pure; per cluster, namespace, ModelService and class (`model.Report`).
- `render.render`: a terminal table, JSON, Markdown or a self-contained HTML page.
- `status`: a ModelService's figures in the shape of its `status.slo`, for the operator.

docs/report.md describes the command, the figures and the JSON schema.
"""
