"""The sloserve custom resources, as pydantic models: the single source of truth for the CRDs.

- `modelservice`: the ModelService resource (names, group, version) and the whole object;
  `spec` and `status` its two halves.
- `durations` and `quantities`: pure parsers of the duration and quantity texts used in specs,
  shared with the other parts.
- `schema`, `cel` and `crd`: the models turned into a CustomResourceDefinition; `crd_files`
  writes it to `crds/` (and any other target) and detects drift.

This package imports neither kopf, nor the Kubernetes client, nor FastAPI.
"""
