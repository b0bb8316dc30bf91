"""sloserve as the endpoint picker (EPP) of an Envoy-based inference gateway.

A proxy that implements the Gateway API inference extension (Istio, kgateway, Envoy Gateway, GKE)
asks its endpoint picker, over Envoy's ext_proc protocol, where each request of an InferencePool
should go. `sloserve epp` answers with the gateway's own decisions: the same admission (classes,
tenants, TTFT and TPOT guards), the same least-deadline-first queue (a queued request is held on
its stream until dispatched) and the same routing, from the same modules; see docs/epp.md.
"""
