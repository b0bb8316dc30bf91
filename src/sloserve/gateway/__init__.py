"""The gateway: the OpenAI API in front of the engines, scheduling every request by its SLO class.

`app` assembles it; `serving` carries a request from arrival to an engine, asking the scheduling
core (`runtime`, `runtimes`) for every decision; `relay` streams answers back. Models and engines
come from `static_config` or the Kubernetes watches (`kube_discovery`) through the `datastore`;
tenants from `tenants`/`tenant_source`; classes from `classify`.
"""
