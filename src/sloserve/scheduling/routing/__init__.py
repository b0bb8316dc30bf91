"""Routing: choosing an engine for one request, as filters, weighted scorers and a picker.

- `contract`: the plugin contract (`Filter`, `Scorer`, `Picker`) and the records they share
  (`RouteRequest`, `Candidate`, `Placement`, `Wait`).
- `filters/`: drop engines that cannot serve the request now (room, prefill meter, TPOT guard,
  TTFT guard).
- `scorers/`: give each remaining engine a score in [0, 1] (predicted completion, load, session
  affinity).
- `pickers`: choose among the scored engines.
- `profile`: the composition — filters in order, then Σ weight × score, then the picker — and
  the answer when no engine is left (`Wait`, or a rejection when none could ever serve it).
- `plugins`: plugins by type name, and profiles built from a configuration.

docs/scheduling.md describes the contract and how to add a scorer.
"""
