"""sloserve.sim: the discrete-event cluster simulator.

It drives the gateway's scheduling core (`sloserve.scheduling`) and in-process engine cores
(`sloserve.engine`) on one virtual clock; it re-implements neither. Modules, one job each:

- `workload`: request lengths from traces, arrival processes, class mixes.
- `policies`: the named pairings of a gateway policy and an engine iteration policy.
- `cluster`: building engine cores from a latency profile, the scheduler's latency model, classes.
- `engines`: one engine core and the scheduler's snapshot of it.
- `settings`: what one simulation runs (`SimulationConfig`).
- `event_loop`: the loop of arrivals, engine events and dispatches.
- `records`, `summary`: every request's outcome; goodput and adherence per run and per class.
- `simulator`: `simulate(workload, config)`.
"""
