"""Interference-aware placement of engine pods.

A dual-branch Transformer trained on measured GPU co-locations (see `training`, an optional
extra) predicts how much a workload slows down beside others; served with onnxruntime
(`predictor`), it scores nodes (`scoring`, `assessor`) for a kube-scheduler extender
(`extender`) that a second scheduler profile uses (`scheduler_config`). The operator uses
`pod_template` and `status`. docs/placement.md describes the whole.
"""
