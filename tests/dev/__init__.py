"""Tests of the local Kubernetes cluster (sloserve_dev)."""
