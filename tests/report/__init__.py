"""Tests of sloserve.report (and of the local cluster's Prometheus helper it is tested with)."""
