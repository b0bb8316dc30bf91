"""Pure functions from a ModelService to what the operator writes: the manifests of its
engines' Deployment, Service and PodDisruptionBudget, and its status from what is observed.
No I/O."""
