"""The autoscaling core: how many engine replicas a ModelService needs, from per-class demand,
per-engine capacity predicted by the latency model, and measured attainment.

- `capacity`: the most traffic of a class mix one engine serves at the target attainment;
- `recommender`: the decision with its bounds, stabilization, scale-down delay, surge limit,
  cold-start look-ahead and feedback correction, on an injected clock.

Pure: no I/O, no wall time, no Kubernetes; the operator's controller and the simulator share it.
"""
