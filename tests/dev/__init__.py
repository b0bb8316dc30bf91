"""Tests of the local Kubernetes cluster (sloserve.dev)."""
